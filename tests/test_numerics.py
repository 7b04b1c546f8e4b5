"""Numerics of measures and probability vectors, against routes written here (issue "Trustworthy
answers", item 5).

Oracles, independent of the package's code paths:

* exact rational arithmetic (``fractions.Fraction``) on the float inputs for cumulated probabilities,
  VaR, ES, quantiles and renormalisation;
* 60-digit ``decimal`` arithmetic for CARA and CRRA expected utilities and their derivatives (exp, ln
  and non-integer powers of exact decimal copies of the float inputs);
* CLARABEL's optimum of the cvxpy forms.

Hostile inputs: probabilities 5e-324, 1e-300 and 1e-15 next to 1, ties, one state, losses 1e6 next to
1, exponents past exp's overflow (710), levels exactly at cumulated probabilities and one ulp either
side. Tolerances carry their reason; ``EPS`` is the double-precision machine epsilon.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal, localcontext
from fractions import Fraction

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import riskopt as ro
from riskopt import Scenarios
from riskopt.laws import Discrete, Mixture, Uniform
from riskopt.measures import ES, Entropic, Expectation, ExpectedUtility, VaR
from riskopt.measures.base import check_law
from riskopt.measures.distortion import Distortion, VaRDistortion
from riskopt.space import LEVEL_RTOL, cumulated, group_sums, search_cumulated, validate_probabilities

EPS = float(np.finfo(float).eps)
MAXF = float(np.finfo(float).max)
TINYF = float(np.finfo(float).tiny)  # the smallest normal double; below it, absolute rounding 2^-1075
FAST = settings(max_examples=60, deadline=None)
TINY = [0.0, 5e-324, 1e-310, 1e-300, 1e-200, 1e-15, 2.0**-34]


# =========================================================================== strategies and oracles
@st.composite
def hostile_probabilities(draw, min_states: int = 1, max_states: int = 7):
    """A vector accepted by validate_probabilities: integer weights w / W on some states, tiny masses
    (0, subnormal, 1e-300, 1e-15, 2^-34) on others, taken off the largest state (``0.875 - m``); the
    total is 1 to rounding."""
    n = draw(st.integers(min_states, max_states))
    kinds = draw(st.lists(st.sampled_from(["big", "big", "tiny"]), min_size=n, max_size=n))
    if "big" not in kinds:
        kinds[draw(st.integers(0, n - 1))] = "big"
    w = [draw(st.integers(1, 6)) for k in kinds if k == "big"]
    W, it = sum(w), iter(w)
    p = np.array([next(it) / W if k == "big" else draw(st.sampled_from(TINY)) for k in kinds])
    tiny = np.array([k == "tiny" for k in kinds])
    top = int(np.argmax(np.where(tiny, -1.0, p)))
    p[top] -= math.fsum(p[tiny])
    return p


def exact_cumulated(p) -> list[Fraction]:
    """``S_k``: exact partial sums of the floats over their correctly rounded total, capped at 1
    (the documented convention), ``S_n = 1``."""
    N = Fraction(math.fsum(p))
    S = [Fraction(0)]
    for v in p:
        S.append(min(S[-1] + Fraction(v) / N, Fraction(1)))
    S[-1] = Fraction(1)
    return S


def forgiven_le(tails: list[Fraction], alpha: Fraction):
    """``t <= alpha`` with the documented forgiveness: among the boundary values ``tails``, the
    nearest one to ``alpha`` counts as equal to it when above it by at most LEVEL_RTOL alpha, strictly
    nearer than the largest one <= alpha, and below 1."""
    tol = Fraction(LEVEL_RTOL) * alpha
    below = [t for t in tails if t <= alpha]
    above = [t for t in tails if t > alpha]
    snapped = None
    if above:
        b = min(above)
        if b < 1 and b - alpha <= tol and (not below or b - alpha < alpha - max(below)):
            snapped = b
    return lambda t: t <= alpha or t == snapped


def oracle_var(x, p, alpha: float) -> float:
    """``inf{z : P(L > z) <= alpha}`` on exact rationals, with the rule above."""
    N = Fraction(math.fsum(p))
    P = [Fraction(v) / N for v in p]
    tail = {z: min(sum((q for v, q in zip(x, P, strict=True) if v > z), Fraction(0)), Fraction(1))
            for z in set(x)}
    le = forgiven_le([*tail.values(), Fraction(1)], Fraction(alpha))
    return min(z for z in tail if le(tail[z]) and any(q > 0 for v, q in zip(x, P, strict=True) if v == z))


def oracle_es(x, p, alpha: float) -> Fraction:
    """``(1/alpha) sum_k x_(k) (min(S_{k+1}, alpha) - min(S_k, alpha))``, exact, without forgiveness."""
    order = sorted(range(len(x)), key=lambda i: -x[i])
    S = exact_cumulated([p[i] for i in order])
    a = Fraction(alpha)
    return sum((Fraction(x[i]) * (min(S[k + 1], a) - min(S[k], a)) for k, i in enumerate(order)),
               Fraction(0)) / a


def oracle_ppf(values, p, u: float) -> float:
    """``inf{x : F(x) >= u}`` exactly, forgiving an ``F`` just below ``u`` by the mirrored rule."""
    N = Fraction(math.fsum(p))
    a = Fraction(u)
    cdf = {z: min(sum((Fraction(q) / N for v, q in zip(values, p, strict=True) if v <= z), Fraction(0)),
                  Fraction(1)) for z in set(values)}
    cdf[max(values)] = Fraction(1)
    tails = [*cdf.values(), Fraction(0)]
    tol = Fraction(LEVEL_RTOL) * a
    below = [t for t in tails if t < a]
    above = [t for t in tails if t >= a]
    b = max(below)
    snapped = b if (b > 0 and a - b <= tol and (not above or a - b < min(above) - a)) else None
    return min(z for z in cdf if cdf[z] >= a or cdf[z] == snapped)


def dec(v: float) -> Decimal:
    return Decimal(float(v))  # exact: every double is a finite binary fraction


# =========================================================================== item 3: renormalisation
def test_accepted_vectors_are_renormalised_silently():
    q = np.array([0.5, 0.5]) * (1 + 5e-13)  # sums to 1 + 5e-13: accepted (within 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RiskoptWarning inside the tolerance
        p = validate_probabilities(q)
    # one division by the correctly rounded sum: the result sums to 1 within one rounding (EPS)
    assert abs(math.fsum(p) - 1.0) <= EPS
    # every consumer: Scenarios, subjective laws (check_law), laws on the line
    assert abs(math.fsum(Scenarios(q).p) - 1.0) <= EPS
    assert abs(math.fsum(check_law(q, 2)) - 1.0) <= EPS
    assert abs(math.fsum(Discrete([0.0, 1.0], q).p) - 1.0) <= EPS
    assert abs(math.fsum(Mixture([Uniform(0, 1), Uniform(1, 2)], q).weights) - 1.0) <= EPS
    # the bias was log(sum q) / gamma = 5e-13 / gamma for Entropic, 5e-13 relative for an expectation;
    # now both are exact to a few roundings of the renormalised entries (a few EPS)
    assert abs(Entropic(1.0).value([0.0, 0.0], q)) <= 2 * EPS
    assert abs(Entropic(0.5, law=q).value([1.0, 1.0], [0.5, 0.5]) - 1.0) <= 4 * EPS
    assert abs(Expectation().value([1.0, 1.0], q) - 1.0) <= EPS
    assert abs(Expectation(law=q).value([3.0, 3.0], [0.5, 0.5]) - 3.0) <= 4 * EPS


def test_normalise_path_still_warns():
    with pytest.warns(ro.RiskoptWarning, match="normalised"):
        p = validate_probabilities([1.0, 1.0], normalise=True)
    assert p.tolist() == [0.5, 0.5]
    with pytest.raises(ro.ModelError, match="within 1e-12"):
        validate_probabilities([0.5, 0.5 + 2e-12])


@FAST
@given(hostile_probabilities(), st.floats(-9e-13, 9e-13))
@example(np.array([1.0, 5e-324]), 0.0)
@example(np.array([0.5, 0.0, 1e-300, 0.5]), 8e-13)
def test_renormalisation_keeps_zeros_and_tiny_masses(p, delta):
    scaled = p * (1 + delta)
    assume(abs(math.fsum(scaled) - 1) <= 1e-12)
    q = validate_probabilities(scaled)
    # exact check of the sum: within one rounding of the division per entry plus the total's, i.e.
    # |sum q - 1| <= EPS (Fraction sum: no rounding in the check itself)
    assert abs(sum(map(Fraction, q)) - 1) <= Fraction(EPS)
    assert ((q == 0) == (scaled == 0)).all()  # zeros stay zero, nothing positive is flushed
    # every entry is scaled by one common factor 1/fsum: relative change = that factor to one rounding
    # (subnormal entries carry an absolute rounding of 2^-1075 instead)
    factor = 1 / math.fsum(scaled)
    pos = scaled > 0
    assert np.all(np.abs(q[pos] - scaled[pos] * factor) <= 2 * EPS * q[pos] + 2.0**-1074)


def test_law_of_and_pushforward_masses_are_accurate():
    """group_sums: 10,000 samples of probability 1e-4 on 4 atoms; each atom's mass is the exact sum
    of its samples to about one rounding (np.bincount drifts by up to k ulps for k terms)."""
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 4, size=10_000)
    vals = np.full(idx.size, 1e-4) * rng.uniform(0.5, 1.5, size=idx.size)
    got = group_sums(idx, vals, 4)
    for g in range(4):
        exact = sum(map(Fraction, vals[idx == g].tolist()), Fraction(0))
        assert abs(Fraction(got[g]) - exact) <= Fraction(EPS) * exact  # one rounding (EPS/2) + margin
    sp = Scenarios.equally_weighted(idx.astype(float))
    law, _ = sp.law_of("X")
    counts = np.bincount(idx, minlength=4)
    for g in range(4):  # counts[g] / 10,000: fl(1e-4) (EPS/2), the group sum and the renormalisation
        assert abs(Fraction(law.p[g]) - Fraction(int(counts[g]), 10_000)) <= Fraction(4 * EPS) * law.p[g]


# =========================================================================== item 2: levels
@pytest.mark.parametrize("m", [2.0**-34, 1e-15, 1e-300])
def test_atom_next_to_the_level_is_seen(m):
    x, p = [10.0, 5.0, 0.0], [0.125, m, 0.875 - m]
    # exact: P(L > 5) = 0.125 <= 0.125 and P(L > z) = 0.125 + m > 0.125 below 5: VaR = 5
    assert VaR(0.125).value(x, p) == 5.0
    # ES: the worst 0.125 is the first state exactly (weights [1, 0, 0], exact in floating point)
    assert ES(0.125).value(x, p) == 10.0
    assert Distortion("var", level=0.125).value(x, p) == 5.0


def test_lattice_levels_do_not_cross():
    """States of probability 0.1 and the level 0.3: 0.1 + 0.1 + 0.1 = 0.30000000000000004."""
    x = np.arange(10.0)
    sp = Scenarios.equally_weighted(x)
    assert VaR(0.3).value(x, sp) == 6.0 and VaR(0.7).value(x, sp) == 2.0
    # ES_0.3 = mean of 9, 8, 7: weights 0.1 / 0.3 carry one rounding each, the sum three (4 EPS)
    assert ES(0.3).value(x, sp) == pytest.approx(8.0, rel=4 * EPS)
    # one ulp below the level: S_3 is above it by one ulp, the nearest boundary, so forgiven
    assert VaR(float(np.nextafter(0.3, 0))).value(x, sp) == 6.0
    assert VaR(float(np.nextafter(0.3, 1))).value(x, sp) == 6.0
    # pointwise distortion: a few ulps forgiven, 1e-15 at 0.125 is not
    h = VaRDistortion(0.3)
    assert h(0.1 + 0.1 + 0.1) == 0.0 and h(0.3 + 1e-15) == 1.0
    assert VaRDistortion(0.125)(0.125 + 1e-15) == 1.0
    top = VaRDistortion(float(np.nextafter(1.0, 0)))
    assert top(1.0) == 1.0 and top(float(np.nextafter(1.0, 0))) == 0.0


def test_es_splits_a_straddling_atom_exactly():
    d = 2.0**-40
    x, p = [10.0, 5.0, 0.0], [0.125 - d, 2 * d, 0.875 - d]
    exact = (10 * Fraction(0.125 - d) + 5 * (Fraction(0.125) - Fraction(0.125 - d))) / Fraction(0.125)
    # weights: (0.125 - d)/0.125 (one rounding) and the split d/0.125 (exact, rounded once); the dot
    # product adds one rounding: 2 ulps of the value
    assert abs(Fraction(ES(0.125).value(x, p)) - exact) <= 2 * EPS * exact
    assert VaR(0.125).value(x, p) == 5.0


def test_one_state_and_subnormal_levels():
    assert VaR(0.3).value([4.0], [1.0]) == 4.0 and ES(0.3).value([4.0], [1.0]) == 4.0
    assert ES(5e-324).value([1e6, 1.0], [0.5, 0.5]) == 1e6
    assert VaR(5e-324).value([1e6, 1.0], [5e-324, 1.0]) == 1.0  # P(L > 1) = 5e-324 <= the level


@FAST
@given(hostile_probabilities(), st.data())
def test_var_and_es_against_exact_arithmetic(p, data):
    p = validate_probabilities(p)
    n = p.size
    x = np.array(data.draw(st.lists(st.sampled_from([-1e6, -1.0, 0.0, 0.5, 1.0, 7.0, 1e6]),
                                    min_size=n, max_size=n)))
    order = np.argsort(-x, kind="stable")
    S = exact_cumulated(p[order].tolist())
    inner = [float(s) for s in S[1:-1] if 0 < s < 1]  # levels exactly at cumulated probabilities
    candidates = [0.125, 0.3, 0.5, 1 / 3, *inner]
    base = candidates[data.draw(st.integers(0, len(candidates) - 1))]
    shift = data.draw(st.sampled_from([-1, 0, 1]))  # and one ulp either side
    alpha = float(np.nextafter(base, 1.0 if shift > 0 else 0.0)) if shift else base
    assume(0 < alpha < 1)
    assert VaR(alpha).value(x, p) == oracle_var(x.tolist(), p.tolist(), alpha)
    # ES: weights within a few roundings each (p / alpha / N: 3; the split: 1), the dot product n,
    # and the forgiven level moves the value by at most LEVEL_RTOL max|x|
    got = ES(alpha).value(x, p)
    bound = ((n + 8) * EPS + LEVEL_RTOL) * float(np.max(np.abs(x)))
    assert abs(Fraction(got) - oracle_es(x.tolist(), p.tolist(), alpha)) <= Fraction(bound)


@FAST
@given(hostile_probabilities(min_states=2), st.data())
def test_var_is_law_invariant_when_a_state_is_split(p, data):
    """Splitting a state into two of half its mass (exact for normal numbers) changes no VaR: the
    forgiveness is decided on the boundaries between distinct values, not on every state."""
    p = validate_probabilities(p)
    n = p.size
    x = np.array(data.draw(st.lists(st.sampled_from([-3.0, 0.0, 1.0, 2.0, 1e6]), min_size=n, max_size=n)))
    k = data.draw(st.integers(0, n - 1))
    assume(p[k] == 0 or p[k] >= 2.0**-1020)  # halving a subnormal rounds
    p2 = np.concatenate([p[:k], [p[k] / 2, p[k] / 2], p[k + 1:]])
    x2 = np.concatenate([x[:k], [x[k], x[k]], x[k + 1:]])
    S = exact_cumulated(p[np.argsort(-x, kind="stable")].tolist())
    levels = {float(np.nextafter(float(s), d)) for s in S[1:-1] for d in (0.0, float(s), 1.0)}
    for alpha in sorted(a for a in levels if 0 < a < 1):  # at each cumulated probability, +- 1 ulp
        assert VaR(alpha).value(x, p) == VaR(alpha).value(x2, p2)


def test_search_cumulated_fast_path_against_exact():
    """2,000 states (the float cumulation decides most random levels without exact arithmetic)."""
    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.full(2000, 0.3))
    p = validate_probabilities(p)
    S = exact_cumulated(p.tolist())
    levels = np.concatenate([rng.uniform(0, 1, 40), [float(S[700]), float(np.nextafter(float(S[1500]), 0))]])
    m, frac, _ = search_cumulated(p, levels)
    for a, k, f in zip(levels.tolist(), m.tolist(), frac.tolist(), strict=True):
        A = Fraction(a)
        tol = Fraction(LEVEL_RTOL) * A
        assert S[k] <= A + tol and S[k + 1] > A - tol  # the state in which S passes a (forgiving)
        # frac = (a - S_k) / a: exact and rounded once, or from the float cumulation: ~3 EPS of S_k / a
        assert abs(Fraction(f) - max(min((A - S[k]) / A, Fraction(1)), Fraction(0))) <= Fraction(4 * EPS)


@FAST
@given(hostile_probabilities(max_states=12))
def test_cumulated_is_accurate(p):
    """Compensated partial sums: within a few roundings of the exact ratio, whatever the number of
    states (a plain cumsum drifts by k ulps), 0 and 1 exactly at the ends."""
    p = validate_probabilities(p)
    got = cumulated(p)
    S = exact_cumulated(p.tolist())
    assert got[0] == 0.0 and got[-1] == 1.0
    for g, s in zip(got.tolist(), S, strict=True):
        # forwards: three roundings relative (partial sum, total, division); past 1/2 as 1 - tail:
        # two roundings of the tail plus the subtraction, absolute <= 2 EPS <= 4 EPS * S
        assert abs(Fraction(g) - s) <= Fraction(4 * EPS) * max(s, Fraction(2.0**-1074))


# ----------------------------------------------------------------- quantiles of a discrete law
def test_discrete_quantile_sees_tiny_atoms_and_forgives_lattices():
    d = Discrete(np.arange(10.0), np.full(10, 0.1))
    assert d.ppf(0.3) == 2.0 and d.ppf(0.30000000000000004) == 2.0  # F(2) = 0.1 + 0.1 + 0.1
    assert d.ppf(0.3 + 1e-15) == 3.0 and d.ppf(0.0) == 0.0 and d.ppf(1.0) == 9.0
    assert np.isnan(d.ppf(np.nan))
    t = Discrete([0.0, 1.0, 2.0], [0.5, 1e-300, 0.5])
    assert t.ppf(0.5) == 0.0
    # F(1) = 0.5 + 1e-300 is the boundary nearest below 0.5 + ulp: forgiven, so the quantile is the
    # atom of mass 1e-300 (the old 1e-15 slack returned 0, skipping two atoms)
    assert t.ppf(float(np.nextafter(0.5, 1))) == 1.0
    assert t.ppf(0.5 + 1e-15) == 2.0
    assert t.sf(0.5) == 0.5 and t.sf(2.0) == 0.0 and t.sf(-1.0) == 1.0


@FAST
@given(hostile_probabilities(), st.data())
def test_discrete_quantile_against_exact(p, data):
    p = validate_probabilities(p)
    values = np.sort(np.array(data.draw(st.lists(st.integers(-3, 3), min_size=p.size, max_size=p.size)),
                              float))
    d = Discrete(values, p)
    S = exact_cumulated(d.p.tolist())
    pts = [float(s) for s in S[1:] if 0 < s <= 1] + [0.5, 0.25]
    u = pts[data.draw(st.integers(0, len(pts) - 1))]
    u = float(np.nextafter(u, data.draw(st.sampled_from([0.0, 1.0, u]))))
    assume(0 < u <= 1)
    assert d.ppf(u) == oracle_ppf(d.X.tolist(), d.p.tolist(), u)


# =========================================================================== item 1: CARA and CRRA
def cara_oracle(q, z, gamma):
    """``(1 - E)/gamma``, ``E = sum q e^(-gamma z)``, gradient and Hessian diagonal, 60 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        g = dec(gamma)
        e = [dec(qi) * (-g * dec(zi)).exp() for qi, zi in zip(q, z, strict=True)]
        return (1 - sum(e)) / g, e, [-g * v for v in e]


