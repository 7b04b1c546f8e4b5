"""Reinsurance market: the Table 2 market of Andraos, Ghossoub, Zhu (2025), pointwise SPNE vs the
Pareto layer LP (VCG premiums) vs the layer LP with the constraints of
``models/reinsurance_constrained.toml`` (30 % retention floors, reinsurer 1's expected claims <= 0.5).
G = 2000 layer cells per insurer (256 with ``--quick``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from riskopt.cards import load_card
from riskopt.mechanisms.reinsurance import MarketOutcome, ReinsuranceSpec, solve

from ..bench_constrained import ConstrainedCase

CARD = Path(__file__).resolve().parents[2] / "models" / "reinsurance_constrained.toml"
#: the constraint whose dual the table shows (a retention floor: dV*/d rhs > 0)
SHOWN = "retention insurer 3"


def prepare(quick: bool) -> dict[str, Any]:
    cells = 256 if quick else 2000
    card: ReinsuranceSpec = load_card(CARD).spec
    card = dataclasses.replace(card, market=dataclasses.replace(card.market, cells=cells))
    spne = dataclasses.replace(card, constraints=(), market=dataclasses.replace(card.market, solve="spne"))
    return {"constrained": card, "free": spne,
            "instance": f"Table 2 market: 3 insurers x 2 reinsurers, G = {cells}, "
                        f"{len(card.constraints)} constraints"}


def metrics(out: MarketOutcome) -> dict[str, Any]:
    row: dict[str, Any] = {"status": out.status.value, "objective": out.objective}
    if out.solver is not None:
        row.update(compile_s=out.solver.compile_s, solve_s=out.solver.solve_s)
    if out.constraints:
        row.update(constraint_dual=float(out.constraints[SHOWN].dual[0]),
                   binding=int(sum(np.any(c.binding) for c in out.constraints.values())))
    return row


CASE = ConstrainedCase(mechanism="reinsurance_market", prepare=prepare, metrics=metrics,
                       solve=lambda spec, method: solve(spec, method=method, backend="highs"))
