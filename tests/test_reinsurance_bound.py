"""The bound M of the reinsurance market: the answer must not depend on a bound beyond the losses.

The layer grid used to be ``cells`` uniform cells on ``[0, M]``: with the paper's losses (capped at 5)
and ``bound = 50`` the crossings of the curves near 0 (at 0.0477, 0.0559, 0.0889) fell into one
cell and the SPNE read V = 1.37999 instead of 1.366715 while its verification (cell integrals
against cell integrals on the same grid) and the Pareto LP (same grid) agreed with it; with
``bound = 1e15`` the edges merged (1e-13 M) and every risk became 0. Independent routes here: the
card's own bound (5), the spec's reference numbers, a finer grid, a market holding one insurer alone
(the SPNE is layer by layer and insurer by insurer), and the curves themselves evaluated inside the
cells (``order_gap``), not their cell integrals.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from _cardkit import MODELS

import riskopt as ro
from riskopt.cards import parse_card, run_card
from riskopt.mechanisms.reinsurance import InsurerSpec, Market, ReinsurerSpec, pareto
from riskopt.status import Status

ce = ro.laws.censored_exponential
LEVELS = (0.10, 0.05, 0.01)
#: Table 2 of seed 001 (spec reinsurance_market.md): V* and the insurers' post-transfer risks
V_STAR = 1.366715
POSTS = (0.545767, 0.547430, 0.547954)
#: the tables print 6 decimals
PRINTED = 5e-7
#: same grid on [0, 5], one more cell of exact zeros: only rounding differs
SAME_GRID = 1e-13


def paper(bound, loss=None, beliefs=(None, None), measure=None) -> Market:
    loss = loss or ce(3.0, 5.0)
    insurers = [InsurerSpec(f"insurer {k + 1}", loss, measure or ro.measures.ES(g))
                for k, g in enumerate(LEVELS)]
    reinsurers = [ReinsurerSpec("reinsurer 1", 0.15, beliefs[0] or ce(2.5, 5.0)),
                  ReinsurerSpec("reinsurer 2", 0.10, beliefs[1] or ce(2.0, 5.0))]
    return Market(insurers, reinsurers, bound=bound)


@pytest.fixture(scope="module")
def reference():
    return paper(5.0).spne()


@pytest.mark.parametrize("bound", [5.5, 50.0, 1e3, 1e15, 1e300])
def test_a_bound_beyond_the_support_changes_nothing(reference, bound):
    mk = paper(bound)
    assert mk.bound == bound and mk.layer_bound == 5.0   # declared, and used for the grid
    out = mk.spne()
    assert out.equilibrium.ok and out.status is Status.VERIFIED
    assert out.aggregate_risk == pytest.approx(reference.aggregate_risk, abs=SAME_GRID)
    assert out.aggregate_risk == pytest.approx(V_STAR, abs=PRINTED)
    assert np.allclose(out.insurer_post, reference.insurer_post, atol=SAME_GRID, rtol=0)
    assert np.allclose(out.premium, reference.premium, atol=SAME_GRID, rtol=0)
    assert np.allclose(out.insurer_post, POSTS, atol=PRINTED, rtol=0)
    doc = out.to_dict()
    assert doc["bound"] == bound and doc["bound_used"] == 5.0 and doc["status"] == "verified"
    # the layer pattern ends with the retained dead cell [5, M]
    last = out.segments(0)[-1]
    assert last["to"] == bound and last["reinsurer"] is None


def test_the_card_with_bound_50_and_1e15():
    """The issue's card, with the Pareto LP check left out (the pointwise SPNE is what changed)."""
    with open(MODELS / "andraos2025_two_reinsurers.toml", "rb") as fh:
        data = tomllib.load(fh)
    data["market"]["pareto_check"] = False
    values = {}
    for bound in (5.0, 50.0, 1e15):
        data["market"]["bound"] = bound
        out = run_card(parse_card(data, "two_reinsurers.toml"))
        doc = out.to_dict()
        assert doc["status"] == "verified" and doc["bound_used"] == 5.0
        values[bound] = doc["objective"]
    assert values[50.0] == pytest.approx(values[5.0], abs=SAME_GRID)
    assert values[1e15] == pytest.approx(values[5.0], abs=SAME_GRID)
    assert values[5.0] == pytest.approx(V_STAR, abs=PRINTED)


def test_the_grid_does_not_matter_either():
    """A much finer and a much coarser uniform grid: exact breakpoints and closed-form cell
    integrals make the answer grid-independent up to rounding (1e-12 on sums of ~1e3 cells)."""
    coarse, fine = paper(50.0).spne(cells=8), paper(50.0).spne(cells=4096)
    assert coarse.equilibrium.ok and fine.equilibrium.ok
    assert coarse.aggregate_risk == pytest.approx(fine.aggregate_risk, abs=1e-12)
    assert np.allclose(coarse.premium, fine.premium, atol=1e-12, rtol=0)


