"""Distortion risk sharing (Ghossoub-Ren-Wang 2024): the comonotone layer LP at scale, Theorem 3's routes.

**distortion_comonotone** — n = 20 agents, S equally weighted lognormal scenarios (seed 0), distortions
16 powers t^a (a = 0.3 .. 0.95), a dual power, ES_0.05, VaR_0.01 and the convex t^1.5. Target: the
comonotone inf-convolution LP at S = 100,000 in <= 10 s through HiGHS, against the closed form
rho_{min h}(X). Runners (one LP, three formulations / paths):

* ``layers primal, highspy direct``: :func:`riskopt.mechanisms.distortion.solve_layers_highs`
  — the layer LP (one variable per agent and atom, one budget row per atom, sign constraints as
  column bounds) passed as matrices to highspy; build = sort + weights (``np.unique``: S log S),
  compile = matrices into HiGHS, solve = HiGHS (its presolve solves this separable LP outright);
* ``layers dual, highspy direct`` (the default): the same LP's dual (``max sum width_k y_k``,
  ``y_k <= W_ik``: K free columns, n K singleton rows), the allocation read from the row multipliers;
  presolve empties it too, and the tiny widths stay out of the feasibility tolerance;
* ``layers, Program on highs``: the same LP as a riskopt Program (cvxpy canonicalisation, then the
  highs backend; cvxpy's standard form carries the n S sign constraints as rows);
* ``SharingProgram Comonotone on highs``: the foundation's comonotone set (F with monotone rows
  F[:, k+1] - F[:, k] >= 0, budget per atom): a degenerate LP for the simplex, whose solve time
  grows like S^2 (300: ~1 s, 1000: ~9 s, 3000: ~90 s on the shared machine); capped at S = 1000;
* ``closed form``: every layer on its cheapest agent.

Columns: ``build_s`` (sort + weights), ``compile_s`` (direct: matrices into HiGHS; Program: cvxpy
canonicalisation), ``solve_s``; ``build_ns_SlogS`` = build time / (S log2 S) in ns: flat across sizes
means the build grows like S log S; ``value_err`` = |LP value - rho_(min h)(X)| / max(1, |ref|);
``of_target`` = total time / 10 s.

**distortion_theorem3** — risk-seeking agents (powers a = 1.1 .. 5 and exponential distortions,
alternating) on a discrete X >= 0 with 40 atoms, n = 2, 3, 10: closed form rho_h~(X) (multiplier
search), the explicit jackpot of Lemma 3 evaluated exactly on the split space, and the
tail-probability program on Clarabel; ``gap`` is the absolute gap to the closed form.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import riskopt as ro
from riskopt.measures.distortion import (
    DualPower,
    ESDistortion,
    ExponentialDistortion,
    Power,
    VaRDistortion,
    choquet_sorted,
)
from riskopt.mechanisms.distortion import (
    PointwiseMin,
    comonotone_inf_convolution,
    layer_program,
    layers_of,
    lemma3_jackpot,
    representative,
    solve_layers_highs,
    tail_program,
)

from .harness import Family, Runner, SolverMatrix, register
from .solvers import EXP_POW

TARGET_S = 10.0


def comonotone_case(S: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=S)
    space = ro.Scenarios.equally_weighted(x)
    hs = [Power(a) for a in np.linspace(0.3, 0.95, 16)] + [DualPower(2.0), ESDistortion(0.05),
                                                           VaRDistortion(0.01), Power(1.5)]
    return {"S": S, "space": space, "hs": hs}


def _err(value: float, ref: float) -> float:
    return abs(value - ref) / max(1.0, abs(ref))


def direct(form: str):
    def run(inp: dict[str, Any]) -> dict[str, Any]:
        return _direct(inp, form)

    return run


def _direct(inp: dict[str, Any], form: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    lay = layers_of(inp["space"], inp["hs"])
    rep = solve_layers_highs(lay, form=form)
    L = lay.feasible(rep.L)
    value = float((lay.W * L).sum())
    total = time.perf_counter() - t0
    S = inp["S"]
    per = lay.build_s / (S * np.log2(S)) * 1e9
    return {"total_s": total, "build_s": lay.build_s, "compile_s": rep.compile_s, "solve_s": rep.solve_s,
            "iterations": rep.iterations, "value_err": _err(value, lay.closed_form()),
            "of_target": total / TARGET_S, "build_ns_SlogS": per,
            "status": f"{rep.status} ({lay.W.size:,} variables)"}


def program(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    lay = layers_of(inp["space"], inp["hs"])
    prog = layer_program(lay)
    sol = prog.solve(backend="highs", polish=False)
    total = time.perf_counter() - t0
    return {"total_s": total, "build_s": lay.build_s + sol.solver.build_s, "compile_s": sol.solver.compile_s,
            "solve_s": sol.solver.solve_s, "iterations": sol.solver.iterations, "status": sol.status,
            "value_err": _err(sol.objective, lay.closed_form()), "of_target": total / TARGET_S,
            "build_ns_SlogS": lay.build_s / (inp["S"] * np.log2(inp["S"])) * 1e9}


def sharing_program(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    agents = [ro.Agent(f"a{i}", ro.measures.Distortion(h)) for i, h in enumerate(inp["hs"])]
    prog = ro.SharingProgram(inp["space"], agents, allocation=ro.Comonotone(), objective="total_risk")
    sol = prog.solve(backend="highs", polish=False)
    total = time.perf_counter() - t0
    ref = comonotone_inf_convolution(inp["space"], inp["hs"], method="closed_form").value
    return {"total_s": total, "compile_s": sol.solver.compile_s, "solve_s": sol.solver.solve_s,
            "iterations": sol.solver.iterations, "status": sol.status, "value_err": _err(sol.objective, ref),
            "of_target": total / TARGET_S}


def closed(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = comonotone_inf_convolution(inp["space"], inp["hs"], method="closed_form")
    total = time.perf_counter() - t0
    hmin = PointwiseMin(inp["hs"])
    ref = choquet_sorted(inp["space"].X, inp["space"].p, hmin)
    return {"total_s": total, "build_s": res.build_s, "status": "closed form rho_(min h)",
            "value_err": _err(res.value, ref), "of_target": total / TARGET_S}


register(Family(
    name="distortion_comonotone",
    case=comonotone_case,
    sizes=[300, 1000, 10_000, 30_000, 100_000],
    quick_sizes=[300, 10_000],
    description="comonotone inf-convolution LP, n = 20 distortions, S scenarios (target: S = 1e5 in 10 s)",
    notes=__doc__,
    columns=["size", "runner", "status", "total_s", "build_s", "compile_s", "solve_s", "iterations",
             "build_ns_SlogS", "value_err", "of_target"],
    accuracy="value_err",
    runners=[
        Runner("layers dual, highspy direct", direct("dual")),
        Runner("layers primal, highspy direct", direct("primal")),
        Runner("layers, Program on highs", program, max_size=30_000,
               note="cvxpy canonicalisation + n S sign rows"),
        Runner("SharingProgram Comonotone on highs", sharing_program, max_size=1000,
               note="degenerate LP: solve time ~ S^2"),
        Runner("closed form", closed),
    ],
))


# --------------------------------------------------------------------------------- Theorem 3
def theorem3_case(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    x = np.round(rng.exponential(2.0, size=40), 2)
    space = ro.Scenarios.discrete(x, np.full(40, 1 / 40))
    hs = [Power(a) if k % 2 == 0 else ExponentialDistortion(a)
          for k, a in enumerate(np.linspace(1.1, 5.0, n))]
    reference = choquet_sorted(space.X, space.p, representative(hs, "nonnegative"))
    return {"n": n, "space": space, "hs": hs, "reference": reference}


def closed_form_t3(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    rep = representative(inp["hs"], "nonnegative")
    value = choquet_sorted(inp["space"].X, inp["space"].p, rep)
    return {"total_s": time.perf_counter() - t0, "status": f"rho_h~ = {value:.10f}"}


def jackpot_t3(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    jp, _ = lemma3_jackpot(inp["space"], inp["hs"])
    value = float(jp.values(inp["hs"]).sum())
    return {"total_s": time.perf_counter() - t0, "status": f"{jp.space.size} split states",
            "gap": abs(value - inp["reference"])}


def tail_t3(inp: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    prog = tail_program(inp["space"], inp["hs"])
    sol = prog.solve()
    return {"total_s": time.perf_counter() - t0, "compile_s": sol.solver.compile_s,
            "solve_s": sol.solver.solve_s, "iterations": sol.solver.iterations, "status": sol.status,
            "gap": abs(sol.objective - inp["reference"])}


register(Family(
    name="distortion_theorem3",
    case=theorem3_case,
    sizes=[2, 20, 200],
    quick_sizes=[2, 20],
    description="Theorem 3: closed form vs Lemma 3 jackpot vs tail-probability program (n agents)",
    notes=__doc__,
    columns=["size", "runner", "status", "total_s", "compile_s", "solve_s", "iterations", "gap"],
    solvers=SolverMatrix(lambda inp: tail_program(inp["space"], inp["hs"]), lambda inp: inp["reference"],
                         EXP_POW, note="Theorem 3's tail-probability program (exponential and power cones) "
                                       "against the closed form rho_h~(X)."),
    runners=[Runner("closed form (multiplier search)", closed_form_t3),
             Runner("jackpot of Lemma 3 (exact)", jackpot_t3),
             Runner("tail-probability program (Clarabel)", tail_t3)],
))
