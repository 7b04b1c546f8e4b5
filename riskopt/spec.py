"""Specs: frozen dataclasses whose fields say how a model card reads them and how the docs list them.

A mechanism's input is a frozen dataclass (its *spec*). Each field declared with :func:`option`
carries what a user needs to know (help, allowed values, units, default) and, where the field is not
a plain number/string/flag/list/table, a reader. :func:`read_spec` turns a TOML table into the spec,
field by field, with errors that name the TOML path (``market.cells = 0: expected an integer number
of cells in [1, 100000]``); :func:`reference` lists every field (nested specs included) for the
generated card reference pages. One declaration, so a default is written once.

Reading rules by annotation: ``bool``, ``int``, ``float`` (integers accepted), ``str``,
``Literal["a", "b"]`` (one of), ``X | None`` (optional, default ``None``), a nested spec dataclass
(a table), ``tuple[Spec, ...]`` (an array of tables), ``tuple[float, ...]`` (a list of numbers).
Anything else needs ``read=``: ``read(value, path, context) -> field value``.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import numpy as np

from .errors import ModelError

__all__ = ["REQUIRED", "Checked", "Context", "Node", "Option", "Row", "check_fields", "number_list", "option",
           "read_spec", "reference", "reference_markdown"]

REQUIRED: Any = object()
T = TypeVar("T")
Reader = Callable[[Any, str, "Context"], Any]


# --------------------------------------------------------------------------- TOML tables
class Node:
    """A table of the card with its path; ``take`` reads a field and checks its type."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, Mapping):
            raise ModelError(path or "card", _kind(data), "a table")
        self.data = dict(data)
        self.path = path
        self.used: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def take(self, key: str, kinds: tuple[type, ...] | type, default: Any = REQUIRED,
             allowed: str = "") -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise ModelError(self.at(key), None, allowed or f"a value ({_names(kinds)})",
                                 detail="missing")
            return default
        value = self.data[key]
        kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
        if object in kinds_t:
            return value
        if float in kinds_t and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # TOML integers are unbounded
                raise ModelError(self.at(key), value, allowed or _names(kinds),
                                 detail="too large for a float") from None
        if isinstance(value, bool) and bool not in kinds_t:
            raise ModelError(self.at(key), value, allowed or _names(kinds))
        if not isinstance(value, kinds_t):
            raise ModelError(self.at(key), value, allowed or _names(kinds))
        return value

    @typing.overload
    def child(self, key: str) -> Node: ...

    @typing.overload
    def child(self, key: str, default: None) -> Node | None: ...

    def child(self, key: str, default: Any = REQUIRED) -> Node | None:
        """The sub-table ``key`` (required unless a ``default``, typically ``None``, is given)."""
        value = self.take(key, (dict,), default=default, allowed="a table")
        return None if value is None else Node(value, self.at(key))

    def finish(self) -> None:
        """Refuse keys nobody read (typos such as ``gama``)."""
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), sorted(self.used), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ModelError(self.at(unknown[0]), self.data[unknown[0]],
                             f"one of the known fields {sorted(self.used)}", detail="unknown field" + hint)


def _kind(value: Any) -> str:
    return f"a {type(value).__name__}"


