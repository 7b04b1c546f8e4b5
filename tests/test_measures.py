"""Preference functionals (riskopt.measures): values against independent computations.

Oracles written here, independent of the package's sorted-sum implementation:

* the layer formula ``rho_h(L) = int_0^inf h(P(L > x)) dx - int_-inf^0 (h(1) - h(P(L > x))) dx``
  evaluated exactly on the step function ``x -> P(L > x)`` (and ``c({L > x})`` for a capacity);
* VaR from its definition ``inf{x : P(L > x) <= alpha}`` in exact rational arithmetic;
* ES as the Rockafellar-Uryasev minimum over the atoms, and as the mean of the worst k samples;
* closed forms for the exponential law, scipy's normal CDF for the Wang transform, ``aggregate``'s
  ``Distortion`` when installed, high-precision ``decimal`` arithmetic for the entropic value;
* the optimal value of each measure's cvxpy form (solved with CLARABEL) must equal ``value``.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal, getcontext
from fractions import Fraction

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from riskopt import ModelError, Scenarios
from riskopt.laws import Exponential
from riskopt.measures import (
    CARA,
    CRRA,
    ES,
    Capacity,
    Choquet,
    Distortion,
    Entropic,
    Expectation,
    ExpectedUtility,
    MaxMin,
    VaR,
    create,
    distortion_function,
    registry,
)
from riskopt.measures.distortion import (
    DualPower,
    ESDistortion,
    MixtureDistortion,
    PiecewiseLinear,
    Power,
    ProportionalHazard,
    VaRDistortion,
    Wang,
)

FAST = settings(max_examples=40, deadline=None)
FORM_TOL = 1e-7  # interior-point optimum vs exact value (CLARABEL default tolerances are ~1e-8)


# =========================================================================== oracles and helpers
def layer_formula(values: np.ndarray, event_value, top: float) -> float:
    """``int_0^inf g({L > x}) dx - int_-inf^0 (top - g({L > x})) dx`` for a finite ``L``.

    ``event_value(mask)`` is ``g`` of the event ``{L > x}`` given as a boolean mask over the states;
    ``top = g(Omega)``. ``x -> {L > x}`` is constant on ``[z_i, z_{i+1})`` between distinct values.
    """
    z = np.unique(values)
    total = top * max(z[0], 0.0)  # x < z_0: the event is Omega
    for a, b in itertools.pairwise(z):
        level = event_value(values > a)
        pos = max(b, 0.0) - max(a, 0.0)
        neg = min(b, 0.0) - min(a, 0.0)
        total += level * pos - (top - level) * neg
    return total - top * max(-z[-1], 0.0)  # x >= z_m: the empty event


def brute_distortion(h, x, weights) -> float:
    """Layer formula with ``P(L > z)`` computed exactly from integer ``weights`` (then rounded once):
    a float sum such as 1/6 + 2/3 + 1/6 = 1 - 1e-16 would cost 1e-8 through ``h(t) = 1 - sqrt(1 - t)``."""
    x = np.asarray(x, float)
    total = sum(weights)

    def prob(mask):
        return float(Fraction(sum(w for w, m in zip(weights, mask, strict=True) if m), total))

    return layer_formula(x, lambda mask: float(h(np.array(prob(mask)))), float(h(np.array(1.0))))


def brute_var(x, weights, alpha: Fraction) -> float:
    """``inf{z : P(L > z) <= alpha}`` with exact rational probabilities ``weights / sum``."""
    total = sum(weights)
    support = sorted({float(v) for v, w in zip(x, weights, strict=True) if w > 0})
    for z in support:
        tail = Fraction(sum(w for v, w in zip(x, weights, strict=True) if v > z), total)
        if tail <= alpha:
            return z
    raise AssertionError("unreachable: P(L > max L) = 0")


def brute_es(x, p, alpha: float) -> float:
    """Rockafellar-Uryasev: min over t of t + E[(L - t)^+] / alpha, attained at an atom."""
    x, p = np.asarray(x, float), np.asarray(p, float)
    return min(t + p @ np.maximum(x - t, 0.0) / alpha for t in x[p > 0])


def form_value(measure, x, space, **solver_opts) -> float:
    """Optimal value of the measure's cvxpy form with the argument fixed to ``x``."""
    x = np.asarray(x, float)
    v = cp.Variable(x.size)
    f = measure.form(v, space)
    cons = [v == x] + [c for g in f.constraints.values() for c in g.values()]
    sense = cp.Minimize if measure.orientation == "risk" else cp.Maximize
    prob = cp.Problem(sense(cp.sum(f.expr)), cons)
    prob.solve(solver="CLARABEL", **solver_opts)
    assert prob.status == "optimal", prob.status
    return float(prob.value)


@st.composite
def weighted_laws(draw, min_states: int = 1, max_states: int = 8, zeros: bool = True):
    """(x, p, weights): values with ties, probabilities from integer weights (zeros allowed)."""
    k = draw(st.integers(min_states, max_states))
    x = np.asarray(draw(st.lists(st.integers(-12, 12), min_size=k, max_size=k)), float) / 4
    w = draw(st.lists(st.integers(0 if zeros else 1, 6), min_size=k, max_size=k))
    if sum(w) == 0:
        w[0] = 1
    return x, np.asarray(w, float) / sum(w), w


def library():
    """Distortion functions covering the library: concave, convex, S-shaped, jumps, VaR."""
    return {
        "es": ESDistortion(0.3),
        "var": VaRDistortion(0.2371),
        "power_concave": Power(0.5),
        "power_convex": Power(2.0),
        "dual_power_concave": DualPower(2.0),
        "dual_power_convex": DualPower(0.5),
        "wang": Wang(0.7),
        "wang_negative": Wang(-0.4),
        "ph": ProportionalHazard(3.0),
        "pl_jump": PiecewiseLinear([0, 0, 0.2, 1], [0, 0.25, 0.75, 1]),
        "pl_s_shaped": PiecewiseLinear([0, 0.3, 0.6, 1], [0, 0.1, 0.8, 1]),
        "mixture": MixtureDistortion([ESDistortion(0.1), Wang(0.3), PiecewiseLinear([0, 0, 1], [0, 0.5, 1])],
                                     [0.5, 0.3, 0.2]),
    }


