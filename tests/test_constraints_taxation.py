"""User constraints on the disaster taxation mechanism: the constrained card, the decomposition against
the program (its reference) and finite differences, the program against the fast path on the bundled
cards, and bad input.

Tolerances: the AFPO Newton stops at a relative fairness residual of 1e-11 and Clarabel's QP at gaps
of 1e-12, so optimal values agree to ~1e-13 relative and weights to ~1e-7 relative (the weights of
regions that only pay in a few scenarios are weakly identified by the program: flat directions of
order p_k); a central difference with h = 1e-6 of values accurate to ~1e-13 has rounding error
~1e-7 absolute, so derivatives of size 1e-2 are compared to 1e-5 relative.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from _cardkit import MODELS, bundled, run_cli, run_json, write

from riskopt.cards import load_card
from riskopt.errors import ModelError, SolveError
from riskopt.mechanisms import taxation
from riskopt.mechanisms.taxation import (
    DECOMPOSITION,
    STUDY_INSURER,
    LawEconomySpec,
    StormSpec,
    StormStudySpec,
    residual_law,
)

CARD = MODELS / "taxation_constrained.toml"
FD_STEP = 1e-6
FD_RTOL = 1e-5  # rounding of two ~1e-13-accurate values divided by 2h, against duals of size ~1e-2
VALUE_RTOL = 1e-7
PRICE_RTOL = 1e-6


def _law_economy() -> LawEconomySpec:
    """The two CARA regions of the paper's Section 4 under 60 equally likely losses (a finite law:
    the program runs on the law itself)."""
    spec = load_card(MODELS / "niakh_two_region.toml").spec
    values = np.linspace(0.1, 12.0, 60)
    share = float(values.mean()) / float(spec.expected_losses.sum())
    regions = tuple(dataclasses.replace(r, expected_loss=r.expected_loss * share) for r in spec.regions)
    return dataclasses.replace(spec, law=residual_law(values), program=None, regions=regions)


def _small_storm() -> StormStudySpec:
    """30 regions, 4,000 scenarios, capital scaled to the smaller economy (591 defaults)."""
    return StormStudySpec(storm=StormSpec(regions=30, scenarios=4000),
                          insurer=dataclasses.replace(STUDY_INSURER, capital=140.0))


def _with_rhs(spec: Any, rhs: float) -> Any:
    return dataclasses.replace(spec, constraints=(dataclasses.replace(spec.constraints[0], rhs=rhs),))


# ------------------------------------------------------------------------------ the card
def test_constrained_card_binds_with_a_finite_nonzero_dual(tmp_path: Any, capfd: Any) -> None:
    code, out, _ = run_cli(capfd, "run", CARD, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["method"] == DECOMPOSITION and doc["status"] == "verified" and doc["objective_sense"] == "min"
    assert doc["afpo_algorithm"] == "newton"
    for cap in doc["constraints"].values():
        dual = np.asarray(cap["dual"], float)
        assert cap["binding"] and np.all(np.isfinite(dual)) and np.all(dual <= 0) and dual.min() < -1e-6
    unconstrained = run_json(capfd, tmp_path, "taxation_constrained", constraints=False)
    assert unconstrained["constraints"] == {} and unconstrained["method"] == "fast"
    # minimisation: dropping the caps cannot raise V (1e-9: both are AFPO Newton solutions at 1e-11)
    assert unconstrained["objective"] <= doc["objective"] + 1e-9
    assert doc["objective"] - unconstrained["objective"] > 1e-4  # and they bind: V moves


# --------------------------------------------------------- the decomposition against the program
@pytest.mark.parametrize("make, region, what, rhs", [
    (_law_economy, "region 2", "tax", 7.6),
    (_small_storm, "R09", "tax_share_of_wealth", 0.5),
])
def test_decomposition_equals_the_program(make: Any, region: str, what: str, rhs: float) -> None:
    spec = make().add_constraint(name="cap", region=region, what=what, sense="<=", rhs=rhs)
    dec = taxation.solve(spec)
    prog = taxation.solve(spec, method="program", solver="CLARABEL")
    assert (dec.method, prog.method) == (DECOMPOSITION, "program")
    assert dec.status.ok and prog.status.ok
    assert dec.objective == pytest.approx(prog.objective, rel=VALUE_RTOL)
    a_dec, a_prog = (r.afpo.alpha if isinstance(r, taxation.TaxationResult) else r.hybrid.alpha
                     for r in (dec, prog))
    np.testing.assert_allclose(a_prog, a_dec, rtol=PRICE_RTOL)
    d, p = dec.constraints["cap"], prog.constraints["cap"]
    assert d.binds and p.binds and np.array_equal(d.binding, p.binding)
    np.testing.assert_allclose(p.dual, d.dual, rtol=0, atol=PRICE_RTOL * abs(d.dual.sum()))


@pytest.mark.parametrize("make, region, what, rhs", [
    (_law_economy, "region 2", "tax", 7.6),
    (_small_storm, "R09", "tax_share_of_wealth", 0.5),
])
def test_dual_is_the_derivative_of_the_optimal_value(make: Any, region: str, what: str, rhs: float) -> None:
    """A cap the same in every scenario: dV/d rhs = the sum of the per-scenario duals."""
    spec = make().add_constraint(name="cap", region=region, what=what, sense="<=", rhs=rhs)
    predicted = float(taxation.solve(spec).constraints["cap"].dual.sum())
    up, down = (taxation.solve(_with_rhs(spec, rhs + t)).objective for t in (FD_STEP, -FD_STEP))
    assert predicted < 0
    assert (up - down) / (2 * FD_STEP) == pytest.approx(predicted, rel=FD_RTOL)


def test_expected_tax_is_pinned_by_fairness() -> None:
    """A cap on a group's expected tax is a number under AFPO: slack (dual 0) or infeasible."""
    spec = _law_economy()
    fair = float(spec.expected_losses.sum())
    slack = spec.add_constraint(name="group", regions="all", what="expected_tax", sense="<=", rhs=fair + 1)
    res = taxation.solve(slack)
    assert res.method == DECOMPOSITION and res.status.ok
    group = res.constraints["group"]
    assert not group.binds and group.dual[0] == 0.0 and group.slack[0] == pytest.approx(1.0, rel=1e-9)
    tight = spec.add_constraint(name="group", regions="all", what="expected_tax", sense="<=", rhs=fair - 1)
    for method in ("auto", "program"):
        with pytest.raises(SolveError, match="infeasible") as err:
            taxation.solve(tight, method=method)
        assert "group" in str(err.value)


