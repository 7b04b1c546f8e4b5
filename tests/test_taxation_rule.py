"""The Pareto-optimal rule for given weights: KKT layers, s(u) and Lambda(s), exact moments, Jacobian
and potential; the families (exponential, power, any utility) agree with each other."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad_vec

from riskopt import ModelError
from riskopt.measures import ExpectedUtility
from riskopt.measures.utility import CARA, CRRA
from riskopt.mechanisms.taxation import (
    ExponentialFamily,
    ExponentialPayments,
    PowerFamily,
    PowerPayments,
    StackedFamily,
    UniformAtomLaw,
    UtilityFamily,
    UtilityPayments,
    layers,
    moments,
    nodes,
    payment_disutility,
    residual_law,
    taxation_family,
)


def _families(seed: int, n: int):
    rng = np.random.default_rng(seed)
    caps = rng.uniform(0.5, 3.0, n)
    exp = ExponentialFamily(rng.uniform(0.3, 3, n), rng.uniform(-1, 1, n), caps)
    power = PowerFamily(rng.uniform(0.2, 2.0), caps + rng.uniform(0.2, 2, n), rng.normal(0, 0.5, n), caps)
    util = UtilityFamily([CRRA(rng.uniform(0.3, 3), rng.uniform(0.5, 2)) if i % 2
                          else CARA(rng.uniform(0.3, 2)) for i in range(n)], caps)
    return {"exponential": exp, "power": power, "utility": util}, rng


def _kkt_violation(fam, a, s, T, lam):
    """max violation of alpha_i v_i'(T_i) = Lambda (interior), >= at 0, <= at the cap (log form)."""
    u = np.log(lam)[None, :]
    g = fam.phi(T) + a[:, None] - u  # phi_i(T_i) + a_i - ln Lambda
    c = fam.caps[:, None]
    tol = 1e-9
    interior = (tol < T) & (c - tol > T)
    at0 = tol >= T
    atc = c - tol <= T
    viol = np.zeros_like(T)
    viol[interior] = np.abs(g[interior])
    viol[at0] = np.maximum(-g[at0], 0)
    viol[atc] = np.maximum(g[atc], 0)
    return float(viol.max())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 7),
       kind=st.sampled_from(["exponential", "power", "utility"]))
def test_rule_properties(seed, n, kind):
    """Budget, indemnity, limited liability, comonotonicity (every T_i nondecreasing in s) and the
    KKT conditions of spec §7 at every s; s(Lambda(s)) = s."""
    fams, rng = _families(seed, n)
    fam = fams[kind]
    a = rng.normal(0, 1.5, n)
    rule = layers(fam, a)
    s = np.sort(np.concatenate([np.linspace(0, fam.caps.sum(), 60), rule.s]))
    T = rule.taxes(s)
    assert np.allclose(T.sum(axis=0), s, atol=1e-9 * (1 + s.max()), rtol=0)
    assert T.min() >= 0 and np.all(fam.caps[:, None] + 1e-12 >= T)
    assert np.all(np.diff(T, axis=1) >= -1e-9)
    pos = s > 1e-9
    assert _kkt_violation(fam, a, s[pos], T[:, pos], rule.lam(s[pos])) < 1e-7
    # Lambda is the inverse of s(lambda): the taxes at the level Lambda(s) add up to s
    back = fam.taxes(rule.log_lambda(s[pos]), a).sum(axis=0)
    assert np.allclose(back, s[pos], atol=1e-8 * (1 + s.max()), rtol=0)


def test_layer_starts_and_caps():
    """C_i = s(lambda_i) is where region i starts paying; cap_start where it reaches c_i; the order
    of entry follows lambda_i = alpha_i v_i'(0)."""
    fam = ExponentialFamily([1.0, 2.0, 0.5], [0.0, 0.5, 0.2], [2.0, 3.0, 1.0])
    a = np.array([0.3, -0.2, 1.1])
    rule = layers(fam, a)
    C, D = rule.layer_start, rule.cap_start
    order = np.argsort(rule.entry_lambda)
    assert np.all(np.diff(C[order]) >= 0)
    for i in range(3):
        lo, hi = rule.taxes([max(C[i] - 1e-7, 0), C[i] + 1e-7])[i]
        assert lo == 0.0 and hi > 0
        below, above = rule.taxes([D[i] - 1e-7, D[i] + 1e-7])[i]
        assert below < fam.caps[i] and above == pytest.approx(fam.caps[i], abs=1e-15)
    # active(): region i is interior on segment j, i.e. 0 < T_i < c_i at the segment's midpoint
    mids = 0.5 * (rule.s[:-1] + rule.s[1:])
    Tm = rule.taxes(mids)
    wide = np.diff(rule.s) > 1e-9
    inside = (Tm > 1e-12) & (Tm < fam.caps[:, None] - 1e-12)
    assert np.array_equal(rule.active()[:, wide], inside[:, wide])
    curve = rule.curve(50)
    assert np.all(np.diff(curve["s"]) >= -1e-12) and curve["s"][-1] == pytest.approx(6.0)


