"""Synthetic storm generator (spec §13): quantile table accuracy, draw streams, copula repair, CSV
regions; the spec's seeded instance (slow)."""

import numpy as np
import pytest
from scipy import special

from riskopt import ModelError, RiskoptWarning
from riskopt.mechanisms.taxation import (
    BetaQuantileTable,
    StormModel,
    StormRegions,
    StormTrack,
    regions_from_csv,
    storm_study,
    synthetic_regions,
)
from riskopt.space import nearest_correlation


@pytest.mark.parametrize("step", [0.005, 0.01])
def test_beta_quantile_table_error(step):
    """Stated error of the fast quantile: <= 1e-10 relative at h = 0.005, <= 1e-9 at h = 0.01
    (a in [0.0125, 1/3], b = 0.5), including the tails handled exactly beyond |z| = 7."""
    a = np.array([0.0125, 0.03, 0.1, 0.2, 1 / 3])
    table = BetaQuantileTable(a, 0.5, step=step)
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 2.0, 20_000) for _ in a])
    z[:, :4] = [-7.5, 7.2, -6.9, 6.99]
    tau = table(z.copy())
    exact = special.betaincinv(a[:, None], 0.5, special.ndtr(z))
    big = exact > 1e-290
    rel = np.abs(tau[big] / exact[big] - 1)
    assert rel.max() < (1e-10 if step == 0.005 else 1e-9)
    assert np.all(tau[~big] < 1e-280)
    assert np.all((tau >= 0) & (tau <= 1))


def test_synthetic_regions_and_track():
    regions, _ = synthetic_regions()
    assert regions.n == 212 and len(set(regions.names)) == 212
    assert regions.wealth.sum() == pytest.approx(2279.12074359, abs=1e-6)  # spec §13: 2279.1
    d = StormTrack().distances(np.array([[-10.0, 44.0], [10.0, 52.0], [30.0, 60.0], [30.0, 61.5]]))
    assert np.allclose(d, [0, 0, 0, 1.0], atol=1e-12, rtol=0)


def test_single_stream_blocks_equal_one_draw():
    """Drawing block after block from one generator is the spec's one-shot draw Z = G L'."""
    regions, _ = synthetic_regions(20, 5)
    model = StormModel(regions)
    X = model.generate(3000, np.random.default_rng(9), block=512)
    G = np.random.default_rng(9).standard_normal((3000, 20))
    Z = G @ model.factor.T
    tau = special.betaincinv(model.shape_a[None, :], 0.5, special.ndtr(Z))
    assert np.allclose(X, (tau * regions.wealth).T, rtol=1e-9, atol=1e-12)


def test_block_streams_do_not_depend_on_order():
    """streams='blocks': block j has its own generator, so any order (any worker) gives the same."""
    regions, _ = synthetic_regions(15, 3)
    model = StormModel(regions)
    X = model.generate(5000, 42, block=1000, streams="blocks")
    parts = {j: model.draw_block(model.block_generator(42, j), 1000) for j in (4, 2, 0, 3, 1)}
    assert np.array_equal(X, np.hstack([parts[j] for j in range(5)]))
    assert not np.array_equal(X, model.generate(5000, 43, block=1000, streams="blocks"))


def test_copula_not_psd_is_repaired_with_warning_or_refused():
    regions, _ = synthetic_regions(3, 1)
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.warns(RiskoptWarning, match="not positive semidefinite"):
        model = StormModel(regions, corr=bad)
    assert np.linalg.eigvalsh(model.correlation).min() > -1e-12
    assert np.allclose(np.diag(model.correlation), 1.0)
    # the repair is riskopt.space.nearest_correlation, done on the model's one eigendecomposition
    assert np.allclose(model.correlation, nearest_correlation(bad)[0], atol=1e-14, rtol=0)
    with pytest.raises(ModelError, match=r"storm.corr = 'min eigenvalue -0\.\d+'"):
        StormModel(regions, corr=bad, psd="raise")
    with pytest.raises(ModelError, match=r"storm\.corr"):
        StormModel(regions, corr=np.eye(2))


