"""The measure protocol: exact value, cvxpy form, flags, and a name registry.

Two orientations live side by side, as in the papers:

* a **utility** ``U`` evaluates a *gain* ``xi`` (higher is better): entropic certainty equivalents,
  expected utility, max-min over credal sets;
* a **risk** measure ``rho`` evaluates a *loss* ``L`` (lower is better): ES, VaR, distortion and
  Choquet integrals, expected disutility.

Every measure is written once in its native orientation; the other is derived by
``U(xi) = -rho(-xi)`` (:meth:`Measure.utility`, :meth:`Measure.risk`, :func:`oriented_forms`).

A measure's cvxpy form is built for a *batch* of agents at once: ``batch_form(measures, X, p)`` takes
the expressions of ``n`` agents stacked as the rows of ``X`` (shape ``(n, S)``) and returns a vector
of ``n`` values. Subclasses vectorise this (one ``log_sum_exp`` for a pool of 500 farmers instead of
500 separate atoms: 0.2 s instead of 10 s of cvxpy compile time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import cvxpy as cp
import numpy as np

from ..checks import real_array
from ..errors import ModelError
from ..space import Scenarios, validate_probabilities

__all__ = ["Curvature", "Form", "Measure", "Orientation", "create", "in_agent_order", "oriented_forms",
           "probabilities", "register", "registry", "state_values"]

Orientation = Literal["utility", "risk"]

_REGISTRY: dict[str, type[Measure]] = {}


def register(*names: str) -> Callable[[type[Measure]], type[Measure]]:
    """Class decorator: make a measure constructible by name (model cards, :func:`create`)."""

    def deco(cls: type[Measure]) -> type[Measure]:
        for n in names:
            if n in _REGISTRY:
                raise RuntimeError(f"measure name {n!r} registered twice")
            _REGISTRY[n] = cls
        cls.name = names[0]
        return cls

    return deco


def registry() -> dict[str, type[Measure]]:
    """Registered measure names and their classes."""
    return dict(_REGISTRY)


def create(name: str, **params: Any) -> Measure:
    """Build a registered measure from its name and parameters (as in a model card)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ModelError("measure", name, f"one of {sorted(_REGISTRY)}") from None
    return cls.from_params(**params)


def probabilities(space: Scenarios | np.ndarray) -> np.ndarray:
    """State probabilities of a :class:`Scenarios` (or a probability vector given directly)."""
    if isinstance(space, Scenarios):
        return space.p
    return validate_probabilities(space, field="space")


def check_law(law: Any, n_states: int, field_name: str = "law") -> np.ndarray:
    """Validate a subjective law (a probability vector over the states)."""
    q = validate_probabilities(law, field=field_name)
    if q.size != n_states:
        raise ModelError(field_name, f"{q.size} probabilities", f"one per state ({n_states})")
    return q


def state_values(x: Any, n_states: int, field: str = "x") -> np.ndarray:
    """``x`` as a float array with one value per state (a shorter ``x`` would silently pair its
    values with the first probabilities)."""
    v = real_array(field, x, f"one number per state ({n_states})")
    if v.shape != (n_states,):
        raise ModelError(field, f"shape {v.shape}", f"one value per state, shape ({n_states},)")
    return v


@dataclass(frozen=True)
class Curvature:
    """A Hessian written as ``diag(diagonal) + factors @ diag(weights) @ factors.T``.

    Separable measures (expected utility) are diagonal; the entropic certainty equivalent is
    ``-gamma (diag Q - Q Q')`` with ``Q`` its Esscher tilt: a diagonal plus one rank-one term. The
    KKT polish keeps this structure in its sparse Newton system, so a pool of 500 agents on 100
    atoms never forms 500 dense 100 x 100 blocks.
    """

    diagonal: np.ndarray
    factors: np.ndarray | None = None  # (S, r)
    weights: np.ndarray | None = None  # (r,)

    @property
    def rank(self) -> int:
        """Number of low-rank terms (columns of ``factors``)."""
        return 0 if self.factors is None else int(self.factors.shape[1])

    def dense(self) -> np.ndarray:
        """The ``S x S`` matrix."""
        H = np.diag(self.diagonal)
        if self.factors is not None and self.weights is not None:
            H = H + (self.factors * self.weights) @ self.factors.T
        return H

    def scaled(self, a: float) -> Curvature:
        """The Hessian of ``a`` times the measure."""
        return Curvature(a * self.diagonal, self.factors,
                         None if self.weights is None else a * self.weights)


