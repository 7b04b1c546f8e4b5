"""KKT certificates in the problem's own units: how far a returned primal-dual pair is from optimal.

Under the sign convention of :mod:`riskopt.duals` every constraint row reads ``g_r(z) <= 0`` or
``g_r(z) = 0`` with multiplier ``y_r`` (``>= 0`` on inequalities) and the Lagrangian of
``minimise f`` is ``f + sum_r y_r g_r``. A :class:`Certificate` reports four dimensionless
residuals, each scaled by the magnitude of the terms it compares (never by an absolute 1, so that
losses of 1e-20 and of 1e6 are judged alike):

* ``primal_residual``: ``max_r viol_r / D_c`` with ``viol_r`` the violation of row ``r`` and
  ``D_c`` the largest ``|lhs_r| + |rhs_r|`` over the rows of its constraint, or the largest value of
  a variable it constrains if larger (its data scale);
* ``dual_residual``: the largest negative part of an inequality multiplier over ``max_r |y_r|``
  (for sharing LPs also the distance of the budget duals outside the LP's optimal dual set that
  :mod:`riskopt.degeneracy` computes on HiGHS, over the dual scale: duals of 0 where every optimal
  dual is 6e-21 fail it);
* ``complementarity``: ``sum_r |y_r slack_r|`` over inequalities (the duality gap they carry),
  relative to ``|f| + sum_r |y_r| (|lhs_r| + |rhs_r|)`` over every row (the size of the Lagrangian);
* ``stationarity`` (smooth programs): ``||grad f + sum_r y_r grad g_r||_inf`` over the largest
  magnitude of the terms it sums (``None`` where not computed, with the reason in ``note``);
* ``objective_error``: the solver's objective against the program's exact re-evaluation at the
  returned point, relative to its magnitude (``None`` where the program has no exact evaluation).

The status of a solve is the solver's word gated by :attr:`Certificate.max_residual`
(:func:`riskopt.status.from_certificate`): a certificate beyond the tight tolerance can never leave
a result ``optimal``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import cvxpy as cp
import numpy as np
from cvxpy.constraints import Equality, Inequality, NonNeg, NonPos, Zero

from .data import json_object
from .status import DEFAULT_TOLERANCES, Status, Tolerances, from_certificate

__all__ = ["NONSMOOTH", "Certificate", "certify_problem", "relative"]

#: the smallest scale a residual is divided by (keeps 0/0 at 0 without hiding a real residual)
TINY = 1e-300
#: the scale of rows whose data are exactly zero (``sum_i L_i = 0``): nothing sets a unit there,
#: so a residual is judged absolutely (in units of 1)
ZERO_DATA = 1.0
#: atoms whose gradient is only a subgradient: stationarity is then not a meaningful residual
NONSMOOTH = {"pos", "neg", "max", "min", "maximum", "minimum", "abs", "norm1", "norm_inf",
             "sum_largest", "sum_smallest", "dotsort", "cvar", "lambda_max", "pnorm", "norm"}
STATIONARITY_MAX_VARS = 200_000


def relative(residual: float, scale: float) -> float:
    """``residual / scale`` with a zero residual at zero scale reading 0 (not NaN)."""
    if residual == 0.0:
        return 0.0
    return residual / max(scale, TINY)


@dataclass(frozen=True)
class Certificate:
    """Scaled KKT residuals of a returned primal-dual pair (see the module docstring)."""

    primal_residual: float
    dual_residual: float
    complementarity: float
    stationarity: float | None = None
    objective_error: float | None = None
    note: str = ""
    tolerances: Tolerances = field(default=DEFAULT_TOLERANCES, compare=False)
    #: every residual could be computed (``False``: a solver returned no duals for some rows, so
    #: dual feasibility and the gap are unchecked there: the point is at most ``optimal_inaccurate``)
    complete: bool = True

    @property
    def max_residual(self) -> float:
        """The largest computed residual (NaN propagates: a NaN certificate fails)."""
        vals = [self.primal_residual, self.dual_residual, self.complementarity]
        vals += [v for v in (self.stationarity, self.objective_error) if v is not None]
        return math.nan if any(math.isnan(v) for v in vals) else float(max(vals))

    @property
    def passed(self) -> bool:
        """Every residual computed and within the tight tolerance."""
        return self.complete and self.max_residual <= self.tolerances.tight

    def gate(self, solver: Status) -> Status:
        """The solver's status, gated by this certificate (:func:`riskopt.status.from_certificate`);
        an incomplete one refutes what it can but certifies nothing."""
        if not self.complete and not self.max_residual > self.tolerances.loose:
            return from_certificate(solver, None, self.tolerances)
        return from_certificate(solver, self.max_residual, self.tolerances)

    def with_objective_error(self, error: float | None) -> Certificate:
        return replace(self, objective_error=error)

    def to_dict(self) -> dict[str, Any]:

        return json_object({"primal_residual": self.primal_residual, "dual_residual": self.dual_residual,
                         "complementarity": self.complementarity, "stationarity": self.stationarity,
                         "objective_error": self.objective_error, "max_residual": self.max_residual,
                         "passed": self.passed, "tolerance": self.tolerances.tight,
                         "loose_tolerance": self.tolerances.loose, "complete": self.complete,
                         "note": self.note})


# ------------------------------------------------------------------ any cvxpy program
def _sides(c: cp.Constraint) -> tuple[np.ndarray, np.ndarray] | None:
    """Values of the two sides of an (in)equality, broadcast to the constraint's shape."""
    if isinstance(c, (Equality, Inequality)):
        a, b = (np.asarray(arg.value, float) for arg in c.args)
        return np.broadcast_to(a, c.shape), np.broadcast_to(b, c.shape)
    return None


