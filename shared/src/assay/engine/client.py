"""The driver's MLflow client: MLflow's own, with fewer requests per write.

Through a shared server every call is an HTTP request (and an authentication and a
database transaction there), so a unit's record is written in as few as MLflow allows:
its tags, metrics and parameters in one `log_batch` where they fit MLflow's limits, and
its text artifacts straight to the run's artifact location, known from `create_run`,
without the `get_run` that MLflow's `log_text` makes to look it up.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

MAX_ENTITIES = 1000
"""MLflow's limit on the metrics, parameters and tags of one `log_batch`."""
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_BYTES = 500_000
"""Half of MLflow's 1 MB limit on a `log_batch` request: room for the JSON around the values."""
ENTITY_BYTES = 64
"""What a metric, parameter or tag costs in a request besides its key and value."""


def _bytes(entity: Metric | Param | RunTag) -> int:
    return len(entity.key) + len(str(entity.value)) + ENTITY_BYTES


def _fitting(entities: list[Any], cap: int, budget: int, first: bool) -> tuple[int, int]:
    """How many of `entities` (from the front) fit in `cap` and `budget` bytes, and the
    bytes left; the first entity of a call always fits (MLflow judges one oversized value)."""
    count = 0
    while count < min(cap, len(entities)):
        size = _bytes(entities[count])
        if size > budget and not (first and count == 0):
            break
        budget -= size
        count += 1
    return count, budget


def batches(
    metrics: Sequence[Metric] = (), params: Sequence[Param] = (), tags: Sequence[RunTag] = ()
) -> Iterator[tuple[list[Metric], list[Param], list[RunTag]]]:
    """The entities in as few `log_batch` calls as MLflow's limits allow, in their order,
    each call holding at least one."""
    tags_left, params_left, metrics_left = list(tags), list(params), list(metrics)
    while tags_left or params_left or metrics_left:
        n_tags, budget = _fitting(tags_left, MAX_TAGS, MAX_BYTES, True)
        n_params, budget = _fitting(params_left, MAX_PARAMS, budget, n_tags == 0)
        n_metrics, _ = _fitting(
            metrics_left, MAX_ENTITIES - n_tags - n_params, budget, n_tags + n_params == 0
        )
        yield metrics_left[:n_metrics], params_left[:n_params], tags_left[:n_tags]
        del tags_left[:n_tags], params_left[:n_params], metrics_left[:n_metrics]


def log_batches(
    client: Any,
    run_id: str,
    metrics: Sequence[Metric] = (),
    params: Sequence[Param] = (),
    tags: Sequence[RunTag] = (),
) -> None:
    """Log them with `client` (each request retried on its own by a `RetryingClient`)."""
    for batch_metrics, batch_params, batch_tags in batches(metrics, params, tags):
        client.log_batch(run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags)


class TrackingClient(MlflowClient):
    """`MlflowClient` with `log_text_at`, which a `remote.RetryingClient` retries like any
    other method."""

    def log_text_at(self, artifact_uri: str, text: str, artifact_file: str) -> None:
        """`log_text` to a run whose artifact URI (`run.info.artifact_uri`) is known."""
        uri = add_databricks_profile_info_to_artifact_uri(  # type: ignore[no-untyped-call]
            artifact_uri, self.tracking_uri
        )
        repository = get_artifact_repository(uri, tracking_uri=self.tracking_uri)
        folder = posixpath.dirname(posixpath.normpath(artifact_file)) or None
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(scratch, posixpath.basename(posixpath.normpath(artifact_file)))
            local.write_text(text, encoding="utf-8")
            repository.log_artifact(str(local), folder)  # type: ignore[no-untyped-call]