def to_float(v: Decimal) -> float:
    return float(v) if abs(v) <= Decimal(MAXF) else math.copysign(math.inf, v)


def check_value(got: float, v: Decimal, bound) -> None:
    """``got`` is -inf exactly where the 60-digit value ``v`` is below -MAXF, else within ``bound()``
    (a Decimal, computed at 60 digits) of it."""
    if abs(v) > Decimal(MAXF):
        assert got == -math.inf
        return
    with localcontext() as ctx:
        ctx.prec = 60
        assert abs(dec(got) - v) <= bound()


def check_derivatives(m: ExpectedUtility, z, q, grad, hess, rel) -> None:
    """Gradient and Hessian diagonal at every state of positive mass against the 60-digit ``grad`` and
    ``hess``: relative ``rel(k)`` for normal results; an overflow must be the same infinity and an
    underflow within 16 subnormal ulps (2^-1070: a few roundings of 2^-1075 each)."""
    gg, hh = m.gradient(z, q), np.diag(m.hessian(z, q))
    for k in np.flatnonzero(q > 0):
        for got_k, want in ((gg[k], grad[k]), (hh[k], hess[k])):
            want_f = to_float(want)
            if math.isinf(want_f) or abs(want_f) < TINYF:
                assert got_k == want_f or abs(got_k - want_f) <= 2.0**-1070
            else:
                assert got_k == pytest.approx(want_f, rel=rel(k))