LIB = library()


# =========================================================================== Expectation
def test_expectation_value_law_gradient_form():
    x = np.array([1.0, -2.0, 4.0])
    p = np.array([0.2, 0.3, 0.5])
    m = Expectation()
    assert m.value(x, p) == pytest.approx(0.2 - 0.6 + 2.0)
    assert m.utility(x, p) == m.value(x, p) == m.risk(x, p)
    q = np.array([0.5, 0.5, 0.0])
    mq = Expectation(law=q)
    assert mq.value(x, p) == pytest.approx(-0.5)
    assert not mq.law_invariant and m.law_invariant
    np.testing.assert_array_equal(mq.gradient(x, p), q)
    np.testing.assert_array_equal(m.monotone_weights(p), p)
    assert form_value(mq, x, Scenarios.discrete(x, p)) == pytest.approx(-0.5, abs=FORM_TOL)
    with pytest.raises(ModelError, match=r"^law"):
        Expectation(law=[0.5, 0.5]).value(x, p)  # one probability per state


# =========================================================================== Entropic
def entropic_direct(x, p, gamma):
    return -np.log(np.sum(p * np.exp(-gamma * np.asarray(x)))) / gamma


def entropic_decimal(x, p, gamma) -> float:
    """-(1/gamma) log E[exp(-gamma x)] in 50-digit decimal arithmetic (no overflow)."""
    getcontext().prec = 50
    g = Decimal(repr(gamma))
    s = sum(Decimal(repr(float(pi))) * (-g * Decimal(repr(float(xi)))).exp()
            for xi, pi in zip(x, p, strict=True) if pi > 0)
    return float(-s.ln() / g)


@FAST
@given(weighted_laws(), st.floats(0.05, 5.0))
def test_entropic_value_against_direct_formula(law, gamma):
    x, p, _ = law
    m = Entropic(gamma)
    assert m.value(x, p) == pytest.approx(entropic_direct(x, p, gamma), rel=1e-12, abs=1e-12)
    # min X <= U(X) <= E[X] on the support
    assert x[p > 0].min() - 1e-12 <= m.value(x, p) <= p @ x + 1e-12
    # risk orientation: rho(L) = -U(-L) = (1/gamma) log E[exp(gamma L)]
    assert m.risk(x, p) == pytest.approx(np.log(p @ np.exp(gamma * x)) / gamma, rel=1e-12, abs=1e-12)


def test_entropic_no_overflow_for_large_exponents():
    x = np.array([-400.0, -350.0, 10.0, 200.0])  # gamma x up to 800: exp(800) overflows
    p = np.array([0.1, 0.2, 0.3, 0.4])
    m = Entropic(2.0)
    with np.errstate(over="ignore"):
        assert not np.isfinite(entropic_direct(x, p, 2.0))
    assert m.value(x, p) == pytest.approx(entropic_decimal(x, p, 2.0), rel=1e-14)
    # cash invariance far from the origin
    assert m.value(x + 1000.0, p) == pytest.approx(m.value(x, p) + 1000.0, rel=1e-13)
    g = m.gradient(x, p)
    assert np.all(np.isfinite(g)) and g.sum() == pytest.approx(1.0, abs=1e-14)


def test_entropic_zero_probability_states_are_ignored():
    p = np.array([0.5, 0.0, 0.5, 0.0])
    x = np.array([1.0, -1e6, 2.0, 1e6])
    m = Entropic(1.5)
    reduced = entropic_direct([1.0, 2.0], [0.5, 0.5], 1.5)
    assert m.value(x, p) == pytest.approx(reduced, rel=1e-14)
    np.testing.assert_array_equal(m.gradient(x, p)[[1, 3]], [0.0, 0.0])
    # the form leaves zero-probability states out of the log-sum-exp (exp(1.5e6) would overflow)
    assert form_value(m, x, Scenarios(p)) == pytest.approx(reduced, abs=FORM_TOL)


@FAST
@given(weighted_laws(), st.floats(0.1, 3.0))
def test_entropic_gradient_is_the_esscher_tilt(law, gamma):
    x, p, _ = law
    m = Entropic(gamma)
    tilt = p * np.exp(-gamma * x) / (p @ np.exp(-gamma * x))
    g = m.gradient(x, p)
    np.testing.assert_allclose(g, tilt, rtol=1e-12, atol=1e-15)
    assert g.sum() == pytest.approx(1.0, abs=1e-13)
    # central finite differences, step 1e-5: truncation error ~ gamma^2 1e-10
    eps = 1e-5
    fd = [(m.value(x + eps * e, p) - m.value(x - eps * e, p)) / (2 * eps) for e in np.eye(x.size)]
    np.testing.assert_allclose(fd, g, atol=1e-7, rtol=0)


@pytest.mark.parametrize("gamma", [0.0, -1.0, np.nan, np.inf, "x"])
def test_entropic_bad_gamma(gamma):
    with pytest.raises(ModelError) as err:
        Entropic(gamma)
    assert str(err.value).startswith("gamma")


@pytest.mark.parametrize("gamma", [0.3, 2.0])
def test_entropic_form(gamma):
    x = np.array([3.0, -1.0, 0.5, 20.0, -4.0])
    sp = Scenarios([0.1, 0.3, 0.2, 0.15, 0.25])
    m = Entropic(gamma)
    assert form_value(m, x, sp) == pytest.approx(m.value(x, sp), abs=FORM_TOL)
    mq = Entropic(gamma, law=[0.4, 0.0, 0.2, 0.4, 0.0])
    assert form_value(mq, x, sp) == pytest.approx(mq.value(x, sp), abs=FORM_TOL)
    assert mq.value(x, sp) == pytest.approx(entropic_direct([3.0, 0.5, 20.0], [0.4, 0.2, 0.4], gamma))


