"""A modeler's own constraints: one vocabulary for every mechanism (``[[constraints]]`` in cards).

A constraint names who it binds, a quantity the mechanism has, a sense and a right-hand side:

.. math::

    \\sum_k c_k\\, Q(\\text{who}_k)(s) \\;\\lessgtr\\; r(s) + m\\, X(s)
    \\quad\\text{for every row } s, \\qquad\\text{or}\\qquad
    \\sum_k c_k\\, E_{q_k}[Q(\\text{who}_k)] \\;\\lessgtr\\; r + m\\, E_P[X]

(``scope = "every_state"`` or ``"expectation"``; ``q_k`` is ``P`` or the member's own law). The
rows ``s`` are what the mechanism's program has: states, atoms of ``X``, layers, scenarios.
``what = "share_of_aggregate"`` reads ``xi_i(s) <= r X(s)`` (the right-hand side as a share).

A mechanism says what it offers through a :class:`ConstraintTarget` (its roles and member names,
its quantities as cvxpy expressions over its rows, its laws and aggregate); :func:`add_constraints`
writes the rows into its program, one named group per constraint, and :func:`read_constraints`
reads each group's dual back through the one sign rule (:func:`riskopt.duals.value_derivative`):

    ``dual = d (optimal objective) / d rhs``,

per row for ``every_state`` constraints, one number in expectation, and whether the row binds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import cvxpy as cp
import numpy as np

from .duals import value_derivative
from .errors import ModelError
from .spec import Checked, number_list, option

__all__ = [
    "Constrained",
    "ConstraintDual",
    "ConstraintSpec",
    "ConstraintTarget",
    "add_constraints",
    "allowed_quantities",
    "binding_tolerance",
    "check_constraints",
    "constraints_option",
    "group_name",
    "make_dual",
    "read_constraints",
    "require_no_constraints",
    "to_json",
]

Sense = Literal["<=", ">=", "=="]
#: card keys that say who a constraint binds: the singular names one member, the plural several
ROLE_KEYS = ("agent", "agents", "insurer", "insurers", "reinsurer", "reinsurers", "region", "regions")
#: a row binds when its slack is within this fraction of the row's scale (the largest of |lhs|,
#: |rhs| and the program's unit max |X|): solvers stop at ~1e-8 relative feasibility
BINDING_TOLERANCE = 1e-7


def _rhs(value: Any, path: str, context: Any) -> float | tuple[float, ...]:
    if isinstance(value, list):
        return tuple(float(v) for v in number_list(value, path))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(float(value)):
        return float(value)
    raise ModelError(path, value, "a finite number or a list of numbers (one per row)")


def _names(value: Any, path: str, context: Any) -> tuple[str, ...] | str:
    if value == "all":
        return "all"
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ModelError(path, value, "a non-empty list of names, or \"all\"")


@dataclass(frozen=True)
class ConstraintSpec(Checked):
    """One user constraint (``[[constraints]]``): who, what, sense, right-hand side, scope."""

    name: str = option(help="the constraint's name: its dual is reported under it (Result.constraints)",
                       allowed="a non-empty name, unique in the card",
                       check=lambda s: bool(s.strip()))
    what: str = option(help="the quantity constrained: one of those the mechanism lists (allocation, "
                            "expected_allocation, premium, tax, share_of_aggregate, ...)",
                       allowed="a quantity of the mechanism")
    sense: Sense = option(help="lhs <= rhs, lhs >= rhs or lhs == rhs", allowed='"<=", ">=" or "=="')
    rhs: float | tuple[float, ...] = option(0.0, read=_rhs, help="the right-hand side: one number, or "
                                            "one per row (state, atom, layer, scenario); with "
                                            "what = \"share_of_aggregate\" the share of X")
    aggregate_multiple: float = option(0.0, help="adds this multiple of the aggregate X to the "
                                       "right-hand side (of E_P[X] in expectation)",
                                       check=lambda v: bool(np.isfinite(v)), allowed="a finite number")
    agent: str | None = option(None, help="the agent constrained (pareto, price_and_choose, distortion)")
    agents: tuple[str, ...] | str | None = option(None, read=_names, help="several agents: the sum "
                                                  "(weighted by coefficients) is constrained; \"all\" "
                                                  "for every agent")
    insurer: str | None = option(None, help="the insurer constrained (reinsurance_market)")
    insurers: tuple[str, ...] | str | None = option(None, read=_names, help="several insurers")
    reinsurer: str | None = option(None, help="the reinsurer constrained (reinsurance_market)")
    reinsurers: tuple[str, ...] | str | None = option(None, read=_names, help="several reinsurers")
    region: str | None = option(None, help="the region constrained (disaster_taxation)")
    regions: tuple[str, ...] | str | None = option(None, read=_names, help="several regions")
    coefficients: tuple[float, ...] | None = option(None, help="weights of the members in a linear "
                                                    "combination (default: all 1, a sum)")
    scope: Literal["every_state", "expectation"] | None = option(
        None, help="a row per state (atom, layer, scenario), or one row on the expectation",
        allowed='"every_state" or "expectation"', shown_default='"every_state" ("expectation" for '
        'what = "expected_...")')
    law: Literal["P", "own"] = option("P", help="the law of the expectation: P, or each member's own "
                                      "law (its subjective prior)", allowed='"P" or "own"')

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.what.startswith("expected_") and self.scope == "every_state":
            raise ModelError("scope", self.scope, f'"expectation" (or no scope) for what = "{self.what}"')
        given = [k for k in ROLE_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ModelError(given[1] if len(given) > 1 else "agent",
                             getattr(self, given[1]) if len(given) > 1 else None,
                             "exactly one of " + ", ".join(ROLE_KEYS),
                             detail="two 'who' keys" if len(given) > 1 else "missing")
        if self.rows == "every_state" and self.law != "P":
            raise ModelError("law", self.law, '"P" for scope = "every_state" (a law weights an '
                             "expectation)")
        if self.rows == "expectation" and isinstance(self.rhs, tuple):
            raise ModelError("rhs", list(self.rhs), 'one number for scope = "expectation"')
        if self.what == "share_of_aggregate" and self.aggregate_multiple != 0.0:
            raise ModelError("aggregate_multiple", self.aggregate_multiple,
                             '0 with what = "share_of_aggregate" (rhs is the share already)')

    @property
    def rows(self) -> str:
        """The effective scope: ``"expectation"`` for ``expected_*`` quantities, else ``scope``."""
        if self.what.startswith("expected_"):
            return "expectation"
        return self.scope or "every_state"

    @property
    def quantity(self) -> str:
        """The per-row quantity the constraint reads (``expected_allocation`` -> ``allocation``,
        ``share_of_aggregate`` -> ``allocation``)."""
        if self.what == "share_of_aggregate":
            return "allocation"
        return self.what.removeprefix("expected_")

    @property
    def who_key(self) -> str:
        """The card key that names the members (``agent``, ``regions``, ...)."""
        return next(k for k in ROLE_KEYS if getattr(self, k) is not None)

    @property
    def role(self) -> str:
        """The role in the singular (``agents`` -> ``agent``)."""
        key = self.who_key
        return key[:-1] if key.endswith("s") else key

    def members(self, known: Sequence[str]) -> tuple[str, ...]:
        """The member names, ``"all"`` expanded against ``known``."""
        v = getattr(self, self.who_key)
        if v == "all":
            return tuple(known)
        return (v,) if isinstance(v, str) else tuple(v)

    def describe(self) -> str:
        who = getattr(self, self.who_key)
        rhs = self.rhs if not isinstance(self.rhs, tuple) else f"{len(self.rhs)} values"
        multiple = f" + {self.aggregate_multiple:g} X" if self.aggregate_multiple else ""
        return f"{self.what}[{who}] {self.sense} {rhs}{multiple} ({self.rows})"


def constraints_option(quantities: Mapping[str, str] | None = None) -> Any:
    """The ``constraints`` field every mechanism spec declares (last); ``quantities`` (what -> meaning)
    are listed in its help, so the generated card reference says what a constraint may read."""
    what = "" if not quantities else " What: " + "; ".join(f"{k} ({v})" for k, v in quantities.items())
    return option((), help="your own constraints, each a table ([[constraints]]): who (agent/agents/"
                          "insurer/reinsurer/region), what, sense, rhs, scope; see 'Your own "
                          "constraints' on the mechanism's page." + what)


class Constrained(Checked):
    """Mixin of mechanism specs: ``spec.add_constraint(...)`` returns a copy with one more."""

    constraints: tuple[ConstraintSpec, ...]

    def add_constraint(self, constraint: ConstraintSpec | None = None, **fields: Any) -> Any:
        """A copy of this spec with one more constraint (a :class:`ConstraintSpec` or its fields:
        ``spec.add_constraint(name="cap", agent="a", what="allocation", sense="<=", rhs=1)``)."""
        made = constraint if constraint is not None else ConstraintSpec(**fields)
        return dataclasses.replace(self, constraints=(*self.constraints, made))  # type: ignore[type-var]


class ConstraintTarget(Protocol):
    """What a mechanism offers to user constraints (its program's quantities)."""

    @property
    def roles(self) -> Mapping[str, Sequence[str]]:
        """Role (singular) -> the member names in order."""
        ...

    @property
    def quantities(self) -> Mapping[str, str]:
        """Quantity name -> what it means (one line, for errors and the docs)."""
        ...

    def quantity(self, what: str, role: str, name: str) -> cp.Expression:
        """``Q(name)``: a vector over the program's rows, or a scalar."""
        ...

    def law(self, role: str, name: str, law: str) -> np.ndarray:
        """Weights over the rows for an expectation (``law``: ``"P"`` or ``"own"``)."""
        ...

    def aggregate(self) -> np.ndarray:
        """The aggregate ``X`` on the program's rows."""
        ...


@dataclass(frozen=True)
class RowsTarget:
    """A :class:`ConstraintTarget` of one role whose members' quantities are rows a program gives by
    member index (``rows(what, i)``), with ``P`` for every law (members without laws of their own)
    and the aggregate ``X`` on the rows."""

    role: str
    names: Sequence[str]
    quantities: Mapping[str, str]
    rows: Callable[[str, int], cp.Expression]
    probs: np.ndarray
    X: np.ndarray

    @property
    def roles(self) -> Mapping[str, Sequence[str]]:
        return {self.role: list(self.names)}

    def quantity(self, what: str, role: str, name: str) -> cp.Expression:
        return self.rows(what, list(self.names).index(name))

    def law(self, role: str, name: str, law: str) -> np.ndarray:
        return np.asarray(self.probs, float)

    def aggregate(self) -> np.ndarray:
        return np.asarray(self.X, float)


def check_constraints(constraints: Sequence[ConstraintSpec], roles: Mapping[str, Sequence[str]],
                      quantities: Mapping[str, str]) -> None:
    """Refuse what no program could build: unknown roles, members, quantities, duplicate names, a
    wrong number of coefficients (``ModelError`` naming ``constraints[k].field``)."""
    seen: set[str] = set()
    for k, c in enumerate(constraints):
        at = f"constraints[{k}]"
        if c.name in seen:
            raise ModelError(f"{at}.name", c.name, "a name not used by another constraint")
        seen.add(c.name)
        if c.role not in roles:
            raise ModelError(f"{at}.{c.who_key}", getattr(c, c.who_key),
                             "who this mechanism has: " + " or ".join(sorted(roles)))
        known = list(roles[c.role])
        members = c.members(known)
        for m in members:
            if m not in known:
                raise ModelError(f"{at}.{c.who_key}", m, f"one of the model's {c.role}s: {known[:12]}"
                                 + (" ..." if len(known) > 12 else ""))
        if len(set(members)) != len(members):
            raise ModelError(f"{at}.{c.who_key}", list(members), "distinct names")
        if c.quantity not in quantities:
            raise ModelError(f"{at}.what", c.what, "one of " + ", ".join(allowed_quantities(quantities)))
        if c.coefficients is not None and len(c.coefficients) != len(members):
            raise ModelError(f"{at}.coefficients", list(c.coefficients), f"{len(members)} numbers, one "
                             f"per {c.role}")


def allowed_quantities(quantities: Mapping[str, str]) -> list[str]:
    """Every ``what`` a mechanism accepts: its quantities, their ``expected_`` forms, and
    ``share_of_aggregate`` where it has allocations."""
    out = [*quantities, *(f"expected_{q}" for q in quantities)]
    if "allocation" in quantities:
        out.append("share_of_aggregate")
    return sorted(out)


def require_no_constraints(constraints: Sequence[ConstraintSpec], method: str, why: str) -> None:
    """``method="fast"`` on a spec with constraints: refuse, naming the path that takes them."""
    if constraints:
        raise ModelError("method", method, f"'program' or 'auto' for a spec with constraints ({why})")


def _lhs_rhs(c: ConstraintSpec, target: ConstraintTarget) -> tuple[cp.Expression, np.ndarray]:
    """The constraint's left side (a cvxpy expression) and right side (one value per row)."""
    members = c.members(list(target.roles[c.role]))
    coef = np.ones(len(members)) if c.coefficients is None else np.asarray(c.coefficients, float)
    terms = [target.quantity(c.quantity, c.role, m) for m in members]
    X = np.asarray(target.aggregate(), float)
    if c.rows == "expectation":
        lhs = sum(float(a) * (target.law(c.role, m, c.law) @ q if q.ndim > 0 else q)
                  for a, m, q in zip(coef, members, terms, strict=True))
        mean_X = float(target.law(c.role, members[0], "P") @ X)
        level = float(np.asarray(c.rhs, float))  # one number (checked by the spec)
        share = mean_X if c.what == "share_of_aggregate" else 1.0
        rhs = np.atleast_1d(level * share + c.aggregate_multiple * mean_X)
    else:
        lhs = sum(float(a) * q for a, q in zip(coef, terms, strict=True))
        rows = lhs.size
        base = np.asarray(c.rhs, float)
        if base.ndim == 1 and base.size != rows:
            raise ModelError("rhs", f"{base.size} values", f"{rows} values, one per row of the program")
        if c.what == "share_of_aggregate":
            rhs = np.broadcast_to(base * X, (rows,)).astype(float)
        else:
            rhs = np.broadcast_to(base + (c.aggregate_multiple * X if c.aggregate_multiple else 0.0),
                                  (rows,)).astype(float)
    return lhs, rhs


def _row(lhs: cp.Expression, sense: str, rhs: np.ndarray) -> cp.Constraint:
    r = rhs if lhs.size > 1 else float(rhs[0])
    if sense == "<=":
        return lhs <= r
    if sense == ">=":
        return lhs >= r
    return lhs == r


def add_constraints(program: Any, constraints: Sequence[ConstraintSpec], target: ConstraintTarget) -> None:
    """Write every constraint into ``program`` (a :class:`riskopt.program.Program`) as the named
    group ``constraint:<name>``."""
    check_constraints(constraints, target.roles, target.quantities)
    for k, c in enumerate(constraints):
        try:
            lhs, rhs = _lhs_rhs(c, target)
        except ModelError as err:
            raise err.with_prefix(f"constraints[{k}]") from None
        program.constrain(group_name(c), [_row(lhs, c.sense, rhs)], f"user constraint: {c.describe()}")


def group_name(c: ConstraintSpec) -> str:
    return f"constraint:{c.name}"


@dataclass(frozen=True)
class ConstraintDual:
    """A constraint's price: ``dual = d(optimal objective)/d rhs`` per row (or one number), the
    slack ``rhs - lhs`` (``lhs - rhs`` for ``>=``), and which rows bind."""

    name: str
    sense: str
    scope: str
    dual: np.ndarray
    slack: np.ndarray
    binding: np.ndarray
    meaning: str = ""

    @property
    def binds(self) -> bool:
        """Some row binds."""
        return bool(np.any(self.binding))

    def to_dict(self) -> dict[str, Any]:
        one = self.dual.size == 1
        dual = self.dual + 0.0  # no -0.0 in JSON
        return {"dual": float(dual[0]) if one else dual.tolist(),
                "binding": self.binds,
                "binding_rows": int(np.sum(self.binding)), "rows": int(self.dual.size),
                "slack": float(self.slack[0]) if one else self.slack.tolist(),
                "sense": self.sense, "scope": self.scope, "meaning": self.meaning}


def binding_tolerance(scale: np.ndarray) -> np.ndarray:
    return BINDING_TOLERANCE * scale


def make_dual(c: ConstraintSpec, dual: np.ndarray, slack: np.ndarray, scale: np.ndarray) -> ConstraintDual:
    """A :class:`ConstraintDual` from a decomposition's own multipliers (``dual`` already in the
    ``d objective / d rhs`` convention) and slacks."""
    slack = np.atleast_1d(np.asarray(slack, float))
    binding = np.abs(slack) <= binding_tolerance(np.broadcast_to(scale, slack.shape))
    if c.sense == "==":
        binding = np.ones(slack.shape, bool)
    return ConstraintDual(c.name, c.sense, c.rows, np.atleast_1d(np.asarray(dual, float)), slack, binding,
                          c.describe())


def read_constraints(program: Any, solution: Any, constraints: Sequence[ConstraintSpec],
                     target: ConstraintTarget) -> dict[str, ConstraintDual]:
    """Each constraint's dual (``d objective / d rhs``, through :func:`value_derivative` with the
    program's sense) and slack at the solved point."""
    out: dict[str, ConstraintDual] = {}
    duals = getattr(solution, "duals", None) or {}
    for c in constraints:
        lhs, rhs = _lhs_rhs(c, target)
        value = np.atleast_1d(np.asarray(lhs.value, float)).ravel()
        # a row's slack is compared with its own magnitude, never below the program's units (max |X|)
        unit = float(np.max(np.abs(target.aggregate()), initial=0.0)) or 1.0
        scale = np.maximum(np.maximum(np.abs(rhs), np.abs(value)), unit)
        slack = (value - rhs) if c.sense == ">=" else (rhs - value)
        raw = duals.get(group_name(c))
        dual = (np.full(slack.shape, np.nan) if raw is None
                else np.atleast_1d(value_derivative(program.sense, raw, row=c.sense)).ravel())
        out[c.name] = make_dual(c, dual, slack, scale)
    return out


def to_json(constraints: Mapping[str, ConstraintDual]) -> dict[str, Any]:
    """``{name: {"dual": ..., "binding": ...}}`` (the JSON ``"constraints"`` object)."""
    return {k: v.to_dict() for k, v in constraints.items()}
