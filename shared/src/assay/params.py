"""The one way parameters are declared and checked: pydantic models, parsed once.

Sources, models, policies, environments and the torch training knobs all
declare what they take as a `Params` model (or, for a factory, in its
signature, which is read the way `pydantic.validate_call` reads it: ranges as
`Annotated[int, Field(ge=1)]`). Cross-field rules are model validators. The
core parses the values a scenario, suite or `-p` gave once, refuses a bad one
in one line naming the key and what is allowed, and hands the typed values on.
What the run key hashes stays the values as given, never the parsed ones.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model, validate_call
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from assay.errors import AssayError, DataError
from assay.spec import first_error


class Params(BaseModel):
    """Base of every parameter model: unknown keys are errors, and values are checked as
    given (TOML's "3" is not 3, `true` is not 1); an int is accepted where a float is."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        use_attribute_docstrings=True,
        arbitrary_types_allowed=True,
    )


class _OpenParams(Params):
    """For a factory that takes `**kwargs`: the keys it names are checked, others pass."""

    model_config = ConfigDict(extra="allow")


ParamsT = TypeVar("ParamsT", bound=BaseModel)


def params_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line from pydantic's errors: the key and what is allowed (pydantic's message
    names the range: "Input should be greater than 0"), the known keys after a typo, the
    field's docstring after a missing key, a cross-field validator's own message."""
    error = exc.errors()[0]
    if not error["loc"]:  # a model validator: its message names the keys
        return str(error["msg"]).removeprefix("Value error, ")
    hint = ""
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        fields = ", ".join(model.model_fields)
        hint = f" (known: {fields})" if fields else " (it takes no parameters)"
    elif error["type"] == "missing":
        described = model.model_fields.get(str(error["loc"][0]))
        hint = f": {described.description}" if described and described.description else ""
    text = first_error(exc)
    if error["type"] == "value_error":  # a validator's own message, without pydantic's prefix
        text = text.replace(": Value error, ", ": ", 1)
    return f"{text}{hint}"


def parse_params(
    origin: str,
    model: type[ParamsT],
    params: Mapping[str, Any],
    *,
    error: type[AssayError] = DataError,
) -> ParamsT:
    """`params` checked against `model`; a problem is one `error` line naming `origin`
    and the key."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise error(f"{origin}: {params_error(exc, model)}") from None


def _signature_field(parameter: inspect.Parameter, hint: Any) -> tuple[Any, Any]:
    annotation = Any if hint is inspect.Parameter.empty else hint
    default = ... if parameter.default is inspect.Parameter.empty else parameter.default
    return annotation, default


@functools.cache
def signature_params(factory: Callable[..., Any], skip: tuple[str, ...] = ()) -> type[Params]:
    """A `Params` model of a factory's keyword parameters, read from its signature as
    `validate_call` would (types and `Annotated` ranges). A parameter whose type pydantic
    cannot check (a featurizer callable) is taken as given; `**kwargs` accepts any key;
    the names in `skip` are left out (a torch model's `config`, filled by the factory)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: the call itself checks
        return _OpenParams
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable annotations: check names only
        hints = {}
    fields: dict[str, Any] = {}
    open_ended = False
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL or name in skip:
            continue
        hint = hints.get(name, parameter.annotation)
        annotation, default = _signature_field(parameter, hint)
        try:
            create_model("_Probe", __base__=Params, probe=(annotation, default))
        except (PydanticSchemaGenerationError, PydanticUserError, TypeError, NameError):
            annotation = Any
        fields[name] = (annotation, default)
    base = _OpenParams if open_ended else Params
    label = getattr(factory, "__name__", type(factory).__name__)
    return create_model(f"{label}Params", __base__=base, **fields)


F = TypeVar("F", bound=Callable[..., Any])


def checked(function: F) -> F:
    """`pydantic.validate_call` with `Params`' strictness, for a factory or an `__init__`
    whose signature declares its ranges (`h2: Annotated[float, Field(gt=0, lt=1)]`): a
    direct call is checked as a suite's values are, by the same declaration."""
    config = ConfigDict(strict=True, arbitrary_types_allowed=True)
    return validate_call(config=config)(function)


def factory_params(factory: Callable[..., Any], skip: tuple[str, ...] = ()) -> type[Params]:
    """The parameters a model, policy or environment factory takes: the `Params` model it
    declares as `params_model`, else the one its signature declares (less `skip`: what
    the core passes itself, an environment's `dataset`)."""
    declared = getattr(factory, "params_model", None)
    if isinstance(declared, type) and issubclass(declared, Params):
        return declared
    return signature_params(factory, skip)


def check_factory_params(
    origin: str,
    factory: Callable[..., Any],
    params: Mapping[str, Any],
    *,
    error: type[AssayError],
    skip: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The keyword arguments to call `factory` with: `params` parsed against what it
    declares (one `error` line on a bad value), the parsed value of each key given. Keys
    not given keep the factory's own defaults."""
    parsed = parse_params(origin, factory_params(factory, skip), params, error=error)
    return {key: getattr(parsed, key, params[key]) for key in params}
