"""The CLIMADA adapter (riskopt.climada_impact).

Without CLIMADA: the grouping and the sparse aggregation on small fake impacts (a scipy.sparse
``imp_mat``, ``frequency``, ``event_id``, ``at_event``, ``coord_exp``) and exposures (a pandas
``gdf`` with latitude, longitude and value), checked against dense brute-force sums; bad input; the
one-line error when CLIMADA or scikit-learn is missing. With CLIMADA (skipped when it is not
installed): the bundled Florida tropical-cyclone demo end to end, offline, against CLIMADA's own
``at_event`` and ``aai_agg``.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from riskopt.climada_impact import (
    GridGroups,
    KMeansGroups,
    florida_demo,
    florida_demo_impact,
    from_impact,
    in_units,
)
from riskopt.errors import ModelError
from riskopt.losstables import EventLossTable

pd = pytest.importorskip("pandas")


def fake(n_events: int = 7, n_points: int = 12, *, seed: int = 1, density: float = 0.4):
    """A fake CLIMADA impact and exposures: random sparse losses, frequencies and coordinates."""
    rng = np.random.default_rng(seed)
    dense = rng.uniform(0, 100, (n_events, n_points)) * (rng.uniform(size=(n_events, n_points)) < density)
    lat = rng.uniform(25, 28, n_points)
    lon = rng.uniform(-82, -79, n_points)
    value = rng.uniform(1, 10, n_points).round(3) * 1e3
    freq = rng.uniform(0, 0.1, n_events)
    impact = SimpleNamespace(imp_mat=sparse.csr_matrix(dense), frequency=freq,
                             event_id=np.arange(n_events) + 101,
                             at_event=dense.sum(axis=1), aai_agg=float(freq @ dense.sum(axis=1)),
                             coord_exp=np.column_stack([lat, lon]), unit="USD", frequency_unit="1/year",
                             haz_type="TC")
    gdf = pd.DataFrame({"latitude": lat, "longitude": lon, "value": value,
                        "region_id": rng.integers(1, 4, n_points).astype(float)})
    return impact, SimpleNamespace(gdf=gdf), dense


def brute(dense: np.ndarray, value: np.ndarray, ids: np.ndarray, names: tuple[str, ...], key=str):
    """Dense sums of the columns and values whose id (as text, via ``key``) is each name."""
    tags = np.array([key(i) for i in ids])
    return (np.column_stack([dense[:, tags == n].sum(axis=1) for n in names]),
            np.array([value[tags == n].sum() for n in names]))


# -- grouping and aggregation, no CLIMADA ------------------------------------------------------------

def test_given_ids_match_brute_force_sums() -> None:
    impact, exposures, dense = fake()
    ids = np.array(["north", "south", "east"] * 4)
    elt = from_impact(impact, exposures, ids)
    assert elt.regions == ("east", "north", "south")  # sorted ids
    losses, exposure = brute(dense, exposures.gdf["value"].to_numpy(), ids, elt.regions)
    np.testing.assert_allclose(elt.losses, losses, rtol=1e-12)
    np.testing.assert_allclose(elt.exposure, exposure, rtol=1e-12)
    np.testing.assert_allclose(elt.losses.sum(axis=1), impact.at_event, rtol=1e-12)
    assert elt.exposure.sum() == pytest.approx(exposures.gdf["value"].sum(), rel=1e-12)
    np.testing.assert_array_equal(elt.rates, impact.frequency)
    np.testing.assert_array_equal(elt.event_ids, impact.event_id)
    assert elt.losses.shape == (7, 3) and elt.loss_sd is None and elt.max_loss is None
    assert elt.info["points_per_group"] == {"east": 4, "north": 4, "south": 4}


def test_column_name_groups_and_integral_float_ids() -> None:
    impact, exposures, dense = fake(n_points=20, seed=3)
    elt = from_impact(impact, exposures, "region_id")
    ids = exposures.gdf["region_id"].to_numpy()
    assert elt.regions == tuple(str(int(i)) for i in np.unique(ids))  # 1.0 -> "1"
    value = exposures.gdf["value"].to_numpy()
    losses, exposure = brute(dense, value, ids, elt.regions, key=lambda i: str(int(i)))
    np.testing.assert_allclose(elt.losses, losses, rtol=1e-12)
    np.testing.assert_allclose(elt.exposure, exposure, rtol=1e-12)
    assert "region_id" in elt.info["groups"]


def test_info_frequencies_and_what_they_imply() -> None:
    impact, exposures, _ = fake()
    elt = from_impact(impact, exposures, np.zeros(12, dtype=int), source="a test")
    total = impact.frequency.sum()
    # 1e-15: a plain sum of 7 rates against the table's correctly rounded one (a few ulps apart)
    assert elt.info["frequency_sum"] == pytest.approx(total, rel=1e-15)
    assert elt.info["expected_events_per_year"] == pytest.approx(total, rel=1e-15)
    assert elt.info["p_no_event_poisson"] == pytest.approx(math.exp(-total), rel=1e-15)
    assert f"{total:.6g}" in elt.info["frequency_note"]
    assert elt.info["aai_agg"] == pytest.approx(impact.aai_agg, rel=1e-12)
    assert elt.info["units"] == "USD" and elt.info["n_events"] == 7 and elt.info["n_points"] == 12
    assert elt.info["source"].startswith("a test; CLIMADA impact")
    assert elt.info["dropped_groups"] == "none" and "Aznar-Siguan" in elt.info["citation"]
    lat, lon = elt.info["centroids"]["0"]
    # 1e-15: bincount's weighted sum against pandas' mean of the same 12 numbers
    assert lat == pytest.approx(exposures.gdf["latitude"].mean(), rel=1e-15) and lon == pytest.approx(
        exposures.gdf["longitude"].mean(), rel=1e-15)


def test_in_units_divides_every_amount() -> None:
    """Losses, exposure, and the secondary standard deviations and bounds scale together (a secondary
    law left in USD next to losses in USD bn would be a thousand million times too wide); rates not."""
    elt = EventLossTable(event_ids=[1, 2], rates=[0.1, 0.2], losses=[[2.0, 4.0], [6.0, 8.0]],
                         regions=("a", "b"), exposure=[10.0, 20.0], loss_sd=[1.0, 2.0], max_loss=[20.0, 40.0],
                         info={"units": "USD"})
    bn = in_units(elt, 2.0)
    for name in ("losses", "exposure", "loss_sd", "max_loss"):  # division by 2 is exact
        np.testing.assert_array_equal(getattr(bn, name), getattr(elt, name) / 2.0, err_msg=name)
    np.testing.assert_array_equal(bn.rates, elt.rates)
    assert bn.info["units"] == "2 USD" and bn.info["unit"] == 2.0
    assert in_units(elt, 1.0) is elt


def test_grid_groups_match_brute_force_cells() -> None:
    impact, exposures, dense = fake(n_points=40, seed=5)
    elt = from_impact(impact, exposures, GridGroups(1.0, 1.5))
    lat, lon = exposures.gdf["latitude"].to_numpy(), exposures.gdf["longitude"].to_numpy()
    cells = [f"lat {math.floor(a):g}..{math.floor(a) + 1:g}, "
             f"lon {math.floor(b / 1.5) * 1.5:g}..{(math.floor(b / 1.5) + 1) * 1.5:g}"
             for a, b in zip(lat, lon, strict=True)]
    assert set(elt.regions) == set(cells)
    losses, exposure = brute(dense, exposures.gdf["value"].to_numpy(), np.array(cells), elt.regions)
    np.testing.assert_allclose(elt.losses, losses, rtol=1e-12)
    np.testing.assert_allclose(elt.exposure, exposure, rtol=1e-12)
    south = [float(r.split()[1].split("..")[0]) for r in elt.regions]
    assert south == sorted(south)  # south to north
    assert sum(elt.info["points_per_group"].values()) == 40


def test_grid_origin_and_cell_boundaries() -> None:
    impact, exposures, _ = fake(n_points=4, seed=2)
    exposures.gdf["latitude"] = [0.0, 0.49, 0.5, -0.01]
    exposures.gdf["longitude"] = [0.0, 0.0, 0.0, 0.0]
    impact.coord_exp = None
    elt = from_impact(impact, exposures, GridGroups(0.5, 1.0))
    assert elt.info["points_per_group"] == {"lat -0.5..0, lon 0..1": 1, "lat 0..0.5, lon 0..1": 2,
                                            "lat 0.5..1, lon 0..1": 1}
    shifted = from_impact(impact, exposures, GridGroups(0.5, 1.0, origin=(0.25, 0.0)))
    assert shifted.info["points_per_group"] == {"lat -0.25..0.25, lon 0..1": 2, "lat 0.25..0.75, lon 0..1": 2}


def test_kmeans_groups_deterministic_numbered_and_exact_on_clear_clusters() -> None:
    pytest.importorskip("sklearn")
    impact, exposures, dense = fake(n_points=30, seed=7)
    # three well separated clusters of 10 points with different total values
    rng = np.random.default_rng(0)
    centres = np.repeat([[25.0, -80.0], [27.0, -82.0], [29.0, -78.0]], 10, axis=0)
    xy = centres + rng.normal(0, 0.05, (30, 2))
    exposures.gdf["latitude"], exposures.gdf["longitude"] = xy[:, 0], xy[:, 1]
    exposures.gdf["value"] = np.repeat([1.0, 3.0, 2.0], 10)
    impact.coord_exp = xy
    a = from_impact(impact, exposures, KMeansGroups(3, seed=4))
    b = from_impact(impact, exposures, KMeansGroups(3, seed=4))
    np.testing.assert_array_equal(a.losses, b.losses)
    assert a.regions == ("group 1", "group 2", "group 3")
    np.testing.assert_allclose(a.exposure, [30.0, 20.0, 10.0])  # by descending exposure value
    truth = np.array(["group 3", "group 1", "group 2"]).repeat(10)  # the cluster of value 30 first, ...
    losses, _ = brute(dense, exposures.gdf["value"].to_numpy(), truth, a.regions)
    np.testing.assert_allclose(a.losses, losses, rtol=1e-12)
    lat1, _ = a.info["centroids"]["group 1"]
    assert lat1 == pytest.approx(27.0, abs=0.05)
    assert "seed 4" in a.info["groups"]


def test_kmeans_random_points_deterministic_with_seed() -> None:
    pytest.importorskip("sklearn")
    impact, exposures, _ = fake(n_points=60, seed=11)
    runs = [from_impact(impact, exposures, KMeansGroups(6, seed=s)) for s in (0, 0, 1)]
    np.testing.assert_array_equal(runs[0].losses, runs[1].losses)
    assert runs[0].info["points_per_group"] == runs[1].info["points_per_group"]
    assert np.all(np.diff(runs[0].exposure) <= 0)  # numbered by descending exposure
    weighted = from_impact(impact, exposures, KMeansGroups(6, seed=0, weighted=True))
    assert "weighted" in weighted.info["groups"]
    for elt in (*runs, weighted):
        np.testing.assert_allclose(elt.losses.sum(axis=1), impact.at_event, rtol=1e-12)


def test_kmeans_empty_groups_dropped_and_said() -> None:
    pytest.importorskip("sklearn")
    impact, exposures, _ = fake(n_points=6, seed=2)
    exposures.gdf["latitude"] = [25.0, 25.0, 26.0, 26.0, 27.0, 27.0]  # three distinct points, k = 5
    exposures.gdf["longitude"] = -80.0
    impact.coord_exp = None
    elt = from_impact(impact, exposures, KMeansGroups(5, seed=0))
    assert len(elt.regions) == 3 and elt.regions == ("group 1", "group 2", "group 3")
    assert elt.info["dropped_groups"].startswith("2 group(s) without exposure points dropped")
    assert sorted(elt.info["points_per_group"].values()) == [2, 2, 2]
    np.testing.assert_allclose(elt.losses.sum(axis=1), impact.at_event, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n_events=st.integers(1, 6), n_points=st.integers(1, 9), n_groups=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_aggregation_property(n_events: int, n_points: int, n_groups: int, seed: int) -> None:
    impact, exposures, dense = fake(n_events, n_points, seed=seed)
    ids = np.random.default_rng(seed).integers(0, n_groups, n_points)
    elt = from_impact(impact, exposures, ids)
    losses, exposure = brute(dense, exposures.gdf["value"].to_numpy(), ids, elt.regions)
    np.testing.assert_allclose(elt.losses, losses, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(elt.exposure, exposure, rtol=1e-12)
    np.testing.assert_allclose(elt.losses.sum(axis=1), impact.at_event, rtol=1e-12, atol=1e-12)


# -- bad input ---------------------------------------------------------------------------------------

def _raises(field: str, impact, exposures, groups) -> ModelError:
    with pytest.raises(ModelError) as err:
        from_impact(impact, exposures, groups)
    assert err.value.field == field, str(err.value)
    assert "\n" not in str(err.value)
    return err.value


def test_missing_impact_matrix() -> None:
    impact, exposures, _ = fake()
    ids = np.zeros(12)
    impact.imp_mat = sparse.csr_matrix((0, 0))  # CLIMADA's impact(save_mat=False)
    assert "save_mat=True" in str(_raises("impact.imp_mat", impact, exposures, ids))
    impact.imp_mat = None
    _raises("impact.imp_mat", impact, exposures, ids)
    del impact.imp_mat
    _raises("impact.imp_mat", impact, exposures, ids)


def test_bad_losses_and_frequencies() -> None:
    impact, exposures, dense = fake()
    ids = np.zeros(12)
    for bad in (-1.0, np.nan, np.inf):
        d = dense.copy()
        d[0, 0] = bad
        impact.imp_mat = sparse.csr_matrix(d)
        _raises("impact.imp_mat", impact, exposures, ids)
    impact.imp_mat = sparse.csr_matrix(dense)
    good = impact.frequency
    for bad in (-0.1, np.nan, np.inf):
        impact.frequency = good.copy()
        impact.frequency[2] = bad
        _raises("impact.frequency", impact, exposures, ids)
    impact.frequency = good[:-1]
    _raises("impact.frequency", impact, exposures, ids)
    impact.frequency = None
    _raises("impact.frequency", impact, exposures, ids)
    impact.frequency = good
    impact.event_id = np.arange(3)
    _raises("impact.event_id", impact, exposures, ids)


def test_bad_exposures() -> None:
    impact, exposures, _ = fake()
    ids = np.zeros(12)
    _raises("exposures.value", impact, SimpleNamespace(gdf=exposures.gdf.iloc[:-1]), ids[:-1])
    _raises("exposures.gdf", impact, SimpleNamespace(gdf=exposures.gdf.drop(columns="value")), ids)
    _raises("exposures.gdf", impact, SimpleNamespace(), ids)
    _raises("exposures.latitude", impact, SimpleNamespace(gdf=exposures.gdf.drop(columns="latitude")), ids)
    for col, bad in (("value", -1.0), ("value", np.nan), ("longitude", np.inf)):
        gdf = exposures.gdf.copy()
        gdf.loc[3, col] = bad
        _raises(f"exposures.{col}", impact, SimpleNamespace(gdf=gdf), ids)
    other = fake(seed=99)[1]  # the same shapes, other coordinates than impact.coord_exp
    assert "coord_exp" in str(_raises("exposures", impact, other, ids))


def test_bad_groups() -> None:
    impact, exposures, _ = fake()
    _raises("groups", impact, exposures, np.zeros(11))
    _raises("groups", impact, exposures, np.array([np.nan] + [1.0] * 11))
    _raises("groups", impact, exposures, np.array([None] + ["a"] * 11, dtype=object))
    assert "region_id" in str(_raises("groups", impact, exposures, "no such column"))
    for dlat in (0.0, -1.0, math.nan, math.inf):
        _raises("groups.dlat", impact, exposures, GridGroups(dlat, 1.0))
    _raises("groups.dlon", impact, exposures, GridGroups(1.0, 0.0))
    for k in (0, 13, 2.5, True):
        _raises("groups.k", impact, exposures, KMeansGroups(k))
    _raises("groups.n_init", impact, exposures, KMeansGroups(2, n_init=0))
    for seed in (-1, 2**32, True):  # scikit-learn takes seeds in 0..2**32 - 1
        _raises("groups.seed", impact, exposures, KMeansGroups(2, seed=seed))


# -- without CLIMADA or scikit-learn -----------------------------------------------------------------

def test_module_imports_neither_climada_nor_sklearn() -> None:
    code = ("import sys, riskopt.climada_impact; "
            "assert not {'climada', 'sklearn'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_climada_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "climada" or m.startswith("climada.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "climada", None)  # import climada -> ImportError
    for call in (florida_demo, florida_demo_impact):
        with pytest.raises(ModelError) as err:
            call()
        text = str(err.value)
        assert err.value.field == "climada" and "\n" not in text
        assert "pip install 'riskopt[climada]'" in text and "GPLv3" in text and "gdal" in text


def test_missing_sklearn_for_kmeans(monkeypatch: pytest.MonkeyPatch) -> None:
    impact, exposures, _ = fake()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)
    err = _raises("scikit-learn", impact, exposures, KMeansGroups(2))
    assert "riskopt[climada]" in str(err)
    from_impact(impact, exposures, GridGroups(1, 1))  # the other groupings need no scikit-learn


# -- with CLIMADA: the Florida tropical-cyclone demo -------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    """The demo's impact and the table by the default groups, computed with the network refused."""
    pytest.importorskip("climada")
    pytest.importorskip("sklearn")

    def refuse(*args, **kwargs):
        raise OSError("network use in an offline test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(socket, "create_connection", refuse)
        impact, exposures = florida_demo_impact()
        elt = florida_demo()
    return impact, exposures, elt


def test_florida_demo_facts(demo) -> None:
    impact, exposures, elt = demo
    # CLIMADA's HAZ_DEMO_H5 (tc_fl_1990_2004.h5): 216 historical storms, each of frequency 1/185;
    # EXP_DEMO_H5 (exp_demo_today.h5): 50 exposure points near Palm Beach, values in USD
    assert elt.losses.shape == (216, 8) and len(elt.rates) == 216
    assert elt.info["n_events"] == 216 and elt.info["n_points"] == 50
    np.testing.assert_allclose(elt.rates, 1 / 185, rtol=1e-12)
    assert elt.info["frequency_sum"] == pytest.approx(216 / 185, rel=1e-12)  # 1.1676
    assert elt.info["p_no_event_poisson"] == pytest.approx(math.exp(-216 / 185), rel=1e-12)
    assert elt.info["units"] == "USD" and elt.info["climada_version"]
    assert elt.regions == tuple(f"group {g}" for g in range(1, 9))
    assert sum(elt.info["points_per_group"].values()) == 50
    assert np.all(np.diff(elt.exposure) <= 0)
    assert elt.exposure.sum() == pytest.approx(exposures.gdf["value"].sum(), rel=1e-12)
    np.testing.assert_array_equal(elt.event_ids, impact.event_id)
    assert np.all(elt.losses >= 0)


def test_florida_demo_matches_climada_metrics(demo) -> None:
    impact, _, elt = demo
    np.testing.assert_allclose(elt.losses.sum(axis=1), impact.at_event, rtol=1e-9)
    aai = float(elt.rates @ elt.losses.sum(axis=1))
    assert aai == pytest.approx(impact.aai_agg, rel=1e-9)
    assert elt.info["aai_agg"] == pytest.approx(impact.aai_agg, rel=1e-9)
    np.testing.assert_allclose(elt.rates, impact.frequency, rtol=0)


def test_florida_demo_other_groupings(demo) -> None:
    impact, exposures, _ = demo
    for groups in (GridGroups(0.25, 0.25), "region_id", np.arange(50) % 3):
        elt = from_impact(impact, exposures, groups)
        np.testing.assert_allclose(elt.losses.sum(axis=1), impact.at_event, rtol=1e-9)
        assert elt.exposure.sum() == pytest.approx(exposures.gdf["value"].sum(), rel=1e-12)


def test_florida_demo_is_deterministic_and_silent(demo, capfd: pytest.CaptureFixture[str]) -> None:
    import logging

    logger = logging.getLogger("climada")
    level = logger.level
    capfd.readouterr()
    try:
        logger.setLevel(logging.INFO)  # CLIMADA logs to stdout; INFO would show its progress lines
        elt = florida_demo()
        assert logger.level == logging.INFO  # restored after the call
    finally:
        logger.setLevel(level)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    np.testing.assert_array_equal(elt.losses, demo[2].losses)
    assert elt.info["points_per_group"] == demo[2].info["points_per_group"]
