"""The conic program over C: the ``"program"`` method, and the cross-check of the log-price Newton.

The pool's welfare program written through riskopt's general machinery
(:func:`riskopt.mechanisms.pareto.welfare` over :class:`~riskopt.allocation.AnchoredComonotone`,
entropic utilities, :class:`~riskopt.measures.MaxMin` epigraphs for credal sets, solved by a conic
backend). Its budget duals are the state prices (atom 0 completed by cash invariance), its
monotonicity duals the multipliers ``rho`` of the rows ``F_ik <= F_i,k-1`` (read through
:func:`riskopt.duals.value_derivative`), its vertex-row duals the weights of each player's worst-case
prior.

* :func:`conic_route` is the route of ``method="program"``: the program's point, certified like the
  Newton optimum (the KKT certificate recomputed from the allocation, prices and multipliers).
  User constraints (``[[constraints]]``, :mod:`riskopt.constraints`) go into the same program over
  the kept atoms of X (:class:`PoolTarget`), their duals ``dW*/d rhs`` come back in the solution's
  ``constraints`` and enter the certificate's stationarity rows (:class:`~.fast.UserRows`).
* credal beliefs are written as max-min epigraphs over each player's vertices (``credal =
  "epigraph"``, the general program) or as the entropic utility under each player's worst-case law
  on C (``"worst_case"``): the same program on C (the all-high vertex is the worst case of every
  allocation in C, :mod:`.priors`), a constrained one included, with one exponential cone per atom
  and player instead of one per vertex, atom and player and no epigraph rows.
* :func:`conic_comonotone` compares the program with a :class:`~.optimum.PoolOptimum` (welfare,
  prices (relative), allocations (raw, modulo constants, and shares on the identifiable gaps)) and
  **polishes** it: the log-price Newton warm-started at the conic prices, which turns an
  ``optimal_inaccurate`` conic point into the exact KKT point (the worst case on C is the all-high
  vertex, so the max-min KKT system is the single-law one there).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...constraints import ConstraintDual, ConstraintSpec
from ...duals import value_derivative
from ...measures import Entropic, MaxMin, Measure
from ...program import Agent, SharingProgram, SharingTarget
from ...solution import Solution
from ...space import Scenarios
from ..pareto import welfare
from .fast import UserRows, WelfareOptimum, geometric_mean_closed_form, solve_comonotone, welfare_optimum
from .optimum import PoolOptimum, Route
from .pools import Pool
from .priors import PlayerLaws
from .spec import QUANTITIES, Beliefs

__all__ = ["ConicCheck", "PoolTarget", "agents_on_atoms", "conic_comonotone", "conic_route",
           "solve_program", "user_rows", "warm_start"]

#: conic prices below this fraction of the largest are only accurate in absolute terms
RELIABLE_PRICE = 1e-6


@dataclass(frozen=True)
class ConicCheck:
    """The conic solution and its distance to the other route's optimum (module docstring)."""

    status: str
    welfare: float
    prices: np.ndarray
    F: np.ndarray
    vertex_weights: np.ndarray | None
    seconds: float
    compile_s: float
    solve_s: float
    iterations: int | None
    welfare_error: float
    price_max_rel_error: float
    allocation_max_error: float
    allocation_error_mod_constants: float
    share_error_identified: float
    polished: WelfareOptimum | None
    solution: Solution

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "status", "welfare", "seconds", "compile_s", "solve_s", "iterations", "welfare_error",
            "price_max_rel_error", "allocation_max_error", "allocation_error_mod_constants",
            "share_error_identified")}
        if self.vertex_weights is not None:
            out["worst_case_weights"] = self.vertex_weights
        if self.polished is not None:
            out["polish"] = {"iterations": self.polished.iterations,
                             "welfare_error": abs(self.polished.welfare - self.welfare),
                             "certificate": self.polished.certificate}
        return out


def agents_on_atoms(pool: Pool, beliefs: Beliefs, laws: PlayerLaws, credal: str = "epigraph") -> list[Agent]:
    """The players as riskopt agents on the kept atoms: entropic under P, under their own law, or
    max-min over their vertex laws (duplicate vertices dropped; ``credal = "worst_case"``: entropic
    under the worst-case law on C)."""
    agents = []
    for i, (name, g) in enumerate(zip(pool.names, pool.gammas, strict=True)):
        measure: Measure
        if beliefs.kind == "common":
            measure = Entropic(g)
        elif beliefs.kind == "own_hit_prior" or credal == "worst_case":
            measure = Entropic(g, law=laws.worst[i])
        else:
            verts: list[np.ndarray] = []
            for q in laws.vertices[i]:                     # distinct vertices, in the labels' order
                if not any(np.array_equal(q, v) for v in verts):
                    verts.append(q)
            measure = MaxMin(Entropic(g), verts) if len(verts) > 1 else Entropic(g, law=verts[0])
        agents.append(Agent(name, measure))
    return agents


