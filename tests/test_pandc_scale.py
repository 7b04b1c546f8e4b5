"""Price-and-choose in any currency: scale invariance, nearly risk-neutral pools, and checks that fail.

Entropic utilities satisfy ``U_gamma(c X) = c U_{c gamma}(X)``: scaling every loss by c and every risk
aversion by 1/c leaves the shares, prices and the game unchanged and scales welfare and payoffs by c.
Before: at loss 1e-20 (gammas / 1e-20) the game's absolute tolerances (ties at 1e-12, perturbations
of 1e-2) made every menu point a tie, eta came out -0.77 instead of 0.22 and the run said
``verified``; with the gammas kept (gamma L = 1e-20, nearly risk neutral) the allocation, a
difference of logs over gamma, cancelled to 0 (3 farmers) or to shares of 7e134 (50 farmers, loss
1e-150), ``optimal``. Independent routes: the unit-loss run, the closed form of
:func:`riskopt.mechanisms.pareto.entropic_closed_form` (exact for a common prior), series expansions.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

from riskopt.mechanisms import price_and_choose as pc
from riskopt.mechanisms.pareto import entropic_closed_form
from riskopt.mechanisms.price_and_choose import (
    lattice_menu,
    log_mean_exp,
    play,
    pool_optimum,
    utility_table,
    verify,
)
from riskopt.space import Scenarios
from riskopt.status import Status

GAMMAS = np.array([1.0, 2.0, 4.0])
SCALES = (1.0, 1e-20, 1e-150, 1e6)
#: the issue's tolerance: every step is a few roundings of O(1) numbers at unit scale, so 1e-9 is
#: generous; it would catch any absolute tolerance or cancellation (those errors are O(1))
REL = 1e-9
#: seed 000, spec §3.6 (Example 1A, lattice m = 2): W*, eta, b*
W_STAR, ETA, BID = -0.3898293377, 0.22342122, 0.14894748


def example1(c: float) -> pc.Pool:
    return pc.Pool.independent(GAMMAS / c, 0.1, c)


def hurricane(c: float, *, scale_gammas: bool = True) -> pc.Pool:
    rng = np.random.default_rng(2505)
    gammas, p = rng.uniform(0.5, 5.0, 50), rng.uniform(0.02, 0.2, 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pc.Pool.independent(gammas / c if scale_gammas else gammas, p, c)


@pytest.fixture(scope="module")
def games():
    return {c: pc.solve(pc.PriceAndChoose(example1(c), menu=pc.MenuSpec("lattice", m=2))) for c in SCALES}


def _closed_form(res: pc.PriceAndChooseResult):
    full = res.optimum.law
    return entropic_closed_form(Scenarios(full.p, {"X": full.X}), res.spec.pool.gammas)


@pytest.mark.parametrize("c", SCALES)
def test_example1_is_the_same_game_at_every_scale(games, c):
    ref, res = games[1.0], games[c]
    assert res.status is Status.VERIFIED and res.to_dict()["status"] == "verified"
    opt, opt1 = res.optimum.optimum, ref.optimum.optimum
    np.testing.assert_allclose(opt.average_shares, opt1.average_shares, rtol=REL)
    np.testing.assert_allclose(opt.shares, opt1.shares, rtol=REL)
    np.testing.assert_allclose(opt.prices, opt1.prices, rtol=REL)
    assert res.welfare / c == pytest.approx(ref.welfare, rel=REL)
    assert res.eta / c == pytest.approx(ref.eta, rel=REL)
    assert res.auction.bid / c == pytest.approx(ref.auction.bid, rel=REL)
    np.testing.assert_allclose(res.game.avg / c, ref.game.avg, rtol=REL)
    np.testing.assert_allclose(res.auction.payoffs / c, ref.auction.payoffs, rtol=REL)
    # and the spec's numbers (printed to 8-10 digits)
    assert res.welfare / c == pytest.approx(W_STAR, abs=1e-10)
    assert res.eta / c == pytest.approx(ETA, abs=1e-8) and res.auction.bid / c == pytest.approx(BID, abs=1e-8)
    # the closed form, exact for a common prior (lam X is O(1) here at every scale: it is accurate)
    cf = _closed_form(res)
    np.testing.assert_allclose(opt.average_shares, cf.shares, rtol=REL)
    assert res.welfare == pytest.approx(cf.welfare, rel=REL)


@pytest.mark.parametrize("c", SCALES)
def test_a_hurricane_pool_at_every_scale(c):
    """50 farmers, welfare only (no menu): shares, marginal shares and welfare / c as at unit loss."""
    ref = pc.solve(pc.PriceAndChoose(hurricane(1.0), menu=None))
    res = pc.solve(pc.PriceAndChoose(hurricane(c), menu=None))
    assert res.status is Status.OPTIMAL
    np.testing.assert_allclose(res.optimum.optimum.shares, ref.optimum.optimum.shares, rtol=REL)
    assert res.welfare / c == pytest.approx(ref.welfare, rel=REL)
    cf = _closed_form(res)
    np.testing.assert_allclose(res.optimum.optimum.average_shares, cf.shares, rtol=REL)
    assert res.welfare == pytest.approx(cf.welfare, rel=REL)


@pytest.mark.parametrize("c", [1e-20, 1e-150])
def test_nearly_risk_neutral_pools_keep_their_shares(c):
    """gamma L = 1e-20 and 1e-150: the optimum is still the proportional rule (any scale, common prior)
    and W* = E X - lam Var X / 2 + ..., so W* / c = E X / c to 1e-12 (the correction is lam c ~ c).
    Before: shares 0 (3 farmers) and 7e134 (50 farmers, 1e-150), status optimal."""
    for pool in (pc.Pool.independent(GAMMAS, 0.1, c), hurricane(c, scale_gammas=False)):
        res = pc.solve(pc.PriceAndChoose(pool, menu=None))
        opt = res.optimum.optimum
        w = (1 / pool.gammas) / np.sum(1 / pool.gammas)
        np.testing.assert_allclose(opt.shares, np.broadcast_to(w[:, None], opt.shares.shape), rtol=1e-12)
        assert res.welfare / c == pytest.approx(-float(np.sum(pool.p)), rel=1e-12)
        assert res.status is Status.OPTIMAL and res.residual < 1e-12


def test_utilities_of_a_nearly_risk_neutral_player():
    """U = E F - (gamma / 2) Var F + O(gamma^2 F^3): with F ~ 1e-20 and gamma = 1 the expansion's first
    two terms are exact in double precision (the plain log-sum-exp returned 0 here)."""
    po = pool_optimum(pc.Pool.independent(GAMMAS, 0.1, 1e-20))
    menu = lattice_menu(po.optimum.F, po.optimum.gaps, 1)
    U = utility_table(menu.allocations, GAMMAS, po.laws.vertices)
    q = po.laws.vertices[:, 0, :]
    mean = np.einsum("is,mis->mi", q, menu.allocations)
    var = np.einsum("is,mis->mi", q, menu.allocations ** 2) - mean ** 2
    np.testing.assert_allclose(U, mean - GAMMAS / 2 * var, rtol=1e-14)


def test_log_mean_exp():
    rng = np.random.default_rng(0)
    z, w = rng.normal(size=50), rng.dirichlet(np.ones(50))
    eps = 1e-30
    mean, var = w @ z, w @ z ** 2 - (w @ z) ** 2
    assert log_mean_exp(eps * z, np.log(w)) == pytest.approx(eps * mean + eps ** 2 * var / 2, rel=1e-14)
    big = np.array([0.0, -1000.0, 800.0, 5.0])
    lw = np.log(np.array([0.1, 0.6, 1e-10, 0.3 - 1e-10]))
    assert log_mean_exp(big, lw) == pytest.approx(logsumexp(lw + big), rel=1e-15)


def test_the_spne_check_fails_on_an_optimum_that_is_not_in_c():
    """The four checks compare the game with itself: a menu built around a nonsensical optimum (its
    shares blown up as the cancellation did) is a consistent game. The soundness check is not fooled."""
    po = pool_optimum(example1(1.0))
    opt = po.optimum
    good = lattice_menu(opt.F, opt.gaps, 2)
    U = utility_table(good.allocations, GAMMAS, po.laws.vertices)
    assert verify(good, play(good, U), po.atoms.p, deviations=50).passed
    bad_F = opt.F * np.array([[1e5], [1.0], [1.0]])       # farmer 1's shares x 1e5: budget broken
    bad = lattice_menu(bad_F, opt.gaps, 2)
    Ub = utility_table(bad.allocations, GAMMAS, po.laws.vertices)
    ver = verify(bad, play(bad, Ub), po.atoms.p, deviations=50)
    assert not ver.passed and not ver.sound["ok"] and ver.sound["budget_error"] > 1.0


def test_a_broken_certificate_is_not_ok(games):
    """The result's status reads the optimum's certificate in the problem's units: a budget off by a
    tenth of the largest loss is certificate_failed however well the game verifies."""
    res = games[1e-20]
    opt = res.optimum.optimum
    cert = dict(opt.certificate, budget=0.1 * float(np.abs(opt.x).max()))
    broken = dataclasses.replace(res, optimum=dataclasses.replace(res.optimum, optimum=dataclasses.replace(
        opt, certificate=cert)))
    assert broken.spne.passed and broken.status is Status.CERTIFICATE_FAILED