def test_cara_no_intermediate_overflow():
    m = ExpectedUtility("cara", gamma=1)
    v, grad, hess = cara_oracle([0.5, 0.5], [-710.0, 0.0], 1.0)
    # 0.5 e^710 = 1.117e308 fits a double, e^710 does not; the log-domain value carries the rounding
    # of L = log E (|L| ~ 710: 710 EPS relative) -- the same as exp(710) itself has from its argument
    assert m.value([-710.0, 0.0], [0.5, 0.5]) == pytest.approx(float(v), rel=800 * EPS)
    assert m.gradient([-710.0, 0.0], [0.5, 0.5]) == pytest.approx([float(t) for t in grad], rel=800 * EPS)
    assert np.diag(m.hessian([-710.0, 0.0], [0.5, 0.5])) == pytest.approx([float(t) for t in hess],
                                                                          rel=800 * EPS)
    # -inf only when the true value is below -1.8e308
    assert m.value([-720.0, 0.0], [0.5, 0.5]) == -math.inf and cara_oracle([.5, .5], [-720, 0], 1)[0] < -MAXF
    # E overflows a double but (1 - E)/gamma does not: gamma = 1e4, E = 0.5 e^712 = 8.2e308
    big = ExpectedUtility("cara", gamma=1e4)
    v = cara_oracle([0.5, 0.5], [-0.0712, 0.0], 1e4)[0]
    assert big.value([-0.0712, 0.0], [0.5, 0.5]) == pytest.approx(float(v), rel=800 * EPS)
    # a probability 1e-300 with e^720 (inf): q e^a = e^29 in the log domain
    v, grad, _ = cara_oracle([1e-300, 1 - 1e-300], [-720.0, 1.0], 1.0)
    assert m.value([-720.0, 1.0], [1e-300, 1 - 1e-300]) == pytest.approx(float(v), rel=2000 * EPS)
    assert m.gradient([-720.0, 1.0], [1e-300, 1 - 1e-300])[0] == pytest.approx(float(grad[0]), rel=2000 * EPS)


