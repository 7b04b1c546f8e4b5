"""Comonotone distortion sharing (an LP every backend can take), S = 100, 1,000, 10,000 atoms.

Four agents with distortion risk measures (ES 5 %, ES 20 %, dual power b = 2, Wang lam = 0.5)
share a loss X with a censored exponential law (rate 1, cap 8) discretised on S quantile bins,
over comonotone allocations (``riskopt.Comonotone()``, objective ``total_risk``). On comonotone
allocations every distortion is linear on the sorted atoms, so this is an LP with 4 S variables,
S budget rows and 4 (S - 1) monotonicity rows.

Reference: the closed form of Embrechts-Liu-Wang (2018): the optimum is rho of the pointwise
minimum distortion, rho_{min h}(X), and the state prices are that distortion's weights
``h_min(P(X >= x_k)) - h_min(P(X > x_k))``. Columns: objective gap, budget violation, and the
E_P-norm error of the state-price density against those weights. Pyomo builds its model in Python
(one expression per row): its ``compile_s`` includes that build.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import riskopt as ro
from riskopt.measures.distortion import Custom, choquet_sorted

from .harness import Family, Runner, SolverMatrix, register
from .solvers import LP


def case(S: int) -> dict[str, Any]:
    space = ro.Scenarios.from_law(ro.laws.censored_exponential(1.0, 8.0), S)
    measures = [ro.measures.ES(0.05), ro.measures.ES(0.2), ro.measures.Distortion("dual_power", b=2.0),
                ro.measures.Distortion("wang", lam=0.5)]
    agents = [ro.Agent(f"agent {i + 1}", m) for i, m in enumerate(measures)]
    hmin = min_distortion(agents)
    order = np.argsort(space.X)
    density = np.empty(space.size)  # the atom at the cap is a state of its own
    density[order] = ro.measures.Distortion(hmin).monotone_weights(space.p[order]) / space.p[order]
    return {"space": space, "agents": agents, "value": choquet_sorted(space.X, space.p, hmin),
            "density": density}


def min_distortion(agents: list[ro.Agent]) -> Custom:
    """The pointwise minimum of the agents' distortion functions."""
    return Custom(lambda t: np.minimum.reduce([a.measure.h(t) for a in agents]), "min h")


def riskopt_runner(backend: str, solver: str | None = None):
    def run(inp: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        prog = program(inp)
        build = time.perf_counter() - t0
        sol = prog.solve(backend=backend, solver=solver)
        total = time.perf_counter() - t0
        xi = np.vstack(list(sol.allocation.values()))
        space = inp["space"]
        d = sol.prices.state_density
        return {"total_s": total, "build_s": build, "compile_s": sol.solver.compile_s,
                "solve_s": sol.solver.solve_s, "iterations": sol.solver.iterations, "status": sol.status,
                "objective_gap": abs(sol.objective - inp["value"]) / abs(inp["value"]),
                "budget_violation": float(np.max(np.abs(xi.sum(axis=0) - space.X))),
                "density_L1P_err": None if d is None else float(space.p @ np.abs(d - inp["density"]))}

    return run


def program(inp: dict[str, Any]) -> ro.SharingProgram:
    """The comonotone sharing LP of the instance (what every solver of ``--solvers`` is given)."""
    return ro.SharingProgram(inp["space"], inp["agents"], allocation=ro.Comonotone(), objective="total_risk")


def closed_form(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    value = choquet_sorted(inp["space"].X, inp["space"].p, min_distortion(inp["agents"]))
    return {"total_s": time.perf_counter() - t0, "status": "closed form",
            "objective_gap": abs(value - inp["value"]) / abs(inp["value"])}


register(Family(
    name="distortion_lp",
    case=case,
    sizes=[100, 1000, 10000],
    quick_sizes=[100, 1000],
    description=__doc__.split("\n")[0],
    notes=__doc__,
    columns=["size", "runner", "status", "total_s", "build_s", "compile_s", "solve_s", "iterations",
             "objective_gap", "budget_violation", "density_L1P_err"],
    accuracy="objective_gap",
    ratio_to="highs (direct)",
    solvers=SolverMatrix(program, lambda inp: inp["value"], LP,
                         note="The comonotone sharing LP (4 S variables) against the closed form "
                              "rho_{min h}(X) of Embrechts-Liu-Wang."),
    runners=[
        Runner("highs (direct)", riskopt_runner("highs")),
        Runner("cvxpy HIGHS", riskopt_runner("cvxpy", "HIGHS")),
        Runner("cvxpy CLARABEL", riskopt_runner("cvxpy", "CLARABEL")),
        Runner("cvxpy ECOS", riskopt_runner("cvxpy", "ECOS"), max_size=1000),
        Runner("cvxpy SCS", riskopt_runner("cvxpy", "SCS"), max_size=1000),
        Runner("pyomo HIGHS", riskopt_runner("pyomo")),
        Runner("closed form", closed_form),
    ],
))
