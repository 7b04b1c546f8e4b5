"""Properties of the reinsurance market on random small instances (hypothesis).

Every instance: censored exponential losses with random rates and caps, ES or Wang insurers,
risk-neutral reinsurers with random loadings and beliefs (some sharing beliefs, so that ties
between reinsurers occur). Checked: the SPNE passes the equilibrium verifier, is individually
rational and Pareto optimal (the LP on the same grid), premiums and surpluses add up, indemnities
are admissible, adding a reinsurer never hurts an insurer, and the LP best response equals the
pointwise one for random posted prices.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt as ro
from riskopt.mechanisms.reinsurance import (
    FACE_TOL,
    DistortedSurvival,
    InsurerSpec,
    Market,
    ReinsurerSpec,
    best_response_lp,
    pareto,
)

CELLS = 96
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def markets(draw, max_n: int = 3, max_m: int = 3) -> Market:
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_m))
    M = draw(st.floats(2.0, 5.0))
    insurers = []
    for i in range(n):
        law = ro.laws.censored_exponential(draw(st.floats(0.5, 4.0)), draw(st.floats(1.0, M)))
        if draw(st.booleans()):
            measure = ro.measures.ES(draw(st.floats(0.01, 0.6)))
        else:
            measure = ro.measures.Distortion("wang", lam=draw(st.floats(0.05, 1.5)))
        insurers.append(InsurerSpec(f"i{i}", law, measure))
    reinsurers = []
    shared = ro.laws.censored_exponential(draw(st.floats(0.5, 4.0)), M)
    for j in range(m):
        own = ro.laws.censored_exponential(draw(st.floats(0.5, 4.0)), M)
        beliefs = shared if draw(st.booleans()) else own
        reinsurers.append(ReinsurerSpec(f"r{j}", draw(st.floats(0.01, 0.5)), beliefs))
    return Market(insurers, reinsurers, bound=M)


@SETTINGS
@given(markets())
def test_spne_is_a_verified_individually_rational_pareto_optimum(market):
    out = market.spne(cells=CELLS)
    assert out.equilibrium.ok, out.equilibrium.to_dict()
    assert out.individually_rational
    lp = pareto(market, cells=CELLS, premiums="dual")
    assert abs(out.aggregate_risk - lp.aggregate_risk) <= 1e-9 * max(1.0, abs(lp.aggregate_risk))
    assert lp.solution.certificate.max_residual < 1e-8
    # premiums paid = premiums received; aggregate risk = sum of post-transfer risks
    received = sum(r.get("premium_received", 0.0) for r in out.agent_rows())
    assert abs(out.premium.sum() - received) <= 1e-12 * max(1.0, received)
    total = out.insurer_post.sum() + out.reinsurer_post.sum()
    assert abs(total - out.aggregate_risk) <= 1e-12 * max(1.0, abs(total))


@SETTINGS
@given(markets())
def test_indemnities_are_admissible_and_layers_partition(market):
    out = market.spne(cells=CELLS)
    x = np.linspace(0, market.bound, 513)
    for i in range(market.n):
        ind = out.layers.indemnity(i, x, market.m)
        steps = np.diff(ind, axis=1)
        assert np.all(steps >= -1e-14)
        assert np.all(steps.sum(axis=0) <= np.diff(x) + 1e-12)
        segs = out.segments(i)
        assert segs[0]["from"] == 0.0 and segs[-1]["to"] == market.bound
        assert all(a["to"] == b["from"] for a, b in itertools.pairwise(segs))


@SETTINGS
@given(markets(max_m=2), st.floats(0.01, 0.5), st.floats(0.5, 4.0))
def test_another_reinsurer_never_hurts_an_insurer(market, loading, rate):
    before = market.spne(cells=CELLS)
    extra = ReinsurerSpec("entrant", loading, ro.laws.censored_exponential(rate, market.bound))
    after = Market(market.insurers, [*market.reinsurers, extra], bound=market.bound).spne(cells=CELLS)
    assert np.all(after.insurer_gain >= before.insurer_gain - 1e-10)
    assert after.aggregate_risk <= before.aggregate_risk + 1e-10


@SETTINGS
@given(markets(max_n=2, max_m=2), st.data())
def test_lp_best_response_equals_the_pointwise_rule(market, data):
    prices = [[DistortedSurvival(market.loss_law(i), None, data.draw(st.floats(1.0, 3.0)))
               for _ in range(market.m)] for i in range(market.n)]
    pw = market.best_response(prices, cells=CELLS)
    lp = best_response_lp(market, prices, cells=CELLS)
    # the LP reads its optimal face with the tolerance FACE_TOL on reduced costs: layers whose price
    # is within FACE_TOL per unit of alpha are ties there (pointwise: 1e-12 relative), so the
    # insurer's risk may differ by FACE_TOL per unit of those layers, at most FACE_TOL * M; the
    # premiums of such near-tied layers (a price near alpha, ceded or not) by more
    assert np.allclose(lp.insurer_post, pw.insurer_post, atol=FACE_TOL * market.bound, rtol=0)
    assert np.allclose(lp.premium, pw.premium, atol=1e-6, rtol=0)
    assert pw.equilibrium.generous_violations == 0
    assert np.max(pw.equilibrium.insurer_gap, initial=0.0) <= 1e-12