def test_cara_small_arguments_keep_relative_accuracy():
    """u(z) ~ z for tiny z: the per-state expm1 form (a log-sum-exp would lose 1e-6 relative here)."""
    m = ExpectedUtility("cara", gamma=2.0)
    q, z = [0.3, 0.7], [1e-10, -3e-11]
    v = cara_oracle(q, z, 2.0)[0]
    assert m.value(z, q) == pytest.approx(float(v), rel=8 * EPS)  # a few roundings, no cancellation


@FAST
@given(hostile_probabilities(max_states=5), st.data(), st.sampled_from([1e-3, 0.5, 1.0, 7.0, 1e3]))
def test_cara_against_decimal(q, data, gamma):
    q = validate_probabilities(q)
    z = np.array(data.draw(st.lists(st.sampled_from([-800.0, -710.0, -50.0, -1e-12, 0.0, 1e-9, 1.0, 50.0,
                                                     1e6]), min_size=q.size, max_size=q.size))) / gamma
    m = ExpectedUtility("cara", gamma=gamma)
    v, grad, hess = cara_oracle(q.tolist(), z.tolist(), gamma)
    assume(abs(abs(v) - Decimal(MAXF)) > Decimal(MAXF) * Decimal("1e-10"))  # not at the overflow edge

    def bound() -> Decimal:
        # conditioning: a = -gamma z carries one rounding, so e^a carries |a| EPS/2; log q in the log
        # domain |log q| EPS; the sums and expm1 a few EPS per term:
        # |error| <= 4 EPS sum q (1 + e^a)(|a| + |log q| + 2) / gamma
        a = [-dec(gamma) * dec(t) for t in z]
        return 4 * Decimal(EPS) * sum(dec(qi) * (1 + ai.exp()) * (abs(ai) + abs(dec(qi).ln()) + 2)
                                      for qi, ai in zip(q, a, strict=True) if qi > 0) / dec(gamma)

    check_value(m.value(z, q), v, bound)
    # one rounding of a (|a| EPS/2), log q in the log domain (|log q| EPS): relative
    check_derivatives(m, z, q, grad, hess,
                      lambda k: 2 * EPS * (abs(gamma * z[k]) + abs(math.log(q[k])) + 4))


