from __future__ import annotations

from pathlib import Path

import pytest
from assay.errors import SpecError
from assay.spec import load_scenario, load_suite

SCENARIO = """
schema_version = 1
id = "demo/thing"
version = "1"
title = "Thing"
task = "regression"
models = ["mean"]

[source]
name = "core.sklearn"
params = { dataset = "diabetes" }
sizes.quick = { max_rows = 50 }

[protocol]
split = "kfold"
folds = 5
sizes.quick = { folds = 2 }

[[metrics]]
name = "rmse"
direction = "minimize"

[controls]
negative = "mean"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_scenario_and_sizes(tmp_path: Path) -> None:
    spec = load_scenario(write(tmp_path, SCENARIO))
    assert spec.key == "demo/thing@1"
    assert spec.primary_metric.name == "rmse"
    assert spec.source.params_for("quick") == {"dataset": "diabetes", "max_rows": 50}
    assert spec.source.params_for("standard") == {"dataset": "diabetes"}
    assert spec.protocol.for_size("quick").folds == 2
    assert spec.protocol.for_size("standard").folds == 5


def test_unknown_key_is_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, SCENARIO.replace('title = "Thing"', 'title = "Thing"\ncolour = "red"'))
    with pytest.raises(SpecError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert "unknown key 'colour'" in message
    assert str(path) in message


def test_unknown_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, SCENARIO.replace("folds = 5", "folds = 5\nfoldz = 3"))
    with pytest.raises(SpecError, match=r"unknown key 'protocol.foldz'"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("schema_version = 1", "schema_version = 7"), "schema_version 7 is not supported"),
        (('task = "regression"', 'task = "astrology"'), "'task'"),
        (('id = "demo/thing"', 'id = "Demo Thing"'), "'id'"),
        (('title = "Thing"\n', ""), "missing key 'title'"),
        (("folds = 5", "folds = 0"), "protocol.folds"),
    ],
)
def test_invalid_values(tmp_path: Path, edit: tuple[str, str], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        load_scenario(write(tmp_path, SCENARIO.replace(*edit)))


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid TOML"):
        load_scenario(write(tmp_path, "id = [unclosed"))
    with pytest.raises(SpecError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_suite_models_with_params(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path,
            """
schema_version = 1
name = "s"
size = "standard"
[[entries]]
scenario = "demo/thing@1"
models = ["mean", { name = "ridge", params = { alpha = 2.0 }, label = "ridge-a2" }]
""",
        )
    )
    models = suite.entries[0].model_entries()
    assert [m.display_name for m in models] == ["mean", "ridge-a2"]
    assert models[1].params == {"alpha": 2.0}


def test_suite_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"unknown key 'entries.0.modles'"):
        load_suite(
            write(
                tmp_path,
                'schema_version = 1\nname = "s"\n[[entries]]\nscenario = "a/b"\nmodles = []\n',
            )
        )


def test_repo_suites_validate() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "scenarios").glob("*.toml")):
        assert load_suite(path).entries
