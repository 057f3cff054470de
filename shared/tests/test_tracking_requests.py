"""How many tracking calls a unit's record costs: through a shared server each is an HTTP
request, so a unit's tags, metrics and parameters go in one `log_batch` where MLflow's
limits allow, and its artifacts straight to the location its claim was given."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pandas as pd
import pytest
from assay.engine.client import MAX_BYTES, batches
from assay.engine.executors import make_executor
from assay.engine.runner import GridEntry, plan_grid, run_grid
from assay.engine.tracking import Tracker
from assay.plugin import Catalog
from assay.spec import ModelEntry
from mlflow.entities import Metric, Param, RunTag


class Counting:
    """Forwards to a client and counts its calls by name, with the run ids they wrote."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.batches: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == "log_batch":
                self.batches[args[0]] += 1
            return attribute(*args, **kwargs)

        return call


def test_batches_keep_to_mlflows_limits_with_every_entity_once() -> None:
    tags = [RunTag(f"t{i}", "v") for i in range(130)]
    params = [Param(f"p{i}", "v") for i in range(3)]
    metrics = [Metric(f"m{i}", float(i), 0, 0) for i in range(1500)]
    out = list(batches(metrics, params, tags))
    assert len(out) == 2  # 100 tags, 3 params and 897 metrics; then 30 tags and the rest
    for batch_metrics, batch_params, batch_tags in out:
        assert len(batch_tags) <= 100
        assert len(batch_params) <= 100
        assert len(batch_metrics) + len(batch_params) + len(batch_tags) <= 1000
    assert [t for _, _, b in out for t in b] == tags
    assert [p for _, b, _ in out for p in b] == params
    assert [m for b, _, _ in out for m in b] == metrics
    # Long values: no request past the byte budget, however few entities it holds.
    long_tags = [RunTag(f"t{i}", "x" * 8000) for i in range(100)]
    out = list(batches([], [], long_tags))
    assert len(out) == 2
    assert all(sum(len(t.value) for t in b) < MAX_BYTES for _, _, b in out)
    assert [t for _, _, b in out for t in b] == long_tags
    assert list(batches()) == []


@pytest.mark.parametrize("model", ["ridge", "crash"])
def test_a_units_record_is_one_batch_and_its_artifacts_need_no_lookup(
    installed_catalog: Catalog, model: str
) -> None:
    tracker = Tracker()
    counting = Counting(tracker.client)
    tracker.client = counting  # type: ignore[assignment]
    entry = GridEntry("testplugin/tiny@1", [ModelEntry(name=model)], [0, 1])
    tasks = plan_grid(installed_catalog, [entry], "quick")
    serial = make_executor("serial", catalog=installed_catalog)
    report = run_grid(installed_catalog, tasks, serial, tracker)
    assert len(report.results) == len(tasks) == 6
    units = {r.run_id: r for r in report.results}
    # One log_batch per unit (its claim's tags, its metrics and parameters together), and
    # no `log_text`, which looks the run up before it writes.
    assert {run_id: counting.batches[run_id] for run_id in units} == dict.fromkeys(units, 1)
    assert counting.calls["log_text"] == 0
    # One search per unit, its claim's. The others are the grid's, whatever its size:
    # what is recorded and the parents (resume), the parent's fold after its creation,
    # and the parent and its units when the entry is summed up (duplicates settled there).
    assert counting.calls["search_runs"] - len(tasks) == 5, counting.calls
    assert counting.calls["log_inputs"] == len(tasks) + 1  # each unit's data, the parent's
    assert not tracker._artifact_uris  # nothing kept once the units are recorded
    for run_id, result in units.items():
        run = tracker.client.get_run(run_id)
        assert run.data.tags["assay.unit"] == result.task.unit
        assert run.data.params == {"seed": str(result.task.seed), "unit": result.task.unit}
        assert "wall_seconds" in run.data.metrics
        artifacts = {a.path for a in tracker.client.list_artifacts(run_id)}
        if result.ok:
            assert artifacts == {"predictions.csv"}
            text = tracker.client.download_artifacts(run_id, "predictions.csv")
            stored = pd.read_csv(text)
            buffer = io.StringIO()
            pd.DataFrame(result.predictions).to_csv(buffer, index=False)
            assert stored.equals(pd.read_csv(io.StringIO(buffer.getvalue())))
        else:
            assert artifacts == {"error.txt"}
            path = tracker.client.download_artifacts(run_id, "error.txt")
            with open(path, encoding="utf-8") as written:
                assert written.read() == result.error_detail
