"""A 200-point Pareto frontier: re-solving one compiled (DPP) program vs rebuilding every point.

Two agents with distortion risk measures (ES 10 % and dual power b = 1.5) share a censored
exponential loss through indemnities with no-sabotage (``riskopt.NoSabotage()``), minimising
``t rho_a + (1 - t) rho_b`` for 200 weights ``t`` (an LP on S atoms, HiGHS direct). Both runners go
through ``riskopt.sweep``: ``Compiled`` builds the program once and re-solves it after
``program.set(weights=...)`` (cvxpy compiles it once, as a parametrised program); ``pointwise``
builds and compiles a fresh program at every point. Sizes are the number of atoms S; ``ratio`` is
the rebuild time over the re-solve time (the speed-up of compiling once).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import riskopt as ro
from riskopt.status import Status
from riskopt.sweep import Compiled, pointwise, sweep

from .harness import Family, Runner, register

POINTS = 200


def case(S: int) -> dict[str, Any]:
    space = ro.Scenarios.from_law(ro.laws.censored_exponential(1.0, 8.0), S)
    agents = [ro.Agent("insured", ro.measures.ES(0.1)),
              ro.Agent("reinsurer", ro.measures.Distortion("dual_power", b=1.5))]
    ts = np.linspace(0.02, 0.98, POINTS)
    return {"space": space, "agents": agents, "points": [{"t": float(t)} for t in ts]}


def _program(inp: dict[str, Any], t: float) -> ro.SharingProgram:
    return ro.SharingProgram(inp["space"], inp["agents"], allocation=ro.NoSabotage(),
                             objective="total_risk", weights=[t, 1 - t])


def resolve(inp: dict[str, Any]) -> dict[str, Any]:
    def build(point: dict[str, Any]) -> ro.SharingProgram:
        return _program(inp, point["t"])

    def solve(prog: ro.SharingProgram, point: dict[str, Any]) -> dict[str, Any]:
        prog.set(weights=[point["t"], 1 - point["t"]])
        sol = prog.solve(backend="highs")
        return {"objective": sol.objective, "status": sol.status}

    t0 = time.perf_counter()
    res = sweep(Compiled(build, solve), inp["points"], chunks=1, progress=False)
    return _summary(res, time.perf_counter() - t0)


def rebuild(inp: dict[str, Any]) -> dict[str, Any]:
    def point(p: dict[str, Any]) -> dict[str, Any]:
        sol = _program(inp, p["t"]).solve(backend="highs")
        return {"objective": sol.objective, "status": sol.status}

    t0 = time.perf_counter()
    res = sweep(pointwise(point), inp["points"], chunks=1, progress=False)
    return _summary(res, time.perf_counter() - t0)


def _summary(res: Any, seconds: float) -> dict[str, Any]:
    ok = sum(r["status"] == Status.OPTIMAL for r in res.rows)
    return {"total_s": seconds, "status": f"{ok}/{len(res.rows)} optimal", "points": len(res.rows),
            "per_point_ms": 1000 * seconds / len(res.rows),
            "objectives": [r.get("objective") for r in res.rows]}


register(Family(
    name="pareto_frontier",
    case=case,
    sizes=[20, 200, 2000],
    quick_sizes=[20],
    description=__doc__.split("\n")[0],
    notes=__doc__,
    columns=["size", "runner", "status", "points", "total_s", "per_point_ms"],
    repeat=1,
    ratio_to="re-solve one compiled program",
    runners=[
        Runner("re-solve one compiled program", resolve),
        Runner("rebuild at every point", rebuild),
    ],
))