# =========================================================================== Expected utility
@FAST
@given(weighted_laws(), st.floats(0.1, 3.0), st.floats(-2.0, 2.0))
def test_cara_expected_utility(law, gamma, wealth):
    x, p, _ = law
    m = ExpectedUtility("cara", gamma=gamma, wealth=wealth)
    expected = p @ ((1 - np.exp(-gamma * (wealth + x))) / gamma)
    assert m.value(x, p) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(m.gradient(x, p), p * np.exp(-gamma * (wealth + x)), rtol=1e-12)


@pytest.mark.parametrize(
    ("eta", "shift", "u"),
    [
        (0.5, 1.0, lambda z: ((z + 1) ** 0.5 - 1) / 0.5),
        (1.0, 2.0, lambda z: np.log(z + 2) - np.log(2)),
        (3.0, 0.5, lambda z: ((z + 0.5) ** -2 - 0.5**-2) / -2),
        (2.0, 0.0, lambda z: -1 / z),  # shift 0, eta >= 1: the constant is dropped
        (1.0, 0.0, np.log),
        (0.5, 0.0, lambda z: 2 * np.sqrt(z)),
    ],
)
def test_crra_expected_utility(eta, shift, u):
    x = np.array([0.5, -0.2, 2.0, 1.0])
    p = np.array([0.25, 0.25, 0.4, 0.1])
    wealth = 1.0
    m = ExpectedUtility("crra", eta=eta, shift=shift, wealth=wealth)
    assert m.value(x, p) == pytest.approx(p @ u(wealth + x), rel=1e-13)
    if shift > 0 or eta < 1:  # normalised u(0) = 0 where possible
        assert CRRA(eta, shift)(np.array(0.0)) == pytest.approx(0.0, abs=1e-15)
    eps = 1e-6
    fd = [(m.value(x + eps * e, p) - m.value(x - eps * e, p)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(m.gradient(x, p), fd, rtol=1e-6)
    assert form_value(m, x, Scenarios(p)) == pytest.approx(m.value(x, p), abs=FORM_TOL)


def test_crra_domain():
    m = ExpectedUtility("crra", eta=2.0, shift=1.0, wealth=0.5)
    p = np.array([0.5, 0.5])
    for bad in ([0.0, -1.5], [0.0, -2.0]):  # wealth + x = -1 = -shift, and below
        with pytest.raises(ModelError) as err:
            m.value(np.array(bad), p)
        assert str(err.value).startswith("wealth + x")
    # a zero-probability state outside the domain does not matter to the value
    assert m.value(np.array([0.0, -5.0]), np.array([1.0, 0.0])) == pytest.approx(
        (1.5**-1 - 1) / -1, rel=1e-14)


def test_expected_utility_form_cara_and_orientation():
    x = np.array([1.0, -0.5, 0.25])
    p = np.array([0.2, 0.5, 0.3])
    m = create("eu", utility="cara", gamma=0.8, wealth=0.3)
    assert isinstance(m.u, CARA) and not m.monetary
    assert form_value(m, x, Scenarios(p)) == pytest.approx(m.value(x, p), abs=FORM_TOL)
    # expected disutility of a payment L: -U(-L)
    assert m.risk(x, p) == pytest.approx(-(p @ ((1 - np.exp(-0.8 * (0.3 - x))) / 0.8)), rel=1e-13)
    # not cash invariant
    assert m.value(x + 1, p) != pytest.approx(m.value(x, p) + 1, rel=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"utility": "cara", "gamma": 0.0}, "gamma"),
        ({"utility": "crra", "eta": -1.0}, "eta"),
        ({"utility": "crra", "eta": 2.0, "shift": -1.0}, "shift"),
        ({"utility": "log"}, "utility"),
        ({"utility": "cara", "gama": 1.0}, "utility"),
        ({"utility": "cara", "gamma": 1.0, "wealth": np.nan}, "wealth"),
    ],
)
def test_expected_utility_bad_parameters(kwargs, field):
    with pytest.raises(ModelError) as err:
        ExpectedUtility(**kwargs)
    assert str(err.value).startswith(field)


# =========================================================================== ES and VaR
@pytest.mark.parametrize("rate", [0.5, 2.0])
@pytest.mark.parametrize(("level", "n"), [(0.05, 1000), (0.1, 200), (0.25, 40), (0.01, 5000)])
def test_es_exponential_closed_form(rate, level, n):
    """ES_a(Exp(rate)) = (1 + ln(1/a))/rate. With a n integer the worst a n bins of the quantile
    discretisation cover exactly the tail [1 - a, 1] and each holds the conditional mean, so the
    discrete ES is the exact tail integral up to quadrature error (~1e-13): tolerance 1e-10."""
    sp = Scenarios.from_law(Exponential(rate), n, method="mean")
    assert ES(level).value(sp.X, sp) == pytest.approx((1 + math.log(1 / level)) / rate, rel=1e-10)


def test_es_exponential_off_lattice_bound():
    """a n not an integer: the bin straddling 1 - a holds its mean instead of the part above 1 - a.
    Convex order gives ES_n <= ES; the gap is at most (theta/a)(q(1-k/n) - q(1-(k+1)/n))."""
    rate, a, n = 1.0, 0.0123, 2000
    k = math.floor(a * n)
    theta = a - k / n
    sp = Scenarios.from_law(Exponential(rate), n, method="mean")
    exact = (1 + math.log(1 / a)) / rate
    q = Exponential(rate).ppf
    bound = theta / a * (q(1 - k / n) - q(1 - (k + 1) / n))
    gap = exact - ES(a).value(sp.X, sp)
    assert -1e-12 <= gap <= bound + 1e-12


@FAST
@given(st.lists(st.floats(-100, 100), min_size=2, max_size=60), st.data())
def test_es_equally_weighted_is_mean_of_worst_k(xs, data):
    S = len(xs)
    k = data.draw(st.integers(1, S - 1))
    x = np.asarray(xs)
    sp = Scenarios.equally_weighted(x)
    worst = np.sort(x)[::-1]
    assert ES(k / S).value(x, sp) == pytest.approx(worst[:k].mean(), rel=1e-12, abs=1e-10)
    # VaR at a lattice level: the (k+1)-th largest sample
    assert VaR(k / S).value(x, sp) == worst[k]


