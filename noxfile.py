"""One parametrized noxfile for every package in the workspace.

`tests(package)` installs that package alone with the core, so a plugin that
silently relies on another plugin's dependencies fails here. Every install
uses constraints.txt, which pins torch to the CPU build and the libraries
that leaderboard numbers depend on.

Test tiers are pytest markers (registered in pyproject.toml, which leaves them
all out of a plain run); each session selects its tiers with `-m`, and every
tier runs in some session: the default tier and `extras` in `tests` and
`integration`, `browser` in `site`, `deployment` in `deployment`, `boards` in
`quick`, `slow` in `standard`. tests/test_tiers.py checks that no marker is
left out.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())
PACKAGES = ["shared", *PLUGINS]
TEST_PLUGIN = "tests/plugins/assay_testplugin"
CONSTRAINTS = ("-c", "constraints.txt")
QUICK_LEADERBOARD = "build/leaderboards-quick"
WITH_EXTRAS = "not (slow or browser or boards or deployment)"
"""The default tier and the `extras` one: for sessions that install every extra."""

nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "integration",
    "plugin_new",
    "site",
    "deployment",
]
nox.options.reuse_existing_virtualenvs = True
# uv installs the workspace in well under a minute where pip takes several; pip stays the
# fallback for a machine without uv.
nox.options.default_venv_backend = "uv|virtualenv"


def _hand_pip_links_to_uv() -> None:
    """uv reads no pip.conf: a machine whose pip finds local wheels there (a CPU build of
    torch, say) gets the same find-links passed to uv, or uv would pick other wheels."""
    if "UV_FIND_LINKS" in os.environ:
        return
    links = os.environ.get("PIP_FIND_LINKS", "").split()
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listed = ""
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".find-links"):
            links += value.strip("'\"").split()
    if links:
        os.environ["UV_FIND_LINKS"] = ",".join(dict.fromkeys(links))


_hand_pip_links_to_uv()

# The sessions' own environments keep compiled bytecode even where the shell says not to
# write it (PYTHONDONTWRITEBYTECODE=1): otherwise every process, each worker included,
# compiles torch, MLflow and pandas from source again, about 10 s of CPU each time.
os.environ["PYTHONDONTWRITEBYTECODE"] = ""


def _install(session: nox.Session, *requirements: str) -> None:
    packages = [r for r in requirements if r != "-e"]
    session.log(
        f"installing {', '.join(packages)} with their dependencies (pinned by constraints.txt)"
    )
    session.install(*CONSTRAINTS, *requirements)


def _editable(*paths: str) -> list[str]:
    return [arg for path in paths for arg in ("-e", path)]


PLUGIN_EXTRAS = {"materials": "[foundation]"}
"""Extras the everything-installed sessions add (CHGNet stands on the materials boards);
`tests(package)` installs a plugin without them, as a user without the extra has it."""


def _all_packages() -> list[str]:
    return _editable(
        "shared[torch,dask,test,bo,croissant]",
        *(f"packages/{p}{PLUGIN_EXTRAS.get(p, '')}" for p in PLUGINS),
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check over the whole workspace."""
    _install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package's src/."""
    _install(session, "mypy", "pandas-stubs", "types-psutil", *_all_packages())
    session.run("mypy", "shared/src", *(f"packages/{p}/src" for p in PLUGINS))


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package alone with the core: the isolation test."""
    path = "shared" if package == "shared" else f"packages/{package}"
    # The core's tests run with every extra of the core (its `extras` tier: Dask, the
    # BoTorch policy, dask-jobqueue's cluster files); a plugin's without its extras, as a
    # user without them has it (`integration` runs its `extras` tier). Every package's
    # Croissant round trip needs `croissant`.
    extras = (
        "shared[torch,dask,test,bo,hpc,croissant]"
        if package == "shared"
        else "shared[torch,test,croissant]"
    )
    requirements = _editable(extras) if package == "shared" else _editable(extras, path)
    if package == "shared":
        requirements += _editable(TEST_PLUGIN)
    _install(session, *requirements)
    tiers = ["-m", WITH_EXTRAS] if package == "shared" else []
    session.run(
        "pytest",
        f"{path}/tests",
        *tiers,
        *session.posargs,
        env={"ASSAY_HOME": str(Path(session.create_tmp()) / "assay-home")},
    )


@nox.session
def integration(session: nox.Session) -> None:
    """Everything installed together; the cross-package tests in tests/, then, of the
    plugins with extras, what the extras change: their `extras` tier (left out of
    `tests(package)`) and their conformance checks, now with the extras' models."""
    _install(session, *_all_packages(), *_editable(TEST_PLUGIN))
    session.run("pytest", "tests", *session.posargs)
    session.run(
        "pytest",
        "-m",
        "extras or conformance",
        *(f"packages/{plugin}/tests" for plugin in PLUGIN_EXTRAS),
    )


