"""Price-and-choose (Ogaku 2025): the hurricane pool's welfare over C, log-price Newton vs the conic
program vs the conic program with the least risk-averse farmer's share capped at half of his
unconstrained average share in every state (``models/price_and_choose_constrained.toml``'s kind of
constraint). Paper size: the 500-farmer credal card (``models/hurricane_pool_500.toml``); both
programs write each farmer's credal set as his worst-case law on C (``credal_program =
"worst_case"``, the same program on C as the max-min epigraphs, which take ~150 s at this size);
quick: Example 1 (3 farmers, common prior)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from riskopt.cards import load_card
from riskopt.constraints import ConstraintSpec
from riskopt.mechanisms import price_and_choose as pc

from ..bench_constrained import ConstrainedCase

MODELS = Path(__file__).resolve().parents[2] / "models"
#: the cap as a fraction of the farmer's unconstrained average share (binding: < 1)
CAP_FRACTION = 0.5


def capped(spec: pc.PriceAndChoose) -> tuple[pc.PriceAndChoose, ConstraintSpec]:
    """The spec without its menu and cross-checks, and the cap on its least risk-averse farmer."""
    spec = dataclasses.replace(spec, menu=None, welfare=pc.WelfareSpec(tail_tol=spec.welfare.tail_tol,
                                                                      credal_program="worst_case"))
    fast = pc.solve(spec, method="fast")
    j = int(np.argmin(spec.pool.gammas))
    share = float(fast.optimum.optimum.average_shares[j])
    cap = ConstraintSpec(name="share cap", agent=spec.pool.names[j], what="share_of_aggregate", sense=">=",
                         rhs=CAP_FRACTION * share)
    return spec, cap


def prepare(quick: bool) -> dict[str, Any]:
    card = load_card(MODELS / ("ogaku_example1.toml" if quick else "hurricane_pool_500.toml"))
    spec, cap = capped(card.spec)
    beliefs = spec.beliefs.description
    return {"free": spec, "constrained": spec.add_constraint(cap),
            "instance": f"{spec.pool.n} farmers, {beliefs}; {cap.agent}'s share <= {cap.rhs:.4g} of X"}


def metrics(res: pc.PriceAndChooseResult) -> dict[str, Any]:
    out: dict[str, Any] = {"status": str(res.status), "objective": res.welfare}
    sol = res.optimum.optimum.solution
    if sol is not None:
        out.update(compile_s=sol.solver.compile_s, solve_s=sol.solver.solve_s)
    for c in res.constraints.values():
        out.update(constraint_dual=float(c.dual @ res.optimum.atoms.X), binding=int(np.sum(c.binding)))
    return out


CASE = ConstrainedCase(mechanism="price_and_choose", prepare=prepare, metrics=metrics,
                       solve=lambda spec, method: pc.solve(spec, method=method),
                       methods=("fast", "program", "auto"))
