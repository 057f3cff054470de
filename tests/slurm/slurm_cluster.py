"""A single-node Slurm cluster on loopback, started as root from Debian's packages.

munged, slurmctld and slurmd run as separate processes, each with its files in one
temporary folder (key, socket, state, spool, logs) and `slurm.conf` written there:
`SLURM_CONF` points `sbatch`, `squeue` and `scancel` at it. The settings are the ones a
container without systemd or cgroups allows: processes tracked by their parent ids
(`proctrack/linuxproc`), no task binding (`task/none`), no accounting, and a node whose
size is taken from the file rather than checked against the hardware. `close` cancels
every job, waits until the queue is empty, then stops the daemons; an exit of the
process that started them does the same (`atexit`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PARTITION = "assay"
NODE = "assay-node"
READY_S = 120.0
DAEMONS = ("munged", "slurmctld", "slurmd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_programs() -> list[str]:
    """The programs of `slurm-wlm` and `munge` this needs that are not on PATH."""
    needed = (*DAEMONS, "sbatch", "squeue", "scancel", "sinfo")
    return [name for name in needed if shutil.which(name) is None]


@dataclass
class SlurmCluster:
    root: Path
    cpus: int = 4
    """Declared to Slurm, whatever the machine has: each job asks for one core."""
    memory_mb: int = 8192
    ctld_port: int = field(default_factory=free_port)
    slurmd_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of anything that talks to this cluster (sbatch, squeue...)."""
        return {**os.environ, "SLURM_CONF": str(self.conf), **extra}

    # -- files ------------------------------------------------------------------------

    def write_files(self) -> None:
        for folder in ("munge", "state", "spool", "logs"):
            (self.root / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        host = socket.gethostname().split(".")[0]
        settings = {
            "ClusterName": "assay-test",
            "SlurmctldHost": f"{host}(127.0.0.1)",
            "SlurmctldPort": str(self.ctld_port),
            "SlurmdPort": str(self.slurmd_port),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "StateSaveLocation": str(self.root / "state"),
            "SlurmdSpoolDir": str(self.root / "spool"),
            "SlurmctldPidFile": str(self.root / "slurmctld.pid"),
            "SlurmdPidFile": str(self.root / "slurmd.pid"),
            "SlurmctldLogFile": str(self.root / "logs" / "slurmctld.log"),
            "SlurmdLogFile": str(self.root / "logs" / "slurmd.log"),
            # No cgroups, no systemd: processes are tracked by their parent ids.
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "MpiDefault": "none",
            "SwitchType": "switch/none",
            # Jobs share the node, one core each.
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            # The node is what this file says, not what the machine reports.
            "SlurmdParameters": "config_overrides",
            "ReturnToService": "2",
            "KillWait": "5",
            "MessageTimeout": "30",
            "SchedulerParameters": "sched_interval=1",
            "MailProg": "/bin/true",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines.append(
            f"NodeName={NODE} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.memory_mb} State=UNKNOWN"
        )
        lines.append(
            f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP"
        )
        self.conf.write_text("\n".join(lines) + "\n")

    # -- processes --------------------------------------------------------------------

    def _start(self, name: str, command: list[str]) -> None:
        self._note(command)
        with (self.root / "logs" / f"{name}.out").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                command,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _note(self, command: list[str]) -> None:
        text = shlex.join(command)
        self.log.append(text)
        print(f"$ {text}", flush=True)

    def slurm(self, *command: str, check: bool = True, quiet: bool = False) -> str:
        """A Slurm client command against this cluster; its standard output. `quiet`: not
        echoed (the queries repeated while waiting)."""
        if not quiet:
            self._note(list(command))
        done = subprocess.run(
            list(command), env=self.env(), capture_output=True, text=True, timeout=60, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        atexit.register(self.close)
        self.write_files()
        self._start(
            "munged",
            [
                "munged",
                "--foreground",
                "--force",  # as root, in a folder that is not munge's own
                f"--socket={self.munge_socket}",
                f"--key-file={self.root / 'munge' / 'munge.key'}",
                f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
                f"--log-file={self.root / 'logs' / 'munged.log'}",
            ],
        )
        self._wait(lambda: self.munge_socket.exists(), "munged's socket")
        self._start("slurmctld", ["slurmctld", "-D", "-c", "-i", "-f", str(self.conf)])
        self._wait(self._controller_answers, "slurmctld")
        self._start("slurmd", ["slurmd", "-D", "-N", NODE, "-f", str(self.conf)])
        self._wait(self._node_idle, "the node to be idle")

    def _wait(self, ready: object, what: str) -> None:
        assert callable(ready)
        deadline = time.time() + READY_S
        while not ready():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode} while waiting for {what}: "
                        f"see {self.root / 'logs'}"
                    )
            if time.time() > deadline:
                raise RuntimeError(f"timed out waiting for {what}: see {self.root / 'logs'}")
            time.sleep(0.5)

    def _controller_answers(self) -> bool:
        done = subprocess.run(
            ["scontrol", "ping"], env=self.env(), capture_output=True, text=True, check=False
        )
        return "is UP" in done.stdout

    def _node_idle(self) -> bool:
        state = self.slurm(
            "sinfo", "--noheader", "--nodes", NODE, "--format", "%T", check=False, quiet=True
        )
        return state.strip().rstrip("*") == "idle"

    # -- jobs -------------------------------------------------------------------------

    def jobs(self) -> dict[str, str]:
        """Job id -> state (PENDING, RUNNING, COMPLETING...) of every job in the queue."""
        out = self.slurm("squeue", "--noheader", "--format", "%i %T", check=False, quiet=True)
        return dict(line.split() for line in out.splitlines() if line.strip())

    def cancel(self, job_id: str) -> None:
        self.slurm("scancel", job_id)

    def wait_until_empty(self, timeout: float = 60.0) -> bool:
        """Whether the queue emptied (every job ended, COMPLETING included) in time."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.jobs():
                return True
            time.sleep(0.5)
        return False

    # -- teardown ---------------------------------------------------------------------

    def close(self) -> None:
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError, OSError):
                for job_id in self.jobs():
                    self.slurm("scancel", job_id, check=False)
                self.wait_until_empty()
        for name in reversed(DAEMONS):
            self.stop(name)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def running_daemons(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is None]
