"""Name -> object registries: the one mechanism for finding components by name.

A plugin may name any contribution as `"module:attr"`; `LazyRegistry` imports it
on first use, so loading the catalog (`assay list`, `assay show`, `--help`)
imports nothing of a plugin beyond its `plugin.py`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from assay.errors import UnknownNameError

T = TypeVar("T")


def import_object(path: str) -> Any:
    """Resolve `package.module:Name` (a lazy entry, or the form a user gives for a model)."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UnknownNameError(f"'{path}' is not of the form module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownNameError(
            f"cannot import module '{module_name}' for '{path}': {exc}"
        ) from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise UnknownNameError(f"module '{module_name}' has no attribute '{attr}'") from None
    return obj


class Registry(Generic[T]):
    """A mapping from names to components with a helpful error for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, replace: bool = False) -> None:
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownNameError(f"unknown {self.kind} '{name}'{hint} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def update(self, other: Registry[T]) -> None:
        for name, item in other.items():
            self.register(name, item)


class LazyRegistry(Registry[T]):
    """A registry whose entries may also be `"module:attr"` references, imported on first
    `get` and checked there by `check(name, imported)`, which returns the component or
    raises `UnknownNameError`."""

    def __init__(self, kind: str, check: Callable[[str, Any], T]) -> None:
        super().__init__(kind)
        self._check = check
        self._lazy: dict[str, str] = {}

    def register(self, name: str, item: T, *, replace: bool = False) -> None:
        if name in self._lazy and not replace:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._lazy.pop(name, None)
        super().register(name, item, replace=replace)

    def register_lazy(self, name: str, reference: str) -> None:
        if name in self:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._lazy[name] = reference

    def is_lazy(self, name: str) -> bool:
        """True while `name` is registered and not imported yet."""
        return name in self._lazy

    def get(self, name: str) -> T:
        reference = self._lazy.get(name)
        if reference is not None:
            self._items[name] = self._check(name, import_object(reference))
            del self._lazy[name]
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._items, *self._lazy}))

    def __len__(self) -> int:
        return len(self._items) + len(self._lazy)

    def items(self) -> list[tuple[str, T]]:
        """Every entry, lazy ones imported now."""
        return [(name, self.get(name)) for name in self]
