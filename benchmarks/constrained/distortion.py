"""distortion_sharing in the ``constrained`` family: two risk-seeking agents sharing a loss.

Paper size: ``models/grw_risk_seeking_pair.toml`` (Ghossoub-Ren-Wang, Theorem 3: t^2 and an
exponential distortion, a capped exponential loss on 200 quantile bins); the constraint caps the
exponential agent's expected loss at 40 % of E[X] (it bears 51.7 % unconstrained). Quick: the
constrained card ``models/distortion_constrained.toml`` (Table 2, row 2, one state, fair lottery).

* fast: Theorem 3's closed form with the jackpot of Lemma 3, the layer LP straight into highspy;
* program: the layer LP and the tail-probability program on cvxpy/Clarabel;
* program + constraint: both programs with the constraint (the headline value and its dual are the
  tail program's).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmarks.bench_constrained import ConstrainedCase, Metrics
from riskopt.cards import load_card
from riskopt.constraints import ConstraintSpec
from riskopt.mechanisms import distortion

MODELS = Path(__file__).resolve().parents[2] / "models"
CAP = ConstraintSpec(name="exponential share", agent="exponential", what="share_of_aggregate",
                     scope="expectation", sense="<=", rhs=0.4)


def _prepare(quick: bool) -> dict[str, Any]:
    if quick:
        spec = load_card(MODELS / "distortion_constrained.toml").spec
        return {"instance": "Table 2 row 2, 1 state, fair lottery", "constrained": spec,
                "free": dataclasses.replace(spec, constraints=())}
    spec = load_card(MODELS / "grw_risk_seeking_pair.toml").spec
    return {"instance": "risk-seeking pair, 200 states, expected-share cap", "free": spec,
            "constrained": spec.add_constraint(CAP)}


def _metrics(res: Any) -> Metrics:
    out: Metrics = {"status": str(res.status), "objective": res.objective,
                    "compile_s": res.comonotone.compile_s, "solve_s": res.comonotone.solve_s}
    if res.constraints:
        dual = next(iter(res.constraints.values()))
        out["constraint_dual"] = float(dual.dual[0])
        out["binding"] = dual.binds
    return out


CASE = ConstrainedCase(mechanism="distortion", prepare=_prepare, metrics=_metrics,
                       solve=lambda spec, method: distortion.solve(spec, method=method),
                       methods=("fast", "program", "auto"))