def test_cara_cvx_form_matches_value():
    """(1 - sum exp(log q - gamma z))/gamma in cvxpy, rows grouped by support; CLARABEL's optimum
    with the argument fixed equals the value to the solver's tolerance (1e-7)."""
    sp = Scenarios([0.2, 0.3, 0.5])
    x = np.array([1.5, -0.4, 0.2])
    agents = [ExpectedUtility("cara", gamma=0.7, wealth=0.1),
              ExpectedUtility("cara", gamma=0.7, wealth=0.1, law=[0.5, 0.0, 0.5]),
              ExpectedUtility("cara", gamma=0.7, wealth=0.1, law=[0.1, 0.6, 0.3])]
    X = cp.Variable((3, 3))
    form = ExpectedUtility.batch_form(agents, X, sp)
    prob = cp.Problem(cp.Maximize(cp.sum(form.expr)), [np.tile(x, (3, 1)) == X])
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    assert form.expr.value == pytest.approx([m.value(x, sp) for m in agents], abs=1e-7)
    mixed = [agents[0], ExpectedUtility("crra", eta=2.0, shift=3.0)]  # the row-by-row branch
    form = ExpectedUtility.batch_form(mixed, X[:2], sp)
    prob = cp.Problem(cp.Maximize(cp.sum(form.expr)), [np.tile(x, (3, 1)) == X])
    prob.solve(solver="CLARABEL")
    assert form.expr.value == pytest.approx([m.value(x, sp) for m in mixed], abs=1e-7)


