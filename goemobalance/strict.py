"""Strict conversion of plain mappings (YAML, JSON) into dataclasses, with errors that name the field.

Settings files are written by hand, so a typo must fail loudly instead of silently changing a build:
`from_mapping` rejects unknown fields (suggesting the closest known name), missing required fields and
values of the wrong type, and every message names the place (``recipes/x.yaml: balance.target``). It is
the one implementation of "mapping -> dataclass" in the package (the recipe, training configs).

Supported field types: ``bool``, ``int``, ``float`` (an int is accepted, and so is a string in exponent
notation such as ``2e-3``, which YAML 1.1 readers leave a string), ``str``, ``None``, unions
(``int | None``), ``Literal[...]``, ``list[T]``, ``tuple[T, ...]``, ``dict[K, V]``, ``Any`` and nested
dataclasses (converted recursively).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from goemobalance.errors import InputError

_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

T = TypeVar("T")

_TYPE_WORDS: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    type(None): "null",
}


def from_mapping(
    cls: type[T],
    data: Any,
    where: str,
    *,
    error: type[InputError] = InputError,
    exclude: tuple[str, ...] = (),
) -> T:
    """An instance of dataclass `cls` from a mapping, checking names and types of every field.

    Parameters
    ----------
    cls : type
        The dataclass to build.
    data : Any
        The mapping read from a file (``None`` counts as an empty mapping).
    where : str
        Where the mapping comes from, used as the prefix of every message, e.g. ``"r.yaml: balance"``.
    error : type
        The `InputError` subclass to raise.
    exclude : tuple of str
        Fields of `cls` that a file may not set (filled in by the caller).

    Returns
    -------
    instance of `cls`

    Raises
    ------
    InputError
        (or `error`) naming the field: unknown (with the closest known name), missing, or of the wrong type;
        a ``ValueError`` or ``TypeError`` from the dataclass's own checks is raised again as `error`, prefixed
        with `where`.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise error(f"{where}: expected a mapping of fields, got {describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in exclude}
    reject_unknown(data, fields, where, error=error)
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise error(f"{where}: field {name!r} is required")
            continue
        values[name] = convert(data[name], hints[name], _join(where, name), error=error)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # the dataclass's own checks (__post_init__): add the place
        raise error(f"{where}: {exc}") from exc


def reject_unknown(
    data: Mapping[str, Any], known: typing.Iterable[str], where: str, *, error: type[InputError] = InputError
) -> None:
    """Raise `error` for the first key of `data` not in `known`, suggesting the closest known name."""
    known = sorted(known)
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise error(f"{where}: unknown field {key!r}{hint}; known fields: {', '.join(known)}")


def convert(value: Any, hint: Any, where: str, *, error: type[InputError] = InputError) -> Any:
    """`value` checked against type `hint` (and converted for nested dataclasses and tuples)."""
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(value, typing.get_args(hint), where, error)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
            raise error(f"{where}: {describe(value)} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (list, tuple, dict) or hint in (list, tuple, dict):
        return _convert_container(value, hint, origin or hint, where, error)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # already built (a caller passing objects, not a file's mapping)
            return value
        return from_mapping(hint, value, where, error=error)
    if isinstance(hint, type):
        return _convert_scalar(value, hint, where, error)
    return value


def describe(value: Any) -> str:
    """A short description of a value for an error message: its repr, or its type for containers."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert_union(value: Any, options: tuple[Any, ...], where: str, error: type[InputError]) -> Any:
    for option in sorted(options, key=_check_order):
        try:
            return convert(value, option, where, error=error)
        except InputError:
            continue
    words = " or ".join(dict.fromkeys(_type_word(option) for option in options))
    raise error(f"{where}: expected {words}, got {describe(value)}")


def _check_order(hint: Any) -> int:
    """Try None, then scalars, then containers, so `int | float` keeps ints and `bool` never eats an int."""
    if hint is type(None):
        return 0
    if hint in (bool, int, float, str):
        return 1 + (bool, int, float, str).index(hint)
    return 10


def _convert_scalar(value: Any, hint: type, where: str, error: type[InputError]) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise error(f"{where}: expected {_type_word(hint)}, got {describe(value)}")
    if not isinstance(value, hint):
        raise error(f"{where}: expected {_type_word(hint)}, got {describe(value)}")
    return value


def _convert_container(value: Any, hint: Any, origin: type, where: str, error: type[InputError]) -> Any:
    args = typing.get_args(hint)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise error(f"{where}: expected a mapping, got {describe(value)}")
        key_hint, value_hint = args or (Any, Any)
        return {
            convert(k, key_hint, where, error=error): convert(
                v, value_hint, _join(where, str(k)), error=error
            )
            for k, v in value.items()
        }
    if not isinstance(value, (list, tuple)):
        raise error(f"{where}: expected a list, got {describe(value)}")
    item_hint = args[0] if args else Any
    items = [convert(v, item_hint, f"{where}[{i}]", error=error) for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _type_word(hint: Any) -> str:
    if hint in _TYPE_WORDS:
        return _TYPE_WORDS[hint]
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    return getattr(hint, "__name__", str(hint))


def _join(where: str, name: str) -> str:
    """``"r.yaml: balance"`` + ``"target"`` -> ``"r.yaml: balance.target"``; ``"r.yaml"`` -> ``"r.yaml: target"``."""
    if ": " in where:
        return f"{where}.{name}"
    return f"{where}: {name}"


__all__ = ["convert", "describe", "from_mapping", "reject_unknown"]