@FAST
@given(weighted_laws(), st.floats(0.01, 0.99))
def test_es_weighted_against_rockafellar_uryasev(law, alpha):
    x, p, _ = law
    assert ES(alpha).value(x, p) == pytest.approx(brute_es(x, p, alpha), rel=1e-12, abs=1e-12)


@FAST
@given(weighted_laws(), st.data())
def test_var_against_definition_in_exact_arithmetic(law, data):
    x, p, w = law
    total = sum(w)
    assume(total >= 2)
    # levels on the lattice of the probabilities hit the boundary P(L > z) = alpha exactly
    alpha = data.draw(st.one_of(
        st.builds(Fraction, st.integers(1, total - 1), st.just(total)),
        st.builds(Fraction, st.integers(1, 99), st.just(100)),
    ))
    assert VaR(float(alpha)).value(x, p) == brute_var(x, w, alpha)


def test_var_lattice_boundary_in_floating_point():
    """0.1 + 0.1 + 0.1 = 0.30000000000000004 > 0.3: P(L > x_(4)) = 0.3 must still count as <= 0.3."""
    x = np.arange(10.0)
    sp = Scenarios.equally_weighted(x)
    assert VaR(0.3).value(x, sp) == 6.0
    assert VaR(0.7).value(x, sp) == 2.0
    w = VaR(0.3).monotone_weights(sp.p)
    assert w.tolist() == [0.0] * 6 + [1.0] + [0.0] * 3


def test_es_var_flags_and_forms():
    x = np.array([3.0, 1.0, -2.0, 5.0, 0.5])
    sp = Scenarios([0.1, 0.2, 0.3, 0.15, 0.25])
    es, var = ES(0.3), VaR(0.3)
    assert es.convex and es.monetary and es.comonotone_additive and es.law_invariant
    assert not var.convex and var.monetary and var.comonotone_additive
    assert form_value(es, x, sp) == pytest.approx(es.value(x, sp), abs=FORM_TOL)
    with pytest.raises(ModelError, match="no convex form"):
        var.form(cp.Variable(5), sp)
    # cash invariance and positive homogeneity
    assert es.value(x + 2.5, sp) == pytest.approx(es.value(x, sp) + 2.5, rel=1e-14)
    assert var.value(3 * x, sp) == pytest.approx(3 * var.value(x, sp), rel=1e-14)
    # utility of a gain: U(xi) = -ES(-xi), the mean of the worst 30% of gains
    assert es.utility(x, sp) == pytest.approx(-brute_es(-x, sp.p, 0.3), rel=1e-13)


@pytest.mark.parametrize("cls", [ES, VaR])
@pytest.mark.parametrize("level", [0, 1, -0.1, 1.5, np.nan, np.inf, "high"])
def test_es_var_bad_level(cls, level):
    with pytest.raises(ModelError) as err:
        cls(level)
    assert str(err.value).startswith("level")
    with pytest.raises(ModelError) as err:
        create(cls.name, level=level)
    assert str(err.value).startswith("level")