@dataclass
class Form:
    """cvxpy form of a batch of agents' measures.

    ``expr`` has one entry per agent (shape ``(n,)``). ``constraints[group][k]`` is the constraint
    of agent ``k`` (position in the batch) in a named group; the program registers it under
    ``"<group>:<agent name>"`` so that its dual is read back by meaning (for a credal set: the
    weights of the agent's worst-case prior).
    """

    expr: cp.Expression
    constraints: dict[str, dict[int, cp.Constraint]] = field(default_factory=dict)


class Measure:
    """Base class. Subclasses set the flags, implement ``value`` and ``batch_form``."""

    name: ClassVar[str] = "measure"
    orientation: ClassVar[Orientation] = "risk"
    # flags are plain class attributes (not ClassVar): some measures set them per instance from their
    # parameters (a distortion is convex iff h is concave, a credal set inherits its base's flags)
    #: cash invariance: U(xi + c) = U(xi) + c  (rho(L + c) = rho(L) + c)
    monetary: bool = False
    #: the optimisation direction is convex: a convex risk measure / a concave utility
    convex: bool = True
    #: depends on the law of its argument under P only
    law_invariant: bool = True
    #: additive on comonotone pairs (then linear on monotone functions of X)
    comonotone_additive: ClassVar[bool] = False
    #: the value is finite on every bounded input and smooth enough for a gradient
    differentiable: bool = False

    # ------------------------------------------------------------------ protocol
    @classmethod
    def from_params(cls, **params: Any) -> Measure:
        """Constructor used by model cards; unknown parameters are reported by name."""
        return construct(cls, params)

    def value(self, x: Any, space: Scenarios | np.ndarray) -> float:
        """Exact value of the measure at ``x`` (array over the states) in its own orientation."""
        raise NotImplementedError

    @classmethod
    def batch_form(cls, measures: Sequence[Measure], X: cp.Expression,
                   space: Scenarios | np.ndarray) -> Form:
        """cvxpy form for agents ``measures`` whose arguments are the rows of ``X`` (``(n, S)``).

        Concave in ``X`` for a utility, convex for a risk measure. The default stacks the
        single-agent forms; subclasses vectorise.
        """
        if not measures[0].convex:
            raise ModelError("measure", measures[0].name,
                             "a convex risk measure or concave utility (it has no convex form)",
                             detail="use it on comonotone allocations, where it is linear")
        forms = [m.single_form(X[i], space) for i, m in enumerate(measures)]
        cons: dict[str, dict[int, cp.Constraint]] = {}
        for i, f in enumerate(forms):
            for group, by_agent in f.constraints.items():
                cons.setdefault(group, {})[i] = by_agent[0]
        return Form(cp.hstack([cp.reshape(f.expr, (1,), order="F") for f in forms]), cons)

    def single_form(self, x: cp.Expression, space: Scenarios | np.ndarray) -> Form:
        """Form of one agent (``x`` of shape ``(S,)``); subclasses without a vectorised
        ``batch_form`` implement this."""
        raise NotImplementedError

    def form(self, x: cp.Expression, space: Scenarios | np.ndarray) -> Form:
        """cvxpy form for one argument ``x`` (shape ``(S,)``)."""
        return type(self).batch_form([self], cp.reshape(x, (1, x.size), order="C"), space)

    def monotone_weights(self, probs: np.ndarray, increasing: bool = True) -> np.ndarray:
        """Weights ``w`` with ``value(f(X)) = w @ f(x)`` for every monotone ``f``.

        ``probs`` are the probabilities of the atoms ``x_0 < x_1 < ...`` of ``X``; ``f`` is
        nondecreasing (``increasing=True``) or nonincreasing. Defined for comonotone-additive,
        law-invariant measures; it makes them linear on comonotone allocations.
        """
        raise ModelError("measure", self.name, "a comonotone-additive measure (distortion, "
                         "expectation) for the linear form on monotone allocations")

    def gradient(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """``d value / d x(s)`` for every state ``s`` (a (super/sub)gradient where not smooth)."""
        raise ModelError("measure", self.name, "a measure with a gradient")

    def curvature(self, x: Any, space: Scenarios | np.ndarray) -> Curvature:
        """The Hessian ``d^2 value / d x(s) d x(t)`` in structured form (:class:`Curvature`), for
        twice-differentiable measures: what the KKT polish and certificate use, never a dense
        ``S x S`` matrix."""
        raise ModelError("measure", self.name, "a twice-differentiable measure")

    def hessian(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """The dense Hessian (``S x S``; for tests and small spaces): :meth:`curvature` expanded."""
        return self.curvature(x, space).dense()

    def pushforward(self, index: np.ndarray, size: int) -> Measure:
        """The measure seen on the atoms of a variable (``index`` maps states to atoms).

        Law-invariant measures are unchanged; measures with subjective laws sum them over atoms.
        """
        if self.law_invariant:
            return self
        raise ModelError("measure", self.describe(), "a law-invariant measure or one with "
                         "subjective laws, to evaluate it on the atoms of X")

    # -------------------------------------------------------------- orientation
    def utility(self, xi: Any, space: Scenarios | np.ndarray) -> float:
        """Utility of the gain ``xi``: native for utilities, ``-rho(-xi)`` for risk measures."""
        x = np.asarray(xi, float)
        return self.value(x, space) if self.orientation == "utility" else -self.value(-x, space)

    def risk(self, loss: Any, space: Scenarios | np.ndarray) -> float:
        """Risk of the loss ``L``: native for risk measures, ``-U(-L)`` for utilities."""
        x = np.asarray(loss, float)
        return self.value(x, space) if self.orientation == "risk" else -self.value(-x, space)

    def describe(self) -> str:
        """Short human-readable description (name and parameters)."""
        flags = {"law_invariant", "monetary", "convex", "differentiable", "comonotone_additive"}
        params = {k: v for k, v in vars(self).items()
                  if not k.startswith("_") and v is not None and k not in flags}
        inner = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        return self.describe()


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"array{v.shape}" if v.size > 4 else np.array2string(v, precision=4, separator=",")
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v) if not isinstance(v, Measure) else v.describe()


def oriented_forms(measures: Sequence[Measure], X: cp.Expression, space: Scenarios | np.ndarray,
                   orientation: Orientation) -> Form:
    """Batched forms in the requested orientation, grouping agents by measure class.

    ``X`` stacks the agents' arguments (gains for ``"utility"``, losses for ``"risk"``). Returns a
    vector with one entry per agent in the order of ``measures``.
    """
    n = len(measures)
    groups: dict[type[Measure], list[int]] = {}
    for i, m in enumerate(measures):
        groups.setdefault(type(m), []).append(i)
    parts: list[tuple[list[int], cp.Expression]] = []
    cons: dict[str, dict[int, cp.Constraint]] = {}
    for cls, idx in groups.items():
        rows = X if idx == list(range(n)) else X[idx, :]
        native = cls.orientation == orientation
        form = cls.batch_form([measures[i] for i in idx], rows if native else -rows, space)
        parts.append((idx, form.expr if native else -form.expr))
        for group, by_pos in form.constraints.items():
            for pos, c in by_pos.items():
                cons.setdefault(group, {})[idx[pos]] = c
    if len(parts) == 1:
        return Form(parts[0][1], cons)
    return Form(in_agent_order(parts), cons)


def in_agent_order(parts: Sequence[tuple[Sequence[int] | np.ndarray, cp.Expression]]) -> cp.Expression:
    """One vector from pieces ``(agents, expression)`` that cover the agents: entry ``i`` is agent
    ``i``'s (a gather by the inverse permutation, not an ``n x n`` permutation matrix, which at
    20,000 agents would be 3.2 GB)."""
    order = np.concatenate([np.asarray(idx, int) for idx, _ in parts])
    position = np.empty_like(order)
    position[order] = np.arange(order.size)  # agent i sits at stacked[position[i]]
    return cp.hstack([e for _, e in parts])[position]


_M = TypeVar("_M", bound=Measure)


def construct(cls: type[_M], params: dict[str, Any]) -> _M:
    """``cls(**params)`` with unknown or ill-typed parameters reported by name (the card reader's
    constructor; a subclass with its own ``from_params`` may call it to keep this behaviour)."""
    import inspect

    sig = inspect.signature(cls.__init__)
    allowed = [p for p in sig.parameters if p != "self"]
    for key in params:
        if key not in allowed:
            raise ModelError(key, params[key], f"a parameter of '{cls.name}': one of {allowed}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError(cls.name, params, f"parameters {allowed}", detail=str(exc)) from None
