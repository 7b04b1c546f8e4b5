"""Reinsurance market (Andraos-Ghossoub-Zhu 2025): the pointwise SPNE with verification, the full Pareto LP on
highspy / cvxpy+HiGHS / Pyomo against the pointwise oracle, and the stretch size.

Instance (``rng = default_rng(2025)``): n insurers with censored exponential losses
``P(X_i > z) = exp(-l_i z)`` on [0, 5), ``l_i ~ U[2, 4]``, ES levels ``g_i ~ U[0.01, 0.2]``; m
risk-neutral reinsurers with loadings ``theta_j ~ U[0.05, 0.3]`` and their own belief about every
loss, a censored exponential with rate ``b_ij ~ U[1.5, 3.5]``. G = 2000 uniform layer cells per
insurer plus the exact breakpoints (about 5 per insurer at m = 10).

Formulation notes:
* pointwise path: cell integrals of every curve in closed form (the censored exponential family),
  exact breakpoints by root finding where the lowest-two identity changes, lowest and second-lowest
  per cell by two reductions, processed in chunks of insurers (<= 160 MB of cell arrays), the
  verifier in cache-sized blocks. It is the LP's oracle: on the same grid they agree to ~1e-13.
* LP: ``y_cj >= 0`` ceded amounts (O(1) costs: cell averages of tau - alpha), one row
  ``sum_j y_cj <= w_c`` per cell written as ONE vectorised ``cp.sum(y, axis=1) <= w``, no
  ``y <= w`` bound; HiGHS at 1e-9 feasibility tolerances. The cost is a cvxpy Parameter, but a
  single solve compiles with constants (no DPP tensor). ``compile_s`` is cvxpy's canonicalisation
  (also for highspy and Pyomo, which take cvxpy's standard form), ``solve_s`` the solver alone;
  ``table_s`` the layer tabulation shared with the pointwise path.
* ratio = LP total time / pointwise total time; V_rel_err = |V*_LP - V*_pointwise| / V*;
  premium_diff = max over reinsurers of |dual premiums (LP) - pointwise|.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import numpy as np

import riskopt as ro
from riskopt.mechanisms.reinsurance import InsurerSpec, Market, ReinsurerSpec, pareto
from riskopt.status import Status

from .harness import Family, Runner, register

G = 2000


def market(n: int, m: int, seed: int = 2025) -> Market:
    rng = np.random.default_rng(seed)
    rates, levels = rng.uniform(2, 4, n), rng.uniform(0.01, 0.2, n)
    loadings, beliefs = rng.uniform(0.05, 0.3, m), rng.uniform(1.5, 3.5, (m, n))
    insurers = [InsurerSpec(f"insurer {i + 1}", ro.laws.censored_exponential(rates[i], 5.0),
                            ro.measures.ES(levels[i])) for i in range(n)]
    reinsurers = [ReinsurerSpec(f"reinsurer {j + 1}", loadings[j],
                                [ro.laws.censored_exponential(b, 5.0) for b in beliefs[j]]) for j in range(m)]
    return Market(insurers, reinsurers, bound=5.0)


def spne_runner(verify: bool):
    def run(inp: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = inp["market"].spne(cells=G, nodes=2, verify=verify)
        total = time.perf_counter() - t0
        row = {"total_s": total, "status": "ok" if out.individually_rational else "not IR",
               "layer_cells": inp["market"].n * inp["market"].m * out.grid.max_cells_per_insurer,
               "breakpoints": out.grid.breakpoints, "V": out.aggregate_risk}
        if verify:
            v = out.equilibrium
            row["status"] = Status.VERIFIED if v.ok else "verification FAILED"
            row["max_deviation_gain"] = float(np.max(v.reinsurer_gain))
        return row

    return run


def memory_runner(inp: dict[str, Any]) -> dict[str, Any]:
    """Peak Python-heap (numpy included) memory of one verified SPNE, by tracemalloc."""
    tracemalloc.start()
    t0 = time.perf_counter()
    out = inp["market"].spne(cells=G, nodes=2)
    total = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"total_s": total, "status": f"peak {peak / 1e6:.0f} MB", "peak_mb": peak / 1e6,
            "V": out.aggregate_risk}


def lp_case(n: int, m: int = 10) -> dict[str, Any]:
    mk = market(n, m)
    return {"market": mk, "oracle": mk.spne(cells=G, nodes=2, verify=False)}


def lp_runner(backend: str, solver: str | None = None, premiums: str = "dual"):
    """The Pareto LP; ``premiums="dual"``: competitive prices, compared with the reinsurers' own
    costs of the oracle's layers (no capacity limits: zero rents); ``"vcg"``: m more solves of the
    compiled program (DPP re-solves), compared with the SPNE premiums."""

    def run(inp: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = pareto(inp["market"], backend=backend, solver=solver, cells=G, nodes=2, premiums=premiums)
        total = time.perf_counter() - t0
        rep = out.solution.solver
        V, ref = out.aggregate_risk, inp["oracle"].aggregate_risk
        reference = (inp["oracle"].cost if premiums == "dual" else inp["oracle"].premium).sum(axis=0)
        return {"total_s": total, "compile_s": rep.compile_s, "solve_s": rep.solve_s,
                "build_s": rep.build_s, "iterations": rep.iterations, "status": out.solver.status,
                "variables": out.grid.lp_variables, "V": V,
                "V_rel_err": abs(V - ref) / abs(ref),
                "premium_diff": float(np.max(np.abs(out.premium.sum(axis=0) - reference)))}

    return run


def oracle_runner(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = inp["market"].spne(cells=G, nodes=2, verify=False)
    return {"total_s": time.perf_counter() - t0, "status": "pointwise", "V": out.aggregate_risk}


SPNE_COLUMNS = ["size", "runner", "status", "total_s", "layer_cells", "breakpoints", "max_deviation_gain"]

SPNE = register(Family(
    name="reinsurance_spne",
    case=lambda n: {"market": market(n, 10)},
    sizes=[1, 10, 100],
    quick_sizes=[10],
    description="SPNE with verification, m = 10 reinsurers, G = 2000 cells (target: n = 100 in <= 1 s)",
    notes=__doc__,
    columns=SPNE_COLUMNS,
    runners=[Runner("pointwise spne + verification", spne_runner(True)),
             Runner("pointwise spne", spne_runner(False))],
))

PARETO_LP = register(Family(
    name="reinsurance_pareto_lp",
    case=lp_case,
    sizes=[1, 10, 100],
    quick_sizes=[2],
    description="Pareto LP, m = 10, G = 2000 (n = 100: 2M variables; target highspy <= 10 s) vs pointwise",
    notes=__doc__,
    columns=["size", "runner", "status", "total_s", "compile_s", "solve_s", "variables", "V_rel_err",
             "premium_diff"],
    accuracy="V_rel_err",
    ratio_to="pointwise oracle",
    repeat=1,
    runners=[Runner("pointwise oracle", oracle_runner),
             Runner("lp highspy", lp_runner("highs")),
             Runner("lp cvxpy+HIGHS", lp_runner("cvxpy", "HIGHS")),
             Runner("lp highspy, VCG premiums (m + 1 solves)", lp_runner("highs", premiums="vcg"),
                    max_size=10, note="n = 100: 48 s (11 solves of 2M variables), left out"),
             Runner("lp pyomo+HiGHS", lp_runner("pyomo"), max_size=1,
                    note="a Python object per variable: n = 1 (20k variables) only")],
))

SCALE = register(Family(
    name="reinsurance_scale",
    case=lambda n: {"market": market(n, 20)},
    sizes=[10, 100, 1000],
    quick_sizes=[20],
    description="stretch: n = 1000, m = 20, G = 2000 (40M layer cells) pointwise, <= 5 s and <= 4 GB",
    notes=__doc__,
    columns=[*SPNE_COLUMNS, "peak_mb"],
    runners=[Runner("pointwise spne + verification", spne_runner(True)),
             Runner("pointwise spne", spne_runner(False)),
             Runner("peak memory (tracemalloc)", memory_runner)],
))
