"""The Solution record: status, objective, allocation, values, prices, certificate, solver report.

A :class:`Solution` is immutable and JSON-safe through :meth:`Solution.to_dict` (no NaN or inf:
undetermined numbers are ``null``). The :class:`Certificate` measures how far the returned point is
from satisfying the KKT conditions of the cvxpy program under the convention of ``riskopt.duals``:

* ``primal_residual``: largest constraint violation;
* ``dual_residual``: largest negative part of an inequality dual;
* ``complementarity``: largest ``|y_r * slack_r|`` over inequality rows;
* ``stationarity``: largest entry of the gradient of the Lagrangian (smooth programs only, else
  ``None``), from cvxpy's own expression gradients; computed with ``solve(certify=True)`` (it costs
  more than a small solve). When the KKT polish runs, its final residual is in ``solver.polish``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cvxpy as cp
import numpy as np
from cvxpy.constraints import Equality, Inequality, NonNeg, NonPos, Zero

from .backends.base import SolveReport
from .duals import Prices

if TYPE_CHECKING:
    from .program import Program

__all__ = ["Certificate", "Solution", "build_solution", "jsonable", "without_timings"]

OK_STATUSES = ("optimal", "optimal_inaccurate")
#: atoms whose gradient is only a subgradient: stationarity is then not a meaningful residual
NONSMOOTH = {"pos", "neg", "max", "min", "maximum", "minimum", "abs", "norm1", "norm_inf",
             "sum_largest", "sum_smallest", "dotsort", "cvar", "lambda_max", "Pnorm", "norm"}
STATIONARITY_MAX_VARS = 200_000


def without_timings(value: Any) -> Any:
    """A JSON-like output without its wall-clock measurements (keys ending in ``_s``, ``seconds``,
    ``timings``, at any depth): what two runs of the same card and seed must agree on bit for bit."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items()
                if not (k.endswith("_s") or k in ("seconds", "timings"))}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def jsonable(v: Any) -> Any:
    """Convert numpy values to JSON-safe Python (non-finite floats become ``None``)."""
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()] if v.ndim else jsonable(v.item())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


@dataclass(frozen=True)
class Certificate:
    """KKT residuals of the returned primal-dual pair (see the module docstring)."""

    primal_residual: float
    dual_residual: float
    complementarity: float
    stationarity: float | None = None
    stationarity_note: str = ""

    @property
    def max_residual(self) -> float:
        vals = [self.primal_residual, self.dual_residual, self.complementarity]
        if self.stationarity is not None:
            vals.append(self.stationarity)
        return float(max(vals))

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"primal_residual": self.primal_residual, "dual_residual": self.dual_residual,
                         "complementarity": self.complementarity, "stationarity": self.stationarity,
                         "max_residual": self.max_residual, "note": self.stationarity_note})


