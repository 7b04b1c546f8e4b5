"""The portfolio manager (seed 002, Section 6) with the spec's reconstructed wealth
W_lambda = (1 - lambda) w + lambda w xi - kappa lambda^2: Propositions 4 and 5, Examples 6-8 (our
parameters, documented in docs/mechanisms/distortion_sharing.md)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt as ro
from riskopt.measures.distortion import DualPower, Power
from riskopt.mechanisms.distortion import (
    gain_distortion,
    lambda_curve,
    manage,
    optimal_proportion,
    sup_convolution,
)

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
XI = ro.Scenarios.discrete([0.5, 0.9, 1.2, 1.6, 2.4], [0.15, 0.25, 0.3, 0.2, 0.1])   # E xi = 1.22
XI8 = ro.Scenarios.discrete([0.8, 2.0], [0.8, 0.2])                                 # Example 8 payoff


def family(theta):
    """Examples 6 and 7 (our choice): h_1 = t^(1/theta), h_2 = 1 - (1 - t)^theta; concave (risk
    averse) for theta >= 1, convex (risk seeking) for theta <= 1; smaller theta = more risk seeking."""
    return [Power(1 / theta), DualPower(theta)]


def agents(hs):
    return [ro.Agent(f"agent {i + 1}", ro.measures.Distortion(h)) for i, h in enumerate(hs)]


@pytest.mark.parametrize("theta", [3.0, 1.5, 0.8, 0.4])
def test_proposition4_closed_form_matches_brute_force_and_the_solver(theta):
    res = manage(XI, agents(family(theta)), endowment=1.0, cost=0.4)
    assert res.attitude == ("risk_averse" if theta > 1 else "risk_seeking")
    assert res.lambda_brute == pytest.approx(res.lambda_closed, abs=1e-6)
    assert res.value_brute == pytest.approx(res.value_closed, abs=1e-10)
    assert res.checks["value_gap"] < 1e-12
    assert abs(res.checks["program_minus_closed_form"]) < 1e-7
    # the closed-form value is the minimum of the brute-force curve
    assert np.all(res.curve >= res.value_closed - 1e-12)


def test_representative_gain_distortions():
    """h^RA = max_i h~_i is convex <= id; h_RS = G/G(1) is concave >= id; G(1) >= 1."""
    t = np.linspace(0, 1, 201)
    g, att, scale = gain_distortion(family(2.0))
    assert att == "risk_averse" and scale == 1.0 and np.all(g(t) <= t + 1e-15)
    g, att, scale = gain_distortion(family(0.5))
    assert att == "risk_seeking" and scale > 1 and np.all(g(t) >= t - 1e-15)
    assert float(g(1.0)) == pytest.approx(1.0, abs=1e-15)


def test_risk_seeking_groups_invest_more_than_risk_averse_ones():
    for averse in (2.0, 1.2):
        for seeking in (0.9, 0.5):
            assert optimal_proportion(XI, family(averse), 1.0, 0.4)[0] <= \
                optimal_proportion(XI, family(seeking), 1.0, 0.4)[0]


@SETTINGS
@given(a=st.lists(st.floats(0.2, 0.95), min_size=2, max_size=3), shrink=st.floats(0.3, 1.0),
       kappa=st.floats(0.05, 0.5))
def test_proposition5_more_risk_averse_groups_invest_less(a, shrink, kappa):
    """Concave h_i <= h_i' (t^{a s} >= t^a for s <= 1): lambda*' <= lambda*."""
    hs = [Power(x) for x in a]
    more = [Power(x * shrink) for x in a]
    assert optimal_proportion(XI, more, 1.0, kappa)[0] <= optimal_proportion(XI, hs, 1.0, kappa)[0] + 1e-12


def test_example6_and_example7_curves():
    """Example 6: lambda* decreases as the risk-averse group gets more averse (theta up); Example 7:
    it increases as the risk-seeking group gets more seeking (theta down)."""
    averse = lambda_curve(XI, family, [1.0, 1.25, 1.5, 2.0], 1.0, 0.4)
    seeking = lambda_curve(XI, family, [1.0, 0.8, 0.6, 0.4, 0.3], 1.0, 0.4)
    assert np.all(np.diff(averse) < 0) and np.all(np.diff(seeking) > 0)
    assert averse[0] == seeking[0] == pytest.approx(1.0 * (1.22 - 1) / 0.8, abs=1e-12)  # risk neutral
    # the Figure 3 instance: theta = 0.8 -> 0.5 raises G/G(1) everywhere
    t = np.linspace(0, 1, 401)
    g8, g5 = gain_distortion(family(0.8))[0], gain_distortion(family(0.5))[0]
    assert np.all(g5(t) >= g8(t) - 1e-12)


def test_example8_more_risk_seeking_everyone_yet_less_investment():
    """Our Example 8: h = (t^1.2, t^4) -> h' = (t^3, t^4.5), both strictly more risk seeking.
    G' >= G on [0, 1], but G'/G'(1) - G/G(1) changes sign (negative on (0, ~0.3)), so for xi with
    P(xi = 2) = 0.2 the manager invests less: lambda* = 0.4338 -> 0.3859."""
    h, hp = [Power(1.2), Power(4.0)], [Power(3.0), Power(4.5)]
    t = np.unique(np.concatenate([np.linspace(0, 1, 2001), 1 - np.geomspace(1e-9, 1e-3, 20)]))
    assert all(np.all(b(t) <= a(t)) for a, b in zip(h, hp, strict=True))
    G = sup_convolution([x.dual() for x in h])
    Gp = sup_convolution([x.dual() for x in hp])
    assert np.all(Gp(t) >= G(t) - 1e-12)
    diff = Gp(t) / float(Gp(1.0)) - G(t) / float(G(1.0))
    assert diff.min() < -0.02 and diff.max() > 0.05
    crossing = t[np.nonzero(np.diff(np.sign(np.round(diff, 12))))[0]]
    assert np.any((crossing > 0.25) & (crossing < 0.35))
    lam = optimal_proportion(XI8, h, 1.0, 0.3)[0]
    lam_p = optimal_proportion(XI8, hp, 1.0, 0.3)[0]
    assert round(lam, 4) == 0.4338 and round(lam_p, 4) == 0.3859
    res = manage(XI8, agents(hp), endowment=1.0, cost=0.3)
    assert res.lambda_brute == pytest.approx(lam_p, abs=1e-6)


def test_reconstructed_wealth_and_feasibility():
    """The inner value at lambda is the Choquet sum of -W_lambda (the assumed form) under h~."""
    res = manage(XI, agents(family(0.5)), endowment=2.0, cost=0.6, grid=11, solver_check=False)
    from riskopt.measures.distortion import choquet_sorted
    from riskopt.mechanisms.distortion import representative

    rep = representative(family(0.5), "nonpositive")
    lam = 0.3
    W = (1 - lam) * 2.0 + lam * 2.0 * XI.X - 0.6 * lam**2
    k = np.argmin(np.abs(res.grid - lam))
    assert res.curve[k] == pytest.approx(choquet_sorted(-W, XI.p, rep), abs=1e-12)


def test_bad_inputs():
    with pytest.raises(ro.ModelError, match="feasibility") as err:
        optimal_proportion(XI, family(0.5), 1.0, 0.6)  # kappa > w min xi = 0.5
    assert err.value.field == "cost"
    with pytest.raises(ro.ModelError, match="nonnegative"):
        optimal_proportion(ro.Scenarios.discrete([-0.1, 2.0], [0.5, 0.5]), family(0.5), 1.0, 0.01)
    with pytest.raises(ro.ModelError, match="out of the scope"):
        optimal_proportion(XI, [Power(2.0), Power(0.5)], 1.0, 0.1)
    with pytest.raises(ro.ModelError, match="Proposition 4"):
        optimal_proportion(XI, [ro.measures.VaR(0.1).h, ro.measures.ES(0.2).h], 1.0, 0.1)
    with pytest.raises(ro.ModelError, match="endowment"):
        optimal_proportion(XI, family(0.5), 0.0, 0.1)
