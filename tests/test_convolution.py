"""Inf- and sup-convolutions of distortion functions and the representative h~ of Theorem 3.

References: seed 002 (Ghossoub-Ren-Wang) Table 2 and Example 5; spec counter_monotonic.md §5-6.
Brute force: a dense grid plus bounded Brent over the split of two agents.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize_scalar

import riskopt as ro
from riskopt.measures.distortion import (
    Custom,
    Dual,
    DualPower,
    ESDistortion,
    ExponentialDistortion,
    PiecewiseLinear,
    Power,
    VaRDistortion,
    Wang,
    check_distortion,
)
from riskopt.mechanisms.distortion import (
    PointwiseMax,
    PointwiseMin,
    attitude,
    derivative,
    derivative_inverse,
    group_attitude,
    inf_convolution,
    is_dually_subadditive,
    minimum_is_agent,
    representative,
    sup_convolution,
)

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def power_probabilities(a):
    """Independent closed form of Proposition 3: the root of sum (mu/a_i)^{1/(a_i-1)} = 1."""
    a = np.asarray(a, float)
    mu = brentq(lambda m: np.sum((m / a) ** (1 / (a - 1))) - 1, 1e-12, 1e3, xtol=1e-15, rtol=1e-15)
    return (mu / a) ** (1 / (a - 1)), mu


# ------------------------------------------------------------------------------ Table 2
@pytest.mark.parametrize(("a", "p", "value", "mu"), [
    ((1.2, 1.4), (0.5129, 0.4871), 0.8141, 1.0500),
    ((1.2, 5.0), (0.3371, 0.6629), 0.3992, 0.9655),
])
def test_table2_split_and_value(a, p, value, mu):
    """Table 2 to 4 decimals, and to 1e-9 against the closed form of Proposition 3."""
    conv = inf_convolution([Power(x) for x in a])
    split = conv.split(1.0).ravel()
    assert np.round(split, 4).tolist() == list(p)
    assert round(float(conv(1.0)), 4) == value
    assert round(float(conv.multiplier(1.0)[0]), 4) == mu
    p_cf, mu_cf = power_probabilities(a)
    assert np.max(np.abs(split - p_cf)) < 1e-9
    assert abs(float(conv(1.0)) - np.sum(p_cf ** np.asarray(a))) < 1e-9
    assert abs(float(conv.multiplier(1.0)[0]) - mu_cf) < 1e-9


# ------------------------------------------------------------------------ brute force
def _two_agent_brute(h1, h2, t):
    lo, hi = max(0.0, t - 1.0), min(1.0, t)
    grid = np.linspace(lo, hi, 20001)
    vals = h1(grid) + h2(t - grid)
    k = int(np.argmin(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = minimize_scalar(lambda s: float(h1(s) + h2(t - s)), bounds=(a, b), method="bounded",
                          options={"xatol": 1e-13})
    # Brent converges only linearly onto a kink (error ~ slope jump x 1e-9), so the kinks of
    # piecewise-linear agents are candidates of their own.
    cand = np.concatenate([h1.t if isinstance(h1, PiecewiseLinear) else [],
                           t - h2.t if isinstance(h2, PiecewiseLinear) else []])
    cand = cand[(cand >= lo) & (cand <= hi)]
    at_kinks = h1(cand) + h2(t - cand)
    return min(float(res.fun), float(vals[k]), *map(float, at_kinks))


convex_h = st.one_of(
    st.floats(1.0, 6.0).map(Power),
    st.floats(0.2, 10.0).map(ExponentialDistortion),
    st.floats(0.2, 1.0).map(DualPower),
    st.floats(0.05, 0.95).map(lambda c: PiecewiseLinear([0, c, 1], [0, c / 3, 1])),
)


@SETTINGS
@given(h1=convex_h, h2=convex_h, t=st.floats(0.0, 1.0))
@example(h1=DualPower(0.5), h2=PiecewiseLinear([0, 0.5, 1], [0, 0.5 / 3, 1]), t=0.75)  # kink optimum
def test_inf_convolution_of_two_convex_matches_brute_force(h1, h2, t):
    conv = inf_convolution([h1, h2])
    assert float(conv(t)) == pytest.approx(_two_agent_brute(h1, h2, t), abs=1e-9)


@SETTINGS
@given(hs=st.lists(convex_h, min_size=2, max_size=5), ts=st.lists(st.floats(0, 1), min_size=2, max_size=6))
def test_splits_sum_to_t_are_monotone_and_in_the_box(hs, ts):
    """Lemma 2: the optimal t_i are nondecreasing functions of t summing to t."""
    t = np.sort(np.asarray(ts))
    split = inf_convolution(hs).split(t)
    assert np.allclose(split.sum(axis=0), t, atol=1e-12, rtol=0)
    assert np.all(split >= 0) and np.all(split <= 1)
    assert np.all(np.diff(split, axis=1) >= -1e-9)


def test_corner_solution_of_an_exponential_against_a_power():
    """h_exp'(0) = b/(e^b - 1) > 0 = (t^a)'(0): the exponential agent gets nothing until the power
    agent's slope a t^{a-1} reaches it (KKT with t_exp = 0 at the corner)."""
    b, a = 3.0, 2.0
    conv = inf_convolution([Power(a), ExponentialDistortion(b)])
    slope0 = b / np.expm1(b)
    t0 = (slope0 / a) ** (1 / (a - 1))
    t = np.array([0.5 * t0, 0.99 * t0, 1.01 * t0, 0.5, 1.0])
    split = conv.split(t)
    assert np.all(split[1, :2] == 0) and np.all(split[1, 2:] > 0)
    assert np.allclose(split[0, :2], t[:2])
    inner = split[:, 2:]  # interior: equal slopes = multiplier
    mu = conv.multiplier(t[2:])
    assert np.allclose(derivative(Power(a), inner[0]), mu, rtol=1e-9)
    assert np.allclose(derivative(ExponentialDistortion(b), inner[1]), mu, rtol=1e-9)