@pytest.mark.parametrize("kind", ["exponential", "power", "utility"])
@pytest.mark.parametrize("law_kind", ["atoms", "uniform"])
def test_moments_exact_against_direct(kind, law_kind):
    """Segment moments = direct evaluation of the rule (atoms; fine quadrature for the uniform law);
    the Jacobian = finite differences of E[T]; grad of E[g] = E[T] (envelope theorem)."""
    fams, rng = _families(3, 5)
    fam = fams[kind]
    a = rng.normal(0, 0.7, 5)
    total = fam.caps.sum()
    rule = layers(fam, a)
    if law_kind == "atoms":
        law = residual_law(np.where(rng.random(400) < 0.3, 0.0, rng.uniform(0, total, 400)))
        direct = rule.taxes(nodes(law)[0]) @ nodes(law)[1]
    else:
        law = UniformAtomLaw(0.25, total)
        direct = 0.75 / total * quad_vec(lambda s: rule.taxes([s])[:, 0], 0.0, total, points=rule.s,
                                         epsabs=1e-13, epsrel=1e-13)[0]
    mom = moments(rule, law, jacobian=True, value=True)
    tol = 1e-12 if law_kind == "atoms" else 1e-10
    assert np.allclose(mom.expected_tax, direct, atol=tol, rtol=0)
    h = 1e-6
    fd = np.empty((5, 5))
    gd = np.empty(5)
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        up, dn = moments(layers(fam, a + e), law, value=True), moments(layers(fam, a - e), law, value=True)
        fd[:, j] = (up.expected_tax - dn.expected_tax) / (2 * h)
        gd[j] = (up.expected_value - dn.expected_value) / (2 * h)
    assert np.allclose(mom.jacobian, fd, atol=1e-6, rtol=0)
    assert np.allclose(mom.jacobian, mom.jacobian.T, atol=1e-12, rtol=0)
    assert np.all(np.linalg.eigvalsh(mom.jacobian) <= 1e-10)  # dE[T]/da is negative semidefinite
    assert np.allclose(mom.jacobian.sum(axis=1), 0.0, atol=1e-10, rtol=0)  # a -> a + t 1 leaves T unchanged
    assert np.allclose(gd, mom.expected_tax, atol=1e-6, rtol=0)


def test_exact_families_equal_generic_utility_family():
    """CARA and CRRA utilities through the exact families and through the generic (bisection) one
    give the same rule; their phi are ln u'(c - t)."""
    caps = np.array([1.5, 2.0, 2.5])
    us = [CARA(0.7), CARA(1.3), CARA(2.0)]
    exact = taxation_family([UtilityPayments(u) for u in us], 0.0, caps)
    generic = UtilityFamily(us, caps)
    assert isinstance(exact, ExponentialFamily)
    t = np.array([0.3, 1.0, 2.0])
    assert np.allclose(exact.phi(t), generic.phi(t), atol=1e-13, rtol=0)
    a = np.array([0.1, -0.4, 0.3])
    s = np.linspace(0, caps.sum(), 31)
    assert np.allclose(layers(exact, a).taxes(s), layers(generic, a).taxes(s), atol=1e-10, rtol=0)
    cr = [CRRA(0.5, 1.0), CRRA(0.5, 2.0), CRRA(0.5, 0.5)]
    exact = taxation_family([UtilityPayments(u) for u in cr], 0.0, caps)
    assert isinstance(exact, PowerFamily)
    assert np.allclose(layers(exact, a).taxes(s), layers(UtilityFamily(cr, caps), a).taxes(s),
                       atol=1e-10, rtol=0)
    # the disutility of the tax is -u(c - t): the riskopt expected-utility measure agrees
    v = exact.value(np.tile(t[:, None], (1, 1)))[:, 0]
    for i, u in enumerate(cr):
        eu = ExpectedUtility(u, wealth=caps[i])
        assert -eu.value(np.array([-t[i]]), np.array([1.0])) + u(caps[i]) == pytest.approx(v[i], abs=1e-13)