@nox.session
def plugin_new(session: nox.Session) -> None:
    """`assay plugin new` end to end: in a copy of the workspace, the skeleton it writes
    passes its own `tests(package=...)` session, as a plugin author would run it."""
    _install(session, "-e", "shared")
    copy = Path(session.create_tmp()) / "workspace"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git",
            ".nox",
            ".venv",
            ".assay-home",
            "build",
            "mlruns",
            "*.db",
            "leaderboards",
            "__pycache__",
            ".*_cache",
        ),
    )
    session.run("assay", "plugin", "new", "skeleton", "--dest", str(copy / "packages"))
    session.run(
        sys.executable,
        "-m",
        "nox",
        "-f",
        str(copy / "noxfile.py"),
        "-s",
        "tests(package='skeleton')",
        external=True,
    )


SITE_TESTS = ("shared/tests/test_site_browser.py",)
MLFLOW_UI_TESTS = "shared/tests/test_mlflow_ui_browser.py"
CHROMIUM_PACKAGE = "chromium-headless-shell"
"""Debian's headless Chromium: a browser from the system's package registry, since
`playwright install` downloads one from a CDN (not allowed)."""


def _apt_install(session: nox.Session, *packages: str, options: tuple[str, ...] = ()) -> None:
    """Debian packages for a session's services or browser: apt-get as root, or through
    sudo; non-interactive, without recommended extras."""
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run(*sudo, "apt-get", "update", "-qq", external=True, env=env)
    session.run(
        *sudo,
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        *options,
        *packages,
        external=True,
        env=env,
    )


