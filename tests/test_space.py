"""Finite probability spaces (riskopt.space): constructors against brute force and closed forms.

Oracles: enumeration of {0,1}^n for Poisson-binomial laws, the numbers of the spec's examples,
closed-form conditional means of the exponential law, sample statistics with tolerances derived from
the sample size for the Gaussian copula.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from riskopt import ModelError, RiskoptWarning, Scenarios
from riskopt.laws import Dirac, Discrete, Exponential, FromScipy, Mixture, Uniform, censored_exponential
from riskopt.space import nearest_correlation, poisson_binomial, validate_probabilities

FAST = settings(max_examples=40, deadline=None)
hit_probs = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=10)


def brute_force_total(p, steps):
    """P(sum_j steps_j 1{H_j} = k) by enumerating every hit pattern."""
    out = np.zeros(int(np.sum(steps)) + 1)
    for bits in itertools.product((0, 1), repeat=len(p)):
        prob = math.prod(pj if b else 1 - pj for pj, b in zip(p, bits, strict=True))
        out[sum(s * b for s, b in zip(steps, bits, strict=True))] += prob
    return out


# ------------------------------------------------------------------ validate_probabilities
@pytest.mark.parametrize(
    ("probs", "field", "allowed"),
    [
        ([0.5, np.nan, 0.5], "probs[1]", "finite"),
        ([0.5, np.inf], "probs[1]", "finite"),
        ([1.2, -0.2], "probs[1]", ">= 0"),
        ([0.5, 0.4], "probs", "summing to 1"),
        ([0.5, 0.5 + 1e-9], "probs", "summing to 1"),
        ([], "probs", "at least one"),
        (["a", "b"], "probs", "numbers"),
    ],
)
def test_validate_probabilities_errors(probs, field, allowed):
    with pytest.raises(ModelError) as err:
        validate_probabilities(probs)
    msg = str(err.value)
    assert msg.startswith(field) and allowed in msg


def test_validate_probabilities_accepts_rounding_and_names_custom_field():
    p = validate_probabilities([0.1] * 10)  # sums to 0.9999999999999999
    assert p.dtype == float and p.shape == (10,)
    with pytest.raises(ModelError, match=r"^weights\[0\]"):
        validate_probabilities([-1.0, 2.0], field="weights")


def test_validate_probabilities_normalise_warns_and_rescales():
    with pytest.warns(RiskoptWarning, match="normalised"):
        p = validate_probabilities([1.0, 3.0], normalise=True)
    np.testing.assert_allclose(p, [0.25, 0.75], rtol=1e-15)
    with pytest.raises(ModelError):  # nothing to rescale
        validate_probabilities([0.0, 0.0], normalise=True)


# ------------------------------------------------------------------ Scenarios basics
def test_scenarios_access_and_expectation():
    sp = Scenarios([0.2, 0.3, 0.5], {"X": [1.0, -2.0, 4.0], "Y": [[1, 2], [3, 4], [5, 6]]})
    assert sp.size == 3 and sp.names == ["X", "Y"] and "Y" in sp and "Z" not in sp
    assert sp.expect(sp.X) == pytest.approx(0.2 - 0.6 + 2.0)
    np.testing.assert_allclose(sp.expect(sp["Y"]), [0.2 + 0.9 + 2.5, 0.4 + 1.2 + 3.0])
    with pytest.raises(ValueError):  # probabilities and variables are read-only
        sp.p[0] = 1.0
    with pytest.raises(ValueError):
        sp.X[0] = 1.0
    sp2 = sp.with_variables(Z=[0.0, 1.0, 2.0])
    assert sp2.names == ["X", "Y", "Z"] and sp.names == ["X", "Y"]
    with pytest.raises(ModelError) as err:
        sp["Z"]
    assert str(err.value).startswith("variable")


@pytest.mark.parametrize(
    ("variables", "field"),
    [({"X": [1.0, 2.0, 3.0]}, "variables.X"), ({"L": 1.0}, "variables.L"),
     ({"X": [1.0, np.nan]}, "variables.X"), ({"X": ["a", "b"]}, "variables.X")],
)
def test_scenarios_bad_variables(variables, field):
    with pytest.raises(ModelError) as err:
        Scenarios([0.5, 0.5], variables)
    assert str(err.value).startswith(field)


def test_scenarios_normalise_flag():
    with pytest.warns(RiskoptWarning):
        sp = Scenarios([2.0, 2.0], {"X": [0.0, 1.0]}, normalise=True)
    np.testing.assert_array_equal(sp.p, [0.5, 0.5])
    with pytest.raises(ModelError, match="normalise=True"):
        Scenarios([2.0, 2.0], {"X": [0.0, 1.0]})


def test_equally_weighted_and_discrete():
    sp = Scenarios.equally_weighted([3.0, 1.0, 2.0, 5.0])
    np.testing.assert_array_equal(sp.p, np.full(4, 0.25))
    sp = Scenarios.equally_weighted({"X": np.zeros((5, 2)), "W": np.arange(5)})
    assert sp.size == 5 and sp["X"].shape == (5, 2)
    with pytest.raises(ModelError, match=r"^samples"):
        Scenarios.equally_weighted([])
    sp = Scenarios.discrete([1.0, 2.0], [0.25, 0.75], name="L")
    assert sp["L"].tolist() == [1.0, 2.0]
    with pytest.raises(ModelError, match=r"^values"):
        Scenarios.discrete([1.0, 2.0, 3.0], [0.25, 0.75])
    with pytest.raises(ModelError, match=r"^probs\[0\]"):
        Scenarios.discrete([1.0, 2.0], [-0.25, 1.25])
    with pytest.warns(RiskoptWarning):
        sp = Scenarios.discrete([1.0, 2.0], [1.0, 3.0], normalise=True)
    np.testing.assert_allclose(sp.p, [0.25, 0.75])


# ------------------------------------------------------------------ law_of / prune
@FAST
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=15), st.data())
def test_law_of_aggregates_states(xs, data):
    w = np.asarray(data.draw(st.lists(st.integers(0, 9), min_size=len(xs), max_size=len(xs))), float)
    w[0] += 1  # at least one positive weight
    p = w / w.sum()
    sp = Scenarios(p, {"X": np.asarray(xs, float)}, normalise=True)
    atoms, index = sp.law_of("X")
    distinct = sorted(set(xs))
    assert atoms.X.tolist() == distinct
    np.testing.assert_array_equal(atoms.X[index], sp.X)
    for value, prob in zip(atoms.X, atoms.p, strict=True):
        assert prob == pytest.approx(sp.p[np.equal(sp.X, value)].sum(), abs=1e-14)


def test_law_of_needs_a_one_dimensional_variable():
    sp = Scenarios.equally_weighted(np.zeros((3, 2)))
    with pytest.raises(ModelError, match=r"^variable"):
        sp.law_of("X")


def test_prune_records_mass_and_renormalises():
    sp = Scenarios([0.5, 0.3, 0.15, 0.05], {"X": [1.0, 2.0, 3.0, 4.0]})
    pr = sp.prune(0.1)
    assert pr.X.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(pr.p, np.array([0.5, 0.3, 0.15]) / 0.95, rtol=1e-15)
    assert pr.pruned_mass == pytest.approx(0.05, abs=1e-16)
    assert "pruned_mass" in repr(pr)
    pr2 = pr.prune(0.2)  # drops 0.15 / 0.95 of the pruned space: the masses add up
    assert pr2.pruned_mass == pytest.approx(0.05 + 0.15 / 0.95, abs=1e-15)
    assert pr2.law_of("X")[0].pruned_mass == pr2.pruned_mass
    assert pr2.with_variables(Y=[0.0, 0.0]).pruned_mass == pr2.pruned_mass
    kept = sp.prune(0.1, keep=np.array([False, False, False, True]))
    assert kept.X.tolist() == [1.0, 2.0, 3.0, 4.0] and kept.pruned_mass == 0.0
    assert sp.prune(0.0).pruned_mass == 0.0


@pytest.mark.parametrize("tol", [-0.1, 1.0, np.nan, 0.6])
def test_prune_bad_tolerance(tol):
    with pytest.raises(ModelError, match=r"^tol"):
        Scenarios([0.5, 0.3, 0.2], {"X": [1.0, 2.0, 3.0]}).prune(tol)


# ------------------------------------------------------------------ Poisson binomial / hits
@FAST
@given(hit_probs)
def test_poisson_binomial_against_enumeration(p):
    pi = poisson_binomial(np.asarray(p))
    np.testing.assert_allclose(pi, brute_force_total(p, [1] * len(p)), atol=1e-14, rtol=0)
    assert pi.sum() == pytest.approx(1.0, abs=1e-13)
    assert np.all(pi >= 0)


@FAST
@given(hit_probs, st.data())
def test_poisson_binomial_with_steps_against_enumeration(p, data):
    steps = data.draw(st.lists(st.integers(1, 4), min_size=len(p), max_size=len(p)))
    pi = poisson_binomial(np.asarray(p), np.asarray(steps))
    np.testing.assert_allclose(pi, brute_force_total(p, steps), atol=1e-14, rtol=0)


def test_poisson_binomial_is_stable_for_many_small_probabilities():
    p = np.full(400, 1e-3)  # binomial(400, 1e-3): compare with scipy in the far tail
    pi = poisson_binomial(p)
    np.testing.assert_allclose(pi[:30], stats.binom(400, 1e-3).pmf(np.arange(30)), rtol=1e-9)
    assert np.all(pi >= 0)


def test_bernoulli_hits_example_one():
    sp = Scenarios.bernoulli_hits([0.1, 0.1, 0.1], loss=2.0)
    np.testing.assert_allclose(sp.p, [0.729, 0.243, 0.027, 0.001], atol=1e-15, rtol=0)
    assert sp["N"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert sp.X.tolist() == [0.0, -2.0, -4.0, -6.0]  # ordered by hits: X decreasing


def test_bernoulli_hits_heterogeneous_losses_on_a_tick():
    p, losses, tick = [0.1, 0.5, 0.25], [1.0, 2.0, 3.5], 0.5
    sp = Scenarios.bernoulli_hits(p, losses, tick=tick)
    # enumerate the 8 hit patterns: law of the total loss
    law: dict[float, float] = {}
    for bits in itertools.product((0, 1), repeat=3):
        loss = sum(b * ell for b, ell in zip(bits, losses, strict=True))
        law[-loss] = law.get(-loss, 0.0) + math.prod(q if b else 1 - q for q, b in zip(p, bits, strict=True))
    assert sorted(sp.X.tolist(), reverse=True) == sp.X.tolist()  # X = 0 first
    assert sorted(sp.X.tolist()) == sorted(law)  # impossible totals are not states
    for x, prob in zip(sp.X, sp.p, strict=True):
        assert prob == pytest.approx(law[x], abs=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"p": [0.1, 1.2]}, "p[1]"),
        ({"p": [0.1, np.nan]}, "p[1]"),
        ({"p": []}, "p"),
        ({"p": [0.1, 0.2], "loss": 0.0}, "loss"),
        ({"p": [0.1, 0.2], "loss": [1.0, -1.0], "tick": 1.0}, "loss"),
        ({"p": [0.1, 0.2], "loss": [1.0, 2.0]}, "tick"),
        ({"p": [0.1, 0.2], "loss": [1.0, 2.0], "tick": 0.0}, "tick"),
        ({"p": [0.1, 0.2], "loss": [1.0, 2.5], "tick": 1.0}, "loss"),
    ],
)
def test_bernoulli_hits_bad_input(kwargs, field):
    with pytest.raises(ModelError) as err:
        Scenarios.bernoulli_hits(**kwargs)
    assert str(err.value).startswith(field)


def test_common_shock_numbers_from_the_spec():
    sp = Scenarios.common_shock_hits([0.25] * 3, [0.0625] * 3, 0.2)
    np.testing.assert_allclose(sp.p, [0.7435546875, 0.2162109375, 0.0369140625, 0.0033203125],
                               rtol=0, atol=1e-15)
    assert sp["N"].tolist() == [0, 1, 2, 3] and sp.X.tolist() == [0, -1, -2, -3]


@FAST
@given(hit_probs, st.floats(0.0, 1.0))
def test_common_shock_is_the_mixture(p_storm, s):
    p_calm = [q / 3 for q in p_storm]
    sp = Scenarios.common_shock_hits(p_storm, p_calm, s, loss=1.5)
    expected = s * brute_force_total(p_storm, [1] * len(p_storm)) + (1 - s) * brute_force_total(
        p_calm, [1] * len(p_calm))
    np.testing.assert_allclose(sp.p, expected, atol=1e-14, rtol=0)
    np.testing.assert_allclose(sp.X, -1.5 * np.arange(len(p_storm) + 1))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (([0.1, 0.2], [0.1], 0.5), "p_calm"),
        (([0.1, 0.2], [0.1, 0.2], 1.5), "storm_prob"),
        (([0.1, 0.2], [0.1, 0.2], np.nan), "storm_prob"),
        (([0.1, 2.0], [0.1, 0.2], 0.5), "p_storm[1]"),
        (([0.1, 0.2], [-0.1, 0.2], 0.5), "p_calm[0]"),
    ],
)
def test_common_shock_bad_input(args, field):
    with pytest.raises(ModelError) as err:
        Scenarios.common_shock_hits(*args)
    assert str(err.value).startswith(field)
    with pytest.raises(ModelError, match=r"^loss"):
        Scenarios.common_shock_hits([0.1], [0.1], 0.5, loss=-1.0)


@FAST
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
def test_bernoulli_atoms_aggregate_to_bernoulli_hits(p):
    atoms = Scenarios.bernoulli_atoms(p, loss=2.0)
    n = len(p)
    assert atoms.size == 2**n and atoms["hits"].shape == (2**n, n)
    # state s has farmer j hit iff bit j of s is set, with the product probability
    s = 5 % 2**n
    bits = [(s >> j) & 1 for j in range(n)]
    assert atoms["hits"][s].tolist() == bits
    assert atoms.p[s] == pytest.approx(math.prod(q if b else 1 - q for q, b in zip(p, bits, strict=True)),
                                       abs=1e-15)
    np.testing.assert_allclose(atoms["endowments"].sum(axis=1), atoms.X)
    law, _ = atoms.law_of("X")  # ascending X = decreasing number of hits
    hits = Scenarios.bernoulli_hits(p, loss=2.0)
    # both keep impossible totals (some p_j = 0 or 1) as zero-probability states
    np.testing.assert_array_equal(law.X, hits.X[::-1])
    np.testing.assert_allclose(law.p, hits.p[::-1], atol=1e-14, rtol=0)


def test_bernoulli_atoms_heterogeneous_losses_match_the_tick_recursion():
    p, losses = [0.3, 0.6, 0.2, 0.5], [1.0, 1.5, 0.5, 2.0]
    law, _ = Scenarios.bernoulli_atoms(p, losses).law_of("X")
    hits = Scenarios.bernoulli_hits(p, losses, tick=0.5)
    np.testing.assert_allclose(law.X, hits.X[::-1])
    np.testing.assert_allclose(law.p, hits.p[::-1], atol=1e-15, rtol=0)


def test_bernoulli_atoms_refuses_large_pools():
    with pytest.raises(ModelError, match=r"^p "):
        Scenarios.bernoulli_atoms([0.1] * 21)
    with pytest.raises(ModelError, match=r"^loss"):
        Scenarios.bernoulli_atoms([0.1, 0.2], loss=[1.0, np.inf])


# ------------------------------------------------------------------ from_law
def exponential_bin_means(rate, lo, hi):
    """E[X | U in [lo, hi]] for X = -log(1 - U)/rate: int -log(1-u) du = (1-u) log(1-u) + u."""

    def anti(u):
        return np.where(u < 1, (1 - u) * np.log(np.where(u < 1, 1 - u, 1.0)), 0.0) + u

    return (anti(hi) - anti(lo)) / (hi - lo) / rate


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1000])
def test_from_law_exponential_bin_means_closed_form(n):
    rate = 2.0
    sp = Scenarios.from_law(Exponential(rate), n, method="mean")
    u = np.linspace(0, 1, n + 1)
    np.testing.assert_allclose(sp.p, np.full(n, 1 / n), rtol=1e-12)
    # the closed form differences anti(hi) - anti(lo) of numbers near 1: absolute error ~1e-16 / (1/n)
    np.testing.assert_allclose(sp.X, exponential_bin_means(rate, u[:-1], u[1:]), rtol=1e-12, atol=1e-13)
    assert sp.expect(sp.X) == pytest.approx(1 / rate, rel=1e-13)


@pytest.mark.parametrize("n", [1, 3, 10, 100, 1000, 10000])
def test_from_law_censored_exponential_atom_and_mean(n):
    """Rate 3, cap 5: an atom at 5 of mass exp(-15) ~ 3.06e-7, E[X] = (1 - exp(-15))/3."""
    sp = Scenarios.from_law(censored_exponential(3.0, 5.0), n, method="mean")
    assert sp.X[-1] == 5.0
    assert sp.p[-1] == pytest.approx(math.exp(-15.0), rel=1e-13)
    assert np.count_nonzero(sp.X == 5.0) == 1
    assert sp.p.sum() == pytest.approx(1.0, abs=1e-14)
    assert sp.expect(sp.X) == pytest.approx(-math.expm1(-15.0) / 3.0, abs=1e-12)
    assert np.all(np.diff(sp.X) > 0)


def test_from_law_midpoint_is_the_quantile_at_bin_midpoints():
    n = 50
    sp = Scenarios.from_law(Exponential(0.5), n)
    np.testing.assert_allclose(sp.X, -np.log1p(-(np.arange(n) + 0.5) / n) / 0.5, rtol=1e-14)
    sp = Scenarios.from_law(censored_exponential(3.0, 5.0), 10, method="midpoint")
    assert sp.X[-1] == 5.0 and sp.p[-1] == pytest.approx(math.exp(-15.0), rel=1e-13)


@pytest.mark.parametrize(
    ("law", "mean", "tol"),
    [
        (Uniform(-1.0, 3.0), 1.0, 1e-13),
        (FromScipy(stats.norm(1.0, 2.0)), 1.0, 1e-13),
        # Pareto tail (1-u)^(-1/3): not polynomial in s = -log(1-u), the Laguerre rule is ~1e-11
        (FromScipy(stats.lomax(3.0)), 0.5, 1e-10),
        (Mixture([Dirac(0.0), Exponential(1.0)], [0.3, 0.7]), 0.7, 1e-13),
        # quantile by bisection (stops at relative 1e-15) on an unbounded support
        (Mixture([Exponential(1.0), Exponential(2.0)], [0.5, 0.5]), 0.75, 1e-10),
        (Discrete([1.0, 2.0, 5.0], [0.2, 0.3, 0.5]), 3.3, 1e-13),
    ],
)
@pytest.mark.parametrize("n", [1, 2, 10, 200])
def test_from_law_mean_preserves_expectation(law, mean, tol, n):
    sp = Scenarios.from_law(law, n, method="mean")
    assert sp.expect(sp.X) == pytest.approx(mean, abs=tol)
    assert sp.p.sum() == pytest.approx(1.0, abs=1e-14)


def test_from_law_atom_is_one_state_with_exact_mass():
    law = Mixture([Dirac(0.0), Uniform(0.0, 10.0)], [0.3, 0.7])
    for method in ("midpoint", "mean"):
        sp = Scenarios.from_law(law, 10, method=method)
        assert sp.X[0] == 0.0 and sp.p[0] == pytest.approx(0.3, abs=1e-15)
        assert np.count_nonzero(sp.X == 0.0) == 1
        np.testing.assert_allclose(sp.p[1:], np.full(7, 0.1), atol=1e-15, rtol=0)


@pytest.mark.parametrize("n", [1, 4, 9])
def test_from_law_reproduces_a_finite_law(n):
    law = Discrete([-1.0, 0.5, 2.0, 3.0], [0.1, 0.45, 0.05, 0.4])
    for method in ("midpoint", "mean"):
        atoms, _ = Scenarios.from_law(law, n, method=method).law_of("X")
        np.testing.assert_allclose(atoms.X, law.X, atol=1e-14, rtol=0)
        np.testing.assert_allclose(atoms.p, law.p, atol=1e-14, rtol=0)


@pytest.mark.parametrize(
    ("n", "method", "field"), [(0, "mean", "n"), (2.5, "mean", "n"), (10, "median", "method")])
def test_from_law_bad_arguments(n, method, field):
    with pytest.raises(ModelError) as err:
        Scenarios.from_law(Exponential(1.0), n, method=method)
    assert str(err.value).startswith(field)


# ------------------------------------------------------------------ Gaussian copula
CORR = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]])


def test_gaussian_copula_uniform_marginals_and_correlation():
    n = 20000
    sp = Scenarios.gaussian_copula([Uniform(0, 1)] * 3, CORR, n, seed=7)
    u = sp.X
    assert u.shape == (n, 3) and np.all((u > 0) & (u < 1))
    # Kolmogorov-Smirnov: 1.95 / sqrt(n) is the 0.1% critical value of the statistic
    for i in range(3):
        assert stats.kstest(u[:, i], "uniform").statistic < 1.95 / math.sqrt(n)
    # normal scores: sample correlation has standard error (1 - rho^2)/sqrt(n) <= 0.0071; 5 s.e.
    z = stats.norm.ppf(u)
    np.testing.assert_allclose(np.corrcoef(z, rowvar=False), CORR, atol=5 / math.sqrt(n), rtol=0)


def test_gaussian_copula_reproducible_and_marginals_applied():
    a = Scenarios.gaussian_copula([Exponential(1.0), Uniform(-1, 1)], [[1, 0.5], [0.5, 1]], 100, seed=3)
    b = Scenarios.gaussian_copula([Exponential(1.0), Uniform(-1, 1)], [[1, 0.5], [0.5, 1]], 100, seed=3)
    c = Scenarios.gaussian_copula([Exponential(1.0), Uniform(-1, 1)], [[1, 0.5], [0.5, 1]], 100, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert np.all(a.X[:, 0] >= 0) and np.all(np.abs(a.X[:, 1]) <= 1)
    # a vectorised callable receives the uniforms
    d = Scenarios.gaussian_copula(lambda u: 2 * u, [[1, 0.5], [0.5, 1]], 100, seed=3, name="V")
    u = stats.uniform.cdf((a.X[:, 1] + 1) / 2)
    np.testing.assert_allclose(d["V"][:, 1], 2 * u, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(d.p, np.full(100, 0.01))


NOT_PSD = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])


def test_gaussian_copula_repairs_a_non_psd_matrix_with_a_warning():
    assert np.linalg.eigvalsh(NOT_PSD).min() < 0
    with pytest.warns(RiskoptWarning, match="positive semidefinite"):
        sp = Scenarios.gaussian_copula([Uniform(0, 1)] * 3, NOT_PSD, 20000, seed=1)
    repaired, _ = nearest_correlation(NOT_PSD)
    z = stats.norm.ppf(sp.X)
    np.testing.assert_allclose(np.corrcoef(z, rowvar=False), repaired, atol=5 / math.sqrt(20000), rtol=0)


def test_gaussian_copula_refuses_non_psd_with_raise():
    with pytest.raises(ModelError) as err:
        Scenarios.gaussian_copula([Uniform(0, 1)] * 3, NOT_PSD, 10, psd="raise")
    assert str(err.value).startswith("corr") and "semidefinite" in str(err.value)


def test_gaussian_copula_perfect_correlation_is_psd():
    """A singular PSD matrix (rho = 1) has no Cholesky factor but is a valid correlation."""
    sp = Scenarios.gaussian_copula([Uniform(0, 1)] * 2, [[1, 1], [1, 1]], 50, seed=2, psd="raise")
    np.testing.assert_allclose(sp.X[:, 0], sp.X[:, 1], rtol=1e-12)
    sp = Scenarios.gaussian_copula([Uniform(0, 1)] * 2, [[1, -1], [-1, 1]], 50, seed=2, psd="raise")
    np.testing.assert_allclose(sp.X[:, 0], 1 - sp.X[:, 1], atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    ("corr", "kwargs", "field"),
    [
        ([[1, 0.5], [0.4, 1]], {}, "corr"),
        ([[2, 0.5], [0.5, 1]], {}, "corr"),
        ([1, 0.5], {}, "corr"),
        ([[1, np.nan], [np.nan, 1]], {}, "corr"),
        ([[1, 0.5], [0.5, 1]], {"psd": "clip"}, "psd"),
        ([[1, 0.5], [0.5, 1]], {"n": 0}, "n"),
    ],
)
def test_gaussian_copula_bad_input(corr, kwargs, field):
    args = {"n": 10, **kwargs}
    with pytest.raises(ModelError) as err:
        Scenarios.gaussian_copula([Uniform(0, 1)] * 2, corr, **args)
    assert str(err.value).startswith(field)


def test_gaussian_copula_marginals_count():
    with pytest.raises(ModelError, match=r"^marginals"):
        Scenarios.gaussian_copula([Uniform(0, 1)] * 2, CORR, 10)


def test_nearest_correlation():
    fixed, min_eig = nearest_correlation(NOT_PSD)
    assert min_eig == pytest.approx(np.linalg.eigvalsh(NOT_PSD).min(), abs=1e-14)
    np.testing.assert_allclose(np.diag(fixed), 1.0, atol=1e-14, rtol=0)
    np.testing.assert_allclose(fixed, fixed.T, atol=1e-15, rtol=0)
    assert np.linalg.eigvalsh(fixed).min() > -1e-12
    np.linalg.cholesky(fixed + 1e-9 * np.eye(3))
    # a valid correlation matrix is left alone
    same, eig = nearest_correlation(CORR)
    np.testing.assert_allclose(same, CORR, atol=1e-12, rtol=0)
    assert eig > 0
