"""The equilibrium mechanism's program routes: one welfare program, or Negishi's iteration over it.

* cash-invariant agents (:func:`monetary`): every Pareto optimum maximises the unweighted sum of
  utilities, so one :class:`~riskopt.program.SharingProgram` gives the allocation up to constants and
  its budget duals the prices; the side payments ``c_i = E[phi (e_i - xi*_i)]`` (which sum to 0)
  balance every budget;
* expected CRRA utility (:func:`negishi_program`): Newton on the Negishi weights
  (:func:`~riskopt.mechanisms.equilibrium.fast.negishi`), each welfare optimum from one compiled
  program re-solved with new weights (a cvxpy Parameter: no recompilation).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from ...agent import Agent
from ...allocation import Budget
from ...degeneracy import dual_range
from ...errors import SolveError
from ...measures import Entropic, ExpectedUtility
from ...measures.utility import CARA
from ...program import SharingProgram
from ...status import Status, from_convergence, from_solver
from .fast import negishi, preferences, tolerances
from .result import Equilibrium, assemble
from .spec import EquilibriumSpec

__all__ = ["TIGHT_CLARABEL", "monetary", "negishi_program", "solver_options"]

#: Clarabel's options for the welfare programs of this mechanism: an equilibrium is checked by each
#: agent's first-order conditions to 1e-8 in log marginal rates, which Clarabel's default gaps (1e-8
#: on the objective) do not reach for agents at kinks; used when no option is given
TIGHT_CLARABEL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}


def solver_options(backend: str, solver: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The caller's options, or :data:`TIGHT_CLARABEL` when none are given for Clarabel."""
    if options or backend != "cvxpy" or solver not in (None, "CLARABEL"):
        return options
    return dict(TIGHT_CLARABEL)


def as_entropic(a: Agent) -> Agent:
    """An expected-CARA agent as the entropic agent with the same ranking (cash-invariant)."""
    m = a.measure
    if isinstance(m, ExpectedUtility) and isinstance(m.u, CARA):
        return dataclasses.replace(a, measure=Entropic(m.u.gamma, law=m.law))
    return a


def monetary(spec: EquilibriumSpec, t0: float, backend: str, solver: str | None,
             options: dict[str, Any]) -> Equilibrium:
    """Cash-invariant agents: the equal-weight welfare optimum plus side payments
    ``c_i = E[phi (e_i - xi*_i)]`` (which sum to 0), so that every budget balances."""
    agents = [as_entropic(a) for a in spec.agents]
    E, W = spec.endowments, spec.aggregate
    prog = SharingProgram(spec.space, agents, allocation=Budget(), aggregate=W, objective="welfare",
                          name="welfare")
    try:
        sol = prog.solve(backend=backend, solver=solver, **options)
    except SolveError as err:
        status = Status.of(err)
        why = ("no equilibrium: the agents' total welfare has no finite maximum, so some trade gains "
               "without limit at any prices (with cash-invariant preferences an equilibrium exists "
               "only if the sets of prices supporting the agents' preferences intersect, e.g. "
               "risk-neutral agents must share one belief)" if status.base is Status.UNBOUNDED
               else f"the welfare program failed: {err}")
        return Equilibrium(spec, status, "program", "welfare + side payments", None, None, None,
                           seconds=time.perf_counter() - t0, explanation=why)
    psi_raw = sol.prices.state_prices
    if psi_raw is None or not np.all(np.isfinite(psi_raw)) or not psi_raw.sum() > 0:
        return Equilibrium(spec, from_solver(None), "program", "welfare + side payments",
                           None, None, None, seconds=time.perf_counter() - t0,
                           explanation="the welfare program returned no usable state prices")
    total = float(psi_raw.sum())
    psi = psi_raw / total
    xi = np.vstack([sol.allocation[a.name] for a in agents])
    xi_star = xi + (W - xi.sum(axis=0))[None, :] / len(agents)  # clearing to rounding (solver: ~1e-9)
    xi = xi_star + ((E - xi_star) @ psi)[:, None]  # side payments
    bounds = None
    pr = sol.prices
    notes = []
    payments = None
    if pr.lower is not None and pr.upper is not None and pr.all_unique is False:
        bounds = (np.asarray(pr.lower, float) / total, np.asarray(pr.upper, float) / total)
        payments = side_payment_ranges(prog, E - xi_star, total)
        notes.append("the prices are not unique (kinks): every price vector supporting the welfare "
                     "optimum is an equilibrium price, with side payments E[phi (e_i - xi*_i)] at it; "
                     "each agent's side payment ranges over [side_payment_lower, side_payment_upper]")
    if sol.allocation_unique is False:
        notes.append("the welfare optimum is not unique: every other optimum, with its own side "
                     "payments at these prices, is an equilibrium allocation too")
    info = {"backend": sol.solver.backend, "solver": sol.solver.solver, "compile_s": sol.solver.compile_s,
            "solve_s": sol.solver.solve_s, "program_status": str(sol.status)}
    return assemble(spec, sol.status, "program", "welfare + side payments", xi, psi, t0, price_bounds=bounds,
                    solver=info, notes=tuple(notes), allocation_unique=sol.allocation_unique,
                    price_unique=pr.unique, side_payment_bounds=payments)


