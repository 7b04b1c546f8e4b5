"""The general conic path over C as the cross-check of the log-price Newton method.

The same welfare program written through riskopt's general machinery
(:func:`riskopt.mechanisms.pareto.welfare` over :class:`~riskopt.allocation.AnchoredComonotone`, entropic
utilities, :class:`~riskopt.measures.MaxMin` epigraphs for credal sets, solved by a conic backend).
Its budget duals are the state prices (atom 0 completed by cash invariance), its vertex-row duals
the weights of each player's worst-case prior. The comparison reports welfare, prices (relative),
allocations (raw, modulo constants, and shares on the identifiable gaps), and a **polish**: the
log-price Newton warm-started at the conic prices, which turns an ``optimal_inaccurate`` conic point
into the exact KKT point (the worst case on C is the all-high vertex, so the max-min KKT system is
the single-law one there).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..measures import Entropic, MaxMin
from ..program import Agent
from ..solution import Solution
from ..space import Scenarios
from .pandc_welfare import PoolOptimum, WelfareOptimum, geometric_mean_closed_form, solve_comonotone

__all__ = ["ConicCheck", "agents_on_atoms", "conic_comonotone", "warm_start"]

#: conic prices below this fraction of the largest are only accurate in absolute terms
RELIABLE_PRICE = 1e-6


@dataclass(frozen=True)
class ConicCheck:
    """The conic solution and its distance to the Newton optimum (see the module docstring)."""

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


def agents_on_atoms(po: PoolOptimum) -> list[Agent]:
    """The players as riskopt agents on the kept atoms: entropic under P, under their own law, or
    max-min over their vertex laws (duplicate vertices dropped)."""
    pool, laws = po.pool, po.laws
    agents = []
    for i, (name, g) in enumerate(zip(pool.names, pool.gammas, strict=True)):
        if po.beliefs.kind == "common":
            measure = Entropic(g)
        elif po.beliefs.kind == "own_hit_prior":
            measure = Entropic(g, law=laws.worst[i])
        else:
            verts: list[np.ndarray] = []
            for q in laws.vertices[i]:                     # distinct vertices, in the labels' order
                if not any(np.array_equal(q, v) for v in verts):
                    verts.append(q)
            measure = MaxMin(Entropic(g), verts) if len(verts) > 1 else Entropic(g, law=verts[0])
        agents.append(Agent(name, measure))
    return agents


def conic_comonotone(po: PoolOptimum, *, backend: str = "cvxpy", solver: str | None = None,
                     polish: bool = True, **options: Any) -> ConicCheck:
    """Solve the pool's program over C on a conic backend and compare with ``po.optimum``."""
    from .pareto import welfare

    t0 = time.perf_counter()
    atoms = po.atoms
    space = Scenarios(atoms.probs, {"X": atoms.x})
    agents = agents_on_atoms(po)
    sol = welfare(space, agents).solve(backend=backend, solver=solver, **options)
    seconds = time.perf_counter() - t0
    opt = po.optimum
    prices = np.asarray(sol.prices.state_prices, float)
    F = np.vstack([sol.allocation[a.name] for a in agents])
    weights = None
    if any(isinstance(a.measure, MaxMin) for a in agents):
        rows = [np.ravel(sol.duals.get(f"credal:{a.name}", np.array([np.nan]))) for a in agents]
        width = max(r.size for r in rows)
        weights = np.vstack([np.pad(r, (0, width - r.size), constant_values=np.nan) for r in rows])
    diff = F - opt.F
    material = atoms.probs >= 1e-8
    centred = diff[:, material] - (diff[:, material] @ atoms.probs[material])[:, None] / atoms.probs[
        material].sum()
    shares_c = -np.diff(F, axis=1) / opt.gaps[None, :]
    ident = np.ones(opt.gaps.size, bool)
    ident[opt.identifiability.unidentified - 1] = False
    share_err = float(np.abs(shares_c - opt.shares)[:, ident].max(initial=0.0))
    polished = None
    if polish:
        start = warm_start(prices, opt.x, po.laws.worst, po.pool.gammas)
        polished = solve_comonotone(atoms.x, po.laws.worst, po.pool.gammas, atoms.probs, start=start)
    return ConicCheck(
        status=sol.status, welfare=float(sol.objective), prices=prices, F=F, vertex_weights=weights,
        seconds=seconds, compile_s=sol.solver.compile_s, solve_s=sol.solver.solve_s,
        iterations=sol.solver.iterations, welfare_error=abs(float(sol.objective) - opt.welfare),
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
    start = gm.copy()
    logp = np.log(prices[reliable])
    start[reliable] = logp
    start[~reliable] = gm[~reliable] + float(np.mean(logp - gm[reliable]))
    return start
