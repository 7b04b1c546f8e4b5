"""Year and event loss tables (riskopt.losstables): readers, simulation, cards.

Independent routes: the same table written wide and long, as CSV, Parquet and a DataFrame, must read
to the same numbers; a long table with unseen years against the same years written out as zero
rows; return-period losses against sorting; the ELT's simulated mean annual loss against
sum_e rate_e L_e,r within a number of standard errors computed from the sample; P(no event) against
exp(-sum rate); a single-event ELT against the Poisson law of its count in closed form; a
brute-force simulation (a loop over years, numpy's poisson per event) in distribution.

Tolerances: five standard errors for a sampled mean or frequency (a fixed seed makes each check
deterministic; 5 sigma leaves room for a few hundred such checks at a two-sided normal tail of 6e-7
each, should the seed change); 1e-12 relative where two routes add the same numbers in another
order.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from _cardkit import run_cli, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskopt.losstables as lt
from riskopt import ModelError
from riskopt.budget import max_memory
from riskopt.cards import load_card, parse_card, run_card
from riskopt.losstables import (
    EventLossTable,
    LossTable,
    event_loss_table,
    year_loss_scenarios,
    year_loss_table,
)
from riskopt.space import Scenarios

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

#: a sampled mean or frequency is within this many standard errors (module docstring)
SIGMAS = 5.0
#: three regions x six years, with zeros, ties and a year without any loss
LOSSES = np.array([[0.0, 1.5, 0.0, 3.0, 2.0, 0.0],
                   [2.0, 0.0, 0.0, 1.0, 2.0, 7.5],
                   [0.0, 0.0, 0.0, 0.25, 0.0, 4.0]])
REGIONS = ("north", "south", "east")
YEARS = np.array([2001, 2002, 2003, 2005, 2008, 2013])


def wide_frame(losses: np.ndarray = LOSSES, regions=REGIONS, years=YEARS):
    frame = pd.DataFrame({"year": years})
    for r, name in enumerate(regions):
        frame[name] = losses[r]
    return frame


def long_frame(losses: np.ndarray = LOSSES, regions=REGIONS, years=YEARS, *, zeros: bool = False):
    """One row per (year, region) with a positive loss (all pairs with ``zeros``)."""
    rows = [(int(years[s]), regions[r], float(losses[r, s])) for s in range(losses.shape[1])
            for r in range(losses.shape[0]) if zeros or losses[r, s] > 0]
    return pd.DataFrame(rows, columns=["year", "region", "loss"])


def save(frame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def assert_same_table(a: LossTable, b: LossTable) -> None:
    assert a.regions == b.regions
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.probs, b.probs)


# ------------------------------------------------------------------------------ year loss tables
@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
@pytest.mark.parametrize("layout", ["wide", "long"])
def test_wide_and_long_csv_parquet_and_frames_read_to_the_same_table(tmp_path, fmt, layout):
    frame = wide_frame() if layout == "wide" else long_frame()
    source = frame if fmt == "frame" else save(frame, tmp_path / f"ylt.{fmt}")
    table = year_loss_table(source)  # layout "auto": long when region and loss columns exist
    if layout == "long":  # long tables sort regions by id and cannot see the year without any loss
        order = [REGIONS.index(n) for n in sorted(REGIONS)]
        seen = LOSSES.sum(axis=0) > 0
        assert table.regions == tuple(sorted(REGIONS))
        np.testing.assert_array_equal(table.losses, LOSSES[order][:, seen])
        np.testing.assert_array_equal(table.probs, np.full(5, 0.2))
    else:
        assert table.regions == REGIONS and table.info["layout"] == "wide"
        np.testing.assert_array_equal(table.losses, LOSSES)
        np.testing.assert_array_equal(table.probs, np.full(6, 1 / 6))
    assert table.info["view"] == "aggregate" and table.exposure is None


def test_long_table_counts_unseen_years_as_one_zero_loss_state(tmp_path):
    path = save(long_frame(), tmp_path / "ylt.parquet")
    table = year_loss_table(path, years=10, regions=list(REGIONS))
    assert table.regions == REGIONS and table.n_states == 6 and table.info["unseen_years"] == 5
    np.testing.assert_array_equal(table.probs, [0.1] * 5 + [0.5])
    assert not table.losses[:, -1].any()
    # the same ten years written out as rows (four of them without loss): the same law
    full = np.zeros((3, 10))
    full[:, :6] = LOSSES
    explicit = year_loss_table(wide_frame(full, years=np.arange(10)))
    # 1e-15: the same products loss x 0.1 (plus exact zeros) added in another order: a rounding or two
    np.testing.assert_allclose(table.mean_annual_loss(), explicit.mean_annual_loss(), rtol=1e-15, atol=0)
    periods = [1, 1.5, 2, 3, 5, 9.99, 10, 11, 1000]
    a, b = table.exceedance(periods), explicit.exceedance(periods)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())  # sorting route vs. order statistics


def test_wide_table_without_year_column_and_with_weights(tmp_path):
    frame = wide_frame().drop(columns="year")
    table = year_loss_table(frame, year=None)
    assert table.regions == REGIONS and table.n_states == 6
    frame["w"] = [1.0, 2.0, 3.0, 0.0, 2.0, 2.0]
    weighted = year_loss_table(save(frame, tmp_path / "w.csv"), year=None, weight="w")
    assert weighted.regions == REGIONS and weighted.info["weight_sum"] == 10.0  # integers: exact
    np.testing.assert_allclose(weighted.probs, frame["w"] / 10, rtol=1e-15)  # the same division
    # 1e-14: six products summed in another order (a few roundings of 1.1e-16 each)
    np.testing.assert_allclose(weighted.mean_annual_loss(), LOSSES @ (frame["w"] / 10), rtol=1e-14)


def test_long_weights_are_per_year():
    frame = long_frame(zeros=True)
    frame["weight"] = frame["year"] - 2000.0
    table = year_loss_table(frame, weight="weight")
    raw = (YEARS - 2000.0).sum()
    assert table.info["weight_sum"] == raw  # a sum of integers: exact
    np.testing.assert_allclose(table.probs, (YEARS - 2000.0) / raw, rtol=1e-15)  # the same division
    frame.loc[4, "weight"] = 99.0  # year 2002 (rows 3, 4, 5) with two weights
    with pytest.raises(ModelError, match=r"^DataFrame, column 'weight', row 5 = 99.0: expected the same "
                                         r"weight on every row of a year"):
        year_loss_table(frame, weight="weight")


def test_scenarios_have_the_regions_the_total_and_x():
    table = year_loss_table(wide_frame())
    space = table.scenarios
    assert space.names == [*REGIONS, "loss", "X"]
    total = LOSSES.sum(axis=0)
    np.testing.assert_array_equal(space["loss"], total)
    np.testing.assert_array_equal(space.X, -total)
    assert not np.signbit(space.X[2])  # a year without loss: X = 0, not -0
    streamed = year_loss_scenarios(wide_frame())
    assert streamed.names == space.names
    for name in space.names:
        np.testing.assert_array_equal(streamed[name], space[name])
    np.testing.assert_array_equal(streamed.p, space.p)


def test_to_frame_is_tidy_and_mean_annual_loss_is_the_expectation():
    table = year_loss_table(wide_frame())
    frame = table.to_frame()
    assert list(frame.columns) == ["state", "probability", "region", "loss"] and len(frame) == 18
    back = frame.pivot(index="region", columns="state", values="loss").loc[list(REGIONS)].to_numpy()
    np.testing.assert_array_equal(back, LOSSES)
    # 1e-15: sum_s (loss_s x fl(1/6)) against (sum_s loss_s) / 6, dyadic losses: a rounding or two apart
    np.testing.assert_allclose(table.mean_annual_loss(), LOSSES.mean(axis=1), rtol=1e-15)


def test_return_period_losses_are_order_statistics():
    """The T-year loss of N equally likely years is the ceil(N/T)-th largest."""
    rng = np.random.default_rng(3)
    losses = np.round(rng.exponential(1.0, (2, 1000)) * (rng.random((2, 1000)) < 0.3), 2)
    table = LossTable(("a", "b"), losses, np.full(1000, 1e-3))
    periods = [1.0, 2.0, 3.0, 7.0, 10.0, 100.0, 999.0, 1000.0, 5000.0]
    frame = table.exceedance(periods)
    assert frame.attrs["curve"] == "AEP" and list(frame.index) == periods
    for r, name in enumerate(("a", "b")):
        desc = np.sort(losses[r])[::-1]
        expected = [desc[min(1000, math.ceil(1000 / t)) - 1] for t in periods]
        np.testing.assert_array_equal(frame[name].to_numpy(), expected)
    np.testing.assert_array_equal(frame["probability"], 1 / np.array(periods))


def test_region_table_orders_regions_and_gives_exposure(tmp_path):
    meta = pd.DataFrame({"region": ["east", "north", "south", "west"], "exposure": [10.0, 20.0, 30.0, 40.0]})
    meta_path = save(meta, tmp_path / "regions.csv")
    table = year_loss_table(save(long_frame(), tmp_path / "ylt.csv"), regions=meta_path)
    assert table.regions == ("east", "north", "south", "west")  # west has no row: it loses 0
    np.testing.assert_array_equal(table.exposure, [10.0, 20.0, 30.0, 40.0])
    assert not table.losses[3].any()
    with pytest.raises(ModelError, match=r"column 'south'.*: expected a loss column for each region"):
        year_loss_table(wide_frame().drop(columns="south"), regions=meta)
    given = year_loss_table(wide_frame(), exposure={"north": 1, "south": 2, "east": 3})
    np.testing.assert_array_equal(given.exposure, [1.0, 2.0, 3.0])


def test_regions_missing_from_the_region_table_are_named_by_file_column_and_first_row(tmp_path):
    meta = pd.DataFrame({"region": ["north", "east"], "exposure": [1.0, 2.0]})
    path = save(long_frame(), tmp_path / "ylt.csv")
    first = int(np.flatnonzero(long_frame()["region"] == "south")[0])
    with pytest.raises(ModelError, match=rf"^{path}, column 'region', row {first + 1} = 'south': expected a "
                                         r"region of the region table"):
        year_loss_table(path, regions=meta)
    with pytest.raises(ModelError, match=r"ylt.csv, column 'south': expected a region of the region table"):
        year_loss_table(save(wide_frame(), tmp_path / "ylt.csv"), regions=meta)
    bad_meta = save(pd.DataFrame({"region": ["north", "north"]}), tmp_path / "dup.csv")
    with pytest.raises(ModelError, match=r"dup.csv, column 'region', row 2 = 'north': expected distinct"):
        year_loss_table(wide_frame(), regions=bad_meta)


# --------------------------------------------------------------------------------- bad inputs
def _csv(tmp_path: Path, text: str, name: str = "ylt.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("year,a,b\n1,0,1\n2,-3,0\n", {}, r"column 'a', row 2 = -3.0: expected a loss: a finite number >= 0"),
    ("year,a,b\n1,0,1\n2,,0\n", {}, r"column 'a', row 2: expected a loss.*: missing \(empty cell\)"),
    ("year,a,b\n1,0,1\n2,inf,0\n", {}, r"column 'a', row 2 = inf: expected a loss"),
    ("year,a,b\n1,0,1\n2,1 000,0\n", {}, r"column 'a', row 2 = '1 000': expected a loss"),
    ("year,a,b\n1,0,1\n1,2,0\n", {}, r"column 'year', row 2 = 1: expected distinct years.*the same as row 1"),
    ("year,a,b\n1,0,1\n,2,0\n", {}, r"column 'year', row 2: expected a year id in every row: missing"),
    ("year,a,a\n1,0,1\n", {}, r"column 'a': expected distinct column names"),
    ("yr,a\n1,0\n", {}, r"column 'year': expected a column 'year' .*missing; the columns are 'yr', 'a'"),
    ("year,a\n", {}, r"ylt.csv: expected at least one year"),
    ("year,region,loss\n1,a,1\n1,a,2\n", {}, r"column 'region', row 2: expected one row per \(year, region\) "
                                             r"pair: the same as row 1"),
    ("year,region,loss\n1,a,1\n2,b,-2\n", {}, r"column 'loss', row 2 = -2.0: expected a loss"),
    ("year,region,loss\n1,a,1\n2,X,2\n", {}, r"column 'region', row 2 = 'X': expected a region name other "
                                             r"than 'loss' and 'X'"),
    ("year,a,X\n1,0,1\n", {}, r"column 'X': expected region columns other than 'loss' and 'X'"),
    ("year,region\n1,a\n", {"layout": "long"}, r"column 'loss': expected a column 'loss'"),
    ("year,a\n1,0\n2,1\n", {"years": 1}, r"^years = 1: expected at least the 2 years"),
    ("year,a,w\n1,0,1\n2,1,1\n", {"weight": "w", "years": 5}, r"^years = 5: expected no year count with a "
                                                               r"weight column"),
    ("year,a,w\n1,0,0\n2,1,0\n", {"weight": "w"}, r"column 'w' = 'sum 0.0': expected weights >= 0 with a "
                                                  r"finite sum > 0"),
])
def test_bad_year_loss_tables_name_the_file_column_and_row(tmp_path, text, kwargs, message):
    path = _csv(tmp_path, text)
    with pytest.raises(ModelError, match=message) as caught:
        year_loss_table(path, **kwargs)
    assert "\n" not in str(caught.value)
    if "column" in message and not message.startswith("^"):
        assert str(caught.value).startswith(str(path))


def test_parquet_errors_name_the_file_column_and_row(tmp_path):
    frame = wide_frame()
    frame.loc[3, "south"] = np.nan
    path = save(frame, tmp_path / "ylt.parquet")
    with pytest.raises(ModelError, match=rf"^{path}, column 'south', row 4: expected a loss.*missing"):
        year_loss_table(path)
    frame = wide_frame().astype({"east": str})
    with pytest.raises(ModelError, match=r"column 'east', row 1 = '0.0': expected a loss.*holds .*string"):
        year_loss_table(save(frame, tmp_path / "text.parquet"))
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ModelError, match=r"bad.parquet: expected a readable Parquet file"):
        year_loss_table(tmp_path / "bad.parquet")


def test_paths_that_are_not_readable_regular_files_are_refused(tmp_path):
    with pytest.raises(ModelError, match=r"expected a readable regular CSV or Parquet file: not a regular"):
        year_loss_table(tmp_path)
    with pytest.raises(ModelError, match=r"not found"):
        year_loss_table(tmp_path / "missing.csv")
    with pytest.raises(ModelError, match=r"expected a file ending in .csv, .parquet, .pq: unsupported"):
        year_loss_table(_csv(tmp_path, "year,a\n1,0\n", "ylt.xlsx"))
    with pytest.raises(ModelError, match=r"not a regular file"):
        year_loss_table("/dev/null")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        with pytest.raises(ModelError, match=r"not a regular file"):  # refused before any read (no hang)
            year_loss_table(fifo)
    with pytest.raises(ModelError, match=r"a CSV or Parquet file \(a path\) or a pandas DataFrame"):
        year_loss_table(42)
    with pytest.raises(ModelError, match=r"^'a\\x00b.csv': expected a readable"):
        year_loss_table("a\x00b.csv")
    with pytest.raises(ModelError, match=r"^layout = 'tall': expected 'auto', 'wide' or 'long'$"):
        event_loss_table(tmp_path / "missing.csv", layout="tall")  # checked before any file is opened


def test_tables_that_would_not_fit_are_refused_before_reading(tmp_path):
    years = 50_000
    frame = pd.DataFrame({"year": np.arange(years), **{f"r{k}": np.zeros(years) for k in range(20)}})
    for suffix in ("parquet", "csv"):
        path = save(frame, tmp_path / f"big.{suffix}")
        with max_memory("200M"), pytest.raises(ModelError, match=rf"{path}.*expected reading .* to fit in"):
            year_loss_table(path)


def test_direct_tables_are_checked():
    with pytest.raises(ModelError, match=r"regions\[1\] = 'loss': expected a region name other than"):
        LossTable(("a", "loss"), np.zeros((2, 3)), np.full(3, 1 / 3))
    with pytest.raises(ModelError, match=r"losses\[1, 2\] = -1.0: expected a finite loss >= 0"):
        LossTable(("a", "b"), np.array([[0.0, 0, 0], [0, 0, -1]]), np.full(3, 1 / 3))
    with pytest.raises(ModelError, match=r"probs"):
        LossTable(("a",), np.zeros((1, 2)), [0.5, 0.6])
    with pytest.raises(ModelError, match=r"exposure\[0\] = -1.0"):
        LossTable(("a",), np.zeros((1, 2)), [0.5, 0.5], exposure=[-1.0])
    with pytest.raises(ModelError, match=r"^exposure = \['x'\]: expected one exposure value per region"):
        LossTable(("a",), np.zeros((1, 2)), [0.5, 0.5], exposure=["x"])


# ------------------------------------------------------------------------------- hypothesis
magnitudes = st.sampled_from([0.0, 0.0, 1e-300, 5e-324, 1e-9, 0.5, 1.0, 1.0, 3.25, 1e6, 1.7e6])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 3).flatmap(lambda r: st.integers(1, 7).flatmap(
    lambda s: st.lists(magnitudes, min_size=r * s, max_size=r * s).map(lambda v: np.reshape(v, (r, s))))))
def test_random_small_tables_read_alike_by_every_route(tmp_path, losses):
    n_r, n_s = losses.shape
    regions = tuple(f"r{k}" for k in range(n_r))
    years = np.arange(n_s) + 1
    wide = wide_frame(losses, regions, years)
    direct = LossTable(regions, losses, np.full(n_s, 1 / n_s))
    assert_same_table(year_loss_table(wide), direct)
    assert_same_table(year_loss_table(save(wide, tmp_path / "h.parquet")), direct)
    csv = year_loss_table(save(wide, tmp_path / "h.csv"))
    np.testing.assert_allclose(csv.losses, losses, rtol=1e-15, atol=0)  # decimal text, read back
    long_tab = long_frame(losses, regions, years)
    if len(long_tab):
        from_long = year_loss_table(long_tab, years=n_s, regions=list(regions))
        np.testing.assert_allclose(from_long.mean_annual_loss(), direct.mean_annual_loss(), rtol=1e-12)
        periods = [1.0, 2.0, n_s / 2 + 0.5, float(n_s), 10.0 * n_s]
        np.testing.assert_array_equal(from_long.exceedance(periods).to_numpy(),
                                      direct.exceedance(periods).to_numpy())
    space = year_loss_scenarios(wide)
    np.testing.assert_array_equal(space["loss"], losses.sum(axis=0))
    np.testing.assert_array_equal(space.X, -losses.sum(axis=0))
    np.testing.assert_allclose(space.p.sum(), 1.0, rtol=1e-15)  # <= 7 terms fl(1/n): a few 1.1e-16 roundings
    curve = direct.exceedance([1, 2, 5, 100])
    assert np.all(np.diff(curve.to_numpy()[:, 1:], axis=0) >= 0)  # nondecreasing in T


# ----------------------------------------------------------------------------- event loss tables
ELT_LOSSES = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.5], [4.0, 4.0, 4.0], [0.0, 0.0, 0.0]])
ELT_RATES = np.array([0.3, 0.25, 0.05, 0.1])


def elt_wide():
    frame = pd.DataFrame({"event": [11, 12, 13, 14], "rate": ELT_RATES})
    for r, name in enumerate(REGIONS):
        frame[name] = ELT_LOSSES[:, r]
    return frame


def elt_long():
    rows = [(11 + e, ELT_RATES[e], REGIONS[r], ELT_LOSSES[e, r]) for e in range(4) for r in range(3)
            if ELT_LOSSES[e, r] > 0 or e == 3]
    return pd.DataFrame(rows, columns=["event", "rate", "region", "loss"])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
def test_event_loss_tables_read_wide_and_long_alike(tmp_path, fmt):
    for layout, frame in (("wide", elt_wide()), ("long", elt_long())):
        source = frame if fmt == "frame" else save(frame, tmp_path / f"elt_{layout}.{fmt}")
        elt = event_loss_table(source, regions=list(REGIONS))
        assert elt.regions == REGIONS and elt.info["layout"] == layout
        np.testing.assert_array_equal(elt.losses, ELT_LOSSES)
        np.testing.assert_array_equal(elt.rates, ELT_RATES)
        np.testing.assert_array_equal(elt.event_ids, [11, 12, 13, 14])
        # sum_e rate_e L_e,r by hand: north 0.3 + 0.2, south 0.75 + 0.2, east 0.6 + 0.125 + 0.2; 1e-15:
        # four decimal rates (each a rounding off) in a dot product, a few roundings of 1.1e-16
        np.testing.assert_allclose(elt.mean_annual_loss(), [0.5, 0.95, 0.925], rtol=1e-15)
        assert elt.total_rate == 0.7  # correctly rounded sum (accurate_sum) of 0.3, 0.25, 0.05, 0.1
        assert elt.info["p_no_event_poisson"] == pytest.approx(math.exp(-0.7), rel=1e-15)


def test_bad_event_loss_tables_name_the_file_column_and_row(tmp_path):
    frame = elt_long()
    frame.loc[3, "rate"] = 0.9  # event 12: rows 3 and 4
    with pytest.raises(ModelError, match=r"^DataFrame, column 'rate', row 4 = 0.9: expected the same rate on "
                                         r"every row of an event: the event's first row \(row 3\) has 0.25"):
        event_loss_table(frame)
    frame = elt_wide()
    frame.loc[1, "rate"] = -0.1
    path = save(frame, tmp_path / "elt.csv")
    with pytest.raises(ModelError, match=rf"^{path}, column 'rate', row 2 = -0.1: expected an annual rate"):
        event_loss_table(path)
    frame = elt_wide()
    frame.loc[2, "event"] = 11
    with pytest.raises(ModelError, match=r"column 'event', row 3 = 11: expected distinct events"):
        event_loss_table(frame)
    with pytest.raises(ModelError, match=r"^max_loss = 'm': expected a largest loss with a standard"):
        event_loss_table(elt_wide(), max_loss="m")


def test_impossible_secondary_uncertainty_is_refused_naming_the_row():
    frame = elt_wide()
    frame["sd"] = [1.0, 0.0, 2.0, 0.0]  # event 11 totals 3, event 13 totals 12
    frame["max"] = [6.0, 3.5, 12.5, 0.0]
    elt = event_loss_table(frame, sd="sd", max_loss="max")  # 1 < 3 x 3; 4 < 12 x 0.5
    assert elt.loss_sd.shape == (4,) and "beta" in elt.simulate(10, seed=1).info["secondary"]
    frame.loc[2, "sd"] = 2.5  # 6.25 >= 12 x 0.5: no beta law on [0, 12.5] with mean 12 has sd 2.5
    with pytest.raises(ModelError, match=r"column 'sd', row 3 = 2.5: expected a standard deviation a beta "
                                         r"law on \[0, max_loss\].*mean loss 12, max_loss 12.5"):
        event_loss_table(frame, sd="sd", max_loss="max")
    frame.loc[2, "max"] = 11.0
    with pytest.raises(ModelError, match=r"column 'max', row 3 = 11.0: expected a finite largest loss >= the "
                                         r"mean loss"):
        event_loss_table(frame, sd="sd", max_loss="max")
    frame = elt_long()
    frame["sd"] = 0.5
    with pytest.raises(ModelError, match=r"column 'sd', row 8 = 0.5: expected a standard deviation a gamma "
                                         r"law with the mean loss m > 0"):
        event_loss_table(frame, sd="sd")  # row 8: event 14, a zero loss cannot vary
    with pytest.raises(ModelError, match=r"loss_sd\[0, 1\] = 1.0: expected a standard deviation a gamma"):
        EventLossTable([1], [0.1], [[1.0, 0.0]], ("a", "b"), loss_sd=[[0.5, 1.0]])


def test_simulated_mean_annual_loss_and_no_event_probability_match_the_rates():
    elt = EventLossTable(np.arange(4), ELT_RATES, ELT_LOSSES, REGIONS)
    years = 200_000
    sim = elt.simulate(years, seed=11)
    mean, se = sim.losses.mean(axis=1), sim.losses.std(axis=1, ddof=1) / math.sqrt(years)
    assert np.all(np.abs(mean - elt.mean_annual_loss()) <= SIGMAS * se)
    p0 = math.exp(-elt.total_rate)
    assert abs(sim.info["simulated_p_no_event"] - p0) <= SIGMAS * math.sqrt(p0 * (1 - p0) / years)
    assert abs(sim.event_counts.mean() - 0.7) <= SIGMAS * math.sqrt(0.7 / years)  # Poisson: var = mean
    np.testing.assert_array_equal(sim.losses[:, sim.event_counts == 0], 0.0)
    assert sim.info["p_no_event_poisson"] == p0 and sim.exposure is None


@pytest.mark.parametrize("bounded", [True, False])
@pytest.mark.parametrize("per_region", [True, False])
def test_secondary_uncertainty_keeps_the_mean_and_spreads_the_losses(bounded, per_region):
    """Beta on [0, max] or gamma draws with each occurrence's mean: the mean annual loss is unchanged."""
    total = ELT_LOSSES.sum(axis=1)
    sd = 0.6 * (ELT_LOSSES if per_region else total)
    bound = 3.0 * (ELT_LOSSES if per_region else total) if bounded else None
    elt = EventLossTable(np.arange(4), ELT_RATES, ELT_LOSSES, REGIONS, loss_sd=sd, max_loss=bound)
    years = 100_000
    sim = elt.simulate(years, seed=5)
    mean, se = sim.losses.mean(axis=1), sim.losses.std(axis=1, ddof=1) / math.sqrt(years)
    assert np.all(np.abs(mean - elt.mean_annual_loss()) <= SIGMAS * se)
    plain = elt.simulate(years, seed=5, secondary=False)
    np.testing.assert_array_equal(plain.event_counts, sim.event_counts)  # the same occurrences
    assert len(np.unique(sim.losses[0])) > 10 * len(np.unique(plain.losses[0]))
    if bounded:
        reach = (sim.event_counts[None, :] * 3.0 * ELT_LOSSES.max(axis=0)[:, None])
        # 1e-9 absolute: the draws (bound x beta, scaled by draw / mean) and their sums round by about
        # 1e-15 relative on losses of order 10; an escape past max_loss would be of the losses' order
        assert np.all(sim.losses <= reach + 1e-9)