def _names(kinds: tuple[type, ...] | type) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    words = {int: "an integer", float: "a number", str: "a string", bool: "true/false",
             list: "a list", dict: "a table"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def number_list(value: Any, path: str, n: int | None = None) -> np.ndarray:
    """A list of finite numbers (``n`` of them when given) as a float array."""
    if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ModelError(path, value, "a list of numbers")
    try:
        arr = np.asarray(value, float)
    except OverflowError:  # an integer beyond the float range
        raise ModelError(path, value, "finite numbers") from None
    if not np.all(np.isfinite(arr)):
        raise ModelError(path, value, "finite numbers")
    if n is not None and arr.size != n:
        raise ModelError(path, f"{arr.size} values", f"{n} values")
    return arr


# ------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class Option:
    """What a spec field's card key means (see :func:`option`)."""

    help: str
    allowed: str = ""
    check: Callable[[Any], bool] | None = None
    units: str = ""
    key: str | None = None
    read: Reader | None = None
    shown_default: str | None = None
    card: bool = True
    whole: bool = False
    rows: Callable[[str], list[Row]] | None = None


def option(default: Any = REQUIRED, *, help: str, allowed: str = "",
           check: Callable[[Any], bool] | None = None, units: str = "", key: str | None = None,
           read: Reader | None = None,
           default_factory: Callable[[], Any] | None = None, shown_default: str | None = None,
           card: bool = True, whole: bool = False, rows: Callable[[str], list[Row]] | None = None) -> Any:
    """A spec field with its card documentation.

    ``check(value)`` returning False raises ``ModelError(path, value, allowed)``; ``read`` replaces
    the annotation-driven reading (it receives the raw TOML value, its path and the
    :class:`Context`); ``key`` is the card key when it differs from the field name;
    ``shown_default`` documents a default computed elsewhere; ``card=False`` keeps a field out of
    cards (Python API only). ``whole=True`` hands the reader the enclosing table itself
    (``read(node, path, context)``: for fields spread over several keys, such as ``[[agents]]`` or
    ``[pool]``); ``rows(prefix)`` documents what such a reader accepts.
    """
    meta = {"riskopt": Option(help, allowed, check, units, key, read, shown_default, card, whole, rows)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if default is REQUIRED:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class Context:
    """What readers may need beyond a value: the card's random draws, values read so far (a
    reader of ``agents`` may need the number of states of ``space``, read first) and the card's
    ``folder``, where relative data paths start (default: the draws' own, set from the card's file by
    :func:`riskopt.cards.parse_card`; ``None``: the current directory)."""

    draws: Any = None
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    folder: Path | None = None

    def __post_init__(self) -> None:
        if self.folder is None:
            self.folder = getattr(self.draws, "folder", None)


def _option(f: dataclasses.Field[Any]) -> Option | None:
    opt = f.metadata.get("riskopt")
    return opt if isinstance(opt, Option) else None


# ------------------------------------------------------------------------------ reading
def read_spec(cls: type[T], node: Node, context: Context | None = None, *, finish: bool = True,
              **given: Any) -> T:
    """Read a spec dataclass from a card table (``given``: fields supplied by the caller).
    ``finish=False`` leaves other keys of the table to the caller (a card's ``[model]`` and
    ``[solver]`` sit next to the mechanism's sections)."""
    context = context or Context()
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = dict(given)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        opt = _option(f)
        if opt is None or not opt.card or f.name in values:
            continue
        key = opt.key or f.name
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if opt.whole and opt.read is not None:  # the reader takes the keys it needs from the table
            values[f.name] = context.values[f.name] = opt.read(node, node.path, context)
            continue
        if key not in node.data:
            node.used.add(key)
            if not has_default:
                raise ModelError(node.at(key), None, opt.allowed or opt.help, detail="missing")
            continue  # the dataclass default stands
        value = _read(hints[f.name], node, key, opt, context)
        if opt.check is not None and not _passes(opt.check, value):
            raise ModelError(node.at(key), value, opt.allowed or opt.help)
        values[f.name] = value
        context.values[f.name] = value
    if finish:
        node.finish()
    try:
        return cls(**values)
    except ModelError as err:  # a cross-field check in __post_init__ names the field
        raise err.with_prefix(node.path) from None


# ------------------------------------------------------------------------- Python-built specs
class Checked:
    """Mixin of spec dataclasses: a spec built in Python is checked as a card is (:func:`check_fields`).

    A subclass with its own ``__post_init__`` calls ``super().__post_init__()`` first."""

    def __post_init__(self) -> None:
        check_fields(self)


def check_fields(spec: Any) -> None:
    """Check a spec built in Python as :func:`read_spec` checks a card: every field of a plain type
    (``bool``, ``int``, ``float``, ``str``, a ``Literal``, a spec dataclass, a tuple of these, each
    possibly ``None``) must have that type and pass its option's ``check``, else a ModelError names
    the field, the value and what is allowed. Fields of other types (arrays, laws, spaces) are checked
    by their own readers and constructors."""
    hints = typing.get_type_hints(type(spec))
    for f in dataclasses.fields(spec):
        opt = _option(f)
        if opt is None:
            continue
        value = getattr(spec, f.name)
        fits = _fits(hints[f.name], value)
        if fits is False:
            raise ModelError(f.name, value, opt.allowed or _kind_name(hints[f.name]))
        if fits and opt.check is not None and value is not None and not _passes(opt.check, value):
            raise ModelError(f.name, value, opt.allowed or opt.help)


def _fits(tp: Any, value: Any) -> bool | None:
    """Whether ``value`` has the plain type ``tp`` (a list or a 1-d array stands for a tuple);
    ``None`` when ``tp`` is not plain."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, types.UnionType):
        each = [_fits(a, value) for a in args]
        return None if None in each else any(each)
    if tp is type(None):
        return value is None
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if tp is bool:
        return isinstance(value, (bool, np.bool_))
    if tp in (int, float):
        kind = numbers.Integral if tp is int else numbers.Real
        return isinstance(value, kind) and not isinstance(value, (bool, np.bool_))
    if tp is str:
        return isinstance(value, str)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return isinstance(value, tp)
    if origin is tuple and args:
        items = list(args[:-1]) if args[-1] is Ellipsis else list(args)
        if any(_fits(a, None) is None for a in items):  # a tuple of non-plain items
            return None
        if isinstance(value, np.ndarray) and value.ndim == 1:
            value = value.tolist()
        if not isinstance(value, (tuple, list)):
            return False
        if args[-1] is Ellipsis:
            return all(_fits(items[0], v) for v in value)
        return len(value) == len(items) and all(_fits(a, v) for a, v in zip(items, value, strict=True))
    return None


def _passes(check: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(check(value))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _read(tp: Any, node: Node, key: str, opt: Option, context: Context) -> Any:
    if opt.read is not None:
        try:
            return opt.read(node.take(key, object), node.at(key), context)
        except ModelError as err:
            raise err if err.field.startswith(node.at(key)) else err.with_prefix(node.at(key)) from None
    return _read_type(tp, node, key, opt, context)


def _read_type(tp: Any, node: Node, key: str, opt: Option, context: Context) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, types.UnionType) and type(None) in args:  # X | None
        inner = [a for a in args if a is not type(None)]
        return _read_type(inner[0] if len(inner) == 1 else tp, node, key, opt, context)
    if origin is Literal:
        value = node.take(key, str, allowed=opt.allowed or f"one of {list(args)}")
        if value not in args:
            raise ModelError(node.at(key), value, opt.allowed or f"one of {list(args)}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return read_spec(tp, node.child(key), context)
    if origin is tuple and args and args[-1] is Ellipsis:
        item = args[0]
        raw = node.take(key, list, allowed=opt.allowed or "a list")
        if dataclasses.is_dataclass(item):
            return tuple(read_spec(item, Node(r, f"{node.at(key)}[{i}]"), context)  # type: ignore[arg-type]
                         for i, r in enumerate(raw))
        if item is float:
            return tuple(float(v) for v in number_list(raw, node.at(key)))
        return tuple(raw)
    if tp in (bool, int, float, str):
        return node.take(key, tp, allowed=opt.allowed)
    raise TypeError(f"spec field {node.at(key)}: no reader for {tp!r} (declare read=...)")


# -------------------------------------------------------------------------- the reference
@dataclass(frozen=True)
class Row:
    """One documented card key."""

    path: str
    kind: str
    default: str
    allowed: str
    units: str
    help: str


def reference(cls: type[Any], prefix: str = "") -> list[Row]:
    """Every card key of a spec, nested specs flattened (``market.cells``, ``insurers[].name``)."""
    hints = typing.get_type_hints(cls)
    rows: list[Row] = []
    for f in dataclasses.fields(cls):
        opt = _option(f)
        if opt is None or not opt.card:
            continue
        path = f"{prefix}{opt.key or f.name}"
        if opt.rows is not None:  # a custom reader documents its own keys
            rows += opt.rows(prefix)
            continue
        tp = hints[f.name]
        nested = _nested(tp)
        if nested is not None and opt.read is None:
            inner, many = nested
            rows.append(Row(path + ("[]" if many else ""), "array of tables" if many else "table",
                            _default(f, opt), opt.allowed, opt.units, opt.help))
            rows += reference(inner, f"{path}{'[]' if many else ''}.")
            continue
        rows.append(Row(path, _kind_name(tp), _default(f, opt), opt.allowed, opt.units, opt.help))
    return rows


def _nested(tp: Any) -> tuple[type[Any], bool] | None:
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _nested(inner[0]) if len(inner) == 1 else None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp, False
    if origin is tuple and args and args[-1] is Ellipsis and isinstance(args[0], type) \
            and dataclasses.is_dataclass(args[0]):
        return args[0], True
    return None


def _kind_name(tp: Any) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind_name(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(f'"{a}"' for a in args)
    if origin is tuple:
        return f"list of {_kind_name(args[0])}s" if args else "list"
    return {bool: "true/false", int: "integer", float: "number", str: "string"}.get(tp, "table or value")


def _default(f: dataclasses.Field[Any], opt: Option) -> str:
    if opt.shown_default is not None:
        return opt.shown_default
    if f.default is not dataclasses.MISSING:
        d = f.default
        if d is None:
            return "none"
        if isinstance(d, bool):
            return "true" if d else "false"
        if isinstance(d, str):
            return f'"{d}"'
        return repr(d)
    if f.default_factory is not dataclasses.MISSING:
        return "(see below)"
    return "required"


def reference_markdown(cls: type[Any], prefix: str = "") -> str:
    """The paper's card keys as a markdown table (what the generated reference pages show)."""
    lines = ["| key | type | default | allowed | help |", "|---|---|---|---|---|"]
    for r in reference(cls, prefix):
        help_ = r.help + (f" ({r.units})" if r.units else "")
        cells = [f"`{r.path}`", r.kind, f"`{r.default}`" if r.default not in ("required", "") else r.default,
                 r.allowed, help_]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