# =========================================================================== distortion functions
def test_library_formulas():
    t = np.array([0.0, 1e-9, 0.01, 0.2, 0.5, 0.77, 0.999, 1.0])
    np.testing.assert_allclose(Power(0.5)(t), np.sqrt(t), rtol=1e-15)
    np.testing.assert_allclose(ProportionalHazard(4.0)(t), t**0.25, rtol=1e-15)
    np.testing.assert_allclose(DualPower(2.0)(t), 1 - (1 - t) ** 2, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(Wang(0.7)(t), stats.norm.cdf(stats.norm.ppf(t) + 0.7), rtol=1e-13, atol=0)
    np.testing.assert_allclose(ESDistortion(0.2)(t), np.minimum(t / 0.2, 1), rtol=1e-15)
    np.testing.assert_array_equal(VaRDistortion(0.2)(t), (t > 0.2).astype(float))
    pl = PiecewiseLinear([0, 0, 0.5, 1], [0, 0.2, 0.8, 1])
    np.testing.assert_allclose(pl(t), np.where(t > 0, np.interp(t, [0, 0.5, 1], [0.2, 0.8, 1]), 0))
    mix = MixtureDistortion([Power(0.5), {"spec": "es", "level": 0.2}], [0.25, 0.75])
    np.testing.assert_allclose(mix(t), 0.25 * np.sqrt(t) + 0.75 * np.minimum(t / 0.2, 1), rtol=1e-14)
    assert pl.jump_at_zero() == pytest.approx(0.2)
    assert Wang(0.7).jump_at_zero() == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(
    ("spec", "params", "field"),
    [
        ("power", {"a": 0.0}, "a"),
        ("ph", {"r": 0.5}, "r"),
        ("dual_power", {"b": -1.0}, "b"),
        ("wang", {"lam": np.nan}, "lam"),
        ("es", {"level": 1.0}, "level"),
        ("var", {"level": 0.0}, "level"),
        ("gini", {}, "h"),
        ("power", {"b": 2.0}, "h"),
        ("mixture", {"components": [Power(0.5)], "weights": [-1.0]}, "weights"),
        ("piecewise_linear", {"t": [0, 0.5], "h": [0, 1]}, "t"),
        ("piecewise_linear", {"t": [0, 0.6, 0.5, 1], "h": [0, 0.5, 0.6, 1]}, "t"),
    ],
)
def test_distortion_function_bad_parameters(spec, params, field):
    with pytest.raises(ModelError) as err:
        distortion_function(spec, **params)
    assert str(err.value).startswith(field)


@pytest.mark.parametrize(
    ("t", "h", "detail"),
    [
        ([0, 1], [0.5, 1], "h(0) = 0"),
        ([0, 0.5, 1], [0, 0.7, 0.6], "h(1) = 1"),
        ([0, 0.5, 1], [0, 1.2, 1], "nondecreasing"),
    ],
)
def test_not_a_distortion_is_refused(t, h, detail):
    for make in (lambda: Distortion(t=t, h=h), lambda: Distortion(PiecewiseLinear(t, h)),
                 lambda: create("distortion", t=t, h=h)):
        with pytest.raises(ModelError) as err:
            make()
        assert str(err.value).startswith("h") and detail in str(err.value)


def test_piecewise_linear_by_points():
    d = create("distortion", t=[0, 0.5, 1], h=[0, 0.8, 1])
    assert isinstance(d.h, PiecewiseLinear) and d.convex
    with pytest.raises(ModelError, match=r"^h"):
        Distortion([0, 0.8, 1])  # points without t


def test_unnormalised_distortion_is_allowed_but_not_monetary():
    d = Distortion(t=[0, 1], h=[0, 2], normalised=False)
    assert not d.monetary
    x, p = np.array([1.0, 3.0]), np.array([0.5, 0.5])
    assert d.value(x, p) == pytest.approx(2 * 2.0)
    assert Distortion(t=[0, 1], h=[0, 1]).monetary
    with pytest.raises(ModelError, match="h\\(1\\) = 1"):
        Distortion(t=[0, 1], h=[0, 2])


@pytest.mark.parametrize(("name", "h"), list(LIB.items()))
def test_distortion_value_against_layer_formula(name, h):
    d = Distortion(h)

    @FAST
    @given(weighted_laws())
    def check(law):
        x, p, w = law
        assert d.value(x, p) == pytest.approx(brute_distortion(h, x, w), rel=1e-11, abs=1e-11)

    check()


@pytest.mark.parametrize(("name", "h"), list(LIB.items()))
def test_dual_distortion(name, h):
    dual = h.dual()
    t = np.linspace(0, 1, 101)
    np.testing.assert_allclose(dual(t), 1 - h(1 - t), atol=1e-15, rtol=0)
    np.testing.assert_allclose(dual.dual()(t), h(t), atol=1e-15, rtol=0)

    @FAST
    @given(weighted_laws(zeros=False))
    def check(law):
        x, p, _ = law
        expected = -Distortion(h).value(-x, p)
        assert Distortion(dual).value(x, p) == pytest.approx(expected, rel=1e-11, abs=1e-11)

    check()


def test_dual_identities_of_the_library():
    t = np.linspace(0, 1, 201)
    np.testing.assert_allclose(Wang(0.6).dual()(t), Wang(-0.6)(t), atol=1e-14, rtol=0)
    np.testing.assert_allclose(Power(3.0).dual()(t), DualPower(3.0)(t), atol=1e-14, rtol=0)
    np.testing.assert_allclose(ESDistortion(0.25).dual()(t), np.maximum(0, 1 - (1 - t) / 0.25),
                               atol=1e-15, rtol=0)


@pytest.mark.parametrize(
    ("h", "concave", "convex"),
    [
        (ESDistortion(0.1), True, False),
        (VaRDistortion(0.1), False, False),
        (Power(0.5), True, False),
        (Power(2.0), False, True),
        (DualPower(2.0), True, False),
        (DualPower(0.5), False, True),
        (Wang(0.5), True, False),
        (Wang(-0.5), False, True),
        (Wang(0.0), True, True),
        (ProportionalHazard(2.0), True, False),
        (PiecewiseLinear([0, 0, 1], [0, 0.3, 1]), True, False),  # jump at 0, then linear
        (PiecewiseLinear([0, 0.3, 0.6, 1], [0, 0.1, 0.8, 1]), False, False),
        (LIB["mixture"], True, False),
    ],
)
def test_concavity_flags(h, concave, convex):
    assert h.is_concave() is concave
    assert h.is_convex() is convex
    assert Distortion(h).convex is concave


def test_wang_against_scipy_on_values():
    x = np.array([0.0, 1.0, 2.0, 5.0])
    p = np.array([0.4, 0.3, 0.2, 0.1])
    lam = 0.5
    # survival at the atoms: P(L > 0) = .6, P(L > 1) = .3, P(L > 2) = .1
    g = stats.norm.cdf(stats.norm.ppf([0.6, 0.3, 0.1]) + lam)
    expected = 1.0 * g[0] + 1.0 * g[1] + 3.0 * g[2]
    assert Distortion("wang", lam=lam).value(x, p) == pytest.approx(expected, rel=1e-13)


def test_against_aggregate():
    aggregate = pytest.importorskip("aggregate")
    pd = pytest.importorskip("pandas")
    t = np.linspace(0.001, 0.999, 50)
    pairs = [
        (aggregate.Distortion("wang", 0.5), Wang(0.5)),
        (aggregate.Distortion("ph", 0.4), Power(0.4)),
        (aggregate.Distortion("dual", 2.5), DualPower(2.5)),
        (aggregate.Distortion("tvar", 0.8), ESDistortion(0.2)),
    ]
    rng = np.random.default_rng(0)
    for ref, h in pairs:
        np.testing.assert_allclose(ref.g(t), h(t), rtol=1e-12)
        for _ in range(3):  # nonnegative losses starting at 0, as aggregate requires
            x = np.concatenate([[0.0], np.sort(rng.choice(np.arange(1, 40), 6, replace=False)) / 4])
            p = rng.dirichlet(np.ones(7))
            p /= p.sum()
            ask = ref.price_ex(pd.Series(p, index=x)).ask
            assert Distortion(h).value(x, p) == pytest.approx(ask, rel=1e-10)


# =========================================================================== LP forms of distortions
LATTICE_SPACES = {
    "equal7": Scenarios.equally_weighted(np.zeros(7)),
    "tenths": Scenarios([0.1, 0.25, 0.15, 0.3, 0.2]),
}


@pytest.mark.parametrize("space_name", list(LATTICE_SPACES))
@pytest.mark.parametrize(
    "h", [Wang(0.7), Power(0.5), DualPower(2.0), ProportionalHazard(3.0), ESDistortion(0.3)])
def test_lp_form_exact_on_a_lattice(space_name, h):
    sp = LATTICE_SPACES[space_name]
    x = np.random.default_rng(1).normal(size=sp.size) * 3
    d = Distortion(h)
    assert form_value(d, x, sp) == pytest.approx(d.value(x, sp), abs=FORM_TOL)


@pytest.mark.parametrize("h", [LIB["es"], LIB["pl_jump"], LIB["mixture"].components[2],
                               MixtureDistortion([LIB["pl_jump"], ESDistortion(0.25)], [0.5, 0.5])])
def test_lp_form_exact_for_piecewise_linear_on_any_weights(h):
    sp = Scenarios([0.1234, 0.2345, 0.3456, 0.2965])
    x = np.array([3.0, 1.0, -2.0, 5.0])
    d = Distortion(h)
    assert d.convex
    assert form_value(d, x, sp) == pytest.approx(d.value(x, sp), abs=FORM_TOL)


def test_mixture_with_a_jump_keeps_the_jump_in_its_knots():
    h = MixtureDistortion([PiecewiseLinear([0, 0, 1], [0, 0.3, 1]), ESDistortion(0.25)], [0.5, 0.5])
    t, hv = h.knots()
    assert t[:2].tolist() == [0.0, 0.0]
    assert hv[1] == pytest.approx(0.15)  # h(0+) = 0.5 * 0.3
    np.testing.assert_allclose(hv[2:], h(t[2:]))


@pytest.mark.parametrize("h", [Wang(0.7), Power(0.5), DualPower(2.0)])
def test_smooth_distortion_off_lattice_needs_interpolation(h):
    w = np.array([math.sqrt(2), math.pi, math.e, 1.0])
    sp = Scenarios(w / w.sum())  # no common denominator below 10^6
    x = np.array([3.0, 1.0, -2.0, 5.0])
    with pytest.raises(ModelError) as err:
        Distortion(h).form(cp.Variable(4), sp)
    assert str(err.value).startswith("h") and "interpolate" in str(err.value)
    hk = h.interpolate(40)
    dk = Distortion(hk)
    assert hk.sup_error > 0
    assert form_value(dk, x, sp) == pytest.approx(dk.value(x, sp), abs=FORM_TOL)
    assert abs(dk.value(x, sp) - Distortion(h).value(x, sp)) <= hk.sup_error * (x.max() - x.min()) + 1e-12
    # sup_error really bounds |h - h_K| on [0, 1], also between the points of its own check grid
    t = np.linspace(0, 1, 10001)
    assert np.max(np.abs(hk(t) - h(t))) <= hk.sup_error + 1e-12


# =========================================================================== monotone weights
@pytest.mark.parametrize(("name", "h"), list(LIB.items()))
def test_monotone_weights_reproduce_the_value(name, h):
    d = Distortion(h)

    @FAST
    @given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.data())
    def check(weights, data):
        k = len(weights)
        atoms = np.cumsum(data.draw(st.lists(st.integers(1, 5), min_size=k, max_size=k))).astype(float)
        probs = np.asarray(weights, float) / sum(weights)
        inc = np.cumsum(data.draw(st.lists(st.integers(0, 4), min_size=k, max_size=k))) - 3.0
        for increasing, f in ((True, inc), (False, inc[::-1].copy())):
            w = d.monotone_weights(probs, increasing=increasing)
            assert w @ f == pytest.approx(d.value(f, probs), rel=1e-12, abs=1e-12)
        # states with repeated atoms: the weights act on the law of X
        states = np.repeat(np.arange(k), 2)
        sp = Scenarios(np.repeat(probs, 2) / 2, {"X": atoms[states]})
        law, _ = sp.law_of("X")
        w = d.monotone_weights(law.p, increasing=True)
        assert w @ inc == pytest.approx(d.value(inc[states], sp), rel=1e-12, abs=1e-12)

    check()