def side_payment_ranges(prog: SharingProgram, trades: np.ndarray, total: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Each agent's side payment ``E_Q[e_i - xi*_i]`` over every optimal dual ``Q`` of the welfare
    LP's budget rows (the equilibrium prices; they sum to ``total`` by cash invariance): the exact
    range of a linear function over the optimal dual face (:func:`riskopt.degeneracy.dual_range`),
    not the box of the per-state price intervals."""
    lower, upper = dual_range(prog, "budget", trades)  # one compile and solve for every agent
    return lower / total, upper / total


def negishi_program(spec: EquilibriumSpec, t0: float, backend: str, solver: str | None,
                     options: dict[str, Any]) -> Equilibrium:
    """Negishi's Newton iteration with each welfare optimum from one compiled program (the
    weights are a cvxpy Parameter: ``program.set(weights=...)`` re-solves without recompiling)."""
    p, E, W = spec.space.p, spec.endowments, spec.aggregate
    agents = [dataclasses.replace(a, measure=ExpectedUtility("cara", law=m.law, gamma=m.gamma))
              if isinstance(m := a.measure, Entropic) else a for a in spec.agents]
    prefs = preferences([a.measure for a in agents], p)
    assert prefs is not None  # "crra" in kinds and no monetary kind (the spec checks)
    prog = SharingProgram(spec.space, agents, allocation=Budget(), aggregate=W, objective="welfare",
                          name="welfare")
    solves = {"count": 0, "compile_s": 0.0, "solve_s": 0.0}

    def optimum(theta: np.ndarray, start: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prog.set(weights=np.exp(theta - theta.max()))
        sol = prog.solve(backend=backend, solver=solver, **options)
        solves["count"] += 1
        solves["compile_s"] += sol.solver.compile_s
        solves["solve_s"] += sol.solver.solve_s
        psi = sol.prices.state_prices
        if psi is None or not np.all(psi > 0):
            raise SolveError(str(sol.status), backend=backend, solver=sol.solver.solver,
                             hint="the welfare program returned non-positive state prices")
        xi = np.vstack([sol.allocation[a.name] for a in agents])
        xi = xi + (W - xi.sum(axis=0))[None, :] / len(agents)
        return np.log(psi) + float(theta.max()), xi, tolerances(prefs, xi)

    try:
        eq = negishi(prefs, p, E, max_iterations=spec.max_iterations, optimum=optimum)
    except SolveError as err:
        return Equilibrium(spec, Status.of(err), "program", "negishi over the welfare program", None, None,
                           None, seconds=time.perf_counter() - t0,
                           explanation=f"a welfare program of the Negishi iteration failed: {err}")
    base = from_convergence(eq.converged)
    return assemble(spec, base, "program", "negishi over the welfare program", eq.xi, eq.psi, t0, eq.log_psi,
                    iterations=eq.iterations, residuals=eq.residuals,
                    explanation="" if eq.converged else eq.note,
                    solver={"welfare_solves": solves["count"], "compile_s": solves["compile_s"],
                    "solve_s": solves["solve_s"]})