class PoolTarget(SharingTarget):
    """What the pool's program offers to user constraints: the farmers (role ``agent``), their
    allocation ``f_i(x_k)`` on the kept atoms of X (gains; X = 0 first), expectations under P (the
    atoms' probabilities) or under each farmer's ``own`` law: his prior (own-hit prior), his
    worst-case law on C (credal: the law his max-min utility uses on C), P (common prior)."""

    def __init__(self, program: SharingProgram, laws: PlayerLaws):
        super().__init__(program)
        self.laws = laws
        self.quantities = dict(QUANTITIES)

    def law(self, role: str, name: str, law: str) -> np.ndarray:
        if law == "own":
            return np.asarray(self.laws.worst[self.roles["agent"].index(name)], float)
        return np.asarray(self.program.probs, float)


def solve_program(pool: Pool, beliefs: Beliefs, atoms: Scenarios, laws: PlayerLaws, *,
                  backend: str = "cvxpy", solver: str | None = None,
                  constraints: Sequence[ConstraintSpec] = (), credal: str = "epigraph",
                  **options: Any) -> tuple[Solution, list[Agent]]:
    """The welfare program over C on the kept atoms with the user ``constraints``, solved on a conic
    backend; the solution's ``constraints`` hold their duals (:meth:`SharingProgram.constraint_duals`)."""
    space = Scenarios(atoms.p, {"X": atoms.X})
    agents = agents_on_atoms(pool, beliefs, laws, credal)
    prog = welfare(space, agents)
    prog.add_constraints(constraints, PoolTarget(prog, laws))
    sol = prog.solve(backend=backend, solver=solver, **options)
    if constraints and sol.objective is not None:
        sol = dataclasses.replace(sol, constraints=prog.constraint_duals(sol))
    return sol, agents


def user_rows(constraints: Sequence[ConstraintSpec], duals: Mapping[str, ConstraintDual],
              names: Sequence[str], laws: PlayerLaws, probs: np.ndarray) -> UserRows:
    """The constraints' terms of the KKT certificate (:class:`~.fast.UserRows`): each row's gradient
    in ``F`` (``coefficient`` on its member and atom, ``coefficient x law`` in expectation, the law
    as :meth:`PoolTarget.law` reads it) times its dual, the duals' signs, the rows' violations and
    complementarity."""
    names = list(names)
    grad = np.zeros(laws.worst.shape)
    wrong = violation = comp = 0.0
    for c in constraints:
        d = duals[c.name]
        members = c.members(names)
        coef = np.ones(len(members)) if c.coefficients is None else np.asarray(c.coefficients, float)
        for a, m in zip(coef, members, strict=True):
            weights = laws.worst[names.index(m)] if c.law == "own" else probs
            row = d.dual if c.rows == "every_state" else d.dual[0] * weights
            grad[names.index(m)] += a * row
        if c.sense == "<=":
            wrong = max(wrong, float(np.max(-d.dual, initial=0.0)))
        elif c.sense == ">=":
            wrong = max(wrong, float(np.max(d.dual, initial=0.0)))
        violation = max(violation, float(np.max(-d.slack if c.sense != "==" else np.abs(d.slack),
                                                initial=0.0)))
        comp = max(comp, float(np.max(np.abs(d.dual * d.slack), initial=0.0)))
    return UserRows(grad, wrong, violation, comp)


def _allocation(sol: Solution, agents: list[Agent]) -> np.ndarray:
    return np.vstack([sol.allocation[a.name] for a in agents])


def _multipliers(sol: Solution, n: int, S: int) -> np.ndarray:
    """``rho[i, k]`` of the row ``F_ik <= F_i,k-1`` (k = 1..K; column 0 is 0) from the program's
    monotonicity duals. The program writes ``F_{j+1} - F_j >= 0`` on ascending atoms (row ``j`` is our
    ``k = K - j``) in a maximisation: ``rho = -dW*/d rhs``, the welfare lost per unit the row asks."""
    rho = np.zeros((n, S))
    dual = sol.duals.get("monotone")
    if dual is not None:
        lost = -value_derivative("max", np.asarray(dual, float).reshape(n, S - 1), row=">=")
        rho[:, 1:] = lost[:, ::-1]
    return rho


