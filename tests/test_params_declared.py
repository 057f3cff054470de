"""Parameters are declared once, as pydantic models, in every installed plugin.

A value a scenario, suite or `-p` gives is checked by the core against what the
source, model, policy or environment declares (`assay.params`), then handed on
parsed. These tests fail when a hand-written check or a repeated default comes
back: a `raise` in a factory's or `__init__`'s own body, a source that parses
again (`parse_params`) or reads its values from a plain mapping (`params.get`).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from assay.data.dataset import Source, SourceParams
from assay.params import Params, factory_params
from assay.plugin import Catalog, process_catalog
from assay.registry import import_object


def _catalog() -> Catalog:
    catalog = process_catalog()
    # the test plugin's `broken` entry fails on purpose; every real plugin must load
    failed = [f.name for f in catalog.failures if f.name != "broken"]
    assert not failed, f"plugins failed to load: {failed}"
    return catalog


def _factories() -> Iterator[tuple[str, Callable[..., Any]]]:
    catalog = _catalog()
    for kind, registry in (
        ("model", catalog.models),
        ("policy", catalog.policies),
        ("environment", catalog.environments),
    ):
        for name, entry in registry.items():
            factory = import_object(entry) if isinstance(entry, str) else entry
            yield f"{kind} {name}", factory


def _body(function: Any) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):  # built without a source file
        return None


def _checked_bodies(factory: Any) -> list[tuple[str, ast.AST]]:
    """The bodies that see a factory's parameters first: the function and what it wraps
    (`validate_call`, a torch factory's `build`), or a class's `__init__`s along its own
    hierarchy (not `object`'s or a library's)."""
    if inspect.isclass(factory):
        bodies = []
        for klass in factory.__mro__:
            init = klass.__dict__.get("__init__")
            if init is not None and klass.__module__.split(".")[0].startswith("assay"):
                bodies += _checked_bodies(init)
        return bodies
    bodies = []
    if inspect.isfunction(factory) and (body := _body(factory)) is not None:
        bodies.append((factory.__qualname__, body))
    wrapped = getattr(factory, "__wrapped__", None)
    return bodies + ([] if wrapped is None else _checked_bodies(wrapped))


FACTORIES = sorted(_factories(), key=lambda item: item[0])


SUPPLIED = frozenset({"dataset", "config"})
"""What the core passes itself, not from a suite: checks of the data are no parameter checks."""


def _hand_checks(body: ast.AST, names: set[str]) -> list[int]:
    """Lines of an `if` on a declared parameter (`k`, `params.k`, `self.k`) that raises:
    a check written by hand."""
    lines = []
    for node in ast.walk(body):
        if isinstance(node, ast.If) and any(isinstance(n, ast.Raise) for n in ast.walk(node)):
            tested = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            tested |= {n.attr for n in ast.walk(node.test) if isinstance(n, ast.Attribute)}
            if tested & names:
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(("label", "factory"), FACTORIES, ids=[label for label, _ in FACTORIES])
def test_every_factory_declares_its_parameters_as_a_pydantic_model(
    label: str, factory: Callable[..., Any]
) -> None:
    declared = factory_params(factory)
    assert issubclass(declared, Params), label
    names = set(declared.model_fields) - SUPPLIED
    for where, body in _checked_bodies(factory):
        lines = _hand_checks(body, names)
        assert not lines, (
            f"{label}: {where} checks a parameter by hand (line {lines[0]} of its body); "
            "declare the range in the signature (Annotated[..., Field(...)]) or a Params "
            "validator"
        )


SOURCES = sorted(name for name, _ in _catalog().sources.items())


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_gets_its_values_parsed_once(name: str) -> None:
    source = _catalog().source(name)
    assert isinstance(source, Source)
    assert issubclass(source.params_model, SourceParams), name
    for klass in type(source).__mro__:
        if klass in (Source, object) or not klass.__module__.startswith("assay"):
            continue
        assert (
            "validate_params" not in klass.__dict__ or klass.__module__ == "assay.data.dataset"
        ), (
            f"{name}: {klass.__qualname__} overrides validate_params; the core parses once "
            "(checks of the values are validators of params_model, file checks check_inputs)"
        )
        text = inspect.getsource(klass)
        for pattern in ("params.get(", 'params["', "parse_params("):
            assert pattern not in text, (
                f"{name}: {klass.__qualname__} reads `{pattern}`; every method gets the "
                "parsed params object, defaults filled in"
            )
