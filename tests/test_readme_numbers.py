"""Every result number and tie in the READMEs comes from a committed board, bench output
or the reference numbers (`assay.publish.results_check`), and the check fails on a hand edit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from assay.publish.results_check import check_readme, check_repository, load_sources

ROOT = Path(__file__).resolve().parents[1]


def test_the_readmes_quote_only_committed_numbers_and_ties() -> None:
    assert check_repository(ROOT) == []


def test_no_file_cites_a_reference_table_outside_the_repository() -> None:
    cited = [
        str(path.relative_to(ROOT))
        for pattern in ("*.md", "packages/*/README.md", "packages/*/src/*/scenarios/*.toml")
        for path in ROOT.glob(pattern)
        if "SCENARIOS.md" in path.read_text(encoding="utf-8")
    ]
    assert cited == []
    assert (ROOT / "docs" / "references.md").is_file()


@pytest.fixture
def quantum_copy(tmp_path: Path) -> Path:
    """The quantum README in a copy of the repository's layout (boards and references
    linked), so its include block and links resolve as in the repository."""
    (tmp_path / "packages" / "quantum").mkdir(parents=True)
    for name in ("leaderboards", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    copy = tmp_path / "packages" / "quantum" / "README.md"
    copy.write_text((ROOT / "packages/quantum/README.md").read_text(encoding="utf-8"))
    return copy


def _problems(readme: Path) -> list[str]:
    return check_readme(readme, load_sources(ROOT, ["quantum", "core"]))


def test_a_score_edited_by_hand_in_a_readme_fails(quantum_copy: Path) -> None:
    assert _problems(quantum_copy) == []
    text = quantum_copy.read_text(encoding="utf-8")
    include = text.index("<!-- include:")
    score = re.compile(r"\| quantum\.circuit_gnn \| (\d\.\d+)").search(text, include)
    assert score is not None
    edited = text[: score.start(1)] + "0.0761" + text[score.end(1) :]
    quantum_copy.write_text(edited, encoding="utf-8")
    assert any("the include of" in p and "differs" in p for p in _problems(quantum_copy))


def test_a_number_or_a_tie_added_to_the_prose_fails(quantum_copy: Path) -> None:
    text = quantum_copy.read_text(encoding="utf-8")
    quantum_copy.write_text(
        text + "\nOn the depth split the circuit GNN reaches 0.0761, tied with random forest "
        "and torch MLP.\n",
        encoding="utf-8",
    )
    problems = _problems(quantum_copy)
    assert any("0.0761 is in no board" in p for p in problems)
    assert any("a tie no board shows" in p and "circuit gnn" in p for p in problems)
