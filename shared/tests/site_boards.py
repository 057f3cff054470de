"""Boards made by hand for the site and plot tests: ties, an external entry, a failed
one, references far from our numbers and a log-scale metric."""

from __future__ import annotations

from assay.evaluation.stats import BOOTSTRAP_METHOD, MetricSummary
from assay.publish.board import Board, Entry


def _summary(mean: float, half: float) -> MetricSummary:
    return MetricSummary(mean, float("nan"), (mean - half, mean + half), 2000, BOOTSTRAP_METHOD)


def _entry(model: str, rank: int | None, auc: float, rejection: float, **kw: object) -> Entry:
    return Entry(
        model=model,
        rank=rank,
        metrics={
            "roc_auc": _summary(auc, 0.003),
            "rejection_30": _summary(rejection, rejection * 0.1),
        },
        normalised=None,
        fit_seconds=1.5,
        peak_memory_mb=12.0,
        units=1,
        failures=0,
        **kw,  # type: ignore[arg-type]
    )


def tagging_board() -> Board:
    """Like top tagging: AUCs between 0.5 and 0.99, rejections spanning three decades,
    four references whose labels would sit on top of each other on a 0-1 axis."""
    failed = _entry("broken <model>", None, 0.5, 1.0)
    failed.failures, failed.errors = 1, ["ValueError: bad & worse"]
    return Board(
        scenario="hep/tagging",
        version="1",
        title="Tagging <jets> & more",
        size="standard",
        primary="roc_auc",
        direction="maximize",
        data_sha="a" * 64,
        split_shas=["b" * 64],
        entries=[
            _entry("pfn", 1, 0.985, 900.0),
            _entry("particlenet (external)", 1, 0.984, 850.0, external="0123456789abcdef"),
            _entry("bdt", 3, 0.92, 60.0),
            _entry("majority", 4, 0.5, 1.0),
            failed,
        ],
        references=[
            {"model": m, "metric": "roc_auc", "value": v, "citation": f"{m} paper", "note": n}
            for m, v, n in (
                ("PFN", 0.9819, "Delphes jets"),
                ("ParticleNet", 0.9858, "1.2M jets"),
                ("ParT", 0.9858, ""),
                ("LorentzNet", 0.9868, "other detector"),
            )
        ]
        + [
            {
                "model": "PFN",
                "metric": "rejection_30",
                "value": 888.0,
                "citation": "Kasieczka 2019",
                "note": "",
            }
        ],
        negative_control="majority",
        method=BOOTSTRAP_METHOD,
        description="A hand-made board with <markup> in its text.",
        directions={"roc_auc": "maximize", "rejection_30": "maximize"},
        dataset={
            "name": "tagging",
            "version": "1",
            "provenance": "generated from first principles",
            "licence": "CC-BY-4.0",
            "notes": ["12 duplicate rows merged"],
        },
        environment={"version.assay": "0.1.0", "git_commit": "abc"},
        task="binary",
    )


def loop_board() -> Board:
    """A closed-loop board (no discovery curves drawn yet) in another domain."""
    board = tagging_board()
    board.scenario, board.title, board.task = "loops/discovery", "A closed loop", "closed-loop"
    board.dataset = {}
    board.references = []
    return board
