"""Univariate laws (riskopt.laws): sf / cdf / ppf / atoms / mean against independent formulas.

Oracles: scipy.stats for the parametric laws, brute-force sums over the atoms for finite laws, closed
forms for censoring and mixtures. Bad parameters must raise ModelError naming the field.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from riskopt import ModelError
from riskopt.laws import (
    Censored,
    Dirac,
    Discrete,
    Exponential,
    FromScipy,
    FromSurvival,
    Law,
    Mixture,
    Uniform,
    censored_exponential,
)

FAST = settings(max_examples=40, deadline=None)
GRID = np.linspace(-2.0, 12.0, 281)
U = np.linspace(0.001, 0.999, 173)


# ------------------------------------------------------------------ helpers / strategies
@st.composite
def finite_laws(draw, max_atoms: int = 8):
    """(values, probs) of a finite law: integer-ish values (ties allowed), positive weights."""
    k = draw(st.integers(1, max_atoms))
    values = draw(st.lists(st.integers(-20, 20), min_size=k, max_size=k))
    weights = draw(st.lists(st.integers(1, 50), min_size=k, max_size=k))
    w = np.asarray(weights, float)
    return np.asarray(values, float) / 2.0, w / w.sum()


def brute_sf(values, probs, x):
    return np.array([probs[values > xi].sum() for xi in np.atleast_1d(x)])


def brute_quantile(values, probs, u):
    """Left-continuous quantile inf{x : F(x) >= u} by scanning the sorted distinct values."""
    distinct = np.unique(values)
    cdf = np.array([probs[values <= z].sum() for z in distinct])
    return np.array([distinct[np.flatnonzero(cdf >= ui - 1e-12)[0]] for ui in np.atleast_1d(u)])


# ------------------------------------------------------------------ Exponential
@pytest.mark.parametrize("rate", [0.1, 1.0, 3.0])
def test_exponential_matches_scipy(rate):
    law = Exponential(rate)
    ref = stats.expon(scale=1 / rate)
    np.testing.assert_allclose(law.sf(GRID), ref.sf(GRID), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(law.cdf(GRID), ref.cdf(GRID), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(law.ppf(U), ref.ppf(U), rtol=1e-13)
    assert law.mean() == pytest.approx(1 / rate, rel=1e-15)
    assert law.support() == (0.0, np.inf)
    assert law.atoms()[0].size == 0


@pytest.mark.parametrize("rate", [0.0, -1.0, np.nan, np.inf])
def test_exponential_bad_rate(rate):
    with pytest.raises(ModelError, match="rate"):
        Exponential(rate)


# ------------------------------------------------------------------ Uniform
def test_uniform_matches_scipy():
    law = Uniform(-1.0, 3.0)
    ref = stats.uniform(loc=-1.0, scale=4.0)
    np.testing.assert_allclose(law.sf(GRID), ref.sf(GRID), atol=1e-15, rtol=0)
    np.testing.assert_allclose(law.ppf(U), ref.ppf(U), rtol=1e-14)
    assert law.mean() == 1.0
    assert list(law.kinks()) == [-1.0, 3.0]
    # the generic E[X] = lo + int sf (finite support branch of Law.mean)
    assert Law.mean(law) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize(("lo", "hi"), [(1.0, 1.0), (2.0, 1.0), (0.0, np.inf), (np.nan, 1.0)])
def test_uniform_bad_bounds(lo, hi):
    with pytest.raises(ModelError, match="hi"):
        Uniform(lo, hi)


# ------------------------------------------------------------------ Dirac
def test_dirac():
    law = Dirac(2.5)
    np.testing.assert_array_equal(law.sf([2.0, 2.5, 3.0]), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(law.cdf([2.0, 2.5, 3.0]), [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(law.ppf(U), np.full(U.size, 2.5))
    v, m = law.atoms()
    assert list(v) == [2.5] and list(m) == [1.0]
    assert law.mean() == 2.5 and law.support() == (2.5, 2.5)


# ------------------------------------------------------------------ Discrete
@FAST
@given(finite_laws())
def test_discrete_against_brute_force(law_data):
    values, probs = law_data
    law = Discrete(values, probs)
    xs = np.concatenate([np.unique(values), np.unique(values) + 0.25, [-100.0, 100.0]])
    np.testing.assert_allclose(law.sf(xs), brute_sf(values, probs, xs), atol=1e-12, rtol=0)
    np.testing.assert_allclose(law.cdf(xs), 1 - brute_sf(values, probs, xs), atol=1e-12, rtol=0)
    np.testing.assert_array_equal(law.ppf(U), brute_quantile(values, probs, U))
    assert law.mean() == pytest.approx(float(values @ probs), abs=1e-12)
    assert law.support() == (values.min(), values.max())
    assert np.all(np.diff(law.X) >= 0)  # sorted on construction
    _, m = law.atoms()
    assert m.sum() == pytest.approx(1.0, abs=1e-12)


def test_discrete_quantile_at_cdf_levels_is_left_continuous():
    law = Discrete([0.0, 1.0, 2.0], [0.25, 0.5, 0.25])
    # inf{x : F(x) >= u}: at u = F(0) = 0.25 the quantile is 0, just above it 1
    np.testing.assert_array_equal(law.ppf([0.25, 0.2500001, 0.75, 0.7500001, 1.0]), [0, 1, 1, 2, 2])


def test_discrete_zero_probability_value_is_never_a_quantile():
    law = Discrete([0.0, 1.0, 2.0], [0.5, 0.0, 0.5])
    assert set(law.ppf(U).tolist()) == {0.0, 2.0}


@pytest.mark.parametrize(
    ("values", "probs", "field"),
    [
        ([1.0, 2.0], [0.5, np.nan], "probs[1]"),
        ([1.0, 2.0], [1.5, -0.5], "probs[1]"),
        ([1.0, 2.0], [0.5, 0.6], "probs"),
        ([1.0, 2.0, 3.0], [0.5, 0.5], "values"),
        ([1.0, np.inf], [0.5, 0.5], "values"),
    ],
)
def test_discrete_bad_input(values, probs, field):
    with pytest.raises(ModelError) as err:
        Discrete(values, probs)
    assert field in str(err.value)


# ------------------------------------------------------------------ Censored
@pytest.mark.parametrize(("rate", "cap"), [(3.0, 5.0), (1.0, 0.5), (0.2, 2.0)])
def test_censored_exponential_closed_forms(rate, cap):
    law = censored_exponential(rate, cap)
    x = np.linspace(-1, cap + 1, 301)
    expected_sf = np.where(x < 0, 1.0, np.where(x < cap, np.exp(-rate * np.maximum(x, 0)), 0.0))
    np.testing.assert_allclose(law.sf(x), expected_sf, rtol=1e-13, atol=0)
    v, m = law.atoms()
    assert list(v) == [cap]
    assert m[0] == pytest.approx(math.exp(-rate * cap), rel=1e-13)
    # ppf = min(Y quantile, cap)
    np.testing.assert_allclose(law.ppf(U), np.minimum(-np.log1p(-U) / rate, cap), rtol=1e-14)
    # E[min(Y, c)] = (1 - exp(-rate c)) / rate  (Gauss-Legendre on [0, c]: exact to rounding)
    assert law.mean() == pytest.approx(-math.expm1(-rate * cap) / rate, rel=1e-13)
    assert law.support() == (0.0, cap)
    assert cap in law.kinks()


def test_censored_discrete_at_an_atom_lumps_the_tail():
    base = Discrete([1.0, 2.0, 3.0], [0.2, 0.3, 0.5])
    law = Censored(base, 2.0)
    v, m = law.atoms()
    np.testing.assert_array_equal(v, [1.0, 2.0])
    np.testing.assert_allclose(m, [0.2, 0.8], atol=1e-15, rtol=0)
    np.testing.assert_allclose(law.sf([0.5, 1.0, 1.5, 2.0, 9.0]), [1.0, 0.8, 0.8, 0.0, 0.0],
                               atol=1e-15, rtol=0)
    assert law.mean() == pytest.approx(0.2 * 1 + 0.8 * 2, abs=1e-13)


@pytest.mark.parametrize("cap", [0.0, -1.0, np.nan, np.inf])
def test_censored_bad_cap(cap):
    with pytest.raises(ModelError, match="cap"):
        Censored(Exponential(1.0), cap)


# ------------------------------------------------------------------ Mixture
def test_mixture_atom_plus_uniform():
    p0, width = 0.3, 10.0
    law = Mixture([Dirac(0.0), Uniform(0.0, width)], [p0, 1 - p0])
    x = np.linspace(-1, 11, 97)
    expected = np.where(x < 0, 1.0, (1 - p0) * np.clip(1 - x / width, 0, 1))
    np.testing.assert_allclose(law.sf(x), expected, atol=1e-15, rtol=0)
    v, m = law.atoms()
    assert list(v) == [0.0] and m[0] == pytest.approx(p0)
    # quantile: 0 on (0, p0], then the uniform part
    u = np.array([0.05, 0.2, 0.3, 0.31, 0.65, 0.99])
    expected_q = np.where(u <= p0, 0.0, (u - p0) / (1 - p0) * width)
    np.testing.assert_allclose(law.ppf(u), expected_q, atol=1e-12, rtol=0)
    assert law.ppf(0.2) == 0.0  # exactly the atom, not a bisection residue
    assert law.mean() == pytest.approx((1 - p0) * width / 2)
    assert law.support() == (0.0, width)


def test_mixture_merges_shared_atoms_and_quantile_inverts_cdf():
    law = Mixture([Discrete([0.0, 1.0], [0.5, 0.5]), Dirac(1.0), Exponential(2.0)], [0.2, 0.3, 0.5])
    v, m = law.atoms()
    np.testing.assert_array_equal(v, [0.0, 1.0])
    np.testing.assert_allclose(m, [0.1, 0.4], atol=1e-15, rtol=0)
    q = law.ppf(U)
    # left-continuous inverse: F(q) >= u and F(q - 1e-9) < u
    assert np.all(law.cdf(q) >= U - 1e-12)
    assert np.all(law.cdf(q - 1e-9) < U + 1e-12)
    assert law.mean() == pytest.approx(0.2 * 0.5 + 0.3 * 1.0 + 0.5 * 0.5, rel=1e-14)


@pytest.mark.parametrize(
    ("weights", "field"), [([0.5, 0.5, 0.0], "weights"), ([1.2, -0.2], "weights[1]"), ([0.5, 0.6], "weights")]
)
def test_mixture_bad_weights(weights, field):
    with pytest.raises(ModelError) as err:
        Mixture([Dirac(0.0), Dirac(1.0)], weights)
    assert field in str(err.value)


# ------------------------------------------------------------------ FromSurvival
def test_from_survival_triangular():
    # sf(x) = (1 - x/2)^2 on [0, 2]: density 1 - x/2, E[X] = int sf = 2/3
    law = FromSurvival(lambda x: (1 - x / 2) ** 2, 0.0, 2.0)
    x = np.linspace(-1, 3, 41)
    np.testing.assert_allclose(law.sf(x), np.where(x < 0, 1, np.clip(1 - x / 2, 0, 1) ** 2),
                               atol=1e-15, rtol=0)
    # F(q) = u  <=>  q = 2 (1 - sqrt(1 - u))
    np.testing.assert_allclose(law.ppf(U), 2 * (1 - np.sqrt(1 - U)), atol=1e-12, rtol=0)
    assert law.mean() == pytest.approx(2 / 3, rel=1e-13)


def test_from_survival_with_jump_and_kink():
    # P(X > x) = 0.5 on [0, 1), then 0: an atom of 0.5 at 0 and of 0.5 at 1 (declared as kinks)
    law = FromSurvival(lambda x: np.where(x < 1, 0.5, 0.0), 0.0, 1.0, kink_points=np.array([1.0]))
    assert law.mean() == pytest.approx(0.5, abs=1e-14)
    np.testing.assert_allclose(law.ppf(np.array([0.25, 0.75])), [0.0, 1.0], atol=1e-12, rtol=0)


def test_from_survival_increasing_is_refused():
    with pytest.raises(ModelError) as err:
        FromSurvival(lambda x: np.clip(0.2 + 0.3 * x, 0, 1) * (x < 2), 0.0, 2.0)
    assert "survival" in str(err.value) and "nonincreasing" in str(err.value)


def test_from_survival_hi_not_an_upper_bound_is_refused():
    with pytest.raises(ModelError) as err:
        FromSurvival(lambda x: np.exp(-x), 0.0, 5.0)
    assert str(err.value).startswith("hi") and "upper bound" in str(err.value)


@pytest.mark.parametrize(
    ("fn", "lo", "hi", "field"),
    [
        (lambda x: 1.5 - x, 0.0, 1.5, "survival"),  # values above 1
        (lambda x: np.full(3, 0.5), 0.0, 1.0, "survival"),  # not vectorised
        (lambda x: np.where(x < 1, np.nan, 0.0), 0.0, 1.0, "survival"),
        (lambda x: 1 - x, 1.0, 1.0, "hi"),
        (lambda x: 1 - x, 0.0, np.inf, "hi"),
    ],
)
def test_from_survival_bad_input(fn, lo, hi, field):
    with pytest.raises(ModelError) as err:
        FromSurvival(fn, lo, hi)
    assert field in str(err.value)


# ------------------------------------------------------------------ FromScipy / generic mean
def test_from_scipy_normal():
    law = FromScipy(stats.norm(1.0, 2.0))
    np.testing.assert_allclose(law.sf(GRID), stats.norm(1, 2).sf(GRID), rtol=1e-14)
    np.testing.assert_allclose(law.ppf(U), stats.norm(1, 2).ppf(U), rtol=1e-14)
    assert law.support() == (-np.inf, np.inf)
    assert law.mean() == 1.0


def test_generic_mean_of_unbounded_law_by_quadrature():
    class Lomax(Law):  # sf(x) = (1 + x)^-3, E[X] = 1/2; uses Law.mean's quantile quadrature
        def sf(self, x):
            return (1 + np.maximum(np.asarray(x, float), 0)) ** -3.0

        def ppf(self, u):
            return (1 - np.asarray(u, float)) ** (-1 / 3) - 1

        def support(self):
            return 0.0, np.inf

    assert Lomax().mean() == pytest.approx(0.5, rel=1e-7)
    assert Lomax().cdf(1.0) == pytest.approx(1 - 1 / 8)
