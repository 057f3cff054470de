"""Real-lab campaigns: the wet half of a closed loop, with its state in MLflow.

One MLflow run per campaign (experiment `assay-campaigns`), tagged with its
name, scenario, policy and seed. The candidates (`candidates.csv`, or the
design space in `space.json`), every suggested batch
(`suggestions/NNNN.csv`) and every measurement file accepted
(`observations/NNNN.csv`) are artifacts; the artifacts are the state, and
step metrics (`observed`, `best_observed`, `suggested`) mirror them.

Every write is one artifact, checked on read by its last line, so a command
killed at any point leaves either the whole file or one that is ignored:
a campaign continues from its last accepted observation, and none is ever
lost or counted twice. Step metrics missing after a kill are logged again
from the artifacts by the next command. A batch suggested but not yet fully
observed is written out again (the same candidates), not replaced.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import AssayError, DataError
from assay.loop.campaign import campaign_params, new_environment, propose
from assay.loop.closed_loop import Box, CampaignParams, Candidates, History, build_policy
from assay.plugin import Catalog
from assay.spec import ModelEntry, Size

EXPERIMENT = "assay-campaigns"
TAG = "assay.loop.campaign."
END = "# end of file\n"
"""The last line of every artifact this module writes: a file without it was cut short."""


class CampaignError(AssayError):
    """A campaign command cannot go on (unknown campaign, budget spent, bad measurements)."""


@dataclass(frozen=True)
class CampaignState:
    run_id: str
    name: str
    scenario: str
    policy: ModelEntry
    seed: int
    params: CampaignParams
    candidates: Candidates
    suggested: list[pd.DataFrame]
    """Each suggested batch (id + feature columns), in order."""
    observed: list[pd.DataFrame]
    """Each accepted measurement file (id, value), in order."""

    @property
    def observed_ids(self) -> list[str]:
        return [i for frame in self.observed for i in frame["id"].tolist()]

    @property
    def outstanding(self) -> pd.DataFrame:
        """Suggested candidates not yet measured."""
        done = set(self.observed_ids)
        if not self.suggested:
            return pd.DataFrame(columns=["id"])
        frame = pd.concat(self.suggested, ignore_index=True)
        return frame[~frame["id"].isin(done)].reset_index(drop=True)

    def history(self) -> History:
        features = pd.concat(self.suggested, ignore_index=True).set_index("id")
        rounds = {i: r for r, f in enumerate(self.suggested) for i in f["id"].tolist()}
        ids = self.observed_ids
        values = np.concatenate([f["value"].to_numpy(dtype=float) for f in self.observed])
        if not ids:
            return History.empty(len(feature_columns(self.candidates)))
        return History(
            np.asarray(ids, dtype=str),
            features.loc[ids, list(feature_columns(self.candidates))].to_numpy(dtype=float),
            values,
            np.asarray([rounds[i] for i in ids], dtype=np.int64),
        )


def feature_columns(candidates: Candidates) -> tuple[str, ...]:
    if candidates.space is not None:
        return candidates.space.columns
    names = getattr(candidates.inputs, "columns", None)
    if names is not None and len(names) == candidates.features.shape[1]:
        return tuple(str(n) for n in names)
    return tuple(f"x{i}" for i in range(candidates.features.shape[1]))


def _csv(frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue() + END


def read_candidates_file(path: Path) -> Candidates:
    """A user's candidates: a CSV with an `id` column and numeric feature columns."""
    try:
        frame = pd.read_csv(path, dtype={"id": str})
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc.__class__.__name__})") from None
    if "id" not in frame.columns or len(frame.columns) < 2:
        raise DataError(f"{path}: needs an 'id' column and at least one feature column")
    features = frame.drop(columns="id")
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise DataError(f"{path}: feature column '{bad[0]}' is not numeric")
    if frame["id"].isna().any() or frame["id"].duplicated().any():
        raise DataError(f"{path}: every candidate needs a unique, non-empty id")
    if not np.all(np.isfinite(features.to_numpy(dtype=float))):
        raise DataError(f"{path}: features must be finite numbers (no NaN)")
    return Candidates(
        frame["id"].to_numpy(dtype=str), features.to_numpy(dtype=float), inputs=features
    )