def test_simulation_is_reproducible_and_independent_of_the_block_size(monkeypatch):
    elt = EventLossTable(np.arange(4), ELT_RATES, ELT_LOSSES, REGIONS, loss_sd=0.3 * ELT_LOSSES,
                         max_loss=2.0 * ELT_LOSSES)
    for view in ("aggregate", "occurrence"):
        a = elt.simulate(5000, seed=42, view=view)
        b = elt.simulate(5000, seed=42, view=view)
        np.testing.assert_array_equal(a.losses, b.losses)
        monkeypatch.setattr(lt, "BLOCK_CELLS", 7)  # two occurrences a block: years split across blocks
        c = elt.simulate(5000, seed=42, view=view)
        monkeypatch.undo()
        np.testing.assert_array_equal(a.losses, c.losses)
        # the same view, another seed: other years (two views of one seed differ anyway)
        assert not np.array_equal(elt.simulate(5000, seed=43, view=view).losses, a.losses)


def test_occurrence_view_is_at_most_the_aggregate_and_equal_in_years_with_one_event():
    elt = EventLossTable(np.arange(4), ELT_RATES, ELT_LOSSES, REGIONS)
    agg = elt.simulate(50_000, seed=9)
    occ = elt.simulate(50_000, seed=9, view="occurrence")
    np.testing.assert_array_equal(agg.event_counts, occ.event_counts)
    assert np.all(occ.losses <= agg.losses)
    one = agg.event_counts <= 1
    np.testing.assert_array_equal(occ.losses[:, one], agg.losses[:, one])
    assert np.any(occ.losses < agg.losses) and occ.info["view"] == "occurrence"
    assert occ.exceedance([10]).attrs["curve"] == "OEP"
    # per region: the largest of the year's occurrence losses, which a deterministic ELT only takes
    # from the table's columns
    for r in range(3):
        assert set(np.unique(occ.losses[r])) <= {0.0, *ELT_LOSSES[:, r]}


