"""A team's deployment on loopback: PostgreSQL, an MLflow server with basic auth on it
serving artifacts, a Dask scheduler and two workers, each a separate process.

Each service is started with the commands the README's "Run it for a team" gives
(printed to the log as they run) and can be stopped, killed and restarted by the
tests. `Deployment.close` tears everything down whatever happened, and so does an
exit of the process that started it (`atexit`).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ADMIN = "admin"
DB_USER = "assay"
READY_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin(name: str) -> str:
    """A PostgreSQL server binary: on PATH, or where Debian's packages put it."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def script(name: str, module: str) -> list[str]:
    """A console script beside this Python, else its module (a layered dev venv)."""
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", module]


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Deployment:
    root: Path
    log: list[str] = field(default_factory=list)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    db_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    pg_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    scheduler_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def scheduler(self) -> str:
        return f"tcp://127.0.0.1:{self.scheduler_port}"

    @property
    def assay_home(self) -> Path:
        """The data cache: the driver and every worker must see this one folder."""
        return self.root / "assay-home"

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    def driver_env(self, **extra: str) -> dict[str, str]:
        """What a team member sets: the server, their credentials, the shared cache."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        return {
            **env,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_TRACKING_USERNAME": ADMIN,
            "MLFLOW_TRACKING_PASSWORD": self.password,
            "ASSAY_HOME": str(self.assay_home),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            **extra,
        }

    # -- processes --------------------------------------------------------------------

    def _run(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self._note(command)
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=READY_S)

    def _start(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self._note(command)
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process

    def _note(self, command: list[str]) -> None:
        text = shlex.join(command)
        for secret in (self.password, self.db_password):
            text = text.replace(secret, "***")
        self.log.append(text)
        print(f"$ {text}", flush=True)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop a service and everything it started (gunicorn's workers, the nanny's children):
        a stopped server must not leave a child holding its port."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    # -- PostgreSQL -------------------------------------------------------------------

    def init_postgres(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pgpass.txt"
        pwfile.write_text(self.db_password + "\n")
        self.pgdata.mkdir(mode=0o700)
        (self.root / "pgsocket").mkdir()
        if os.geteuid() == 0:
            for path in (self.root, self.pgdata, self.root / "pgsocket", pwfile):
                shutil.chown(path, "postgres", "postgres")
        self._run(
            _as_postgres_user(
                [
                    postgres_bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    DB_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            )
        )
        pwfile.unlink()
        self.start_postgres()
        env = {**os.environ, "PGPASSWORD": self.db_password}
        for database in ("mlflow", "mlflow_auth"):
            self._run(
                [
                    postgres_bin("createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.pg_port),
                    "-U",
                    DB_USER,
                    database,
                ],
                env=env,
            )

    def start_postgres(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -c port={self.pg_port} -k {self.root / 'pgsocket'} -c fsync=off"
        self._run(
            _as_postgres_user(
                [
                    postgres_bin("pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.root / "postgres.log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            )
        )

    def stop_postgres(self) -> None:
        self._run(
            _as_postgres_user(
                [postgres_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]
            )
        )

    # -- MLflow -----------------------------------------------------------------------

    def write_auth_config(self) -> Path:
        """MLflow's basic-auth app: its users live in PostgreSQL too; the admin's first
        password comes from MLFLOW_AUTH_ADMIN_PASSWORD (set when the server starts)."""
        config = self.root / "basic_auth.ini"
        config.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.pg_port}/mlflow_auth\n"
            f"admin_username = {ADMIN}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "auth_cache_ttl_seconds = 60\n"
        )
        return config

    def start_mlflow(self) -> None:
        env = {
            **os.environ,
            "PGPASSWORD": self.db_password,  # libpq reads it: no password in the URI
            "MLFLOW_AUTH_CONFIG_PATH": str(self.root / "basic_auth.ini"),
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self.secret_key,
            # No job runner: its seven Huey consumers (GenAI scorers, online scoring, trace
            # archival, none of which Assay uses) poll all the time beside the workers.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",  # offline: MLflow 3 posts usage events
        }
        self._start(
            "mlflow",
            [
                *script("mlflow", "mlflow"),
                "server",
                "--app-name",
                "basic-auth",
                "--backend-store-uri",
                f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.pg_port}/mlflow",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.mlflow_port),
                "--workers",
                "2",
                # gunicorn's threaded workers serve the Flask app itself: less CPU per
                # request than uvicorn's default, which runs it behind an ASGI bridge.
                "--gunicorn-opts",
                "--worker-class gthread --threads 2",
            ],
            env=env,
        )
        self.wait_for_mlflow()

    def wait_for_mlflow(self) -> None:
        deadline = time.time() + READY_S
        while time.time() < deadline:
            process = self.processes.get("mlflow")
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: see {self.root / 'logs/mlflow.log'}")
            try:
                with urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError("mlflow server did not answer in time")

    # -- Dask -------------------------------------------------------------------------

    def start_scheduler(self) -> None:
        self._start(
            "scheduler",
            [
                *script("dask", "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.scheduler_port),
                "--no-dashboard",
            ],
        )

    def start_worker(self, name: str, **env: str) -> None:
        worker_env = {
            **os.environ,
            "ASSAY_HOME": str(self.assay_home),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            **env,
        }
        self._start(
            name,
            [
                *script("dask", "dask"),
                "worker",
                self.scheduler,
                "--name",
                name,
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--local-directory",
                str(self.root / "dask" / name),
            ],
            env=worker_env,
        )

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.scheduler, timeout=READY_S) as client:
            deadline = time.time() + READY_S
            while len(client.scheduler_info(n_workers=-1)["workers"]) != count:
                if time.time() > deadline:
                    raise RuntimeError(f"the Dask cluster did not reach {count} workers")
                time.sleep(0.2)

    # -- all of it ----------------------------------------------------------------------

    def start(self) -> None:
        atexit.register(self.close)
        self.init_postgres()
        self.write_auth_config()
        self.start_mlflow()
        self.start_scheduler()
        for name in ("worker-1", "worker-2"):
            self.start_worker(name)
        self.wait_for_workers(2)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run(
                    _as_postgres_user(
                        [
                            postgres_bin("pg_ctl"),
                            "-D",
                            str(self.pgdata),
                            "-m",
                            "immediate",
                            "-w",
                            "stop",
                        ]
                    )
                )