def crra_oracle(q, z, eta, shift):
    """``sum q u(z)``, ``q y^-eta`` and ``-eta q y^(-eta-1)`` with ``y = z + s``, 60 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        e, s = dec(eta), dec(shift)
        k = 1 - e
        val, mass, grad, hess = Decimal(0), Decimal(0), [], []
        for qi, zi in zip(q, z, strict=True):
            y, qd = dec(zi) + s, dec(qi)
            if eta == 1:
                u = y.ln() - (s.ln() if shift > 0 else 0)
            else:
                u = (y ** k - (s ** k if shift > 0 else 0)) / k
            val += qd * u
            mass += abs(qd * u)
            grad.append(qd * y ** (-e))
            hess.append(-e * qd * y ** (-e - 1))
        return val, mass, grad, hess


def test_crra_traps():
    # eta = 10, y = 1e-40 with probability 1e-300: y^-9 / 9 overflows, q y^-9 / 9 = 1.1e59 does not
    m = ExpectedUtility("crra", eta=10, shift=0)
    q, z = [1e-300, 1 - 1e-300], [1e-40, 1.0]
    v, _, grad, _ = crra_oracle(q, z, 10, 0)
    # log domain for the first term: exp(log q + (1-eta) log y) carries |log q| + 9 |log y| ~ 1500 EPS
    assert m.value(z, q) == pytest.approx(float(v), rel=2000 * EPS)
    assert m.gradient(z, q)[0] == pytest.approx(float(grad[0]), rel=2000 * EPS)
    # shift 1e6, z = 1: ((1e6 + 1)^-1 - 1e-6)/(-1) = 1/(1e6 (1e6 + 1)); the difference of powers lost
    # six digits (9.99999000001e-13 came out as 9.999989998934512e-13)
    u = ro.measures.CRRA(eta=2.0, shift=1e6)
    exact = Fraction(1, 10**6) - 1 / (Fraction(10**6) + 1)
    assert abs(Fraction(float(u(1.0))) - exact) <= 4 * EPS * exact  # log1p/expm1: a few roundings
    # eta near 1: (10^(2^-30) - 1) / 2^-30 ~ log 10 lost 7 digits to cancellation
    eta = 1 - 2.0**-30
    v = crra_oracle([1.0], [9.0], eta, 1.0)[0]  # (value, sum |q u|, gradient, Hessian)
    assert float(ro.measures.CRRA(eta=eta, shift=1.0)(9.0)) == pytest.approx(float(v), rel=8 * EPS)
    # the pointwise utility is still -inf where it is not representable, and a domain edge stays
    assert ro.measures.CRRA(eta=3.0)(1e-160) == -math.inf
    assert float(ro.measures.CRRA(eta=0.5, shift=4.0)(-4.0)) == pytest.approx(-4.0, rel=2 * EPS)


@FAST
@given(hostile_probabilities(max_states=4), st.data(), st.sampled_from([0.3, 1.0, 2.0, 3.0, 10.0]),
       st.sampled_from([0.0, 1e-6, 1.0, 1e6]))
def test_crra_against_decimal(q, data, eta, shift):
    q = validate_probabilities(q)
    y = np.array(data.draw(st.lists(st.sampled_from([1e-40, 1e-10, 0.5, 1.0, 1.5, 1e10, 1e40]),
                                    min_size=q.size, max_size=q.size)))
    z = y - shift
    assume(np.all(z + shift > 0) and np.all(z > -shift))
    m = ExpectedUtility("crra", eta=eta, shift=shift)
    v, mass, grad, hess = crra_oracle(q.tolist(), z.tolist(), eta, shift)
    assume(abs(abs(v) - Decimal(MAXF)) > Decimal(MAXF) * Decimal("1e-10"))

    def bound() -> Decimal:
        # per term: r = log(y/s) to EPS (|log y| + |log s| + 2) absolute, y = z + s one rounding, the
        # power and the log-domain product EPS |log q + (1-eta) log base|; so |error| <= 8 EPS
        # sum q top (|log y| + |log s| + |log q| + 4 + 2/|1-eta|) plus n EPS sum |q u| for the sum
        # (top = max(y^(1-eta), s^(1-eta), 1))
        s = dec(shift)
        total = Decimal(0)
        for qi, zi in zip(q.tolist(), z.tolist(), strict=True):
            if qi == 0:
                continue
            yd, qd = dec(zi) + s, dec(qi)
            tops = [yd ** (1 - dec(eta))] + ([s ** (1 - dec(eta))] if shift > 0 else [])
            logs = abs(yd.ln()) + (abs(s.ln()) if shift > 0 else 0) + abs(qd.ln()) + 4
            inv = 2 / abs(1 - dec(eta)) if eta != 1 else Decimal(0)
            total += 8 * Decimal(EPS) * qd * max(max(tops), Decimal(1)) * (logs + inv)
        return total + q.size * Decimal(EPS) * mass

    check_value(m.value(z, q), v, bound)
    # y = z + s (one rounding: eta EPS), the power or the log domain (|log| EPS): relative
    check_derivatives(m, z, q, grad, hess,
                      lambda k: 2 * EPS * ((eta + 1) * (abs(math.log(y[k])) + 1) + abs(math.log(q[k])) + 4))


def test_expected_utility_agrees_with_the_direct_formula_on_moderate_inputs():
    rng = np.random.default_rng(2)
    p = validate_probabilities(rng.dirichlet(np.ones(30)))
    x = rng.normal(size=30)
    cases = ((ExpectedUtility("cara", gamma=0.8, wealth=0.3), p @ (-np.expm1(-0.8 * (0.3 + x)) / 0.8)),
             (ExpectedUtility("crra", eta=2.5, shift=4.0, wealth=1.0),
              p @ (((5.0 + x) ** -1.5 - 4.0 ** -1.5) / -1.5)))
    for m, direct in cases:
        # both are accurate to a few roundings per term on these inputs (no overflow, no cancellation
        # beyond the sum's of 30 terms): 1e-12 relative
        assert m.value(x, p) == pytest.approx(direct, rel=1e-12)