def test_piecewise_linear_kinks_are_exact():
    """Two identical convex piecewise-linear h (slopes 1/2 then 3/2 at the kink 1/2): the ties are
    split evenly and the value is exact."""
    pl = PiecewiseLinear([0, 0.5, 1], [0, 0.25, 1])
    conv = inf_convolution([pl, pl])
    t = np.array([0.2, 0.5, 0.8, 1.0])
    assert np.allclose(conv.split(t), [t / 2, t / 2], atol=1e-15, rtol=0)
    assert np.allclose(conv(t), t / 2, atol=1e-15, rtol=0)
    mixed = inf_convolution([pl, Power(2.0)])
    expect = [_two_agent_brute(pl, Power(2.0), x) for x in t]
    assert np.allclose(mixed(t), expect, atol=1e-12, rtol=0)


def test_concave_inf_convolution_is_the_pointwise_minimum():
    hs = [DualPower(2.0), ESDistortion(0.3), Power(0.5)]
    conv = inf_convolution(hs)
    t = np.linspace(0, 1, 101)
    assert conv.method == "corner"
    assert np.allclose(conv(t), PointwiseMin(hs)(t), atol=0, rtol=0)
    split = conv.split(t)
    assert np.allclose(split.sum(axis=0), t) and np.all((split == 0) | np.isclose(split, t))


@pytest.mark.parametrize("t", [0.0, 0.3, 0.7, 1.0])
def test_identity_agents_in_sup_and_inf_convolutions_match_brute_force(t):
    """A linear h (the identity) has a flat derivative: its level set is an end of [0, 1] that
    depends on the reading (argmin for convex, argmax for concave). A concave Power(0.5) with the
    identity once got the convex end (split [0, 1] at t = 0.3, value 1 instead of 0.55)."""
    grid = np.linspace(max(0.0, t - 1.0), min(1.0, t), 30001)
    sup = sup_convolution([Power(0.5), Power(1.0)])
    assert float(sup(t)) == pytest.approx(float(np.max(np.sqrt(grid) + (t - grid))), abs=1e-8)
    assert float(sup.split(t).sum()) == pytest.approx(t, abs=1e-12)
    inf = inf_convolution([Dual(Power(1.0)), Power(2.0)])
    assert float(inf(t)) == pytest.approx(_two_agent_brute(Dual(Power(1.0)), Power(2.0), t), abs=1e-9)
    assert float(inf.split(t).sum()) == pytest.approx(t, abs=1e-12)


def test_sup_convolutions():
    """Sup of convex: the pointwise maximum; sup of concave: multiplier search (brute force)."""
    t = np.linspace(0, 1, 41)
    hs = [Power(2.0), Power(3.0)]
    assert np.allclose(sup_convolution(hs)(t), PointwiseMax(hs)(t))
    duals = [h.dual() for h in hs]
    G = sup_convolution(duals)
    brute = [-_two_agent_brute(Custom(lambda s: -duals[0](s)), Custom(lambda s: -duals[1](s)), x) for x in t]
    assert np.allclose(G(t), brute, atol=1e-9, rtol=0)
    with pytest.raises(ro.ModelError, match="mixed shapes"):
        sup_convolution([Power(2.0), Power(0.5)])


# ------------------------------------------------------------------- Theorem 3 / Example 5
@pytest.mark.parametrize("h", [Power(2.0), Power(3.5), ExponentialDistortion(2.0), DualPower(0.5)])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_example5_homogeneous_closed_forms(h, n):
    """(i) h~(t) = n h(t/n); (ii) h~(t) = n h((n-1+t)/n) - n h((n-1)/n), h~(1) >= 1."""
    t = np.linspace(0, 1, 51)
    pos = representative([h] * n, "nonnegative")
    neg = representative([h] * n, "nonpositive")
    assert np.max(np.abs(pos(t) - n * h(t / n))) < 1e-12
    assert np.max(np.abs(neg(t) - (n * h((n - 1 + t) / n) - n * h((n - 1) / n)))) < 1e-12
    assert float(pos(1.0)) < 1 < float(neg(1.0))


