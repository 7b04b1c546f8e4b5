"""Pareto optima and Borch-Wilson weighted welfare.

* :func:`welfare`: the program ``max sum_i w_i U_i(xi_i)`` over an allocation set (default: seed 000's
  anchored comonotone set C). Its budget duals are Borch's state prices.
* :func:`frontier`: the Pareto frontier of two agents, traced by sweeping the weights of ONE compiled
  program (the weights are a cvxpy Parameter). With monetary (cash-invariant) utilities and free
  side payments (:class:`~riskopt.allocation.Budget`) the weighted program is unbounded unless the
  weights are equal, and the frontier is the line ``U_a + U_b = W*``: the function says so and
  returns that line.
* :func:`supporting_weights`: weights under which a given allocation is optimal, from the first-order
  condition ``w_i grad U_i(xi_i) = psi`` (a supporting hyperplane), with the residual as a
  certificate of Pareto optimality for interior allocations.

Closed form (entropic utilities, common prior): ``xi_i = w_i X`` with ``w_i = (1/gamma_i) /
sum_j (1/gamma_j)`` and state-price density ``exp(-lam X) / E[exp(-lam X)]``,
``lam = (sum_j 1/gamma_j)^-1`` (:func:`entropic_closed_form`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
from scipy.special import logsumexp

from ..allocation import AllocationSet, Budget, LimitedLiability, Restriction
from ..errors import ModelError, SolveError
from ..measures import Entropic
from ..program import Agent, SharingProgram
from ..space import Scenarios

__all__ = ["ClosedForm", "Frontier", "entropic_closed_form", "frontier", "supporting_weights", "welfare"]


def welfare(space: Scenarios, agents: Sequence[Agent], *, allocation: AllocationSet | None = None,
            weights: Any = None, restrictions: Sequence[Restriction] = (),
            aggregate: str | np.ndarray = "X") -> SharingProgram:
    """Weighted welfare maximisation ``max sum_i w_i U_i(xi_i)`` s.t. ``sum_i xi_i = X``, xi in the set."""
    return SharingProgram(space, agents, allocation=allocation, aggregate=aggregate,
                          objective="welfare", weights=weights, restrictions=restrictions,
                          name="welfare")


@dataclass(frozen=True)
class ClosedForm:
    """Seed 000, Example 1: proportional rule, welfare and Esscher state-price density."""

    lam: float
    shares: np.ndarray
    welfare: float
    utilities: np.ndarray
    allocation: np.ndarray
    state_density: np.ndarray


def entropic_closed_form(space: Scenarios, gammas: Sequence[float], aggregate: str = "X") -> ClosedForm:
    """Optimum of entropic risk sharing under a common prior (any law of X).

    ``lam = (sum 1/gamma_j)^-1``, ``w_i = lam / gamma_i``, ``xi_i = w_i X``,
    ``W* = -(1/lam) log E[exp(-lam X)]``, ``U_i = w_i W*``, ``dQ/dP = exp(-lam X)/E[exp(-lam X)]``.
    """
    g = np.asarray(gammas, float)
    if g.ndim != 1 or np.any(~np.isfinite(g)) or np.any(g <= 0):
        raise ModelError("gammas", gammas, "positive finite risk aversions")
    lam = 1.0 / np.sum(1.0 / g)
    X = space[aggregate]
    with np.errstate(divide="ignore"):
        logp = np.log(space.p)
    lse = logsumexp(logp - lam * X)
    W = -lse / lam
    shares = lam / g
    with np.errstate(invalid="ignore"):
        density = np.where(space.p > 0, np.exp(-lam * X - lse), 0.0)
    return ClosedForm(lam, shares, W, shares * W, shares[:, None] * X[None, :], density)


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
    if points < 2:
        raise ModelError("points", points, "at least 2 points")
    allocation = allocation or Budget()
    prog = welfare(space, agents, allocation=allocation)
    monetary = all(a.measure.monetary for a in agents)
    if isinstance(allocation, Budget) and monetary:
        sol = prog.solve(backend=backend, solver=solver, **options)
        total = sol.objective
        u = np.array([sol.values[a.name] for a in agents])
        spread = max(1.0, abs(total))
        t = np.linspace(-1.0, 1.0, points) * spread
        pts = np.column_stack([u[0] + t, u[1] - t])
        note = ("monetary utilities with side payments: every Pareto optimum maximises the unweighted "
                f"sum, so the frontier is the line U_a + U_b = {total:.10g}; unequal weights make the "
                "weighted program unbounded")
        return Frontier(np.full(points, 0.5), pts, (sol.status,) * points, note,
                        sol.solver.compile_s, sol.solver.solve_s, (sol,))
    lo, hi = weights
    if not (0.0 <= lo < hi <= 1.0):
        raise ModelError("weights", weights, "a range 0 <= lo < hi <= 1 of the first agent's weight")
    ts = np.clip(np.linspace(lo, hi, points), 1e-6, 1 - 1e-6)
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
    G = []
    for i, a in enumerate(agents):
        if not a.measure.differentiable:
            raise ModelError(f"agents[{i}].measure", a.measure.describe(), "a differentiable measure")
        if a.name not in allocation:
            raise ModelError("allocation", a.name, "an allocation for every agent")
        xi = np.asarray(allocation[a.name], float)
        # U(xi) = -rho(-xi) for a risk measure, so grad U(xi) = grad rho(-xi)
        G.append(a.measure.gradient(xi if a.measure.orientation == "utility" else -xi, space))
    G = np.asarray(G)
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


def is_entropic_common_prior(agents: Sequence[Agent]) -> bool:
    """True when the closed form applies: entropic utilities under the common prior P."""
    return all(isinstance(a.measure, Entropic) and a.measure.law is None for a in agents)


def closed_form_check(program: SharingProgram, solution: Any) -> dict[str, Any] | None:
    """Compare a solved equal-weight entropic welfare program with the closed form (else None).

    Welfare: relative error. Density: ``E_P|d - d*|`` (the natural scale-free norm of a density).
    """
    w = np.asarray(program.weights.value, float)
    if (program.objective_kind != "welfare" or not is_entropic_common_prior(program.agents)
            or not np.allclose(w, w[0]) or not solution.ok or solution.prices.state_density is None):
        return None
    cf = entropic_closed_form(program.space, [a.measure.gamma for a in program.agents])
    target = w[0] * cf.welfare
    p = program.space.p
    return {"welfare": target,
            "welfare_rel_error": abs(solution.objective - target) / max(abs(target), 1e-300),
            "density_l1_error": float(p @ np.abs(solution.prices.state_density - cf.state_density)),
            "density_on_states": cf.state_density}


# ------------------------------------------------------------------------- model cards
@dataclass
class ParetoCard:
    """The validated sections of a Pareto / welfare card."""

    space: Scenarios
    agents: list[Agent]
    allocation: AllocationSet
    restrictions: list[Restriction]
    objective: str
    weights: np.ndarray | None


def card_spec(root: Any, draws: Any) -> ParetoCard:
    """Read ``[[agents]]``/``[pool]``, ``[space]``, ``[allocation]`` and ``[objective]``."""
    from ..cardschema import Node, build_agents, build_allocation, build_space, number_list

    space_node = root.child("space")
    agents = build_agents(root, draws, None)  # agents draw first, then the space
    space = build_space(space_node, draws)
    for i, a in enumerate(agents):
        if a.endowment is not None and a.endowment.size != space.size:
            raise ModelError(f"agents[{i}].endowment", f"{a.endowment.size} values",
                             f"one per state ({space.size})")
    allocation, restrictions = build_allocation(root.child("allocation", default=None))
    obj = root.child("objective", default=None) or Node({}, "objective")
    kind = obj.take("kind", str, default="welfare", allowed="'welfare' or 'total_risk'")
    if kind not in ("welfare", "total_risk"):
        raise ModelError(obj.at("kind"), kind, "'welfare' or 'total_risk'")
    weights = obj.take("weights", list, default=None)
    weights = None if weights is None else number_list(weights, obj.at("weights"), len(agents))
    if weights is not None and (np.any(weights < 0) or weights.sum() <= 0):
        raise ModelError(obj.at("weights"), weights.tolist(), "nonnegative weights, not all zero")
    obj.finish()
    _check_limited_liability(restrictions, space, len(agents), kind)
    return ParetoCard(space, agents, allocation, restrictions, kind, weights)


def _check_limited_liability(restrictions: list[Restriction], space: Scenarios, n: int, kind: str) -> None:
    """``LimitedLiability.check`` before the build, so that its errors name the card's field."""
    loss = space["X"] if kind == "total_risk" else -space["X"]
    for i, r in enumerate(restrictions):
        if isinstance(r, LimitedLiability):
            try:
                r.check(loss, n)
            except ModelError as err:
                raise err.with_prefix(f"allocation.restrictions[{i}]") from None



def card_run(spec: ParetoCard, backend: str, solver: str | None, options: dict[str, Any]):
    """Solve a Pareto card; the closed-form check is attached when it applies."""
    if spec.objective == "welfare":
        prog = welfare(spec.space, spec.agents, allocation=spec.allocation, weights=spec.weights,
                       restrictions=spec.restrictions)
    else:
        prog = SharingProgram(spec.space, spec.agents, allocation=spec.allocation,
                              objective="total_risk", weights=spec.weights,
                              restrictions=spec.restrictions)
    solution = prog.solve(backend=backend, solver=solver, **options)
    check = closed_form_check(prog, solution)
    if check is not None:
        solution = dataclasses.replace(solution, extra={**solution.extra, "closed_form": check})
    return solution


def _card() -> Any:
    from ..cardschema import CardMechanism

    return CardMechanism("pareto", card_spec, card_run)


CARD = _card()