def certify_problem(problem: cp.Problem, *, stationarity: bool = False,
                    tolerances: Tolerances = DEFAULT_TOLERANCES) -> Certificate:
    """Scaled KKT residuals of the current primal-dual values of any cvxpy ``problem``.

    Rows of (in)equalities are scaled by ``|lhs| + |rhs|``; other cone constraints by the size of
    their arguments. ``stationarity=True`` adds the gradient of the Lagrangian from cvxpy's own
    expression gradients, for smooth programs of moderate size (see :data:`NONSMOOTH`).
    """
    primal = dual = 0.0
    gap = gap_scale = 0.0
    y_max = 0.0
    no_dual = 0
    for c in problem.constraints:
        viol = np.asarray(c.violation(), float)
        sides = _sides(c)
        if sides is not None:
            scale = np.abs(sides[0]) + np.abs(sides[1])
        else:
            scale = np.full(viol.shape, max((float(np.max(np.abs(np.asarray(a.value, float)), initial=0.0))
                                             for a in c.args), default=0.0))
        # a row between zeros (xi(s) == 0) is judged at the scale of the variables it constrains;
        # a constraint whose data are all zero, absolutely (ZERO_DATA)
        scale = np.maximum(scale, max((float(np.max(np.abs(v.value), initial=0.0)) for v in c.variables()
                                       if v.value is not None), default=0.0))
        if _zero_data(c):
            scale = np.maximum(scale, ZERO_DATA)
        if viol.size:
            primal = max(primal, relative(float(np.max(viol)), float(np.max(scale, initial=0.0))))
        y = c.dual_value
        if y is None:
            no_dual += 1
            continue
        yv = np.asarray(y, float)
        y_max = max(y_max, float(np.max(np.abs(yv), initial=0.0)))
        gap_scale += float(np.sum(np.abs(yv) * np.broadcast_to(scale, yv.shape))) if yv.shape else 0.0
        if isinstance(c, (Inequality, NonPos, NonNeg)) and not isinstance(c, (Equality, Zero)):
            dual = max(dual, float(np.max(-yv, initial=0.0)))
            expr = np.asarray(c.expr.value, float)
            slack = np.maximum(-expr if not isinstance(c, NonNeg) else expr, 0.0)
            gap += float(np.sum(np.abs(yv) * slack))
    for v in problem.variables():  # sign attributes are bounds cvxpy keeps out of the constraints
        if v.attributes.get("nonneg") and v.value is not None:
            low = float(np.max(-np.asarray(v.value, float), initial=0.0))
            primal = max(primal, relative(low, float(np.max(np.abs(v.value), initial=0.0))))
    stat, note = (None, "stationarity not computed (solve(certify=True))")
    if stationarity:
        stat, note = _stationarity(problem)
    objective = problem.objective.value
    gap_scale += abs(float(objective)) if objective is not None and np.isfinite(objective) else 0.0
    if no_dual:
        note = (f"the solver returned no duals for {no_dual} of {len(problem.constraints)} constraints: "
                f"dual feasibility and the gap are not checked there; {note}")
    return Certificate(primal, relative(dual, y_max), relative(gap, gap_scale), stat, None, note, tolerances,
                       complete=not no_dual)