def conic_route(*, backend: str = "cvxpy", solver: str | None = None,
                constraints: Sequence[ConstraintSpec] = (), credal: str = "epigraph",
                **options: Any) -> Route:
    """The route of ``method="program"``: the conic program's point on the kept atoms (with the user
    ``constraints``; ``credal``: how credal sets enter, :data:`.spec.CREDAL_PROGRAMS`), certified."""
    def route(pool: Pool, beliefs: Beliefs, atoms: Scenarios, laws: PlayerLaws) -> WelfareOptimum:
        t0 = time.perf_counter()
        sol, agents = solve_program(pool, beliefs, atoms, laws, backend=backend, solver=solver,
                                    constraints=constraints, credal=credal, **options)
        F = _allocation(sol, agents)
        prices = np.asarray(sol.prices.state_prices, float)
        rho = _multipliers(sol, pool.n, atoms.size)
        user = user_rows(constraints, sol.constraints, pool.names, laws, atoms.p) if constraints else None
        method = "conic program" + (" (worst-case laws on C)" if credal == "worst_case"
                                    and beliefs.kind == "credal" else "")
        return welfare_optimum(atoms.X, laws.worst, pool.gammas, atoms.p, F, prices, rho,
                               method=method, iterations=int(sol.solver.iterations or 0),
                               seconds=time.perf_counter() - t0, solution=sol, user=user)

    return route


def conic_comonotone(po: PoolOptimum, *, backend: str = "cvxpy", solver: str | None = None,
                     polish: bool = True, solution: Solution | None = None,
                     optimum: WelfareOptimum | None = None, **options: Any) -> ConicCheck:
    """Solve the pool's program over C on a conic backend (or take its ``solution``) and compare with
    ``optimum`` (default ``po.optimum``)."""
    t0 = time.perf_counter()
    atoms = po.atoms
    agents = agents_on_atoms(po.pool, po.beliefs, po.laws)
    if solution is None:
        sol, agents = solve_program(po.pool, po.beliefs, atoms, po.laws, backend=backend, solver=solver,
                                    **options)
    else:
        sol = solution
    seconds = time.perf_counter() - t0
    opt = po.optimum if optimum is None else optimum
    prices = np.asarray(sol.prices.state_prices, float)
    F = _allocation(sol, agents)
    weights = None
    if any(isinstance(a.measure, MaxMin) for a in agents):
        rows = [np.ravel(sol.duals.get(f"credal:{a.name}", np.array([np.nan]))) for a in agents]
        width = max(r.size for r in rows)
        weights = np.vstack([np.pad(r, (0, width - r.size), constant_values=np.nan) for r in rows])
    diff = F - opt.F
    material = atoms.p >= 1e-8
    centred = diff[:, material] - (diff[:, material] @ atoms.p[material])[:, None] / atoms.p[material].sum()
    shares_c = -np.diff(F, axis=1) / opt.gaps[None, :]
    ident = np.ones(opt.gaps.size, bool)
    ident[opt.identifiability.unidentified - 1] = False
    share_err = float(np.abs(shares_c - opt.shares)[:, ident].max(initial=0.0))
    polished = None
    if polish:
        start = warm_start(prices, opt.x, po.laws.worst, po.pool.gammas)
        polished = solve_comonotone(atoms.X, po.laws.worst, po.pool.gammas, atoms.p, start=start)
    objective = float(sol.objective) if sol.objective is not None else float("nan")
    return ConicCheck(
        status=sol.status, welfare=objective, prices=prices, F=F, vertex_weights=weights,
        seconds=seconds, compile_s=sol.solver.compile_s, solve_s=sol.solver.solve_s,
        iterations=sol.solver.iterations, welfare_error=abs(objective - opt.welfare),
        price_max_rel_error=float(np.max(np.abs(prices / opt.prices - 1))),
        allocation_max_error=float(np.abs(diff).max()),
        allocation_error_mod_constants=float(np.abs(centred).max(initial=0.0)),
        share_error_identified=share_err, polished=polished, solution=sol)


def warm_start(prices: np.ndarray, x: np.ndarray, laws: np.ndarray, gammas: np.ndarray) -> np.ndarray:
    """Log prices to start the Newton polish from a conic solution.

    A conic solver's prices are accurate to its feasibility tolerance in *absolute* terms, so tiny
    atoms' prices can be off by orders of magnitude or negative. Prices below ``RELIABLE_PRICE``
    times the largest are replaced by the tilted geometric mean, shifted to agree with the reliable
    conic prices in the least-squares sense (in log space).
    """
    gm = geometric_mean_closed_form(x, laws, gammas)["log_prices"]
    reliable = prices > RELIABLE_PRICE * prices.max()
    start = np.array(gm, float)
    logp = np.log(prices[reliable])
    start[reliable] = logp
    start[~reliable] = gm[~reliable] + float(np.mean(logp - gm[reliable]))
    return start