class Lab:
    """Campaign commands over one MLflow store."""

    def __init__(self, catalog: Catalog, tracking_uri: str | None = None) -> None:
        from assay.engine.tracking import Tracker

        self.catalog = catalog
        self.client = Tracker(tracking_uri).client

    def _experiment(self) -> str:
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(EXPERIMENT))
        except Exception:  # another process created it first
            again = self.client.get_experiment_by_name(EXPERIMENT)
            if again is None:
                raise
            return str(again.experiment_id)

    def _runs(self) -> list[Any]:
        runs = self.client.search_runs(
            [self._experiment()], filter_string=f"tags.`{TAG}name` != ''", max_results=1000
        )
        return [r for r in runs if r.info.lifecycle_stage == "active"]

    def names(self) -> list[str]:
        return sorted(r.data.tags[f"{TAG}name"] for r in self._runs())

    def start(
        self,
        scenario: str,
        policy: ModelEntry,
        *,
        name: str,
        seed: int = 0,
        size: Size = "standard",
        candidates_file: Path | None = None,
    ) -> str:
        """Create a campaign; returns its name."""
        from assay.engine.units import prepare

        if not name or any(c in name for c in "'\"`\n"):
            raise CampaignError(f"campaign name {name!r} must be non-empty, without quotes")
        if name in self.names():
            raise CampaignError(f"a campaign named '{name}' exists already (choose another name)")
        registered = self.catalog.scenario(scenario)
        spec = registered.spec
        if spec.environment is None:
            raise CampaignError(f"scenario {spec.key} is not a closed loop (task {spec.task})")
        prepared = prepare(self.catalog, spec.key, size)
        params = campaign_params(spec, prepared.protocol)
        build_policy(policy.name, policy.params, self.catalog.policies)  # fails here, not later
        if candidates_file is not None:
            candidates = read_candidates_file(candidates_file)
        else:
            candidates = new_environment(spec, prepared.dataset, self.catalog).reset(seed)
        run = self.client.create_run(
            self._experiment(),
            run_name=name,
            tags={
                f"{TAG}name": name,
                f"{TAG}scenario": spec.key,
                f"{TAG}policy": policy.name,
                f"{TAG}policy_params": json.dumps(policy.params, sort_keys=True),
                f"{TAG}seed": str(seed),
                f"{TAG}campaign": json.dumps(params.model_dump(), sort_keys=True),
                f"{TAG}candidates_file": str(candidates_file or ""),
            },
        )
        run_id = run.info.run_id
        if candidates.space is not None:
            space = candidates.space
            text = json.dumps(
                {
                    "lower": space.lower.tolist(),
                    "upper": space.upper.tolist(),
                    "names": space.columns,
                }
            )
            self.client.log_text(run_id, text + "\n" + END, "space.json")
        else:
            frame = pd.DataFrame(candidates.features, columns=list(feature_columns(candidates)))
            frame.insert(0, "id", candidates.ids)
            self.client.log_text(run_id, _csv(frame), "candidates.csv")
        return name

    def _run(self, name: str | None) -> Any:
        runs = self._runs()
        if name is None:
            if len(runs) == 1:
                return runs[0]
            known = ", ".join(sorted(r.data.tags[f"{TAG}name"] for r in runs)) or "none"
            raise CampaignError(f"name the campaign with --campaign (campaigns: {known})")
        matching = [r for r in runs if r.data.tags[f"{TAG}name"] == name]
        if not matching:
            known = ", ".join(sorted(r.data.tags[f"{TAG}name"] for r in runs)) or "none"
            raise CampaignError(f"no campaign named '{name}' (campaigns: {known})")
        return min(matching, key=lambda r: r.info.start_time)

    def _artifact(self, run_id: str, path: str) -> str | None:
        """A complete artifact's text, or None when it is missing or was cut short."""
        try:
            local = self.client.download_artifacts(run_id, path)
            text = Path(local).read_text(encoding="utf-8")
        except Exception:
            return None
        return text[: -len(END)] if text.endswith(END) else None

    def _numbered(self, run_id: str, folder: str) -> list[pd.DataFrame]:
        """The complete files `folder/0000.csv`, `0001.csv`, ... in order, up to the first
        missing or incomplete one."""
        listed = {Path(f.path).name for f in self.client.list_artifacts(run_id, folder)}
        frames = []
        for k in range(len(listed)):
            text = self._artifact(run_id, f"{folder}/{k:04d}.csv")
            if text is None:
                break
            frames.append(pd.read_csv(io.StringIO(text), dtype={"id": str}))
        return frames

    def state(self, name: str | None = None) -> CampaignState:
        run = self._run(name)
        tags, run_id = run.data.tags, run.info.run_id
        space_text = self._artifact(run_id, "space.json")
        if space_text is not None:
            raw = json.loads(space_text)
            candidates = Candidates.of_space(Box(raw["lower"], raw["upper"], tuple(raw["names"])))
        else:
            text = self._artifact(run_id, "candidates.csv")
            if text is None:
                raise CampaignError(
                    f"campaign '{tags[f'{TAG}name']}' has no candidates recorded: it was "
                    "interrupted while starting; start it again under another name"
                )
            frame = pd.read_csv(io.StringIO(text), dtype={"id": str})
            features = frame.drop(columns="id")
            candidates = Candidates(
                frame["id"].to_numpy(dtype=str), features.to_numpy(dtype=float), inputs=features
            )
        state = CampaignState(
            run_id=run_id,
            name=tags[f"{TAG}name"],
            scenario=tags[f"{TAG}scenario"],
            policy=ModelEntry(
                name=tags[f"{TAG}policy"], params=json.loads(tags[f"{TAG}policy_params"])
            ),
            seed=int(tags[f"{TAG}seed"]),
            params=CampaignParams.model_validate(json.loads(tags[f"{TAG}campaign"])),
            candidates=candidates,
            suggested=self._numbered(run_id, "suggestions"),
            observed=self._numbered(run_id, "observations"),
        )
        self._sync_metrics(state)
        return state

    def _sync_metrics(self, state: CampaignState) -> None:
        """Log the step metrics of artifacts a killed command wrote but could not mirror."""
        from mlflow.entities import Metric

        logged = {m.step for m in self.client.get_metric_history(state.run_id, "observed")}
        best, count, missing = -math.inf, 0, []
        for step, frame in enumerate(state.observed):
            count += len(frame)
            best = max(best, float(frame["value"].max()))
            if step not in logged:
                missing += [
                    Metric("observed", float(count), 0, step),
                    Metric("best_observed", best, 0, step),
                ]
        suggested = {m.step for m in self.client.get_metric_history(state.run_id, "suggested")}
        missing += [
            Metric("suggested", float(len(frame)), 0, step)
            for step, frame in enumerate(state.suggested)
            if step not in suggested
        ]
        if missing:
            self.client.log_batch(state.run_id, metrics=missing)

    def suggest(self, name: str | None = None) -> tuple[pd.DataFrame, bool]:
        """The next batch to measure (id + features), and whether it is new (False: the
        outstanding batch, written again)."""
        state = self.state(name)
        outstanding = state.outstanding
        if len(outstanding):
            return outstanding, False
        if len(state.observed_ids) >= state.params.budget:
            raise CampaignError(
                f"campaign '{state.name}' has spent its budget of {state.params.budget} "
                "evaluations (see `assay campaign status`)"
            )
        policy = build_policy(state.policy.name, state.policy.params, self.catalog.policies)
        round_ = len(state.suggested)
        history = (
            state.history()
            if state.observed
            else History.empty(len(feature_columns(state.candidates)))
        )
        batch = propose(policy, history, state.candidates, state.params, state.seed, round_)
        if len(batch) == 0:
            raise CampaignError(f"campaign '{state.name}': no candidates left to suggest")
        frame = pd.DataFrame(batch.features, columns=list(feature_columns(state.candidates)))
        frame.insert(0, "id", batch.ids)
        self.client.log_text(state.run_id, _csv(frame), f"suggestions/{round_:04d}.csv")
        self._sync_metrics(self.state(state.name))
        return frame, True

    def observe(self, path: Path, name: str | None = None) -> int:
        """Accept one measurement file (`id`, `value`); returns how many were recorded."""
        state = self.state(name)
        frame = read_measurements(path)
        outstanding = set(state.outstanding["id"].tolist())
        done = set(state.observed_ids)
        for candidate in frame["id"].tolist():
            if candidate in done:
                raise CampaignError(
                    f"{path}: candidate '{candidate}' was observed already (duplicate)"
                )
            if candidate not in outstanding:
                raise CampaignError(
                    f"{path}: unknown candidate '{candidate}' (not among the suggested "
                    "candidates awaiting a measurement)"
                )
        step = len(state.observed)
        self.client.log_text(
            state.run_id, _csv(frame[["id", "value"]]), f"observations/{step:04d}.csv"
        )
        self._sync_metrics(self.state(state.name))
        return len(frame)

    def status(self, name: str | None = None) -> dict[str, Any]:
        state = self.state(name)
        values = [float(v) for f in state.observed for v in f["value"].tolist()]
        best_id = ""
        if values:
            ids = state.observed_ids
            best_id = ids[int(np.argmax(values))]
        return {
            "campaign": state.name,
            "run_id": state.run_id,
            "scenario": state.scenario,
            "policy": state.policy.name,
            "policy_params": state.policy.params,
            "seed": state.seed,
            "budget": state.params.budget,
            "observed": len(values),
            "best_value": max(values) if values else None,
            "best_candidate": best_id or None,
            "outstanding": state.outstanding["id"].tolist(),
            "rounds_suggested": len(state.suggested),
        }