def test_a_single_event_matches_the_poisson_law_of_its_count():
    """A = N L with N ~ Poisson(rate): P(A = k L) = exp(-rate) rate^k / k! (closed form)."""
    rate, years = 1.3, 100_000
    sim = EventLossTable([1], [rate], [[2.5]], ("a",)).simulate(years, seed=2)
    counts = np.bincount(np.round(sim.losses[0] / 2.5).astype(int))
    for k in range(6):
        p = math.exp(-rate) * rate**k / math.factorial(k)
        assert abs(counts[k] / years - p) <= SIGMAS * math.sqrt(p * (1 - p) / years), k
    np.testing.assert_array_equal(sim.losses[0], 2.5 * sim.event_counts)


def test_brute_force_simulation_agrees_in_distribution():
    """A loop over years with numpy's poisson per event (another route, another stream): the means,
    P(no loss) per region and the law of the total loss agree within the two samples' errors."""
    elt = EventLossTable(np.arange(4), ELT_RATES, ELT_LOSSES, REGIONS)
    years = 40_000
    rng = np.random.default_rng(123)
    counts = rng.poisson(ELT_RATES, size=(years, 4))  # year by year, event by event
    brute = counts @ ELT_LOSSES  # years x regions
    brute_occ = np.max(np.where(counts[:, :, None] > 0, ELT_LOSSES[None, :, :], 0.0), axis=1)
    for view, other in (("aggregate", brute), ("occurrence", brute_occ)):
        sim = elt.simulate(years, seed=321, view=view).losses.T
        for f in (lambda x: x, lambda x: (x == 0) * 1.0, lambda x: (x.sum(axis=1) > 4)[:, None] * 1.0):
            a, b = f(sim), f(other)
            se = np.sqrt(a.var(axis=0, ddof=1) / years + b.var(axis=0, ddof=1) / years)
            # + 1e-12: where both samples are constant (se = 0) their means must agree up to rounding
            assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= SIGMAS * se + 1e-12), view


