"""The pareto mechanism's programs: Pareto optima and Borch-Wilson weighted welfare.

* :func:`welfare`: the program ``max sum_i w_i U_i(xi_i)`` over an allocation set (default: Ogaku's
  anchored comonotone set C). Its budget duals are Borch's state prices.
* :func:`frontier`: the Pareto frontier of two agents, traced by sweeping the weights of ONE compiled
  program (the weights are a cvxpy Parameter). With monetary (cash-invariant) utilities and free
  side payments (:class:`~riskopt.allocation.Budget`) the weighted program is unbounded unless the
  weights are equal, and the frontier is the line ``U_a + U_b = W*``: the function says so and
  returns that line.
* :func:`supporting_weights`: weights under which a given allocation is optimal, from the first-order
  condition ``w_i grad U_i(xi_i) = psi`` (a supporting hyperplane), with the residual as a
  certificate of Pareto optimality for interior allocations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from ...allocation import AllocationSet, Budget, Restriction
from ...checks import integer, real_array
from ...errors import ModelError, SolveError
from ...measures.base import state_values
from ...program import Agent, SharingProgram
from ...space import Scenarios

__all__ = ["Frontier", "SupportingWeights", "frontier", "supporting_weights", "welfare"]


def welfare(space: Scenarios, agents: Sequence[Agent], *, allocation: AllocationSet | None = None,
            weights: Any = None, restrictions: Sequence[Restriction] = (),
            aggregate: str | np.ndarray = "X") -> SharingProgram:
    """Weighted welfare maximisation ``max sum_i w_i U_i(xi_i)`` s.t. ``sum_i xi_i = X``, xi in the set."""
    return SharingProgram(space, agents, allocation=allocation, aggregate=aggregate,
                          objective="welfare", weights=weights, restrictions=restrictions,
                          name="welfare")


@dataclass(frozen=True)
class Frontier:
    """Points of a two-agent Pareto frontier (utilities), with the weights that produced them."""

    weights: np.ndarray
    utilities: np.ndarray
    statuses: tuple[str, ...]
    note: str = ""
    compile_s: float = 0.0
    solve_s: float = 0.0
    solutions: tuple[Any, ...] = field(default=(), repr=False)


def frontier(space: Scenarios, agents: Sequence[Agent], *, allocation: AllocationSet | None = None,
             points: int = 21, weights: tuple[float, float] = (0.0, 1.0), backend: str = "cvxpy",
             solver: str | None = None, **options: Any) -> Frontier:
    """Two-agent Pareto frontier by weights ``(t, 1 - t)`` for ``t`` from ``weights[0]`` to
    ``weights[1]``, re-solving one compiled program (the weights are a cvxpy Parameter)."""
    if len(agents) != 2:
        raise ModelError("agents", [a.name for a in agents], "exactly two agents for a frontier")
    if integer("points", points, "an integer number of points >= 2") < 2:
        raise ModelError("points", points, "an integer number of points >= 2")
    span = "a range 0 <= lo < hi <= 1 of the first agent's weight"
    bounds = real_array("weights", weights, span)
    if bounds.shape != (2,) or not (0.0 <= bounds[0] < bounds[1] <= 1.0):
        raise ModelError("weights", weights, span)
    allocation = allocation or Budget()
    prog = welfare(space, agents, allocation=allocation)
    monetary = all(a.measure.monetary for a in agents)
    if isinstance(allocation, Budget) and monetary:
        sol = prog.solve(backend=backend, solver=solver, **options)
        total = np.nan if sol.objective is None else sol.objective
        u = np.array([sol.values[a.name] for a in agents])
        spread = max(1.0, abs(total))
        t = np.linspace(-1.0, 1.0, points) * spread
        pts = np.column_stack([u[0] + t, u[1] - t])
        note = ("monetary utilities with side payments: every Pareto optimum maximises the unweighted "
                f"sum, so the frontier is the line U_a + U_b = {total:.10g}; unequal weights make the "
                "weighted program unbounded")
        return Frontier(np.full(points, 0.5), pts, (sol.status,) * points, note,
                        sol.solver.compile_s, sol.solver.solve_s, (sol,))
    ts = np.clip(np.linspace(bounds[0], bounds[1], points), 1e-6, 1 - 1e-6)
    utilities, statuses, sols = [], [], []
    compile_s = solve_s = 0.0
    for t in ts:
        prog.set(weights=[t, 1 - t])
        try:
            sol = prog.solve(backend=backend, solver=solver, **options)
            utilities.append([sol.values[a.name] for a in agents])
        except SolveError as err:
            sol = err.solution
            utilities.append([np.nan, np.nan])
        statuses.append(sol.status)
        sols.append(sol)
        compile_s += sol.solver.compile_s
        solve_s += sol.solver.solve_s
    return Frontier(ts, np.asarray(utilities, float), tuple(statuses), "", compile_s, solve_s, tuple(sols))


@dataclass(frozen=True)
class SupportingWeights:
    """Weights (on the simplex) under which an allocation satisfies ``w_i grad U_i = psi``."""

    weights: np.ndarray
    state_prices: np.ndarray
    residual: float


def supporting_weights(space: Scenarios, agents: Sequence[Agent],
                       allocation: Mapping[str, np.ndarray]) -> SupportingWeights:
    """Least-squares supporting weights of an allocation of gains.

    Minimises ``sum_i ||w_i g_i - psi||^2`` over ``w`` in the simplex and ``psi`` free, with
    ``g_i = grad U_i(xi_i)`` (per state). A residual near 0 certifies that the allocation is a
    (first-order) Pareto optimum of the free sharing problem with those weights; the optimal ``psi``
    are the supporting state prices. Monetary utilities always get equal weights.
    """
    gradients = []
    for i, a in enumerate(agents):
        if not a.measure.differentiable:
            raise ModelError(f"agents[{i}].measure", a.measure.describe(), "a differentiable measure")
        if a.name not in allocation:
            raise ModelError("allocation", a.name, "an allocation for every agent")
        xi = state_values(allocation[a.name], space.size, f"allocation['{a.name}']")
        # U(xi) = -rho(-xi) for a risk measure, so grad U(xi) = grad rho(-xi)
        gradients.append(a.measure.gradient(xi if a.measure.orientation == "utility" else -xi, space))
    G = np.asarray(gradients, float)
    n = len(agents)
    w = cp.Variable(n, nonneg=True)
    psi = cp.Variable(G.shape[1])
    scale = float(np.max(np.abs(G))) or 1.0
    obj = cp.sum_squares(cp.multiply(w[:, None], G / scale) - psi[None, :])
    prob = cp.Problem(cp.Minimize(obj), [cp.sum(w) == 1])
    prob.solve(solver=cp.CLARABEL)
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise SolveError(str(prob.status), backend="cvxpy", solver="CLARABEL",
                         hint="supporting weights least squares failed")
    return SupportingWeights(np.asarray(w.value), np.asarray(psi.value) * scale,
                             float(np.sqrt(max(prob.value, 0.0))))