def test_constraints_beyond_caps_run_on_the_program() -> None:
    """A cap that varies by scenario is not a cap of the layer rule: auto runs the program."""
    spec = _law_economy()
    caps = np.where(np.linspace(0.1, 12.0, 60) > 9.0, 7.6, 9.5)
    res = taxation.solve(spec.add_constraint(name="varying", region="region 2", what="tax", sense="<=",
                                             rhs=caps.tolist()))
    assert res.method == "program" and res.status.ok and res.constraints["varying"].binds
    with pytest.raises(ModelError, match="program"):
        taxation.solve(spec.add_constraint(name="varying", region="region 2", what="tax", sense="<=",
                                           rhs=caps.tolist()), method=DECOMPOSITION)


# ------------------------------------------------------------- the program on the bundled cards
def test_program_equals_fast_on_the_two_region_card() -> None:
    """The program on the card's 200 quantile bins against the fast path on the same bins."""
    spec = load_card(MODELS / "niakh_two_region.toml").spec
    prog = taxation.solve(spec, method="program", solver="CLARABEL")
    assert prog.method == "program" and prog.status.ok and prog.program is not None
    binned = taxation.binned(spec.law, spec.program.bins)
    fast = taxation.solve(dataclasses.replace(spec, law=binned, program=None))
    assert fast.method == "fast"
    assert prog.objective == pytest.approx(fast.objective, rel=VALUE_RTOL)
    np.testing.assert_allclose(prog.afpo.alpha, fast.afpo.alpha, rtol=PRICE_RTOL)
    assert prog.program.Lambda_max_rel_error < PRICE_RTOL


def test_program_equals_fast_on_the_storm_card() -> None:
    """The storm card at 10,000 scenarios (1,419 defaults: a QP of 300,000 variables, ~8 s; the
    card's 100,000 scenarios make 2.9 million, left to the benchmark)."""
    card = load_card(MODELS / "niakh_storm212.toml").spec
    spec = dataclasses.replace(card, storm=dataclasses.replace(card.storm, scenarios=10_000))
    fast = taxation.solve(spec)
    prog = taxation.solve(spec, method="program", solver="CLARABEL")
    assert (fast.method, prog.method) == ("fast", "program") and prog.status.ok
    assert prog.objective == pytest.approx(fast.objective, rel=VALUE_RTOL)
    np.testing.assert_allclose(prog.hybrid.alpha, fast.hybrid.alpha, rtol=PRICE_RTOL)
    assert prog.program is not None and prog.program.Lambda_max_rel_error < PRICE_RTOL


# ------------------------------------------------------------------------------- bad input
def test_fast_refuses_constraints_and_auto_is_fast_without() -> None:
    spec = _law_economy()
    assert taxation.solve(spec).method == "fast"
    with pytest.raises(ModelError, match="method"):
        taxation.solve(spec.add_constraint(name="cap", region="region 2", what="tax", sense="<=", rhs=8.0),
                       method="fast")


@pytest.mark.parametrize("change, field", [  # unknown who, what, sense: tests/test_constraints.py
    ({"law": "own"}, "constraints[0].law"),
])
def test_bad_constraints_name_the_card_field(tmp_path: Any, capfd: Any, change: dict[str, Any],
                                             field: str) -> None:
    card = bundled("taxation_constrained")
    card["constraints"] = [dict(card["constraints"][0], **change)]
    code, _, err = run_cli(capfd, "run", write(tmp_path / "bad.toml", card))
    assert code == 2 and field in err


def test_infeasible_constraints_exit_3(tmp_path: Any, capfd: Any) -> None:
    card = bundled("taxation_constrained")
    card["constraints"] = [{"name": "R009 pays little", "region": "R009", "what": "expected_tax",
                            "sense": "<=", "rhs": 0.1}]  # its fair share is 0.358
    code, _, err = run_cli(capfd, "run", write(tmp_path / "infeasible.toml", card))
    assert code == 3 and "infeasible" in err and "R009 pays little" in err