def test_simulation_arguments_and_edges():
    elt = EventLossTable(np.arange(2), [0.0, 0.0], [[1.0], [2.0]], ("a",))
    sim = elt.simulate(10, seed=0)
    assert not sim.losses.any() and not sim.event_counts.any() and sim.info["simulated_p_no_event"] == 1.0
    with pytest.raises(ModelError, match=r"^years = 0: expected a number of years >= 1"):
        elt.simulate(0, seed=0)
    with pytest.raises(ModelError, match=r"^view = 'max'"):
        elt.simulate(5, seed=0, view="max")
    with pytest.raises(ModelError, match=r"^seed"):
        elt.simulate(5, seed="x")
    busy = EventLossTable([1], [1e6], [[1.0]], ("a",))
    with pytest.raises(ModelError, match=r"^years = 10000: expected at most 1e\+09 expected events"):
        busy.simulate(10_000, seed=0)
    tiny = EventLossTable([1, 2], [1e-300, 2.0], [[1e6], [1e-300]], ("a",)).simulate(1000, seed=1)
    np.testing.assert_allclose(tiny.losses[0], 1e-300 * tiny.event_counts, rtol=1e-15)  # 1e-300 rate: never
    with max_memory("50M"), pytest.raises(ModelError, match=r"^years = .*expected the simulation to fit"):
        EventLossTable([1], [1.0], [[1.0] * 10], tuple("abcdefghij")).simulate(1_000_000, seed=0)