def test_low_rank_factor_keeps_marginals_and_reports_error():
    regions, _ = synthetic_regions(60, 2)
    exact = StormModel(regions)
    low = StormModel(regions, factor_rank=10)
    assert low.correlation_error > 0 and exact.correlation_error == 0
    implied = low.factor @ low.factor.T + np.diag(low.idiosyncratic ** 2)
    assert np.allclose(np.diag(implied), 1.0)
    off = np.abs(implied - exact.correlation)
    np.fill_diagonal(off, 0)
    assert off.max() == pytest.approx(low.correlation_error, rel=1e-12)


def test_regions_from_csv(tmp_path):
    good = tmp_path / "r.csv"
    good.write_text("name,wealth,x,y\nBretagne,11.2,-3.0,48.1\nNormandie,11.4,0.1,49.2\n")
    regions = regions_from_csv(good)
    assert regions.names == ("Bretagne", "Normandie") and regions.wealth.tolist() == [11.2, 11.4]
    nan = tmp_path / "nan.csv"
    nan.write_text("name,wealth,x,y\nA,11.2,-3.0,48.1\nB,nan,0.1,49.2\n")
    with pytest.raises(ModelError, match=r"storm.csv line 3.wealth = 'nan'"):
        regions_from_csv(nan)
    dup = tmp_path / "dup.csv"
    dup.write_text("name,wealth,x,y\nA,11.2,-3.0,48.1\nA,11.0,0.1,49.2\n")
    with pytest.raises(ModelError, match=r"regions\[1\].name = 'A'.*duplicated"):
        regions_from_csv(dup)
    cols = tmp_path / "cols.csv"
    cols.write_text("name,gdp\nA,1\n")
    with pytest.raises(ModelError, match="header"):
        regions_from_csv(cols)
    with pytest.raises(ModelError, match="wealth"):
        StormRegions(("a",), np.array([-1.0]), np.zeros((1, 2)))


@pytest.mark.slow
def test_spec_instance_numbers():
    """Spec §13 seeded run end to end: E[S] = 368.4, k = 479.0, P(Omega) = 0.7394 / 0.1238 / 0.1368,
    E[S_eps] = 72.83, 13,676 defaults; hybrid alpha from 2.0e-6 to 0.115; the scheme comparison
    (mean over regions of the differences, share of regions better off)."""
    study = storm_study(212, 100_000)
    e = study.economy
    assert study.model.min_eigenvalue == pytest.approx(3.4e-4, rel=0.02)
    assert e.probs @ e.S == pytest.approx(368.4, abs=0.05)
    assert e.k == pytest.approx(479.0, abs=0.05)
    assert np.allclose(e.comparison.probability, [0.7394, 0.1238, 0.1368], atol=5e-5, rtol=0)
    assert int(np.sum(e.S > e.K)) == 13_676
    assert e.expected_residual == pytest.approx(72.83, abs=0.005)
    assert e.hybrid.alpha.min() == pytest.approx(2.0e-6, abs=0.05e-6)
    assert e.hybrid.alpha.max() == pytest.approx(0.115, abs=0.0005)
    assert study.verified["hybrid"] < 1e-10 and study.verified["pure"] < 1e-10
    top = e.hybrid.law.support()[1]
    assert int(np.sum(e.hybrid.rule.cap_start < top)) > 0  # some regions reach their cap
    ins, pure, hyb = "insurance - baseline", "pure - baseline", "hybrid - insurance"
    expected = {("Omega_+", ins): (-25.2, 34), ("Omega_+", pure): (-46.3, 100),
                ("Omega_=", ins): (-2034, 100), ("Omega_=", pure): (-1627, 100),
                ("Omega_-", ins): (-17084, 100), ("Omega_-", pure): (-4829, 80),
                ("Omega_-", hyb): (-97.2, 64)}
    rows = {(r["set"], r["difference"]): r for r in e.comparison.summary()}
    for key, (mean, share) in expected.items():
        digits = 0.05 if abs(mean) < 100 else 0.5
        assert rows[key]["mean_over_regions"] == pytest.approx(mean, abs=digits), key
        assert round(100 * rows[key]["share_better_off"]) == share, key