def test_monotone_weights_var_on_a_lattice():
    probs = np.full(5, 0.2)
    f = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    w = VaR(0.4).monotone_weights(probs)  # VaR_0.4 of 5 equally likely values: the 3rd largest
    assert w @ f == 3.0
    w = VaR(0.4).monotone_weights(probs, increasing=False)
    assert w @ f[::-1] == 3.0


# =========================================================================== gradients
@pytest.mark.parametrize("h", [ESDistortion(0.3), Wang(0.7), Power(0.5), VaRDistortion(0.25)])
def test_distortion_gradient_is_the_distorted_probabilities(h):
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(9))
    x = rng.normal(size=9)
    d = Distortion(h)
    g = d.gradient(x, p)
    assert g @ x == pytest.approx(d.value(x, p), rel=1e-13)  # Euler: positively homogeneous
    assert g.sum() == pytest.approx(1.0, abs=1e-13) and np.all(g >= 0)
    if h.is_concave():  # convex rho: rho(y) = max over the core >= E_g[y] = rho(x) + g (y - x)
        for _ in range(20):
            y = rng.normal(size=9) * 2
            assert d.value(y, p) >= g @ y - 1e-12


# =========================================================================== Choquet
def lower_envelope_capacity(priors: np.ndarray) -> Capacity:
    return Capacity(lambda mask: float(np.min(priors[:, mask].sum(axis=1))), priors.shape[1])


@FAST
@given(st.integers(2, 6), st.integers(1, 4), st.data())
def test_choquet_against_layer_formula(n, n_priors, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    priors = rng.dirichlet(np.ones(n), size=n_priors)
    cap = lower_envelope_capacity(priors)
    x = np.asarray(data.draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n)), float)
    m = Choquet(cap)
    expected = layer_formula(x, cap, 1.0)
    assert m.value(x, np.full(n, 1 / n)) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # comonotone additivity: X and f(X) for nondecreasing f
    f = np.cumsum(np.abs(x))[np.argsort(np.argsort(x, kind="stable"), kind="stable")]
    y = x + f
    assert m.value(y, np.full(n, 1 / n)) == pytest.approx(
        m.value(x, np.full(n, 1 / n)) + m.value(f, np.full(n, 1 / n)), rel=1e-12, abs=1e-12)