@dataclass(frozen=True)
class Solution:
    """Immutable result of a solve."""

    status: str
    objective: float | None
    program: str
    mechanism: str
    sense: str
    solver: SolveReport
    certificate: Certificate | None
    variables: Mapping[str, np.ndarray] = field(default_factory=dict)
    duals: Mapping[str, np.ndarray] = field(default_factory=dict)
    allocation: Mapping[str, np.ndarray] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)
    prices: Prices = field(default_factory=Prices)
    agents: tuple[dict[str, Any], ...] = ()
    aggregate: np.ndarray | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Optimal (possibly inaccurate, which the status says)."""
        return self.status in OK_STATUSES

    def to_dict(self, *, allocations: bool = True) -> dict[str, Any]:
        """One JSON-safe object: status, mechanism, objective, agents, prices, certificate, solver."""
        agents = []
        for row in self.agents:
            entry = dict(row)
            if allocations and row["name"] in self.allocation:
                entry["allocation"] = self.allocation[row["name"]]
            agents.append(entry)
        rep = self.solver
        return jsonable({
            "status": self.status,
            "mechanism": self.mechanism,
            "program": self.program,
            "sense": self.sense,
            "objective": self.objective,
            "agents": agents,
            "prices": self.prices.to_dict(),
            "certificate": None if self.certificate is None else self.certificate.to_dict(),
            "solver": {"backend": rep.backend, "solver": rep.solver, "raw_status": rep.raw_status,
                       "build_s": rep.build_s, "compile_s": rep.compile_s, "solve_s": rep.solve_s,
                       "iterations": rep.iterations, "options": rep.options, "polish": rep.polish},
            **{k: v for k, v in self.extra.items()},
        })

    def table(self, title: str = "") -> str:
        """Plain-text report: summary, per-agent table, state prices (see riskopt.report)."""
        from .report import solution_table

        return solution_table(self, title=title)

    def plot(self, path: Any, title: str = "") -> Any:
        """Figure of the allocations and the state-price density (matplotlib, ``riskopt[plots]``)."""
        from .plots import plot_sharing

        reference = self.extra.get("closed_form", {}).get("density_on_states")
        return plot_sharing(self, path, title=title, reference_density=reference)

    def to_frame(self):  # pragma: no cover - needs pandas, an optional extra
        """Per-agent table as a pandas DataFrame (pandas is optional)."""
        import pandas as pd

        return pd.DataFrame(list(self.agents)).set_index("name")


def build_solution(program: Program, report: SolveReport, *, certify: bool = False) -> Solution:
    """Snapshot the cvxpy values and duals of ``program`` into a :class:`Solution`.

    ``certify=True`` also computes the stationarity residual from cvxpy's expression gradients
    (it costs more than a small solve, so it is opt-in).
    """
    problem = program.problem
    fields: dict[str, Any] = {
        "status": report.status,
        "objective": _finite(problem.value),
        "program": program.name,
        "mechanism": program.mechanism,
        "sense": program.sense,
        "solver": report,
        "certificate": None,
    }
    if report.status in OK_STATUSES:
        fields["variables"] = {k: np.array(v.value, float) for k, v in program.variables.items()}
        fields["duals"] = {name: _group_dual(g.constraints) for name, g in program.groups.items()}
        fields["certificate"] = certificate(problem, stationarity=certify)
        fields = program.interpret(fields)
    return Solution(**fields)


def _finite(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _group_dual(constraints: tuple[cp.Constraint, ...]) -> np.ndarray | None:
    parts = [c.dual_value for c in constraints]
    if any(p is None for p in parts):
        return None
    if len(parts) == 1:
        return np.array(parts[0], float)
    return np.concatenate([np.ravel(np.asarray(p, float), order="F") for p in parts])


def certificate(problem: cp.Problem, *, stationarity: bool = True) -> Certificate:
    """KKT residuals of the current primal-dual values of ``problem``."""
    primal = dual = comp = 0.0
    for c in problem.constraints:
        viol = c.violation()
        primal = max(primal, float(np.max(viol)) if np.size(viol) else 0.0)
        y = c.dual_value
        if y is None or isinstance(c, (Equality, Zero)):
            continue
        if isinstance(c, (Inequality, NonPos, NonNeg)):
            yv = np.asarray(y, float)
            dual = max(dual, float(np.max(-yv, initial=0.0)))
            slack = np.asarray(c.expr.value, float) if not isinstance(c, NonNeg) else -np.asarray(
                c.expr.value, float)
            comp = max(comp, float(np.max(np.abs(yv * slack), initial=0.0)))
    stat, note = _stationarity(problem) if stationarity else (None, "not computed (solve(certify=True))")
    return Certificate(primal, dual, comp, stat, note)


def _stationarity(problem: cp.Problem) -> tuple[float | None, str]:
    """``max |grad_x L|`` from cvxpy gradients, for smooth programs of moderate size."""
    names = {getattr(a, "__name__", type(a).__name__) for a in problem.atoms()}
    rough = sorted(n for n in names if n.lower() in {s.lower() for s in NONSMOOTH})
    if rough:
        return None, f"not computed: nonsmooth atoms {rough} (subgradients are not unique)"
    if sum(v.size for v in problem.variables()) > STATIONARITY_MAX_VARS:
        return None, f"not computed: more than {STATIONARITY_MAX_VARS} variables"
    try:
        sign = -1.0 if isinstance(problem.objective, cp.Maximize) else 1.0
        grad: dict[int, np.ndarray] = {}
        for var, g in problem.objective.expr.grad.items():
            grad[var.id] = sign * _dense(g).ravel()
        for c in problem.constraints:
            y = c.dual_value
            if y is None:
                continue
            expr = c.expr if not isinstance(c, NonNeg) else -c.expr
            yv = np.ravel(np.asarray(y, float), order="F")
            for var, g in expr.grad.items():
                if g is None:
                    return None, "not computed: a gradient is undefined at the solution"
                contrib = _dense_matvec(g, yv)
                grad[var.id] = grad.get(var.id, 0.0) + contrib
        worst = max((float(np.max(np.abs(g))) for g in grad.values()), default=0.0)
        return worst, ""
    except (AttributeError, TypeError, ValueError, NotImplementedError) as exc:
        return None, f"not computed: {type(exc).__name__}"


def _dense(g: Any) -> np.ndarray:
    return np.asarray(g.toarray() if hasattr(g, "toarray") else g, float)


def _dense_matvec(g: Any, y: np.ndarray) -> np.ndarray:
    if hasattr(g, "dot") and not isinstance(g, np.ndarray):
        return np.asarray(g.dot(y), float).ravel()
    return (np.asarray(g, float) @ y).ravel()
