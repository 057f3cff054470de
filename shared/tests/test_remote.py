"""A shared tracking server: bounded retries, refused credentials, worker versions, and
HPC cluster files (the services themselves are tested by `nox -s deployment`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from assay.engine import remote
from assay.engine.clusters import load_cluster_config, start_cluster
from assay.engine.executors import _mismatch, _refuse_mismatched
from assay.engine.tracking import dataset_input, log_dataset_input
from assay.errors import AssayError, SpecError
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    TEMPORARILY_UNAVAILABLE,
    UNAUTHENTICATED,
)


class FlakyClient:
    """Fails `failures` times with `error`, then answers."""

    tracking_uri = "http://user:secret@tracking.example:5000"

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def get_run(self, run_id: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return f"run {run_id}"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(remote.time, "sleep", slept.append)
    return slept


def retrying(flaky: FlakyClient, bound: float = 60.0) -> Any:
    return remote.RetryingClient(flaky, flaky.tracking_uri, bound)


def test_transient_failures_are_retried_with_growing_capped_delays(no_sleep: list[float]) -> None:
    flaky = FlakyClient(8, MlflowException("down", error_code=TEMPORARILY_UNAVAILABLE))
    assert retrying(flaky, bound=1e6).get_run("r1") == "run r1"
    assert flaky.calls == 9
    assert no_sleep[1] > no_sleep[0]
    assert max(no_sleep) <= remote.MAX_DELAY_S * 1.2


def test_a_connection_error_is_transient() -> None:
    flaky = FlakyClient(2, ConnectionRefusedError("refused"))
    assert retrying(flaky).get_run("r1") == "run r1"


def test_past_the_bound_one_line_says_the_suite_stopped_and_how_to_resume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(range(0, 10_000, 7))
    monkeypatch.setattr(remote.time, "monotonic", lambda: float(next(clock)))
    flaky = FlakyClient(
        10_000, MlflowException("502 bad gateway", error_code=TEMPORARILY_UNAVAILABLE)
    )
    client = retrying(flaky, bound=30)
    with pytest.raises(remote.TrackingUnavailable) as stopped:
        client.get_run("r1")
    message = str(stopped.value)
    assert "\n" not in message
    assert "did not answer" in message
    assert "rerun the same command" in message
    assert "secret" not in message  # credentials in the URI are not printed
    calls = flaky.calls
    with pytest.raises(remote.TrackingUnavailable):  # given up: the next call fails at once
        client.get_run("r2")
    assert flaky.calls == calls


def test_no_try_starts_that_could_end_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that is stopping may hold a kept-alive connection without answering: each
    try then lasts its whole timeout, and the client still gives up within its bound."""
    now = [0.0]
    monkeypatch.setattr(remote.time, "monotonic", lambda: now[0])
    monkeypatch.setenv(remote.HTTP_TIMEOUT_ENV, "2")

    class Hanging(FlakyClient):
        def get_run(self, run_id: str) -> str:
            now[0] += 2.0  # the whole timeout, then the read times out
            return super().get_run(run_id)

    hanging = Hanging(10_000, TimeoutError("read timed out"))
    with pytest.raises(remote.TrackingUnavailable, match="did not answer for 4 s"):
        retrying(hanging, bound=5).get_run("r1")
    assert hanging.calls == 2  # a third try could have ended at 7 s
    assert remote.try_timeout_s(5) == 1  # whole seconds, as MLflow reads them
    assert remote.try_timeout_s(4) == 1
    assert remote.try_timeout_s(300) == remote.MAX_TRY_S
    assert remote.try_timeout_s(0) == remote.MAX_TRY_S  # no retries: one full try


def test_refused_credentials_are_one_line_and_never_retried() -> None:
    flaky = FlakyClient(1, MlflowException("no", error_code=UNAUTHENTICATED))
    with pytest.raises(remote.TrackingAuthError, match="MLFLOW_TRACKING_PASSWORD"):
        retrying(flaky).get_run("r1")
    assert flaky.calls == 1


def test_a_bad_request_is_raised_as_is() -> None:
    flaky = FlakyClient(1, MlflowException("bad", error_code=INVALID_PARAMETER_VALUE))
    with pytest.raises(MlflowException, match="bad"):
        retrying(flaky).get_run("r1")
    assert flaky.calls == 1


@pytest.mark.parametrize(
    ("text", "ok"), [("", True), ("0", True), ("12.5", True), ("-1", False), ("soon", False)]
)
def test_the_retry_bound_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, ok: bool
) -> None:
    monkeypatch.setenv(remote.RETRY_ENV, text)
    if ok:
        assert remote.retry_bound_s() >= 0
    else:
        with pytest.raises(AssayError, match=remote.RETRY_ENV):
            remote.retry_bound_s()