def test_representative_is_a_monotone_riskmetric_not_a_risk_measure():
    hs = [Power(1.5), ExponentialDistortion(3.0), Power(4.0)]
    for side in ("nonnegative", "nonpositive"):
        rep = representative(hs, side)
        check_distortion(rep, normalised=False)
        with pytest.raises(ro.ModelError, match=r"h\(1\) = 1"):
            check_distortion(rep, normalised=True)
        # rho_h~(X + c) = rho_h~(X) + c h~(1), not + c
        x, p = np.array([0.0, 1.0, 3.0]), np.array([0.2, 0.5, 0.3])
        from riskopt.measures.distortion import choquet_sorted

        c = 2.0 if side == "nonnegative" else -2.0
        xs = x if side == "nonnegative" else -x
        shifted = choquet_sorted(xs + c, p, rep)
        assert shifted == pytest.approx(choquet_sorted(xs, p, rep) + c * float(rep(1.0)), abs=1e-12)
        assert abs(float(rep(1.0)) - 1) > 0.05


def test_representative_refuses_concave_and_non_normalised_agents():
    with pytest.raises(ro.ModelError, match="convex"):
        representative([Power(2.0), Power(0.5)], "nonnegative")
    with pytest.raises(ro.ModelError, match=r"h\(1\) = 1"):
        representative([Power(2.0), Custom(lambda t: 0.5 * t**2, "half t^2")], "nonnegative")
    with pytest.raises(ro.ModelError, match="side"):
        representative([Power(2.0)], "both")


# ------------------------------------------------------------------------- shape checks
def test_dual_subadditivity():
    for h in (DualPower(2.0), ESDistortion(0.2), Wang(0.5), Power(0.4), Power(1.0)):
        assert is_dually_subadditive(h), h
    for h in (VaRDistortion(0.1), Power(2.0), ExponentialDistortion(1.0)):
        assert not is_dually_subadditive(h), h


def test_attitudes_and_mixed_groups():
    assert attitude(Power(0.5)) == "risk_averse"
    assert attitude(Power(2.0)) == "risk_seeking"
    assert attitude(Power(1.0)) == "neutral"
    assert attitude(VaRDistortion(0.1)) == "general"
    assert attitude(Power(2.0).dual()) == "risk_averse"  # checked on the base: no cancellation noise
    assert group_attitude([Power(1.0), Power(2.0)]) == "risk_seeking"
    assert group_attitude([VaRDistortion(0.1), ESDistortion(0.1)]) == "general"
    with pytest.raises(ro.ModelError, match="out of the scope") as err:
        group_attitude([Power(0.5), Power(2.0)])
    assert err.value.field == "agents"


def test_minimum_is_agent():
    assert minimum_is_agent([ESDistortion(0.1), DualPower(2.0), ESDistortion(0.3)]) == 1
    assert minimum_is_agent([VaRDistortion(0.1), ESDistortion(0.2)]) is None


def test_not_a_distortion_is_named():
    with pytest.raises(ro.ModelError, match=r"h\(0\) = 0") as err:
        inf_convolution([Power(2.0), Custom(lambda t: t**2 + 0.1, "shifted")])
    assert err.value.field == "h[1]"
    with pytest.raises(ro.ModelError, match="nondecreasing"):
        inf_convolution([Custom(lambda t: t * (1 - t), "hump"), Power(2.0)])


@SETTINGS
@given(h=st.one_of(convex_h, st.floats(1.2, 5).map(DualPower), st.floats(0.1, 0.9).map(Power),
                   st.floats(-8, -0.2).map(ExponentialDistortion), st.floats(0.1, 2).map(Wang)),
       s=st.floats(0.02, 0.98))
def test_derivative_inverse_inverts_the_derivative(h, s):
    """For convex or concave h, the level set at mu = h'(s) contains s -- up to the conditioning
    of the inverse: where h' is nearly flat (a power with a = 1 + 2e-16) every s in the returned
    set has a slope equal to mu to rounding, which is all the inverse can promise."""
    mu = derivative(h, np.array([s]))
    lo, hi = derivative_inverse(h, mu)
    inside = lo[0] - 1e-7 <= s <= hi[0] + 1e-7
    slope_at_ends = derivative(h, np.array([lo[0], hi[0]]))
    assert inside or np.all(np.abs(slope_at_ends - mu) <= 1e-12 * max(1.0, abs(mu[0])))


def test_derivative_inverse_of_a_nearly_linear_power():
    h = Power(1.0 + 2.0 ** -52)
    lo, hi = derivative_inverse(h, derivative(h, np.array([0.5])))
    assert np.all(np.isfinite([lo, hi])) and 0.0 <= lo[0] <= hi[0] <= 1.0
    assert abs(float(derivative(h, lo)[0]) - float(derivative(h, np.array([0.5]))[0])) < 1e-13


def test_exponential_distortion_by_name_and_bad_parameters():
    m = ro.measures.Distortion("exponential", b=2.0)
    assert m.h.is_convex() and not m.convex
    for bad in (0.0, float("nan"), 1e4):
        with pytest.raises(ro.ModelError, match="b"):
            ExponentialDistortion(bad)