def read_measurements(path: Path) -> pd.DataFrame:
    """A measurement file: columns `id` and `value`, one finite value per candidate."""
    try:
        frame = pd.read_csv(path, dtype={"id": str})
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc.__class__.__name__})") from None
    if "id" not in frame.columns or "value" not in frame.columns:
        raise DataError(
            f"{path}: wrong columns {list(frame.columns)}: needs 'id' and 'value' "
            "(the suggestion file's feature columns may stay)"
        )
    if frame.empty:
        raise DataError(f"{path}: no measurements in the file")
    if frame["id"].isna().any():
        raise DataError(f"{path}: a row has no candidate id")
    duplicated = frame["id"][frame["id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"{path}: candidate '{duplicated[0]}' is listed twice (duplicate)")
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = frame["id"][~np.isfinite(values.to_numpy(dtype=float))].tolist()
    if bad:
        raise DataError(f"{path}: candidate '{bad[0]}' has no finite value (NaN or not a number)")
    return pd.DataFrame({"id": frame["id"].astype(str), "value": values.astype(float)})


def measurement_template(batch: pd.DataFrame) -> pd.DataFrame:
    """The suggestion as the lab fills it: the batch with an empty `value` column."""
    out = batch.copy()
    out["value"] = np.nan
    return out


def campaign_summary(status: Mapping[str, Any]) -> list[str]:
    best = status["best_value"]
    return [
        f"campaign {status['campaign']}: {status['scenario']}, policy {status['policy']} "
        f"{status['policy_params'] or ''}, seed {status['seed']}".rstrip(),
        f"observed {status['observed']} of a budget of {status['budget']}; best "
        + (f"{best:g} ({status['best_candidate']})" if best is not None else "none yet"),
        f"awaiting measurement: {len(status['outstanding'])}"
        + (f" ({', '.join(status['outstanding'][:10])})" if status["outstanding"] else ""),
        f"MLflow run {status['run_id']}",
    ]
