"""Pareto: the hurricane pool (Ogaku 2025), closed form vs program vs program with the least
risk-averse farmer's burden capped at half its unconstrained share of X in every state (the kind of
``models/pareto_constrained.toml``'s constraint, binding at every size)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import riskopt as ro
from riskopt.constraints import ConstraintSpec
from riskopt.mechanisms import pareto

from ..bench_constrained import ConstrainedCase
from ..bench_pool import PRUNE
from ..bench_pool import case as pool_case

CAP = "burden cap"


def prepare(quick: bool) -> dict[str, Any]:
    n = 50 if quick else 500
    inp = pool_case(n)
    agents = tuple(ro.Agent(f"farmer {i + 1}", ro.measures.Entropic(g)) for i, g in enumerate(inp["gamma"]))
    spec = pareto.ParetoSpec(agents=agents, space=inp["full"].prune(PRUNE))
    shares = (1 / inp["gamma"]) / np.sum(1 / inp["gamma"])  # the proportional rule's shares
    i = int(np.argmax(shares))
    cap = ConstraintSpec(name=CAP, agent=agents[i].name, what="share_of_aggregate", sense=">=",
                         rhs=0.5 * float(shares[i]))
    instance = (f"{n} farmers, anchored comonotone, {spec.space.size} atoms; {agents[i].name}'s share "
                f"<= {0.5 * shares[i]:.4g} of X")
    return {"spec": spec, "cap": cap, "instance": instance}


def _metrics(sol: Any, t0: float) -> dict[str, Any]:
    out: dict[str, Any] = {"total_s": time.perf_counter() - t0, "status": str(sol.status),
                           "objective": sol.objective}
    rep = sol.solver
    if sol.method == "program":
        out.update(compile_s=rep.compile_s, solve_s=rep.solve_s)
    if sol.constraints:
        c = sol.constraints[CAP]
        out.update(constraint_dual=float(c.dual @ sol.aggregate) if sol.aggregate is not None else None,
                   binding=int(np.sum(c.binding)))
    return out


def run(method: str, constrained: bool) -> Any:
    def fn(inp: dict[str, Any]) -> dict[str, Any]:
        spec = inp["spec"].add_constraint(inp["cap"]) if constrained else inp["spec"]
        t0 = time.perf_counter()
        return _metrics(pareto.solve(spec, method=method), t0)

    return fn


CASE = ConstrainedCase(mechanism="pareto", prepare=prepare, fast=run("fast", False),
                       program=run("program", False), constrained=run("program", True))