def _zero_data(c: cp.Constraint) -> bool:
    """An affine constraint whose constant term is zero in every row (evaluated at ``x = 0``)."""
    if not c.expr.is_affine() or not c.variables():
        return False
    saved = [v.value for v in c.variables()]
    try:
        for v in c.variables():
            v.value = np.zeros(v.shape)
        constant = np.asarray(c.expr.value, float)
    finally:
        for v, val in zip(c.variables(), saved, strict=True):
            v.value = val
    return bool(np.all(constant == 0))


def _stationarity(problem: cp.Problem) -> tuple[float | None, str]:
    """``||grad_x L||_inf`` over the magnitude of its terms, from cvxpy's gradients."""
    names = {getattr(a, "__name__", type(a).__name__).lower() for a in problem.atoms()}
    rough = sorted(names & NONSMOOTH)
    if rough:
        return None, f"stationarity not computed: nonsmooth atoms {rough} (subgradients are not unique)"
    if sum(v.size for v in problem.variables()) > STATIONARITY_MAX_VARS:
        return None, f"stationarity not computed: more than {STATIONARITY_MAX_VARS} variables"
    if any(v.attributes.get("nonneg") or v.attributes.get("nonpos") for v in problem.variables()):
        return None, "stationarity not computed: sign-restricted variables (their bound duals are internal)"
    try:
        sign = -1.0 if isinstance(problem.objective, cp.Maximize) else 1.0
        grad: dict[int, np.ndarray] = {}
        size: dict[int, np.ndarray] = {}
        for var, g in problem.objective.expr.grad.items():
            grad[var.id] = sign * _dense(g).ravel()
            size[var.id] = np.abs(grad[var.id])
        for c in problem.constraints:
            y = c.dual_value
            if y is None:
                continue
            expr = c.expr if not isinstance(c, NonNeg) else -c.expr
            yv = np.ravel(np.asarray(y, float), order="F")
            for var, g in expr.grad.items():
                if g is None:
                    return None, "stationarity not computed: a gradient is undefined at the solution"
                grad[var.id] = grad.get(var.id, 0.0) + _matvec(g, yv)
                size[var.id] = size.get(var.id, 0.0) + _matvec(abs(g), np.abs(yv))
        worst = max((float(np.max(np.abs(g), initial=0.0)) for g in grad.values()), default=0.0)
        scale = max((float(np.max(s, initial=0.0)) for s in size.values()), default=0.0)
        return relative(worst, scale), ""
    except (AttributeError, TypeError, ValueError, NotImplementedError) as exc:
        return None, f"stationarity not computed: {type(exc).__name__}"


def _dense(g: Any) -> np.ndarray:
    dense: np.ndarray = np.asarray(g.toarray() if hasattr(g, "toarray") else g, float)
    return dense


def _matvec(g: Any, y: np.ndarray) -> np.ndarray:
    out: np.ndarray = (np.asarray(g.dot(y), float) if hasattr(g, "dot") and not isinstance(g, np.ndarray)
                       else np.asarray(g, float) @ y)
    return out.ravel()