def test_redact_drops_credentials_from_a_uri() -> None:
    assert remote.redact("http://u:p@host:5000/x") == "http://host:5000/x"
    assert remote.redact("http://host:5000") == "http://host:5000"
    assert remote.redact("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_a_worker_on_other_versions_is_refused_with_one_line() -> None:
    driver = {"assay": "0.1.0", "assay-medicine": "0.2.0"}
    assert _mismatch(driver, dict(driver)) is None
    assert _mismatch(driver, {"assay": "0.1.0"}) == (
        "assay-medicine not installed where the driver has 0.2.0"
    )
    with pytest.raises(AssayError, match=r"tcp://w2:1 runs assay 0.0.9 where the driver has 0.1"):
        _refuse_mismatched(
            {"tcp://w1:1": dict(driver), "tcp://w2:1": {**driver, "assay": "0.0.9"}}, driver
        )


BAD_CLUSTER_FILES = {
    "not toml": "kind = ",
    "unknown kind": 'kind = "kubernetes"\njobs = 1\n',
    "no jobs": 'kind = "slurm"\n',
    "zero jobs": 'kind = "slurm"\njobs = 0\n',
    "unknown key": 'kind = "slurm"\njobs = 1\npassword = "x"\n',
    "code in an option": 'kind = "slurm"\njobs = 1\n[options]\ncores = { python = "1" }\n',
}


@pytest.mark.parametrize("name", sorted(BAD_CLUSTER_FILES))
def test_bad_cluster_files_are_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(BAD_CLUSTER_FILES[name])
    with pytest.raises(SpecError) as error:
        load_cluster_config(path)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)


def test_a_missing_cluster_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_cluster_config(tmp_path / "absent.toml")


@pytest.mark.extras  # assay[hpc]
def test_a_slurm_cluster_file_makes_the_job_script(tmp_path: Path) -> None:
    path = tmp_path / "slurm.toml"
    path.write_text(
        'kind = "slurm"\njobs = 2\n[options]\ncores = 4\nmemory = "8GB"\n'
        'walltime = "01:00:00"\nqueue = "short"\njob_extra_directives = ["--account=assay"]\n'
    )
    config = load_cluster_config(path)
    import dask_jobqueue

    cluster = dask_jobqueue.SLURMCluster(**config.options, scheduler_options={"host": "127.0.0.1"})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p short" in script
    assert "#SBATCH --account=assay" in script
    assert "#SBATCH -t 01:00:00" in script


@pytest.mark.extras  # assay[hpc]
def test_options_dask_jobqueue_rejects_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pbs.toml"
    path.write_text('kind = "pbs"\njobs = 1\n[options]\nno_such_option = 3\n')
    with pytest.raises(AssayError, match="rejected the cluster options"):
        start_cluster(load_cluster_config(path))


class RacingInputs:
    """Refuses the first `losses` dataset inputs as another driver's insert would."""

    def __init__(self, losses: int, message: str) -> None:
        self.losses = losses
        self.message = message
        self.logged: list[str] = []

    def log_inputs(self, run_id: str, datasets: list[Any]) -> None:
        if self.losses:
            self.losses -= 1
            raise MlflowException(self.message, BAD_REQUEST)
        self.logged.append(run_id)


RACE = (
    "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "
    '"uq_dataset_name_digest" DETAIL: Key (experiment_id, name, digest) already exists.'
)


def test_a_dataset_insert_lost_to_another_driver_is_tried_again() -> None:
    client = RacingInputs(losses=2, message=RACE)
    log_dataset_input(client, "run-1", dataset_input({"name": "diabetes"}, "ab" * 32))
    assert client.logged == ["run-1"]


def test_other_refused_inputs_are_raised_at_once() -> None:
    client = RacingInputs(losses=1, message="Param value too long")
    with pytest.raises(MlflowException, match="too long"):
        log_dataset_input(client, "run-1", dataset_input({"name": "diabetes"}, "ab" * 32))
    assert client.logged == []


def test_request_header_providers_are_asked_once_whether_they_are_in_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.tracking.request_header import registry

    class Counting:
        def __init__(self, answer: bool) -> None:
            self.answer, self.asked = answer, 0

        def in_context(self) -> bool:
            self.asked += 1
            return self.answer

        def request_headers(self) -> dict[str, str]:
            return {"X-Counting": str(self.answer)}

    here, elsewhere = Counting(True), Counting(False)
    providers = registry._request_header_provider_registry
    monkeypatch.setattr(providers, "_registry", [*providers._registry, here, elsewhere])
    remote.configure_for_server()
    for _ in range(3):
        headers = registry.resolve_request_headers()
    assert elsewhere not in providers._registry
    assert elsewhere.asked == 1  # at configuration, never per request
    assert headers["X-Counting"] == "True"
    assert "User-Agent" in headers  # MLflow's own default provider stays
