"""Pareto: the hurricane pool (Ogaku 2025), closed form vs program vs program with the least
risk-averse farmer's burden capped at half its unconstrained share of X in every state (the kind of
``models/pareto_constrained.toml``'s constraint, binding at every size)."""

from __future__ import annotations

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
    return {"free": spec, "constrained": spec.add_constraint(cap), "instance": instance}


def metrics(sol: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"status": str(sol.status), "objective": sol.objective}
    if sol.method == "program":
        out.update(compile_s=sol.solver.compile_s, solve_s=sol.solver.solve_s)
    if sol.constraints:
        c = sol.constraints[CAP]
        out.update(constraint_dual=float(c.dual @ sol.aggregate), binding=int(np.sum(c.binding)))
    return out


CASE = ConstrainedCase(mechanism="pareto", prepare=prepare, metrics=metrics,
                       solve=lambda spec, method: pareto.solve(spec, method=method))