def _chromium(session: nox.Session) -> str:
    """A Chromium on PATH, installed with apt-get (as root, or through sudo) if missing."""
    for name in (CHROMIUM_PACKAGE, "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    _apt_install(session, CHROMIUM_PACKAGE)
    found = shutil.which(CHROMIUM_PACKAGE)
    if found is None:
        session.error(f"apt-get installed {CHROMIUM_PACKAGE} but it is not on PATH")
    return found


@nox.session
def site(session: nox.Session) -> None:
    """The static leaderboard site in headless Chromium (Debian's package, driven by
    Playwright): pages load cleanly, links resolve, sorting works; then MLflow's UI on a
    store Assay wrote shows each run's dataset; screenshots under build/site-screenshots.
    Never skips: a missing browser fails the session."""
    chromium = _chromium(session)
    _install(session, *_editable("shared[test]", TEST_PLUGIN), "playwright")
    # The site's pages, then MLflow's own UI on a store Assay wrote: each run's dataset,
    # and the README's way in to the runs.
    session.run(
        "pytest",
        "-m",
        "browser",
        *SITE_TESTS,
        MLFLOW_UI_TESTS,
        *session.posargs,
        env={
            "ASSAY_CHROMIUM": chromium,
            "ASSAY_SCREENSHOTS": str(ROOT / "build" / "site-screenshots"),
            "ASSAY_HOME": str(Path(session.create_tmp()) / "assay-home"),
        },
    )


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _suite_then_leaderboard(
    session: nox.Session, suite: str, out: str, *, parallel: bool = False, records: bool = False
) -> None:
    """The suite, then its boards (written even when a unit failed; the session then fails).
    `parallel`: a worker process per core, at most 4 (each holds torch and the plugins,
    about 1 GB), sharing the cores' BLAS and torch threads. `records`: each unit's run
    record is written under OUT/records as it finishes, and the records there are imported
    first, so a suite cut off on one machine goes on from them on another."""
    _install(session, *_all_packages())
    count = str(min(_cores(), 4))
    workers = ["--executor", "processes", "--workers", count] if parallel else []
    keep = ["--records", f"{out}/records"] if records else []
    session.run("assay", "suite", "run", suite, *workers, *keep, "--board", out, *session.posargs)


@nox.session
def quick(session: nox.Session) -> None:
    """The main job: the quick suite over all installed plugins, tracked in local MLflow;
    then the test that every quick model beats its scenario's negative control."""
    _suite_then_leaderboard(session, "scenarios/quick.toml", QUICK_LEADERBOARD, parallel=True)
    _install(session, "pytest")
    session.run(
        "pytest",
        "-q",
        "-m",
        "boards",
        "tests/test_quick_boards.py",
        env={"ASSAY_QUICK_BOARDS": str(ROOT / QUICK_LEADERBOARD)},
    )


# The suite's exportable scenarios, those matching `--only PATTERN` when it is given.
LIST_EXPORTABLE = (
    "import sys; from fnmatch import fnmatchcase; from pathlib import Path; "
    "from assay.conformance.checks import exportable_suite_scenarios as found; "
    "only = [a for i, a in enumerate(sys.argv) if sys.argv[i - 1] == '--only']; "
    "print(*(s for s in found(Path(sys.argv[1])) "
    "if not only or any(fnmatchcase(s, p) for p in only)))"
)


@nox.session
def standard(session: nox.Session) -> None:
    """The official leaderboard: the standard suite, then `leaderboards/` and the run
    records beside them rebuilt from MLflow. The records are written as units finish, so the
    session resumes from them on a new machine; `nox -s standard -- --only 'hep/*'` runs
    one domain's entries. Then the READMEs' results text, and the `slow` tier (minutes of
    CPU per test, about 5 min on 2 cores: too long for CI, where the other tiers run)."""
    _suite_then_leaderboard(session, "scenarios/standard.toml", "leaderboards", records=True)
    # Each exportable scenario's Croissant description beside its board (its page links it);
    # the data files it lists are not kept (`assay data export` without the flag writes them).
    suite = ["scenarios/standard.toml", *session.posargs]
    listed = session.run("python", "-c", LIST_EXPORTABLE, *suite, silent=True)
    for scenario in str(listed).split():
        session.run(
            "assay",
            "data",
            "export",
            scenario,
            "--size",
            "standard",
            "--description-only",
            "--out",
            "leaderboards",
        )
    # The READMEs' results text is the generated leaderboards/**/RESULTS.md, copied in.
    readmes = [
        "README.md",
        *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("packages/*/README.md")),
    ]
    session.run("python", "-m", "assay.publish.results_text", *readmes)
    session.run(
        "pytest",
        "-m",
        "slow",
        "shared/tests",
        "tests",
        *(f"packages/{p}/tests" for p in PLUGINS),
        env={"ASSAY_HOME": str(Path(session.create_tmp()) / "assay-home")},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Speed figures and ratios, measured side by side in one run (never timed tests). Each
    script's output is kept in `bench/results/` beside it, with the machine, the commit
    and the load average (commit those files; the READMEs cite them). `nox -s bench --
    NAME` runs the scripts whose name contains NAME."""
    _install(session, "nox", "uv", *_all_packages())  # nox and uv: the quick-suite bench
    scripts = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("*/bench/bench_*.py"))
    scripts += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("packages/*/bench/bench_*.py"))
    chosen = [s for s in scripts if not session.posargs or any(n in s for n in session.posargs)]
    for script in chosen:
        session.run(
            "python",
            "shared/bench/record_bench.py",
            script,
            env={"ASSAY_BENCH": "1", **({"CI": os.environ["CI"]} if "CI" in os.environ else {})},
        )


def _ensure_postgres(session: nox.Session) -> None:
    """PostgreSQL's server binaries, from Debian's packages on a fresh machine (as root).
    No default cluster is created or started: the tests start their own, on loopback."""
    if shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.error("PostgreSQL is not installed: apt-get install postgresql (needs root)")
    Path("/etc/postgresql-common").mkdir(parents=True, exist_ok=True)
    Path("/etc/postgresql-common/createcluster.conf").write_text("create_main_cluster = false\n")
    _apt_install(session, "postgresql", options=("-o", "Dpkg::Options::=--force-confold"))


@nox.session
def deployment(session: nox.Session) -> None:
    """A team's deployment on loopback: PostgreSQL, an MLflow server with basic auth on
    it, a Dask scheduler and two workers, as separate processes; the faults it must
    survive (tests/deployment), then its figures (overhead, speed-up)."""
    _ensure_postgres(session)
    _install(session, *_editable("shared[dask,team,hpc,test]", TEST_PLUGIN))
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    session.run("pytest", "-m", "deployment", "tests/deployment", *session.posargs, env=env)
    session.run("python", "tests/deployment/bench_deployment.py", env=env)


SLURM_PACKAGES = ("slurm-wlm", "munge")


def _ensure_slurm(session: nox.Session) -> None:
    """Slurm's daemons and client commands and munge, from Debian's packages (as root).
    The packages' own services are never started: the tests start their own, on loopback."""
    if all(shutil.which(name) for name in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.error("Slurm is not installed: apt-get install slurm-wlm munge (needs root)")
    _apt_install(session, *SLURM_PACKAGES)


@nox.session
def slurm(session: nox.Session) -> None:
    """A single-node Slurm cluster on loopback (munged, slurmctld, slurmd as root), and a
    suite on it with `--executor dask --scheduler slurm.toml`: the workers are batch jobs
    submitted by dask-jobqueue; one is cancelled with `scancel` mid-suite (tests/slurm).
    Not in .ci/run (it takes several minutes); its last output is tests/slurm/nox-slurm.log."""
    if os.geteuid() != 0:
        session.error("slurmd runs jobs as their user and must run as root: run as root")
    _ensure_slurm(session)
    _install(session, *_editable("shared[dask,hpc,test]", TEST_PLUGIN))
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # -rP: the commands run and the job ids seen, printed for each passing test.
    session.run("pytest", "tests/slurm", "-m", "slurm", "-v", "-rP", *session.posargs, env=env)