# ------------------------------------------------------------------------------------- cards
def _ylt_card(tmp_path: Path, **space) -> Path:
    """A card in ``tmp_path`` whose [space] reads ``data/ylt.csv`` (written from :func:`wide_frame`)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    save(wide_frame(), tmp_path / "data" / "ylt.csv")
    card = {"model": {"name": "ylt", "mechanism": "equilibrium"},
            "space": {"kind": "year_loss_table", "path": "data/ylt.csv", **space},
            "agents": [{"name": n, "measure": {"name": "entropic", "gamma": 0.5}, "endowment": f"-{n}"}
                       for n in REGIONS]}
    return write(tmp_path / "card.toml", card)


def test_a_card_reads_a_year_loss_table_relative_to_its_folder(tmp_path, monkeypatch):
    path = _ylt_card(tmp_path)
    monkeypatch.chdir("/")  # the data path is the card's folder's, not the working directory's
    card = load_card(path)
    assert isinstance(card.space, Scenarios) and card.space.names == [*REGIONS, "loss", "X"]
    np.testing.assert_array_equal(card.space.X, -LOSSES.sum(axis=0))
    result = run_card(card)
    assert result.status == "verified"


def test_a_card_reads_a_long_table_with_a_region_table_and_unseen_years(tmp_path):
    save(long_frame(), tmp_path / "long.parquet")
    save(pd.DataFrame({"region": ["south", "north", "east"], "exposure": [1.0, 2.0, 3.0]}),
         tmp_path / "regions.csv")
    data = {"model": {"name": "long", "mechanism": "equilibrium"},
            "space": {"kind": "year_loss_table", "path": "long.parquet", "regions": "regions.csv",
                      "years": 8},
            "agents": [{"name": n, "measure": {"name": "entropic", "gamma": 0.5}, "endowment": f"-{n}"}
                       for n in REGIONS]}
    card = parse_card(data, source=str(tmp_path / "card.toml"))
    expected = year_loss_table(tmp_path / "long.parquet", regions=tmp_path / "regions.csv", years=8)
    assert card.space.names == ["south", "north", "east", "loss", "X"]
    np.testing.assert_array_equal(card.space.p, expected.probs)
    np.testing.assert_array_equal(card.space["loss"], expected.total)
    data["space"]["regions"] = ["north", "south"]
    with pytest.raises(ModelError, match=r"^space.path = 'long.parquet', column 'region', row \d+ = 'east': "
                                         r"expected a region of the region table space.regions"):
        parse_card(data, source=str(tmp_path / "card.toml"))


def test_card_errors_carry_the_card_path(tmp_path, capfd):
    path = _ylt_card(tmp_path)
    frame = wide_frame()
    frame.loc[1, "south"] = -1.0
    save(frame, tmp_path / "data" / "ylt.csv")
    code, out, err = run_cli(capfd, "run", path)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("riskopt: error: space.path = 'data/ylt.csv', column 'south', row 2 = -1.0: "
                          "expected a loss"), err
    (tmp_path / "data" / "ylt.csv").unlink()
    code, _, err = run_cli(capfd, "run", path)
    assert code == 2 and "space.path = 'data/ylt.csv': expected a readable regular CSV or Parquet file: " \
                         "not found" in err and len(err.splitlines()) == 1, err
    code, _, err = run_cli(capfd, "run", _ylt_card(tmp_path, years=3))
    assert code == 2 and err.startswith("riskopt: error: space.years = 3: expected at least the 6 years"), err


def test_a_card_simulates_an_event_loss_table_with_the_model_seed(tmp_path):
    save(elt_long(), tmp_path / "elt.parquet")
    data = {"model": {"name": "elt", "mechanism": "equilibrium", "seed": 7},
            "space": {"kind": "event_loss_table", "path": str(tmp_path / "elt.parquet"), "years": 500,
                      "view": "aggregate"},
            "agents": [{"name": n, "measure": {"name": "entropic", "gamma": 0.5}, "endowment": f"-{n}"}
                       for n in REGIONS]}
    card = parse_card(data)
    direct = event_loss_table(tmp_path / "elt.parquet").simulate(500, seed=7)
    np.testing.assert_array_equal(card.space["loss"], direct.total)
    assert run_card(card).status == "verified"
    del data["model"]["seed"]
    with pytest.raises(ModelError, match=r"^space.seed: expected a seed for the simulation"):
        parse_card(data)
    data["space"]["seed"] = 7
    np.testing.assert_array_equal(parse_card(data).space.X, card.space.X)
    data["space"]["years"] = 0
    with pytest.raises(ModelError, match=r"^space.years = 0: expected the number of years to simulate"):
        parse_card(data)


def test_loss_table_sections_read_to_loss_tables(tmp_path):
    from riskopt.cardschema import Draws, loss_table_rows, read_loss_table
    from riskopt.spec import Context, Node

    save(wide_frame(), tmp_path / "ylt.parquet")
    table = read_loss_table(Node({"kind": "year_loss_table", "path": "ylt.parquet"}, "losses"),
                            Context(Draws(None, folder=tmp_path)))
    assert_same_table(table, year_loss_table(wide_frame()))
    with pytest.raises(ModelError, match=r"^losses.kind = 'law'"):
        read_loss_table(Node({"kind": "law"}, "losses"), Context(Draws(None)))
    with pytest.raises(ModelError, match=r"^losses.colour"):
        read_loss_table(Node({"kind": "year_loss_table", "path": "ylt.parquet", "colour": 1}, "losses"),
                        Context(Draws(None, folder=tmp_path)))
    paths = {r.path for r in loss_table_rows("")}
    assert {"losses.kind", 'losses.path (kind = "year_loss_table")',
            'losses.seed (kind = "event_loss_table")'} <= paths


def test_the_bundled_example_runs_from_anywhere_and_is_what_its_generator_makes(tmp_path, monkeypatch, capfd):
    from riskopt.benchmarks.make_ylt_example import CSV, csv_text

    assert CSV.read_text() == csv_text()  # the committed file is the documented generator's
    assert CSV.stat().st_size < 300_000
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capfd, "run", "ylt_example", "--format", "json")
    assert code == 0, err
    copy = write(tmp_path / "copy.toml", (CSV.parent / "ylt_example.toml").read_text())
    card = load_card(copy)  # a copy elsewhere finds the bundled CSV by its bare name
    assert card.space.size == 2000 and card.space.names[-2:] == ["loss", "X"]
