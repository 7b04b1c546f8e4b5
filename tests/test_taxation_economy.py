"""DefaultableInsurer, scenario sets, residual claims, the four schemes and the single event; bad economies;
blocks on any runner give the numbers of the serial run."""

import numpy as np
import pytest

from riskopt import ModelError
from riskopt.measures import ExpectedUtility
from riskopt.mechanisms.taxation import (
    DefaultableInsurer,
    ExponentialPayments,
    MatrixSource,
    PowerPayments,
    StormModel,
    StormSource,
    run_economy,
    storm_study,
    synthetic_regions,
)


def _sample(n=6, N=4000, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(8, 12, n)
    common = rng.random(N) < 0.15
    tau = np.where(common[None, :], rng.beta(2, 2, (n, N)), rng.beta(0.2, 5, (n, N)))
    return [f"r{i}" for i in range(n)], w, tau * w[:, None]


def test_insurer_sets_claims_and_hybrid_by_hand():
    names, w, X = _sample()
    ins = DefaultableInsurer(theta=0.3, eta=0.1, own_capital=4.0)
    eco = run_economy(MatrixSource(X), names, w, insurer=ins)
    mean, sd = X.mean(axis=1), X.std(axis=1)
    assert np.allclose(eco.premiums, 1.3 * mean + 0.1 * sd, rtol=1e-12)
    assert eco.k == pytest.approx(eco.premiums.sum()) and pytest.approx(eco.k + 4.0) == eco.K
    S = X.sum(axis=0)
    probs = [np.mean(eco.k > S), np.mean((eco.k <= S) & (S <= eco.K)), np.mean(S > eco.K)]
    # block sums of N masses 1/N: rounding up to N eps (6.5e-14 measured at N = 4,000)
    assert np.allclose(eco.comparison.probability, probs, atol=S.size * np.finfo(float).eps, rtol=0)
    d = S > eco.K
    eps = (X[:, d] * (1 - eco.K / S[d])).sum(axis=1) / S.size
    assert np.allclose(eco.expected_residual_claim, eps, rtol=1e-12)
    assert eps.sum() == pytest.approx(eco.expected_residual, rel=1e-12)  # sum eps_i = E[(S - K)^+]
    assert np.allclose(eco.caps, w - eco.premiums)
    h = eco.hybrid
    assert h.converged and h.residual < 1e-10
    T = h.rule.taxes(np.maximum(S - eco.K, 0))
    assert np.allclose(T.mean(axis=1), eps, rtol=1e-9)
    # the hybrid disutility on Omega_- by hand, and 0 difference elsewhere
    v_hyb = np.exp(eco.premiums[:, None] + T[:, d]).mean(axis=1)
    assert np.allclose(eco.comparison.means["hybrid"][:, 2], v_hyb, rtol=1e-12)
    diff = eco.comparison.differences["hybrid - insurance"]
    assert np.all(diff[:, :2] == 0)
    # baseline: E[e^{X_i} | Omega_+], also through the library's expected-utility measure
    fav = eco.k > S
    base = np.exp(X[:, fav]).mean(axis=1)
    assert np.allclose(eco.comparison.means["baseline"][:, 0], base, rtol=1e-12)
    eu = ExpectedUtility("cara", gamma=1.0)  # -U(-l) = E[e^l] - 1 (risk orientation of a utility)
    p = np.full(fav.sum(), 1.0 / fav.sum())
    assert eu.risk(X[0, fav], p) + 1.0 == pytest.approx(base[0], rel=1e-12)


def test_single_event_accounting():
    names, w, X = _sample(seed=3)
    insurer = DefaultableInsurer(theta=0.2, capital=None, own_capital=3.0)
    eco = run_economy(MatrixSource(X), names, w, insurer=insurer, event="largest")
    ev = eco.event
    t = ev.table
    assert ev.index == int(np.argmax(X.sum(axis=0))) and ev.scenario_set == "default"
    assert np.allclose(t["insurer_pays"] + t["residual_claim"], t["loss"])
    assert t["insurer_pays"].sum() == pytest.approx(eco.K)
    assert t["tax_hybrid"].sum() == pytest.approx(ev.S_eps)
    assert t["residual_claim"].sum() == pytest.approx(ev.S_eps)
    assert t["tax_pure"].sum() == pytest.approx(ev.S)
    assert np.all(t["tax_hybrid"] <= eco.caps + 1e-12)
    rows = ev.rows(eco.names)
    assert rows[0]["name"] == "r0" and set(rows[0]) >= {"loss", "net_transfer_hybrid"}


def test_power_disutility_economy():
    names, w, X = _sample(seed=4)
    eco = run_economy(MatrixSource(X), names, w, insurer=DefaultableInsurer(theta=0.3, own_capital=3.0),
                      disutility=PowerPayments(0.5, 2.0))
    assert eco.hybrid.converged and eco.pure.converged
    assert "power" in eco.hybrid.family.convention or "p (b_i" in eco.hybrid.family.convention


def test_bad_economies():
    names, w, X = _sample()
    with pytest.raises(ModelError, match=r"insurer.capital = .*total wealth.*no default possible"):
        run_economy(MatrixSource(X), names, w, insurer=DefaultableInsurer(capital=float(w.sum()) + 1))
    with pytest.raises(ModelError, match=r"regions\[r\d\].wealth.*premium.*w_i - pi_i is <= 0"):
        run_economy(MatrixSource(X), names, w, insurer=DefaultableInsurer(theta=40.0, own_capital=0.0))
    with pytest.raises(ModelError, match="either capital"):
        DefaultableInsurer(capital=10.0, own_capital=1.0)
    with pytest.raises(ModelError, match=r"insurer\.theta"):
        DefaultableInsurer(theta=-0.1)
    with pytest.raises(ModelError, match=r"insurer.surplus_shares\[r\d\].*free enrichment"):
        shares = [0.5, 0, 0, 0, 0, 0]
        run_economy(MatrixSource(X), names, w,
                    insurer=DefaultableInsurer(theta=0.3, own_capital=3.0, surplus_shares=shares))
    bad = X.copy()
    bad[2, 7] = np.nan
    with pytest.raises(ModelError, match=r"losses\[2, 7\] = nan"):
        MatrixSource(bad)
    with pytest.raises(ModelError, match="distinct region names"):
        run_economy(MatrixSource(X), ["a"] * 6, w, insurer=DefaultableInsurer(theta=0.3, own_capital=3.0))
    with pytest.raises(ModelError, match=r"insurer.capital.*no scenario has S > K"):
        run_economy(MatrixSource(X), names, w,
                    insurer=DefaultableInsurer(capital=float(X.sum(axis=0).max()) + 1))


def _runner_reversed(fn, items):
    """A runner that evaluates the items in reverse order (as out-of-order workers would)."""
    return list(reversed([fn(x) for x in reversed(list(items))]))


def test_blocks_equal_on_any_runner_and_premium_bases():
    regions, _ = synthetic_regions(25, 11)
    model = StormModel(regions)
    src = StormSource(model, 6000, 5, block=1000)
    kw = {"insurer": DefaultableInsurer(theta=0.3, own_capital=10.0),
          "expected_losses": model.expected_losses()}
    a = run_economy(src, regions.names, regions.wealth, **kw)
    b = run_economy(src, regions.names, regions.wealth, runner=_runner_reversed, **kw)
    assert np.array_equal(a.hybrid.alpha, b.hybrid.alpha)
    assert np.array_equal(a.comparison.means["hybrid"], b.comparison.means["hybrid"])
    c = run_economy(src, regions.names, regions.wealth, premium_basis="expected", **kw)
    assert np.allclose(c.premiums, 1.3 * model.expected_losses(), rtol=1e-15)
    assert c.k == pytest.approx(a.k, rel=0.05)  # sample means near the exact ones


@pytest.mark.slow
def test_dask_local_cluster_equals_serial():
    """The study split across dask workers (LocalCluster) gives the serial numbers exactly."""
    from riskopt.sweep import Dask

    kw = {"scenarios": 8000, "seed": 3, "streams": "blocks", "block": 2000,
          "insurer": DefaultableInsurer(theta=0.3, own_capital=15.0), "disutility": ExponentialPayments()}
    serial = storm_study(30, **kw)
    split = storm_study(30, runner=Dask(workers=2), **kw)
    assert np.array_equal(serial.economy.hybrid.alpha, split.economy.hybrid.alpha)
    assert np.array_equal(serial.economy.comparison.means["pure"], split.economy.comparison.means["pure"])
    assert serial.to_dict()["scheme_comparison"] == split.to_dict()["scheme_comparison"]


def test_block_sums_do_not_depend_on_the_blas_thread_count():
    """A dask worker and the main process may run BLAS on different thread counts, which splits
    ``X @ p`` (and the copula product) differently: the block path pins BLAS to one thread so the
    bits agree (the 212-region, 8192-scenario block differed in the last bits before)."""
    from threadpoolctl import threadpool_limits

    from riskopt.mechanisms.taxation.economy import _LossTask  # the block task itself (private)

    regions, _ = synthetic_regions()
    task = _LossTask(StormSource(StormModel(regions), 8192, 7, 8192), second_moment=True)
    with threadpool_limits(limits=2, user_api="blas"):
        many = task(0)
    with threadpool_limits(limits=1, user_api="blas"):
        one = task(0)
    for a, b in zip(many, one, strict=True):
        assert np.array_equal(a, b)


def test_surplus_shares_and_utility_payments():
    """Surplus shares pay s_i (k - S) back on Omega_+; a CARA utility of final wealth values the
    payments by v(l) = -u(w - l) (riskopt.measures.utility) and gives the exponential tax family."""
    from riskopt.mechanisms.taxation import UtilityPayments

    names, w, X = _sample(seed=5)
    shares = np.full(6, 0.02)
    disp = UtilityPayments("cara", gamma=0.5)
    insurer = DefaultableInsurer(theta=0.3, own_capital=3.0, surplus_shares=shares)
    eco = run_economy(MatrixSource(X), names, w, insurer=insurer, disutility=disp)
    total = X.sum(axis=0)
    fav = total < eco.k
    pay = eco.premiums[:, None] - shares[:, None] * (eco.k - total[fav])[None, :]
    by_hand = (-(1 - np.exp(-0.5 * (w[:, None] - pay))) / 0.5).mean(axis=1)
    assert np.allclose(eco.comparison.means["insurance"][:, 0], by_hand, rtol=1e-12)
    assert "CARA" in eco.hybrid.family.convention and eco.hybrid.converged