def test_a_bound_below_the_support_is_refused():
    with pytest.raises(ro.ModelError) as err:
        paper(4.9)
    msg = str(err.value)
    assert err.value.field == "bound" and "4.9" in msg and "upper bound of every loss" in msg


def test_an_unbounded_law_is_truncated_at_the_bound_and_resolved_whatever_it_is():
    """Exponential losses and beliefs: M truncates them (no support end to clip to). Between
    M = 20 (P(X > M) = e^-60) and M = 1e6 the answer may only move by the truncated tail, 1e-26:
    1e-12 is rounding. Beyond 1e6 times the 1 - 1e-12 quantile the grid's edge tolerance (1e-13 M)
    reaches the loss's own scale: refused, naming the field, the value and the limit."""
    E = ro.laws.Exponential
    values = []
    for bound in (20.0, 1e3, 1e6):
        mk = paper(bound, E(3.0), (E(2.5), E(2.0)))
        assert mk.layer_bound == bound
        out = mk.spne()
        assert out.equilibrium.ok
        values.append(out.aggregate_risk)
    assert np.allclose(values, values[0], atol=1e-12, rtol=0)
    with pytest.raises(ro.ModelError) as err:
        paper(1e15, E(3.0), (E(2.5), E(2.0)))
    msg = str(err.value)
    assert err.value.field == "bound" and "1000000000000000" in msg
    assert "at most 9.21" in msg and "unbounded" in msg


def test_quadrature_curves_on_a_truncated_unbounded_loss():
    """Wang insurers (Gauss-Legendre cell integrals) on exponential losses: the grid follows the law's
    quantiles, not M / cells, so M = 20 and M = 1e4 agree to quadrature accuracy (1e-10)."""
    E = ro.laws.Exponential
    wang = ro.measures.Distortion("wang", lam=0.5)
    a = paper(20.0, E(3.0), (E(2.5), E(2.0)), wang).spne()
    b = paper(1e4, E(3.0), (E(2.5), E(2.0)), wang).spne()
    assert a.equilibrium.ok and b.equilibrium.ok
    assert a.aggregate_risk == pytest.approx(b.aggregate_risk, abs=1e-10)
    assert np.allclose(a.premium, b.premium, atol=1e-10, rtol=0)


def _small_and_big(bound=None) -> Market:
    insurers = [InsurerSpec("small", ce(3.0, 5.0), ro.measures.ES(0.1)),
                InsurerSpec("big", ce(0.01, 1000.0), ro.measures.ES(0.05))]
    reinsurers = [ReinsurerSpec("r1", 0.15, [ce(2.5, 5.0), ce(0.008, 1000.0)]),
                  ReinsurerSpec("r2", 0.10, [ce(2.0, 5.0), ce(0.009, 1000.0)])]
    return Market(insurers, reinsurers, bound=bound)


def _alone() -> Market:
    return Market([InsurerSpec("small", ce(3.0, 5.0), ro.measures.ES(0.1))],
                  [ReinsurerSpec("r1", 0.15, ce(2.5, 5.0)), ReinsurerSpec("r2", 0.10, ce(2.0, 5.0))])


def test_an_insurer_next_to_a_much_larger_one():
    """The grid spans the largest loss (1000), so the small insurer's cells are 4 wide, its crossings
    all inside one cell; the SPNE is insurer by insurer, so its answer must be the one it gets alone
    (1e-12: both exact)."""
    alone = _alone().spne()
    for bound in (None, 1e4):
        out = _small_and_big(bound).spne()
        assert out.equilibrium.ok
        assert out.insurer_post[0] == pytest.approx(alone.insurer_post[0], abs=1e-12)
        assert np.allclose(out.premium[0], alone.premium[0], atol=1e-12, rtol=0)


def test_the_verification_sees_a_grid_that_misses_crossings(monkeypatch):
    """Without the in-cell probes (the old grid) the small insurer's answer is wrong by 2e-3, and
    every check on cell integrals still passes; the pointwise order check does not."""
    alone = _alone().spne()
    empty = (np.empty(0, int),) * 3 + (np.empty(0),) * 2
    monkeypatch.setattr("riskopt.mechanisms.reinsurance.layers._inner_brackets", lambda *args, **kw: empty)
    out = _small_and_big().spne()
    v = out.equilibrium
    assert abs(out.insurer_post[0] - alone.insurer_post[0]) > 1e-3
    assert np.max(v.reinsurer_gain) <= v.tolerance and np.max(v.insurer_gap) <= v.tolerance
    assert v.generous_violations == 0
    assert v.total_order_gap > 1e3 * v.tolerance and not v.ok
    assert out.status is Status.VERIFICATION_FAILED and out.to_dict()["status"] == "verification_failed"


def test_the_lp_reports_the_same_check():
    lp = pareto(paper(1e15))
    assert lp.checks["pointwise order gap"] == 0.0
    assert lp.aggregate_risk == pytest.approx(V_STAR, abs=PRINTED)