def test_stacked_family_mixes_kinds():
    """Regions of different kinds: exponential and power, one rule through the stacked family."""
    caps = np.array([1.0, 2.0, 1.5, 3.0])
    ds = [ExponentialPayments(1.0), PowerPayments(0.5, 1.0), ExponentialPayments(2.0),
          PowerPayments(0.5, 2.0)]
    fam = taxation_family(ds, np.zeros(4), caps)
    assert isinstance(fam, StackedFamily)
    a = np.array([0.0, 0.5, -0.3, 0.2])
    rule = layers(fam, a)
    s = np.linspace(0, caps.sum(), 50)
    T = rule.taxes(s)
    assert np.allclose(T.sum(axis=0), s, atol=1e-9, rtol=0)
    assert _kkt_violation(fam, a, s[1:], T[:, 1:], rule.lam(s[1:])) < 1e-7


def test_power_family_matches_utility_of_final_wealth():
    """u(x) = (b + x)^p: v(t) = (b + c)^p - (b + c - t)^p, v'(t) = p (b + c - t)^(p - 1)."""
    fam = taxation_family([PowerPayments(0.4, 1.5)], np.zeros(1), [2.0])
    t = np.array([[0.0, 0.7, 1.9]])
    assert np.allclose(fam.value(t), 3.5 ** 0.4 - (3.5 - t) ** 0.4, atol=1e-14, rtol=0)
    assert np.allclose(np.exp(fam.phi(t)), 0.4 * (3.5 - t) ** (-0.6), atol=1e-14, rtol=0)
    h = 1e-6
    assert np.allclose((fam.psi(t + h) - fam.psi(t - h)) / (2 * h), fam.phi(t), atol=1e-7, rtol=0)


def test_bad_disutility_parameters():
    with pytest.raises(ModelError, match="tolerance"):
        ExponentialPayments(0.0)
    with pytest.raises(ModelError, match="tolerance"):
        payment_disutility("exponential", tolerance=-1.0)
    with pytest.raises(ModelError, match=r"p = 1\.5.*\(0, 1\)"):
        PowerPayments(1.5, 1.0)
    with pytest.raises(ModelError, match="p = 0"):
        PowerPayments(0.0, 1.0)
    with pytest.raises(ModelError, match="gamma"):
        payment_disutility("cara", gamma=0.0)
    with pytest.raises(ModelError, match="shift"):
        taxation_family([UtilityPayments("crra", eta=0.5, shift=0.0)], 0.0, [1.0]).phi(np.array([1.0]))
    with pytest.raises(ModelError, match="caps"):
        ExponentialFamily([1.0], [0.0], [0.0])
    with pytest.raises(ModelError, match="utility"):
        payment_disutility("nonsense")


def test_a_finite_law_is_a_scenarios():
    """The finite law of S_eps is a riskopt Scenarios (the law of its X): residual_law keeps the
    positive atoms' probabilities exactly, the zero atom takes the rest; any Scenarios works with the
    mechanism's functions (nodes, excess, truncated_mean, binned), and they agree with the Law's own."""
    from riskopt.laws import Discrete
    from riskopt.mechanisms.taxation import binned, excess, p_zero, residual_law, truncated_mean
    from riskopt.space import Scenarios

    values = np.array([0.0, 2.5, 0.0, 1.0, 4.0, 1.0])
    probs = np.array([0.1, 0.2, 0.15, 0.25, 0.1, 0.2])
    law = residual_law(values, probs)
    assert isinstance(law, Scenarios)
    x, w = nodes(law)
    assert x.tolist() == [1.0, 1.0, 2.5, 4.0] and w.tolist() == [0.25, 0.2, 0.2, 0.1]
    assert p_zero(law) == pytest.approx(0.25, abs=1e-15) and law.mean() == pytest.approx(x @ w, rel=1e-15)
    same = Discrete(values, probs)  # any finite law of the library
    t = np.array([-1.0, 0.0, 0.5, 1.0, 3.0, 5.0])
    assert np.allclose(excess(same, t), excess(law, t), rtol=0, atol=1e-15)
    assert np.allclose(truncated_mean(law, t[1:]), [np.minimum(values, c) @ probs for c in t[1:]], atol=1e-15)
    assert np.allclose(law.sf(t), same.sf(t), atol=1e-15)
    b = binned(law, 2)
    assert isinstance(b, Scenarios) and b.mean() == pytest.approx(law.mean(), rel=1e-14)
    with pytest.raises(ModelError, match=r"S_eps\[1\] = -1"):
        residual_law([0.0, -1.0])
    with pytest.raises(ModelError, match="probs"):
        residual_law([1.0, 2.0], [0.5, 0.6])