@FAST
@given(weighted_laws(zeros=False))
def test_choquet_of_a_distorted_capacity_is_the_distortion(law):
    x, p, _ = law
    for h in (Wang(0.4), VaRDistortion(0.3), Power(2.0)):
        assert Choquet(Capacity.distorted(h, p)).value(x, p) == pytest.approx(
            Distortion(h).value(x, p), rel=1e-12, abs=1e-12)


def test_choquet_from_table_and_monotone_weights():
    # 3 states; a belief-like capacity given on every subset
    table = {(): 0.0, (0,): 0.1, (1,): 0.2, (2,): 0.3, (0, 1): 0.4, (0, 2): 0.5, (1, 2): 0.6}
    m = Choquet(Capacity.from_table(table, 3))
    x = np.array([5.0, 1.0, 3.0])
    # worst first: state 0 (5), state 2 (3), state 1 (1): 5 c({0}) + 3 (c({0,2}) - c({0})) + 1 (1 - c({0,2}))
    assert m.value(x, np.full(3, 1 / 3)) == pytest.approx(5 * 0.1 + 3 * 0.4 + 1 * 0.5)
    assert m.value(x, np.full(3, 1 / 3)) == pytest.approx(layer_formula(x, m.capacity, 1.0))
    rows = [{"states": list(k), "value": v} for k, v in table.items()]
    m2 = create("choquet", capacity=rows, n_states=3)
    assert m2.value(x, np.full(3, 1 / 3)) == pytest.approx(m.value(x, np.full(3, 1 / 3)))
    # atoms sorted ascending: states 0 < 1 < 2 carry f(x_0) <= f(x_1) <= f(x_2)
    f = np.array([-1.0, 2.0, 2.5])
    w = m.monotone_weights(np.full(3, 1 / 3), increasing=True)
    assert w @ f == pytest.approx(m.value(f, np.full(3, 1 / 3)))
    w = m.monotone_weights(np.full(3, 1 / 3), increasing=False)
    assert w @ f[::-1] == pytest.approx(m.value(f[::-1], np.full(3, 1 / 3)))
    assert not m.convex and not m.law_invariant and m.comonotone_additive and m.monetary
    with pytest.raises(ModelError, match="no convex form"):
        m.form(cp.Variable(3), np.full(3, 1 / 3))
    with pytest.raises(ModelError, match=r"^measure"):
        m.pushforward(np.array([0, 0, 1]), 2)


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: Capacity.from_table({(0,): 0.5, (1,): 0.1, (2,): 0.1, (0, 1): 0.4, (0, 2): 0.6, (1, 2): 0.3},
                                     3), "monotone"),
        (lambda: Capacity.from_table({(0,): 0.2, (1,): 0.3, (0, 1): 0.9}, 2), "c(Omega)"),
        (lambda: Capacity.from_table({(0,): 0.2}, 2), "a value for this event"),
        (lambda: Capacity.from_table({(0, 5): 0.2}, 2), "capacity.states"),
        (lambda: Capacity(lambda m: 0.1 + 0.9 * m.all(), 2), "c(empty set) = 0"),
        (lambda: Choquet([{"states": [0], "value": 0.5}]), "n_states"),
    ],
)
def test_bad_capacity(make, text):
    with pytest.raises(ModelError) as err:
        make()
    assert text in str(err.value)


def test_unnormalised_capacity_and_size_mismatch():
    cap = Capacity.from_table({(0,): 0.2, (1,): 0.3, (0, 1): 0.9}, 2, normalised=False)
    m = Choquet(cap)
    assert not m.monetary
    assert m.value(np.array([1.0, 1.0]), np.array([0.5, 0.5])) == pytest.approx(0.9)
    with pytest.raises(ModelError, match=r"^capacity"):
        m.value(np.zeros(3), np.full(3, 1 / 3))
    with pytest.raises(ModelError, match=r"^x"):
        m.value(np.zeros(3), np.full(2, 0.5))


# =========================================================================== MaxMin
PRIORS = [[0.2, 0.2, 0.2, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1, 0.6], [0.4, 0.3, 0.1, 0.1, 0.1]]
X5 = np.array([3.0, 1.0, -2.0, 5.0, 0.5])
SP5 = Scenarios([0.1, 0.2, 0.3, 0.15, 0.25])


@pytest.mark.parametrize(
    ("base", "vertex"),
    [
        (Expectation(), lambda q, x: q @ x),
        (Entropic(0.7), lambda q, x: entropic_direct(x, q, 0.7)),
        (ExpectedUtility("cara", gamma=0.5), lambda q, x: q @ ((1 - np.exp(-0.5 * x)) / 0.5)),
        (ExpectedUtility("crra", eta=2.0, shift=3.0), lambda q, x: q @ (-(1 / (x + 3)) + 1 / 3)),
    ],
)
def test_maxmin_value_form_gradient(base, vertex):
    m = MaxMin(base, PRIORS)
    values = [vertex(np.asarray(q), X5) for q in PRIORS]
    assert m.value(X5, SP5) == pytest.approx(min(values), rel=1e-13)
    np.testing.assert_array_equal(m.worst_case_prior(X5, SP5), PRIORS[int(np.argmin(values))])
    worst = base.with_law(m.worst_case_prior(X5, SP5))
    np.testing.assert_allclose(m.gradient(X5, SP5), worst.gradient(X5, SP5))
    assert form_value(m, X5, SP5) == pytest.approx(m.value(X5, SP5), abs=FORM_TOL)
    assert m.convex and not m.law_invariant and m.monetary is base.monetary


def test_maxmin_form_dual_weights_the_worst_prior():
    m = MaxMin(Expectation(), PRIORS)
    v = cp.Variable(5)
    f = m.form(v, SP5)
    cons = [v == X5, *f.constraints["credal"].values()]
    cp.Problem(cp.Maximize(cp.sum(f.expr)), cons).solve(solver="CLARABEL")
    beta = np.asarray(f.constraints["credal"][0].dual_value).ravel()
    beta = beta / beta.sum()
    np.testing.assert_allclose(beta @ np.asarray(PRIORS), m.worst_case_prior(X5, SP5), atol=1e-6, rtol=0)


