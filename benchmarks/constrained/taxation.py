"""Disaster taxation: the storm study of Niakh et al. (212 regions) at 10,000 scenarios: the AFPO
Newton vs the program on the positive atoms of ``S_eps`` vs the program with the three caps of
``models/taxation_constrained.toml`` (no tax of R009, R085, R080 above 60 % of its wealth in any
scenario). The card's 100,000 scenarios make a program of 2.9 million variables; the decomposition
that ``method="auto"`` runs there is timed by the ``constrained_taxation`` family."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from riskopt.cards import load_card
from riskopt.constraints import ConstraintSpec
from riskopt.mechanisms import taxation
from riskopt.mechanisms.taxation import STUDY_INSURER, StormSpec, StormStudySpec

from ..bench_constrained import ConstrainedCase

CARD = Path(__file__).resolve().parents[2] / "models" / "taxation_constrained.toml"


def prepare(quick: bool) -> dict[str, Any]:
    card = load_card(CARD).spec
    if quick:  # 30 regions, 4,000 scenarios, capital scaled to the smaller economy
        spec = StormStudySpec(storm=StormSpec(regions=30, scenarios=4000),
                              insurer=dataclasses.replace(STUDY_INSURER, capital=140.0))
        caps = (ConstraintSpec(name="R09 at most 50 %", region="R09", what="tax_share_of_wealth", sense="<=",
                               rhs=0.5),)
        label = "30 regions, 4,000 scenarios"
    else:
        spec = dataclasses.replace(card, storm=dataclasses.replace(card.storm, scenarios=10_000),
                                   constraints=())
        caps = card.constraints
        label = "212 regions, 10,000 scenarios"
    return {"free": spec, "constrained": dataclasses.replace(spec, constraints=caps), "instance": label}


def metrics(res: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"status": str(res.status), "objective": res.objective}
    if res.program is not None:
        out.update(compile_s=res.program.compile_s, solve_s=res.program.solve_s)
    if res.constraints:
        first = next(iter(res.constraints.values()))  # the card's first cap (constraints keep their order)
        out.update(constraint_dual=float(np.sum(first.dual)), binding=int(np.sum(first.binding)))
    return out


CASE = ConstrainedCase(mechanism="taxation", prepare=prepare, metrics=metrics,
                       solve=lambda spec, method: taxation.solve(spec, method=method))