def test_pushforward_of_subjective_laws():
    x = np.array([2.0, 1.0, 2.0, 0.0, 1.0])  # 3 distinct values
    sp = Scenarios(np.full(5, 0.2), {"X": x})
    law, index = sp.law_of("X")
    f = np.array([-1.0, 0.5, 4.0])  # any function of X, on the atoms
    m = MaxMin(Entropic(1.3), PRIORS)
    pushed = m.pushforward(index, law.size)
    for q, pq in zip(PRIORS, pushed.priors, strict=True):
        np.testing.assert_allclose(pq, np.bincount(index, weights=q, minlength=3))
    assert pushed.value(f, law) == pytest.approx(m.value(f[index], sp), rel=1e-13)
    e = Expectation(law=PRIORS[1])
    assert e.pushforward(index, 3).value(f, law) == pytest.approx(e.value(f[index], sp), rel=1e-13)
    es = ES(0.3)
    assert es.pushforward(index, 3) is es


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: MaxMin(ES(0.1), PRIORS), "base"),
        (lambda: MaxMin(Expectation(), []), "priors"),
        (lambda: MaxMin(Expectation(), [[0.5, 0.5]]).value(X5, SP5), "priors[0]"),
        (lambda: MaxMin(Expectation(), [PRIORS[0], [1.5, -0.5, 0, 0, 0]]).value(X5, SP5), "priors[1]"),
        (lambda: MaxMin(Expectation(), PRIORS).value(X5[:4], SP5), "x"),
        (lambda: create("maxmin", base={"name": "entropic", "gama": 1.0}, priors=PRIORS), "gama"),
    ],
)
def test_maxmin_bad_input(make, field):
    with pytest.raises(ModelError) as err:
        make()
    assert str(err.value).startswith(field)


def test_maxmin_from_a_card():
    m = create("credal", base={"name": "entropic", "gamma": 0.7}, priors=PRIORS)
    assert m.value(X5, SP5) == pytest.approx(min(entropic_direct(X5, np.asarray(q), 0.7) for q in PRIORS))


# =========================================================================== registry and flags
@pytest.mark.parametrize(
    ("name", "params", "cls", "flags"),
    [
        ("expectation", {}, Expectation, (True, True, True, True)),
        ("mean", {}, Expectation, (True, True, True, True)),
        ("entropic", {"gamma": 1.0}, Entropic, (True, True, True, False)),
        ("cara_ce", {"gamma": 1.0}, Entropic, (True, True, True, False)),
        ("expected_utility", {"utility": "crra", "eta": 2.0, "shift": 1.0}, ExpectedUtility,
         (False, True, True, False)),
        ("eu", {"gamma": 1.0}, ExpectedUtility, (False, True, True, False)),
        ("es", {"level": 0.1}, ES, (True, True, True, True)),
        ("cvar", {"level": 0.1}, ES, (True, True, True, True)),
        ("expected_shortfall", {"level": 0.1}, ES, (True, True, True, True)),
        ("var", {"level": 0.1}, VaR, (True, False, True, True)),
        ("value_at_risk", {"level": 0.1}, VaR, (True, False, True, True)),
        ("distortion", {"h": "wang", "lam": 0.5}, Distortion, (True, True, True, True)),
        ("distortion", {"h": "power", "a": 2.0}, Distortion, (True, False, True, True)),
        ("maxmin", {"base": "expectation", "priors": PRIORS}, MaxMin, (True, True, False, False)),
        ("choquet", {"capacity": Capacity.distorted(Wang(0.3), np.full(3, 1 / 3))}, Choquet,
         (True, False, False, True)),
    ],
)
def test_create_and_flags(name, params, cls, flags):
    m = create(name, **params)
    assert isinstance(m, cls)
    assert (m.monetary, m.convex, m.law_invariant, m.comonotone_additive) == flags
    assert name in registry()


@pytest.mark.parametrize("name", ["expectation", "entropic", "es", "distortion"])
def test_monetary_measures_are_cash_invariant(name):
    params = {"entropic": {"gamma": 0.9}, "es": {"level": 0.2}, "distortion": {"h": "wang", "lam": 0.4}}
    m = create(name, **params.get(name, {}))
    assert m.value(X5 + 1.75, SP5) == pytest.approx(m.value(X5, SP5) + 1.75, rel=1e-13)


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("entropc", {"gamma": 1.0}, "measure"),
        ("entropic", {"gama": 1.0}, "gama"),
        ("entropic", {}, "entropic"),
        ("es", {"alpha": 0.1}, "alpha"),
        ("entropic", {"gamma": -1.0}, "gamma"),
        ("distortion", {"h": "wang", "lambda_": 0.5}, "h"),
    ],
)
def test_create_errors(name, params, field):
    with pytest.raises(ModelError) as err:
        create(name, **params)
    assert str(err.value).startswith(field)


def test_risk_utility_orientation():
    """U(xi) = -rho(-xi) both ways, checked on numbers."""
    p = SP5.p
    es = ES(0.25)
    assert es.utility(X5, SP5) == pytest.approx(-es.value(-X5, SP5))
    ent = Entropic(0.5)
    assert ent.risk(X5, SP5) == pytest.approx(np.log(p @ np.exp(0.5 * X5)) / 0.5, rel=1e-13)
    assert ent.utility(X5, SP5) == ent.value(X5, SP5)
    assert es.risk(X5, SP5) == es.value(X5, SP5)


def test_value_needs_one_value_per_state():
    for m in (ES(0.2), Distortion("wang", lam=0.3)):
        with pytest.raises(ModelError, match=r"^x"):
            m.value(X5[:3], SP5)
        with pytest.raises(ModelError, match=r"^x"):
            m.gradient(np.append(X5, 1.0), SP5)
