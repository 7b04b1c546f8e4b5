"""Modelled catastrophe losses as scenarios: year loss tables (YLT) and event loss tables (ELT).

A **year loss table** lists simulated years and the loss of each region in that year; each year is a
state of a :class:`~riskopt.space.Scenarios` (equally likely, or weighted by a weight column). An
**event loss table** lists events with an annual occurrence rate $\\lambda_e$ and a (mean) loss
$L_{e,r}$ per region; :meth:`EventLossTable.simulate` turns it into years by Poisson occurrence,
$N_e \\sim \\mathrm{Poisson}(\\lambda_e)$ independently, and the annual aggregate loss
$A_r = \\sum_e \\sum_{k \\le N_e} L_{e,r,k}$ (each occurrence loses the mean $L_{e,r}$, or a draw of
the secondary uncertainty with that mean), or the occurrence view $O_r = \\max_{e,k} L_{e,r,k}$, the
largest single-occurrence loss of region $r$ in the year (per region: see :meth:`EventLossTable.simulate`).

The scenario space of a loss table has one variable per region (its loss, $\\ge 0$), ``"loss"`` (the
total loss, the sum of the regions') and ``X = -loss`` (the aggregate risk as a gain, as everywhere in
riskopt).

Readers: :func:`year_loss_table` (a :class:`LossTable`), :func:`year_loss_scenarios` (straight to the
space, holding one copy of the losses) and :func:`event_loss_table` (an :class:`EventLossTable`), from
CSV or Parquet files (pandas, pyarrow: ``pip install 'riskopt[losses]'``) or pandas DataFrames, in a
*wide* layout (one row per year or event, one column per region) or a *long* one (one row per year or
event and region). Every bad input is a :class:`~riskopt.errors.ModelError` naming the file, the
column and the row (rows are counted from 1, the first row after the header), e.g.
``ylt.csv, column 'north', row 18 = -3.0: expected a finite loss >= 0``. The memory a table needs is
checked before it is read (:func:`riskopt.budget.require`).

The CLIMADA adapter (:mod:`riskopt.climada_impact`) builds :class:`EventLossTable` objects directly;
model cards read both kinds of table as ``[space]`` kinds (:func:`card_space`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .budget import Footprint, cells, require
from .checks import generator, integer, real_array
from .errors import ModelError, describe
from .probability import accurate_sum, search_cumulated, validate_probabilities
from .space import Scenarios
from .spec import Node, Row

__all__ = ["DEFAULT_RETURN_PERIODS", "EventLossTable", "LossTable", "card_reference_rows", "card_rows",
           "card_space", "card_table", "event_loss_table", "year_loss_scenarios", "year_loss_table"]

#: the names a loss space gives its total and its aggregate risk: no region may take them
RESERVED = ("loss", "X")
#: file suffixes read, and their format
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
INSTALL_HINT = "pandas and pyarrow installed: pip install 'riskopt[losses]'"
#: return periods (years) of :meth:`LossTable.exceedance` by default
DEFAULT_RETURN_PERIODS = (2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0)
#: the most occurrences a simulation may draw (about a minute of work; a typo in a rate would
#: otherwise run for hours)
MAX_OCCURRENCES = 1e9
#: occurrence x region entries handled at once while simulating, in whole years (memory, not results:
#: the draws come from separate streams in a fixed order, so the block size does not change any number)
BLOCK_CELLS = 1 << 22
#: the most years a year loss table may say it covers (counts stay exact in floating point)
MAX_YEARS = 10**15
#: peak bytes per cell (year x region) while a table is read: the numbers read and the array built
READ_CELL_BYTES = 16.0
#: peak bytes per row of a long table while it is read: id columns, codes, the sort of the keys
LONG_ROW_BYTES = 120.0
#: peak bytes per (year x region) cell of a simulation: the (years x regions) sums and their transpose
SIM_CELL_BYTES = 16.0
#: peak bytes per event x region of a simulation's inputs (losses, secondary-uncertainty parameters)
EVENT_CELL_BYTES = 40.0


# ======================================================================================== tables
@dataclass(frozen=True)
class LossTable:
    """Losses per region and state, with the region metadata: what a YLT file or a simulated ELT gives.

    ``losses[r, s]`` is region ``r``'s loss in state (year) ``s`` (regions x states, >= 0); ``probs[s]``
    the state's probability; ``exposure[r]`` the region's exposure value (its wealth basis) or ``None``
    when the table has none; ``info`` says where the numbers come from (file, years, seed, view, ...);
    ``event_counts[s]`` the number of events in state ``s`` of a simulated table (``None`` for a YLT).
    A YLT that counts years without rows (``years=``) has them as one last state of zero loss whose
    probability is their share (``info["unseen_years"]``).
    """

    regions: tuple[str, ...]
    losses: np.ndarray
    probs: np.ndarray
    exposure: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    event_counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        regions = _region_names(self.regions, "regions")
        losses = np.asarray(self.losses, dtype=float)
        if losses.ndim != 2 or losses.shape[0] != len(regions):
            raise ModelError("losses", f"shape {losses.shape}",
                             f"a regions x states array ({len(regions)} regions)")
        if losses.shape[1] == 0:
            raise ModelError("losses", "no states", "at least one state")
        _check_losses(losses, "losses")
        probs = validate_probabilities(self.probs, field="probs")
        if probs.size != losses.shape[1]:
            raise ModelError("probs", f"{probs.size} probabilities", f"one per state ({losses.shape[1]})")
        exposure = _exposure_array(self.exposure, len(regions), "exposure")
        counts = self.event_counts
        if counts is not None:
            counts = np.asarray(counts)
            if counts.shape != probs.shape or counts.dtype.kind not in "iu" or np.any(counts < 0):
                raise ModelError("event_counts", counts, f"an integer count >= 0 per state ({probs.size})")
        for name, value in (("regions", regions), ("losses", losses), ("probs", probs),
                            ("exposure", exposure), ("info", dict(self.info)), ("event_counts", counts)):
            object.__setattr__(self, name, value)

    @property
    def n_states(self) -> int:
        return int(self.probs.size)

    @property
    def total(self) -> np.ndarray:
        """The total loss of each state, ``sum_r losses[r, s]``."""
        total: np.ndarray = 0.0 + self.losses.sum(axis=0)  # + 0.0: no -0.0
        return total

    @property
    def scenarios(self) -> Scenarios:
        """The scenario space: one variable per region, ``"loss"`` (the total) and ``X = -loss``.

        A new space at each access; it copies the losses (a :class:`~riskopt.space.Scenarios` owns
        read-only copies of its variables): for the largest files read the space directly with
        :func:`year_loss_scenarios`, which holds one copy."""
        total = self.total
        variables: dict[str, np.ndarray] = {name: self.losses[r] for r, name in enumerate(self.regions)}
        variables["loss"] = total
        variables["X"] = 0.0 - total
        return Scenarios(self.probs, variables)

    def mean_annual_loss(self) -> np.ndarray:
        """The expected loss of each region, ``sum_s probs[s] losses[r, s]`` (the average annual loss
        of a YLT of equally likely years)."""
        result: np.ndarray = self.losses @ self.probs
        return result

    def exceedance(self, return_periods: Sequence[float] = DEFAULT_RETURN_PERIODS) -> Any:
        """The loss of each region and of the total at each return period ``T`` (years), as a pandas
        DataFrame indexed by ``return_period`` with the exceedance ``probability`` ``1/T``.

        The ``T``-year loss is the largest ``x`` with ``P(L >= x) >= 1/T``, i.e. the upper quantile
        ``inf{x : P(L <= x) > 1 - 1/T}``; with ``N`` equally likely years it is the loss of rank
        ``ceil(N/T)`` from the top (the 100-year loss of 10,000 years is the 100th largest). The curve
        is the AEP (annual aggregate) of an aggregate table, the OEP of an occurrence table
        (``attrs["curve"]``). Beyond the table (``T`` past ``1/P(L = max)``) it is the table's largest
        loss: a table of ``N`` years says nothing beyond ``N``."""
        pd = _pandas()
        allowed = "return periods (years), finite and >= 1"
        periods = np.atleast_1d(real_array("return_periods", return_periods, allowed))
        if periods.ndim != 1 or periods.size == 0 or not np.all(np.isfinite(periods)) or np.any(periods < 1):
            raise ModelError("return_periods", return_periods, allowed)
        values = [1.0 / periods, *(self._return_losses(row, periods) for row in self.losses),
                  self._return_losses(self.total, periods)]
        frame = pd.DataFrame(np.column_stack(values), columns=["probability", *self.regions, "loss"],
                             index=pd.Index(periods, name="return_period"))
        frame.attrs["curve"] = "OEP" if self.info.get("view") == "occurrence" else "AEP"
        return frame

    def _return_losses(self, values: np.ndarray, periods: np.ndarray) -> np.ndarray:
        p = self.probs
        n = p.size
        if np.all(p == p[0]):  # equally likely states: order statistics, ranks exact in rationals
            ranks = [min(n, max(1, math.ceil(Fraction(n) / Fraction(float(t))))) for t in periods]
            kth = sorted({n - k for k in ranks})
            part = np.partition(values, kth)
            return np.array([part[n - k] for k in ranks], dtype=float)
        order = np.argsort(-values, kind="stable")  # descending
        desc, p_desc = values[order], p[order]
        m, _, _ = search_cumulated(p_desc, 1.0 / periods, "left", values=desc)
        return np.asarray(desc[m], dtype=float)

    def to_frame(self) -> Any:
        """The table as a long (tidy) pandas DataFrame: one row per state and region, columns
        ``state``, ``probability``, ``region`` and ``loss`` (states x regions rows: for small tables)."""
        pd = _pandas()
        n_r, n_s = self.losses.shape
        return pd.DataFrame({"state": np.tile(np.arange(n_s), n_r),
                             "probability": np.tile(self.probs, n_r),
                             "region": np.repeat(np.asarray(self.regions, dtype=object), n_s),
                             "loss": self.losses.reshape(-1)})


@dataclass(frozen=True)
class EventLossTable:
    """Events with annual rates and a mean loss per region (an ELT).

    ``rates[e]`` is event ``e``'s annual rate (>= 0; taken as given, their sum is the expected number
    of events a year); ``losses[e, r]`` its mean loss in region ``r`` (events x regions, >= 0);
    ``loss_sd`` the secondary uncertainty (a standard deviation per event, or per event and region, or
    ``None``); ``max_loss`` the largest loss per event (or per event and region, the shape of
    ``loss_sd``): the bound of a beta secondary uncertainty, or ``None`` for a gamma one;
    ``exposure[r]`` each region's exposure value or ``None``. ``info`` gets the rate sum and what it
    implies (``rate_sum``, ``expected_events_per_year``, ``p_no_event_poisson = exp(-rate_sum)``)
    where the caller did not give them.
    """

    event_ids: np.ndarray
    rates: np.ndarray
    losses: np.ndarray
    regions: tuple[str, ...]
    exposure: np.ndarray | None = None
    loss_sd: np.ndarray | None = None
    max_loss: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        regions = _region_names(self.regions, "regions")
        losses = np.asarray(self.losses, dtype=float)
        if losses.ndim != 2 or losses.shape[1] != len(regions) or losses.shape[0] == 0:
            raise ModelError("losses", f"shape {losses.shape}",
                             f"an events x regions array ({len(regions)} regions, at least one event)")
        _check_losses(losses, "losses")
        n_e = losses.shape[0]
        rates = np.asarray(self.rates, dtype=float)
        if rates.shape != (n_e,):
            raise ModelError("rates", f"shape {rates.shape}", f"one annual rate per event ({n_e})")
        bad = ~(np.isfinite(rates) & (rates >= 0))
        if bad.any():
            e = int(np.argmax(bad))
            raise ModelError(f"rates[{e}]", float(rates[e]), "a finite annual rate >= 0")
        ids = np.asarray(self.event_ids)
        if ids.shape != (n_e,):
            raise ModelError("event_ids", f"shape {ids.shape}", f"one id per event ({n_e})")
        sd = None if self.loss_sd is None else np.asarray(self.loss_sd, dtype=float)
        mx = None if self.max_loss is None else np.asarray(self.max_loss, dtype=float)
        if sd is not None and sd.shape not in ((n_e,), losses.shape):
            raise ModelError("loss_sd", f"shape {sd.shape}",
                             f"a standard deviation per event ({n_e}) or per event and region {losses.shape}")
        if mx is not None and (sd is None or mx.shape != sd.shape):
            raise ModelError("max_loss", f"shape {mx.shape}",
                             "the shape of loss_sd (the bound of the secondary uncertainty it describes)")
        if sd is not None:
            mean = losses if sd.ndim == 2 else losses.sum(axis=1)
            problem = _secondary_problem(mean, sd, mx)
            if problem is not None:
                index, what, allowed = problem
                bad = mx if what == "max_loss" and mx is not None else sd
                name = "max_loss" if bad is mx else "loss_sd"
                raise ModelError(f"{name}[{', '.join(str(i) for i in index)}]", float(bad[index]), allowed,
                                 detail=f"mean loss {float(mean[index]):.6g}")
        exposure = _exposure_array(self.exposure, len(regions), "exposure")
        info = {**_rate_info(rates), **dict(self.info)}
        for name, value in (("event_ids", ids), ("rates", rates), ("losses", losses), ("regions", regions),
                            ("exposure", exposure), ("loss_sd", sd), ("max_loss", mx), ("info", info)):
            object.__setattr__(self, name, value)

    @property
    def total_rate(self) -> float:
        """``sum_e rates[e]``, correctly rounded: the expected number of events a year."""
        return accurate_sum(self.rates)

    def mean_annual_loss(self) -> np.ndarray:
        """``sum_e rates[e] losses[e, r]`` per region: the expected annual aggregate loss (exact: the
        secondary uncertainty keeps each occurrence's mean)."""
        result: np.ndarray = self.rates @ self.losses
        return result

    def simulate(self, years: int, *, seed: Any, view: str = "aggregate",
                 secondary: bool = True) -> LossTable:
        """``years`` equally likely years by Poisson occurrence, as a :class:`LossTable`.

        Each year has ``N ~ Poisson(Λ)`` events, ``Λ = sum_e rates[e]``, each independently the event
        ``e`` with probability ``rates[e] / Λ`` (so ``N_e ~ Poisson(rates[e])`` independently, the
        superposition property). An occurrence of ``e`` loses ``losses[e, r]`` in region ``r`` or, with
        ``secondary`` and a ``loss_sd``, a draw with that mean and standard deviation: a beta law on
        ``[0, max_loss]`` (``alpha = mu c``, ``beta = (1 - mu) c``, ``mu = mean / max_loss``,
        ``c = mu (1 - mu) / (sd / max_loss)^2 - 1``), or without ``max_loss`` a gamma law (shape
        ``(mean / sd)^2``, scale ``sd^2 / mean``). A standard deviation per event is that of the
        event's total loss: one draw per occurrence scales every region's loss by the same factor; per
        event and region, each region draws independently.

        ``view="aggregate"``: region ``r``'s loss in a year is ``sum`` over the year's occurrences
        (the annual aggregate, AEP). ``view="occurrence"``: the largest single-occurrence loss *of
        region r* (its own OEP quantity, what a per-region per-occurrence cover responds to), not the
        regions' losses in the event of largest total (which would give a region the loss of an event
        that spared it while another event of the year hit it). ``"loss"`` is the regions' sum in
        both views (so ``X`` is minus what the regions' owners lose together).

        ``seed`` (an integer or a numpy Generator) seeds three independent streams (numpy
        ``spawn``): the years' event counts, the events, the secondary draws; blocks of occurrences
        are drawn in order, so the same seed gives the same years on every machine. The number of
        events of each year is kept in ``event_counts``.
        """
        n_years = integer("years", years, "a number of years >= 1")
        if n_years < 1:
            raise ModelError("years", years, "a number of years >= 1")
        if view not in ("aggregate", "occurrence"):
            raise ModelError("view", view, "'aggregate' (annual sums) or 'occurrence' (largest occurrence)")
        if not isinstance(secondary, (bool, np.bool_)):
            raise ModelError("secondary", secondary, "true or false")
        rng = generator("seed", seed)
        lam = self.total_rate
        n_r = len(self.regions)
        expected = lam * n_years
        if not expected <= MAX_OCCURRENCES:
            raise ModelError("years", n_years, f"at most {MAX_OCCURRENCES:.0e} expected events simulated",
                             detail=f"{lam:.6g} events a year x {n_years} years")
        use_sd = secondary and self.loss_sd is not None and bool(np.any(self.loss_sd > 0))
        need = cells(SIM_CELL_BYTES, ("years",), years=n_years, regions=n_r)
        need += Footprint(EVENT_CELL_BYTES * self.losses.size * (2 if use_sd else 1) + 24.0 * BLOCK_CELLS
                          + 16.0 * n_years, ("years",), f"{self.losses.shape[0]} events")
        require(need, what="the simulation")
        streams = rng.spawn(3)
        counts = streams[0].poisson(lam, n_years) if lam > 0 else np.zeros(n_years, dtype=np.int64)
        sums = np.zeros((n_years, n_r))
        if lam > 0:
            _Simulation(self, view, use_sd, streams[1], streams[2]).run(counts, sums)
        losses = np.ascontiguousarray(sums.T)
        del sums
        p_none = float(np.mean(counts == 0))
        info = {
            "source": self.info.get("source", "an event loss table"),
            "events": int(self.losses.shape[0]),
            "years": n_years,
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else describe(seed),
            "view": view,
            "secondary": (_secondary_note(self) if use_sd else "none: each occurrence loses its mean loss"),
            "rate_sum": lam,
            "expected_events_per_year": lam,
            "p_no_event_poisson": math.exp(-lam),
            "simulated_events_per_year": float(counts.mean()),
            "simulated_p_no_event": p_none,
        }
        for key in ("units", "centroids", "citation"):  # what describes the regions and the data
            if key in self.info:
                info[key] = self.info[key]
        return LossTable(self.regions, losses, np.full(n_years, 1.0 / n_years), self.exposure, info,
                         event_counts=counts)


def _secondary_note(elt: EventLossTable) -> str:
    assert elt.loss_sd is not None
    per = "per event (one factor per occurrence)" if elt.loss_sd.ndim == 1 else "per event and region"
    law = "beta on [0, max_loss]" if elt.max_loss is not None else "gamma"
    return f"{law} with the mean loss and the standard deviation given {per}"


def _rate_info(rates: np.ndarray) -> dict[str, Any]:
    lam = accurate_sum(rates)
    p_none = math.exp(-lam)
    return {"rate_sum": lam, "expected_events_per_year": lam, "p_no_event_poisson": p_none,
            "rate_note": (f"the rates sum to {lam:.6g}, the expected number of events a year; under Poisson "
                          f"occurrence P(no event in a year) = exp(-{lam:.6g}) = {p_none:.4g}")}


class _Simulation:
    """The occurrences of a simulation, drawn and summed block by block (see
    :meth:`EventLossTable.simulate`)."""

    def __init__(self, elt: EventLossTable, view: str, use_sd: bool, events: np.random.Generator,
                 draws: np.random.Generator):
        self.elt, self.view, self.events, self.draws = elt, view, events, draws
        rates = elt.rates
        self.cum = np.cumsum(rates)
        self.last = int(np.flatnonzero(rates > 0)[-1])
        self.params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.mean = np.empty(0)
        if use_sd:
            assert elt.loss_sd is not None
            sd = elt.loss_sd
            mean = elt.losses if sd.ndim == 2 else elt.losses.sum(axis=1)
            a, b = _law_parameters(mean, sd, elt.max_loss)
            self.params = (sd > 0, a, b, elt.max_loss)
            self.mean = mean

    def run(self, counts: np.ndarray, sums: np.ndarray) -> None:
        n_r = sums.shape[1]
        block = max(1, BLOCK_CELLS // max(n_r, 1))  # occurrences per block
        ends = np.cumsum(counts)
        total = int(ends[-1])
        starts = ends - counts  # the first occurrence of each year
        done = 0
        while done < total:
            # whole years only (a year's losses are added in one order, whatever the block size)
            upto = int(ends[min(int(np.searchsorted(ends, done + block - 1, side="right")), ends.size - 1)])
            # the years whose occurrences are in [done, upto): occurrence k is in year y with
            # starts[y] <= k < ends[y]
            y0 = int(np.searchsorted(ends, done, side="right"))
            y1 = int(np.searchsorted(starts, upto, side="left"))
            inside = np.minimum(ends[y0:y1], upto) - np.maximum(starts[y0:y1], done)
            year = np.repeat(np.arange(y0, y1), inside)
            u = self.events.random(upto - done) * self.cum[-1]
            event = np.minimum(np.searchsorted(self.cum, u, side="right"), self.last)
            values = self._losses(event)
            first = np.flatnonzero(np.r_[True, year[1:] != year[:-1]])
            present = year[first]
            if self.view == "aggregate":
                sums[present] += np.add.reduceat(values, first, axis=0)
            else:
                sums[present] = np.maximum(sums[present], np.maximum.reduceat(values, first, axis=0))
            done = upto

    def _losses(self, event: np.ndarray) -> np.ndarray:
        """The losses of the occurrences of ``event`` (occurrences x regions)."""
        values: np.ndarray = self.elt.losses[event]
        if self.params is None:
            return values
        varies, a, b, bound = self.params
        if varies.ndim == 1:  # one factor per occurrence, on the event's total
            hit = varies[event]
            ev = event[hit]
            drawn = self._draw(a[ev], b[ev], None if bound is None else bound[ev])
            values[hit] *= (drawn / self.mean[ev])[:, None]
            return values
        hit = varies[event]  # occurrences x regions
        rows, cols = np.nonzero(hit)
        ev = event[rows]
        values[rows, cols] = self._draw(a[ev, cols], b[ev, cols], None if bound is None else bound[ev, cols])
        return values

    def _draw(self, a: np.ndarray, b: np.ndarray, bound: np.ndarray | None) -> np.ndarray:
        if bound is None:
            drawn: np.ndarray = self.draws.gamma(a, b)  # shape, scale
            return drawn
        result: np.ndarray = bound * self.draws.beta(a, b)
        return result


def _law_parameters(mean: np.ndarray, sd: np.ndarray, bound: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Beta ``(alpha, beta)`` on ``[0, bound]`` or gamma ``(shape, scale)`` with the given mean and sd
    (1 where ``sd = 0``: not drawn)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        varies = sd > 0
        if bound is None:
            a = np.where(varies, (mean / np.where(varies, sd, 1.0)) ** 2, 1.0)
            b = np.where(varies, sd * (sd / np.where(mean > 0, mean, 1.0)), 1.0)
            return a, b
        safe = np.where(bound > 0, bound, 1.0)
        mu = mean / safe
        v = (sd / safe) ** 2
        c = mu * (1.0 - mu) / np.where(varies, v, 1.0) - 1.0
        return np.where(varies, mu * c, 1.0), np.where(varies, (1.0 - mu) * c, 1.0)


def _secondary_problem(mean: np.ndarray, sd: np.ndarray, bound: np.ndarray | None
                       ) -> tuple[tuple[int, ...], str, str] | None:
    """The first (index, field, allowed) whose (mean, sd[, max]) no law of the family has, or None."""
    bad_sd = ~(np.isfinite(sd) & (sd >= 0))
    if bad_sd.any():
        return _first(bad_sd), "sd", "a finite standard deviation >= 0"
    if bound is not None:
        bad_max = ~(np.isfinite(bound) & (bound >= mean))
        if bad_max.any():
            return _first(bad_max), "max_loss", "a finite largest loss >= the mean loss"
    varies = sd > 0
    a, b = _law_parameters(mean, sd, bound)
    ok = (a > 0) & (b > 0) & np.isfinite(a) & np.isfinite(b)
    if bound is not None:
        ok &= mean > 0
        ok &= mean < bound
        allowed = ("a standard deviation a beta law on [0, max_loss] with the mean loss m can have: "
                   "sd^2 < m (max_loss - m), or 0")
    else:
        ok &= mean > 0
        allowed = "a standard deviation a gamma law with the mean loss m > 0 can have (finite shape " \
                  "(m/sd)^2 and scale sd^2/m > 0), or 0"
    bad = varies & ~ok
    if bad.any():
        return _first(bad), "sd", allowed
    return None


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


# ========================================================================================= checks
def _region_names(regions: Any, name: str) -> tuple[str, ...]:
    if isinstance(regions, (str, bytes)) or not isinstance(regions, Sequence):
        raise ModelError(name, regions, "a sequence of region names")
    names = tuple(regions)
    if not names:
        raise ModelError(name, names, "at least one region")
    seen: set[str] = set()
    for i, n in enumerate(names):
        if not isinstance(n, str) or not n.strip():
            raise ModelError(f"{name}[{i}]", n, "a region name (a non-empty string)")
        if n in RESERVED:
            raise ModelError(f"{name}[{i}]", n, f"a region name other than {', '.join(map(repr, RESERVED))} "
                             "(the loss space's total and aggregate risk)")
        if n in seen:
            raise ModelError(f"{name}[{i}]", n, "distinct region names")
        seen.add(n)
    return names


def _check_losses(losses: np.ndarray, name: str) -> None:
    """Finite losses >= 0 (one pass for the min and max; the first bad entry found only on error)."""
    if losses.size == 0:
        return
    lo, hi = losses.min(), losses.max()
    if lo >= 0 and hi < math.inf:
        return
    bad = ~(np.isfinite(losses) & (losses >= 0))
    index = _first(bad)
    raise ModelError(f"{name}[{', '.join(map(str, index))}]", float(losses[index]), "a finite loss >= 0")


def _exposure_array(exposure: Any, n: int, name: str) -> np.ndarray | None:
    if exposure is None:
        return None
    allowed = f"one exposure value per region ({n})"
    arr = real_array(name, exposure, allowed)
    if arr.shape != (n,):
        raise ModelError(name, exposure, allowed)
    bad = ~(np.isfinite(arr) & (arr >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ModelError(f"{name}[{i}]", float(arr[i]), "a finite exposure value >= 0")
    return arr


# ========================================================================================= reading
def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise ModelError("pandas", None, INSTALL_HINT) from None
    return pd


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ModelError("pyarrow", None, INSTALL_HINT) from None
    return pq


def _at(where: str, column: str, row: int | None = None) -> str:
    """``"ylt.csv, column 'north', row 18"`` (``row``: 0-based index, shown from 1)."""
    return f"{where}, column {column!r}" + ("" if row is None else f", row {row + 1}")


class _Columns:
    """A table (CSV, Parquet or DataFrame) read column by column: ``names``, ``n_rows``, and checked
    columns (:meth:`numbers`, :meth:`ids`) whose errors name ``where``, the column and the row."""

    def __init__(self, where: str, names: list[str], n_rows: int, frame: Any = None, parquet: Any = None,
                 keys: dict[str, Any] | None = None):
        self.where, self.names, self.n_rows = where, names, n_rows
        self.frame, self.parquet = frame, parquet
        self.keys = keys or {n: n for n in names}

    def has(self, name: str) -> bool:
        return name in self.keys

    def need(self, name: str, role: str) -> None:
        if name not in self.keys:
            shown = ", ".join(repr(n) for n in self.names[:12]) + (", ..." if len(self.names) > 12 else "")
            raise ModelError(_at(self.where, name), None, f"a column {name!r} ({role})",
                             detail=f"missing; the columns are {shown or 'none'}")

    def _series(self, name: str) -> Any:
        if self.frame is not None:
            return self.frame[self.keys[name]]
        return self.parquet.read(columns=[name], use_threads=True).column(0).to_pandas()

    def numbers(self, name: str, what: str, *, nonnegative: bool = True) -> np.ndarray:
        """Column ``name`` as floats: numbers, none missing, finite (and >= 0)."""
        allowed = f"{what}: a finite number" + (" >= 0" if nonnegative else "")
        if self.frame is None:
            import pyarrow as pa
            import pyarrow.compute as pc

            col = self.parquet.read(columns=[name], use_threads=True).column(0)
            kind = col.type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
                first = col[0].as_py() if len(col) else None
                raise ModelError(_at(self.where, name, 0), first, allowed, detail=f"the column holds {kind}")
            if col.null_count:
                row = int(np.argmax(np.asarray(pc.is_null(col))))
                raise ModelError(_at(self.where, name, row), None, allowed, detail="missing (empty cell)")
            values = np.asarray(col.to_numpy() if not pa.types.is_decimal(kind)
                                else pc.cast(col, pa.float64()).to_numpy(), dtype=float)
        else:
            values = self._frame_numbers(name, allowed)
        lo, hi = (values.min(), values.max()) if values.size else (0.0, 0.0)
        if not (lo >= (0 if nonnegative else -math.inf) and hi < math.inf and lo > -math.inf):
            bad = ~np.isfinite(values) | ((values < 0) if nonnegative else False)
            row = int(np.argmax(bad))
            detail = "missing (empty cell)" if np.isnan(values[row]) else ""
            raise ModelError(_at(self.where, name, row), None if detail else float(values[row]), allowed,
                             detail=detail)
        return values

    def _frame_numbers(self, name: str, allowed: str) -> np.ndarray:
        pd = _pandas()
        series = self.frame[self.keys[name]]
        kind = series.dtype
        if pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind):
            return np.asarray(series.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        missing = np.asarray(series.isna(), dtype=bool)
        if kind is np.dtype(object):  # Python objects: real numbers (not bools) or missing
            wrong = np.fromiter((not (isinstance(v, (int, float, np.integer, np.floating))
                                      and not isinstance(v, (bool, np.bool_))) for v in series),
                                dtype=bool, count=len(series)) & ~missing
        else:  # text (the first entry that is not a number written out), booleans, dates
            wrong = ~missing
            if pd.api.types.is_string_dtype(kind):
                wrong &= np.asarray(pd.to_numeric(series, errors="coerce").isna(), dtype=bool)
                if not wrong.any():  # numbers, but written as text
                    wrong = ~missing
        if wrong.any():
            row = int(np.argmax(wrong))
            raise ModelError(_at(self.where, name, row), _py(series.iloc[row]), allowed,
                             detail="" if kind is np.dtype(object) else f"the column holds {kind}")
        return np.asarray(pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan), dtype=float)

    def distinct(self, name: str, what: str, allowed: str) -> Any:
        """Column ``name`` (a pandas Series) when it has an id in every row and no id twice (else an
        error naming the row)."""
        series = self._series(name)
        missing = np.asarray(series.isna(), dtype=bool)
        if missing.any():
            row = int(np.argmax(missing))
            raise ModelError(_at(self.where, name, row), None, f"{what} in every row", detail="missing")
        repeated = np.asarray(series.duplicated(), dtype=bool)
        if repeated.any():
            row = int(np.argmax(repeated))
            earlier = int(np.argmax(np.asarray(series == series.iloc[row], dtype=bool)))
            raise ModelError(_at(self.where, name, row), _py(series.iloc[row]), allowed,
                             detail=f"the same as row {earlier + 1}")
        return series

    def ids(self, name: str, what: str, *, names: bool = True) -> tuple[np.ndarray, list[str]]:
        """Column ``name`` as codes ``0..k-1`` and (``names``) the ids' names, sorted (in order of
        appearance when the ids cannot be sorted); a missing id is an error naming its row."""
        pd = _pandas()
        series = self._series(name)
        try:
            codes, uniques = pd.factorize(series, sort=True)
        except TypeError:  # ids of mixed types
            codes, uniques = pd.factorize(series, sort=False)
        codes = np.asarray(codes, dtype=np.int64)
        if codes.size and codes.min() < 0:
            row = int(np.argmax(codes < 0))
            raise ModelError(_at(self.where, name, row), None, f"{what} in every row", detail="missing")
        if not names:
            return codes, []
        found = [_id_name(u) for u in uniques]
        if len(set(found)) != len(found):
            seen: set[str] = set()
            for k, n in enumerate(found):
                if n in seen:
                    row = int(np.argmax(codes == k))
                    raise ModelError(_at(self.where, name, row), _py(uniques[k]),
                                     f"{what}s that stay distinct as text", detail=f"{n!r} twice")
                seen.add(n)
        return codes, found


def _py(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (messages show ``1``, not ``np.int64(1)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _id_name(value: Any) -> str:
    """An id as a name (integral floats without the '.0')."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _open(source: Any, where: str | None, role: str, *, cell_bytes: float,
          fields: tuple[str, ...] | None = None) -> _Columns:
    """Open ``source`` (a CSV or Parquet path, or a DataFrame) for reading column by column, after
    checking that reading it fits in memory (``cell_bytes`` per cell of the table)."""
    pd = _pandas()
    if isinstance(source, pd.DataFrame):
        label = where or "DataFrame"
        names = [str(c) for c in source.columns]
        _distinct_columns(names, label)
        return _Columns(label, names, len(source), frame=source,
                        keys={str(c): c for c in source.columns})
    if not isinstance(source, (str, os.PathLike)):
        raise ModelError(where or role, source, "a CSV or Parquet file (a path) or a pandas DataFrame")
    text = os.fspath(source)
    label = where or (str(text) if str(text).isprintable() else repr(text))
    fields = fields or (label,)
    path = Path(source)
    try:
        regular, exists = path.is_file(), path.exists()
    except (OSError, ValueError) as err:  # a name too long for the file system, a NUL byte
        raise ModelError(label, None, "a readable CSV or Parquet file", detail=str(err)) from None
    if not regular:
        raise ModelError(label, None, "a readable regular CSV or Parquet file",
                         detail="not a regular file (a folder, device or pipe)" if exists
                         else f"not found ({path.absolute()})")
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ModelError(label, None, f"a file ending in {', '.join(SUFFIXES)}",
                         detail=f"unsupported suffix {path.suffix!r}" if path.suffix else "no suffix")
    if fmt == "parquet":
        pq = _parquet()
        try:
            handle = pq.ParquetFile(path)
            n_rows = int(handle.metadata.num_rows)
            names = [str(n) for n in handle.schema_arrow.names]
        except Exception as err:
            raise ModelError(label, None, "a readable Parquet file", detail=_one_line(err)) from None
        _distinct_columns(names, label)
        require(cells(cell_bytes, fields, rows=n_rows, columns=len(names)), what=f"reading {label}")
        return _Columns(label, names, n_rows, parquet=handle)
    header, lines = _csv_shape(path, label)
    _distinct_columns(header, label)
    require(cells(cell_bytes + 8.0, fields, rows=lines, columns=max(len(header), 1)), what=f"reading {label}")
    try:
        frame = pd.read_csv(path)
    except Exception as err:
        raise ModelError(label, None, "a readable CSV file (a header row, then one row per record)",
                         detail=_one_line(err)) from None
    return _Columns(label, [str(c) for c in frame.columns], len(frame), frame=frame)


def _csv_shape(path: Path, label: str) -> tuple[list[str], int]:
    """The header and the number of lines of a CSV file (counted in 1 MiB blocks, not parsed)."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as text:
            header = next(csv.reader(text), [])
        lines = 0
        with path.open("rb") as raw:
            while block := raw.read(1 << 20):
                lines += block.count(b"\n")
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ModelError(label, None, "a readable UTF-8 CSV file", detail=_one_line(err)) from None
    return [h.strip() for h in header], lines


def _distinct_columns(names: list[str], label: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ModelError(_at(label, n), None, "distinct column names", detail="the header repeats it")
        seen.add(n)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _column_args(optional: tuple[str, ...], **columns: Any) -> None:
    """Column-name arguments are strings (or ``None``, for those named in ``optional``)."""
    for key, given in columns.items():
        if not isinstance(given, str) and not (given is None and key in optional):
            raise ModelError(key, given, "a column name or None" if key in optional else "a column name")


def _open_losses(source: Any, rows: str, *, region: str, loss: str, layout: str, regions: Any, exposure: Any,
                 where: str | None, regions_where: str | None, fields: tuple[str, ...] | None
                 ) -> tuple[_Regions | None, _Columns, str]:
    """What both readers start with: the layout checked (before any file is read), the region table,
    the loss table opened (at least one row: ``rows`` says what a row is) and its layout resolved
    (``"auto"``: long when the table has both the ``region`` and the ``loss`` columns)."""
    if layout not in ("auto", "wide", "long"):
        raise ModelError("layout", layout, "'auto', 'wide' or 'long'")
    meta = _metadata(regions, exposure, region, regions_where)
    table = _open(source, where, "source", cell_bytes=READ_CELL_BYTES, fields=fields)
    if table.n_rows == 0:
        raise ModelError(table.where, None, f"at least one {rows} (a row after the header)", detail="no rows")
    if layout == "auto":
        layout = "long" if table.has(region) and table.has(loss) else "wide"
    return meta, table, layout


@dataclass(frozen=True)
class _Regions:
    """Region metadata: the names in order and their exposure values (or None)."""

    names: tuple[str, ...]
    exposure: np.ndarray | None
    where: str

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}


def _metadata(regions: Any, exposure: Any, region: str, where: str | None) -> _Regions | None:
    """The region table: a path or DataFrame with a ``region`` column (and an exposure column), or a
    list of names; ``exposure`` a column name of that table, a mapping or a list of values."""
    if regions is None:
        if isinstance(exposure, str):
            raise ModelError("exposure", exposure, "a column of the region table (give regions=...) or "
                             "a mapping of region names to values")
        return None
    pd = _pandas()
    if isinstance(regions, (list, tuple)) and all(isinstance(n, str) for n in regions):
        names = _region_names(tuple(regions), where or "regions")
        return _Regions(names, _given_exposure(exposure, names), where or "regions")
    meta = _open(regions, where or (None if isinstance(regions, (str, os.PathLike)) else "regions DataFrame"),
                 "regions", cell_bytes=READ_CELL_BYTES)
    if meta.n_rows == 0:
        raise ModelError(meta.where, None, "a region table with one row per region", detail="no rows")
    meta.need(region, "the region ids")
    series = meta._series(region)
    names_list = [_id_name(v) for v in series.tolist()]
    missing = np.asarray(pd.isna(series))
    if missing.any():
        row = int(np.argmax(missing))
        raise ModelError(_at(meta.where, region, row), None, "a region id in every row", detail="missing")
    seen: dict[str, int] = {}
    for row, n in enumerate(names_list):
        if n in seen:
            raise ModelError(_at(meta.where, region, row), n, "distinct region ids",
                             detail=f"also in row {seen[n] + 1}")
        if n in RESERVED or not n.strip():
            raise ModelError(_at(meta.where, region, row), n, "a region name other than 'loss' and 'X' "
                             "(the loss space's total and aggregate risk), not empty")
        seen[n] = row
    names = tuple(names_list)
    column = exposure if isinstance(exposure, str) else ("exposure" if exposure is None else None)
    if column is not None and (meta.has(column) or isinstance(exposure, str)):
        meta.need(column, "the regions' exposure values")
        return _Regions(names, meta.numbers(column, "an exposure value"), meta.where)
    return _Regions(names, _given_exposure(exposure, names), meta.where)


def _given_exposure(exposure: Any, names: tuple[str, ...]) -> np.ndarray | None:
    if exposure is None:
        return None
    if isinstance(exposure, str):
        raise ModelError("exposure", exposure, "a column of a region table (regions=path or DataFrame)")
    if isinstance(exposure, Mapping):
        missing = [n for n in names if n not in exposure]
        if missing:
            raise ModelError(f"exposure[{missing[0]!r}]", None, "an exposure value for every region",
                             detail="missing")
        values = [exposure[n] for n in names]
    else:
        values = list(exposure) if isinstance(exposure, (Sequence, np.ndarray)) else [exposure]
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ModelError("exposure", exposure, "exposure values (numbers), one per region") from None
    return _exposure_array(arr, len(names), "exposure")


def _region_columns(table: _Columns, skip: set[str], meta: _Regions | None
                    ) -> tuple[list[str], tuple[str, ...]]:
    """The loss columns of a wide table and the region names in order (the region table's order when
    given: every column must be one of its regions and every region a column)."""
    columns = [n for n in table.names if n not in skip]
    if meta is None:
        if not columns:
            others = ", ".join(repr(s) for s in sorted(skip)) or "none"
            raise ModelError(table.where, None, f"one loss column per region besides {others}",
                             detail="no region column")
        for c in columns:
            if c in RESERVED:
                raise ModelError(_at(table.where, c), None, "region columns other than 'loss' and 'X' (the "
                                 "loss space's total and aggregate risk)",
                                 detail="for a long table give layout='long'" if c == "loss" else "")
        return columns, tuple(columns)
    known = set(meta.names)
    for c in columns:
        if c not in known:
            raise ModelError(_at(table.where, c), None, f"a region of the region table {meta.where}",
                             detail="in the header (a wide table has one column per region)")
    present = set(columns)
    for n in meta.names:
        if n not in present:
            raise ModelError(_at(table.where, n), None, f"a loss column for each region of {meta.where}",
                             detail="missing")
    return list(meta.names), meta.names


@dataclass
class _YearTable:
    """A YLT being read: regions, state probabilities, where each region's losses come from."""

    regions: tuple[str, ...]
    probs: np.ndarray
    exposure: np.ndarray | None
    info: dict[str, Any]
    column: Callable[[int], np.ndarray]  # region index -> its losses over the states

    @property
    def n_states(self) -> int:
        return int(self.probs.size)

    def table(self) -> LossTable:
        losses = np.empty((len(self.regions), self.n_states))
        for r in range(len(self.regions)):
            losses[r] = self.column(r)
        return LossTable(self.regions, losses, self.probs, self.exposure, self.info)

    def scenarios(self) -> Scenarios:
        return Scenarios(self.probs, _RegionStream(self.regions, self.column, self.n_states))


def _read_years(source: Any, *, year: str | None, region: str, loss: str, weight: str | None, layout: str,
                regions: Any, exposure: Any, years: int | None, where: str | None = None,
                regions_where: str | None = None, fields: tuple[str, ...] | None = None) -> _YearTable:
    _column_args(("year", "weight"), year=year, weight=weight, region=region, loss=loss)
    total_years = None
    if years is not None:
        total_years = integer("years", years, "the number of years the table covers (an integer >= 1)")
        if not 1 <= total_years <= MAX_YEARS:
            raise ModelError("years", years, f"the number of years the table covers, 1 to {MAX_YEARS:.0e}")
        if weight is not None:
            raise ModelError("years", years, "no year count with a weight column (the weights say how "
                             "likely each year is)")
    meta, table, chosen = _open_losses(source, "year", region=region, loss=loss, layout=layout,
                                       regions=regions, exposure=exposure, where=where,
                                       regions_where=regions_where, fields=fields)
    if year is not None:
        table.need(year, "the year of each row; year=None when each row is a year")
    if weight is not None:
        table.need(weight, "the weight of each year")
    if chosen == "wide":
        read = _read_wide_years(table, year, weight, meta, total_years, fields)
    else:
        if year is None:
            raise ModelError("year", None, "a year column: a long table has one row per year and region")
        table.need(region, "the region of each row")
        table.need(loss, "the loss of each row")
        read = _read_long_years(table, year, region, loss, weight, meta, total_years, fields)
    if meta is None and exposure is not None:
        read.exposure = _given_exposure(exposure, read.regions)
    return read


def _year_probs(table: _Columns, weights: np.ndarray | None, weight: str | None, n: int,
                total_years: int | None) -> tuple[np.ndarray, dict[str, Any]]:
    """The states' probabilities: equal, from the weights, or with the unseen years as one last state."""
    info: dict[str, Any] = {"rows": table.n_rows, "years_with_rows": n}
    if weights is not None:
        assert weight is not None
        raw = accurate_sum(weights)
        if not 0 < raw < math.inf:
            raise ModelError(_at(table.where, weight), f"sum {raw!r}", "weights >= 0 with a finite sum > 0")
        info.update(weight_sum=raw, years=n, weights=f"column {weight!r}, normalised by their sum {raw:.6g}")
        return weights / raw, info
    if total_years is None or total_years == n:
        info.update(years=n, unseen_years=0)
        return np.full(n, 1.0 / n), info
    if total_years < n:
        raise ModelError("years", total_years, f"at least the {n} years the table has rows for")
    unseen = total_years - n
    info.update(years=total_years, unseen_years=unseen,
                unseen_note=f"{unseen} years without rows: one last state of zero loss with probability "
                            f"{unseen}/{total_years}")
    probs = np.full(n + 1, 1.0 / total_years)
    probs[-1] = unseen / total_years
    return probs, info


def _read_wide_years(table: _Columns, year: str | None, weight: str | None, meta: _Regions | None,
                     total_years: int | None, fields: tuple[str, ...] | None) -> _YearTable:
    n = table.n_rows
    skip = {c for c in (year, weight) if c is not None}
    columns, names = _region_columns(table, skip, meta)
    if year is not None:
        table.distinct(year, "a year id", "distinct years (a wide table has one row per year)")
    weights = table.numbers(weight, "a weight") if weight is not None else None
    probs, info = _year_probs(table, weights, weight, n, total_years)
    require(cells(READ_CELL_BYTES, fields or (table.where,), years=probs.size, regions=len(names)),
            what=f"the losses of {table.where}")
    extra = probs.size - n

    def column(r: int) -> np.ndarray:
        values = table.numbers(columns[r], "a loss")
        return np.concatenate([values, np.zeros(extra)]) if extra else values

    info.update(source=table.where, layout="wide", view="aggregate")
    return _YearTable(names, probs, None if meta is None else meta.exposure, info, column)


def _first_repeat(codes: np.ndarray, where: str, column: str, allowed: str) -> None:
    """An error at the first row whose code appeared in an earlier row."""
    if codes.size < 2:
        return
    _, first = np.unique(codes, return_index=True)
    if first.size == codes.size:
        return
    repeated = np.ones(codes.size, dtype=bool)
    repeated[first] = False
    row = int(np.argmax(repeated))
    earlier = int(np.argmax(codes == codes[row]))
    raise ModelError(_at(where, column, row), None, allowed, detail=f"the same as row {earlier + 1}")


def _read_long_years(table: _Columns, year: str, region: str, loss: str, weight: str | None,
                     meta: _Regions | None, total_years: int | None,
                     fields: tuple[str, ...] | None) -> _YearTable:
    fields = fields or (table.where,)
    require(Footprint(LONG_ROW_BYTES * table.n_rows, fields, f"{table.n_rows} rows"),
            what=f"reading {table.where}")
    year_code, _ = table.ids(year, "a year id", names=False)
    region_code, found = table.ids(region, "a region id")
    names, region_code = _match_regions(table, region, region_code, found, meta)
    values = table.numbers(loss, "a loss")
    n_years = int(year_code.max()) + 1
    _first_repeat(year_code * len(names) + region_code, table.where, region,
                  "one row per (year, region) pair")
    weights = None
    if weight is not None:
        per_row = table.numbers(weight, "a weight")
        weights, _ = _per_group(table, weight, per_row, year_code, "weight", "year")
    probs, info = _year_probs(table, weights, weight, n_years, total_years)
    require(cells(8.0, fields, years=probs.size, regions=len(names)), what=f"the losses of {table.where}")
    dense = np.zeros((len(names), probs.size))
    dense[region_code, year_code] = values
    info.update(source=table.where, layout="long", view="aggregate",
                missing_pairs="(year, region) pairs without a row lose 0")
    return _YearTable(names, probs, None if meta is None else meta.exposure, info, lambda r: dense[r])


def _per_group(table: _Columns, column: str, per_row: np.ndarray, group: np.ndarray, what: str,
               of: str) -> tuple[np.ndarray, np.ndarray]:
    """One value per group (year, event) from rows that must agree, and each group's first row: the
    first row rules, the first row that differs from it is an error."""
    _, first = np.unique(group, return_index=True)  # codes 0..k-1 all appear: first[k] is group k's
    values = per_row[first]
    differ = per_row != values[group]
    if differ.any():
        row = int(np.argmax(differ))
        article = "an" if of[0] in "aeiou" else "a"
        raise ModelError(_at(table.where, column, row), float(per_row[row]),
                         f"the same {what} on every row of {article} {of}",
                         detail=f"the {of}'s first row (row {int(first[group[row]]) + 1}) has "
                                f"{float(values[group[row]]):.6g}")
    return values, first


def _match_regions(table: _Columns, region: str, codes: np.ndarray, found: list[str],
                   meta: _Regions | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Region names and each row's region index: the table's ids (sorted), or the region table's
    order, where every id of the losses must be a region of the region table."""
    for k, n in enumerate(found):
        if n in RESERVED or not n.strip():
            row = int(np.argmax(codes == k))
            raise ModelError(_at(table.where, region, row), n, "a region name other than 'loss' and 'X' (the "
                             "loss space's total and aggregate risk), not empty")
    if meta is None:
        return tuple(found), codes
    index = meta.index()
    position = np.array([index.get(n, -1) for n in found], dtype=np.int64)
    if np.any(position < 0):
        unknown = np.flatnonzero(position < 0)
        rows = np.isin(codes, unknown)
        row = int(np.argmax(rows))
        raise ModelError(_at(table.where, region, row), found[int(codes[row])],
                         f"a region of the region table {meta.where}")
    return meta.names, position[codes]


# ------------------------------------------------------------------------------------- public readers
def year_loss_table(source: Any, *, year: str | None = "year", region: str = "region", loss: str = "loss",
                    weight: str | None = None, layout: Literal["auto", "wide", "long"] = "auto",
                    regions: Any = None, exposure: Any = None, years: int | None = None) -> LossTable:
    """Read a year loss table (CSV, Parquet or a pandas DataFrame) into a :class:`LossTable`.

    *Wide* layout: one row per year, a ``year`` column (distinct ids; ``year=None`` when the rows are
    the years), an optional ``weight`` column and one loss column per region (every other column).
    *Long* layout: one row per (year, region) with columns ``year``, ``region``, ``loss`` (and
    ``weight``, the same on every row of a year); a (year, region) pair without a row loses 0; years
    in ascending order of their ids. ``layout="auto"`` is long when the table has both the
    ``region`` and the ``loss`` columns.

    Years are equally likely, or weighted by the ``weight`` column (normalised by its sum, kept in
    ``info["weight_sum"]``). A table may leave out years without any loss (a long table cannot show
    them): ``years=`` says how many years it covers, and the years without rows become one last state
    of zero loss with probability ``(years - rows) / years``.

    ``regions``: the region metadata, a table (path or DataFrame) with a ``region`` column (the ids,
    in the order wanted) and optionally an exposure column, or a list of names; every region of the
    losses must be in it (else an error naming the file, column and first row). ``exposure``: the
    exposure column of that table (default: ``"exposure"`` when it has one), a mapping region ->
    value or one value per region. Losses must be finite numbers >= 0.
    """
    return _read_years(source, year=year, region=region, loss=loss, weight=weight, layout=layout,
                       regions=regions, exposure=exposure, years=years).table()


def year_loss_scenarios(source: Any, *, year: str | None = "year", region: str = "region", loss: str = "loss",
                        weight: str | None = None, layout: Literal["auto", "wide", "long"] = "auto",
                        regions: Any = None, exposure: Any = None, years: int | None = None) -> Scenarios:
    """:func:`year_loss_table` straight to its scenario space (``LossTable.scenarios``), reading one
    region at a time: the losses are held once (a wide Parquet file of 1,000,000 years x 212 regions
    needs 1.7 GB, not twice that)."""
    return _read_years(source, year=year, region=region, loss=loss, weight=weight, layout=layout,
                       regions=regions, exposure=exposure, years=years).scenarios()


class _RegionStream(Mapping[str, np.ndarray]):
    """The variables of a loss space, each region read when asked for (a space copies each variable as
    it is built, so one region's column is held at a time besides it); ``"loss"`` and ``"X"`` from
    the regions' running total (complete once every region was read, as a space reads them in order)."""

    def __init__(self, regions: tuple[str, ...], column: Callable[[int], np.ndarray], n_states: int):
        self._regions, self._column = regions, column
        self._index = {n: i for i, n in enumerate(regions)}
        self._total = np.zeros(n_states)
        self._added: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        yield from self._regions
        yield from RESERVED

    def __len__(self) -> int:
        return len(self._regions) + len(RESERVED)

    def __getitem__(self, key: str) -> np.ndarray:
        if key in self._index:
            r = self._index[key]
            values = self._column(r)
            if r not in self._added:
                self._total += values
                self._added.add(r)
            return values
        if key not in RESERVED:
            raise KeyError(key)
        for r in range(len(self._regions)):
            if r not in self._added:
                self[self._regions[r]]
        return 0.0 + self._total if key == "loss" else 0.0 - self._total


def event_loss_table(source: Any, *, event: str = "event", rate: str = "rate", loss: str = "loss",
                     region: str = "region", sd: str | None = None, max_loss: str | None = None,
                     layout: Literal["auto", "wide", "long"] = "auto", regions: Any = None,
                     exposure: Any = None) -> EventLossTable:
    """Read an event loss table (CSV, Parquet or a pandas DataFrame) into an :class:`EventLossTable`.

    *Wide* layout: one row per event with its ``event`` id (distinct), annual ``rate``, optional
    ``sd`` and ``max_loss`` columns (the secondary uncertainty of the event's *total* loss: a standard
    deviation and a largest loss) and one mean-loss column per region (every other column). *Long*
    layout: one row per (event, region) with ``event``, ``rate`` (the same on every row of an event),
    ``region``, ``loss`` and optionally ``sd`` and ``max_loss`` (per event and region); a pair without
    a row loses 0. ``layout="auto"`` is long when the table has both ``region`` and ``loss``
    columns. ``regions`` and ``exposure`` as in :func:`year_loss_table`. A (mean, sd, max_loss) no
    beta law on ``[0, max_loss]`` has (``sd^2 >= mean (max_loss - mean)``, sd > 0) is refused naming
    its row; without ``max_loss`` the secondary law is a gamma (see :meth:`EventLossTable.simulate`).
    """
    return _read_events(source, event=event, rate=rate, loss=loss, region=region, sd=sd, max_loss=max_loss,
                        layout=layout, regions=regions, exposure=exposure)


def _read_events(source: Any, *, event: str, rate: str, loss: str, region: str, sd: str | None,
                 max_loss: str | None, layout: str, regions: Any, exposure: Any, where: str | None = None,
                 regions_where: str | None = None, fields: tuple[str, ...] | None = None) -> EventLossTable:
    _column_args(("sd", "max_loss"), event=event, rate=rate, loss=loss, region=region, sd=sd,
                 max_loss=max_loss)
    if max_loss is not None and sd is None:
        raise ModelError("max_loss", max_loss, "a largest loss with a standard deviation column (sd=...): "
                         "it bounds the secondary uncertainty")
    meta, table, chosen = _open_losses(source, "event", region=region, loss=loss, layout=layout,
                                       regions=regions, exposure=exposure, where=where,
                                       regions_where=regions_where, fields=fields)
    table.need(event, "the event of each row")
    table.need(rate, "the annual rate of each event")
    for column in (sd, max_loss):
        if column is not None:
            table.need(column, "the secondary uncertainty")
    fields = fields or (table.where,)
    info: dict[str, Any] = {"source": table.where, "layout": chosen, "rows": table.n_rows}
    if chosen == "wide":
        series = table.distinct(event, "an event id", "distinct events (a wide table has one row per event)")
        ids = np.asarray(series.to_numpy())
        rates = table.numbers(rate, "an annual rate")
        skip = {c for c in (event, rate, sd, max_loss) if c is not None}
        columns, names = _region_columns(table, skip, meta)
        require(cells(EVENT_CELL_BYTES, fields, events=table.n_rows, regions=len(names)),
                what=f"the losses of {table.where}")
        losses = np.empty((table.n_rows, len(names)))
        for r, c in enumerate(columns):
            losses[:, r] = table.numbers(c, "a mean loss")
        sd_v = table.numbers(sd, "a standard deviation") if sd is not None else None
        mx_v = table.numbers(max_loss, "a largest loss") if max_loss is not None else None
        if sd is not None and sd_v is not None:
            _check_secondary_rows(table, losses.sum(axis=1), sd_v, mx_v, sd, max_loss)
    else:
        table.need(region, "the region of each row")
        table.need(loss, "the mean loss of each row")
        require(Footprint(LONG_ROW_BYTES * table.n_rows, fields, f"{table.n_rows} rows"),
                what=f"reading {table.where}")
        event_code, _ = table.ids(event, "an event id", names=False)
        region_code, found = table.ids(region, "a region id")
        names, region_code = _match_regions(table, region, region_code, found, meta)
        n_e = int(event_code.max()) + 1
        _first_repeat(event_code * len(names) + region_code, table.where, region,
                      "one row per (event, region) pair")
        per_row = table.numbers(rate, "an annual rate")
        rates, first = _per_group(table, rate, per_row, event_code, "rate", "event")
        ids = np.asarray(table._series(event).to_numpy())[first]
        require(cells(EVENT_CELL_BYTES, fields, events=n_e, regions=len(names)),
                what=f"the losses of {table.where}")
        values = table.numbers(loss, "a mean loss")
        losses = np.zeros((n_e, len(names)))
        losses[event_code, region_code] = values
        sd_v = mx_v = None
        if sd is not None:
            row_sd = table.numbers(sd, "a standard deviation")
            row_mx = table.numbers(max_loss, "a largest loss") if max_loss is not None else None
            _check_secondary_rows(table, values, row_sd, row_mx, sd, max_loss)
            sd_v = np.zeros_like(losses)
            sd_v[event_code, region_code] = row_sd
            if row_mx is not None:
                mx_v = np.zeros_like(losses)
                mx_v[event_code, region_code] = row_mx
        info["missing_pairs"] = "(event, region) pairs without a row lose 0"
    exposure_v = _given_exposure(exposure, names) if meta is None else meta.exposure
    if sd is not None:
        per = ": per event (the total loss)" if chosen == "wide" else ": per event and region"
        info["secondary"] = f"column {sd!r}" + (f", bounded by column {max_loss!r}" if max_loss else "") + per
    return EventLossTable(ids, rates, losses, names, exposure_v, sd_v, mx_v, info)


def _check_secondary_rows(table: _Columns, mean: np.ndarray, sd: np.ndarray, mx: np.ndarray | None,
                          sd_name: str, max_name: str | None) -> None:
    problem = _secondary_problem(mean, sd, mx)
    if problem is None:
        return
    (row,), what, allowed = problem
    column = max_name if what == "max_loss" and max_name is not None else sd_name
    value = (mx if what == "max_loss" and mx is not None else sd)[row]
    detail = f"mean loss {float(mean[row]):.6g}"
    if mx is not None:
        detail += f", max_loss {float(mx[row]):.6g}"
    raise ModelError(_at(table.where, column, row), float(value), allowed, detail=detail)


# ============================================================================================ cards
def _card_file(node: Node, key: str, folder: Path | None) -> tuple[Path, str]:
    """A file named by a card (relative to the card's folder; absolute allowed) and its label for
    messages (``space.path = 'ylt.csv'``). A bare file name missing from the card's folder but shipped
    with riskopt's bundled cards is that file (a bundled card copied elsewhere still runs)."""
    text = node.take(key, str, allowed="a path to a CSV or Parquet file, relative to the card's folder")
    label = f"{node.at(key)} = {describe(text)}"
    try:
        path = Path(text)
        if not path.is_absolute():
            path = (folder or Path.cwd()) / path
        if not path.exists() and Path(text).name == text:
            bundled = resources.files("riskopt.models") / text
            if bundled.is_file():
                return Path(str(bundled)), label
    except (OSError, ValueError) as err:
        raise ModelError(label, None, "a readable CSV or Parquet file", detail=_one_line(err)) from None
    return path, label


def _card_regions(node: Node, folder: Path | None) -> tuple[Any, str | None]:
    if "regions" not in node.data:
        node.used.add("regions")
        return None, None
    value = node.data["regions"]
    if isinstance(value, list):
        node.used.add("regions")
        if not all(isinstance(v, str) for v in value):
            raise ModelError(node.at("regions"), value, "a region table (a path) or a list of region names")
        return value, node.at("regions")
    return _card_file(node, "regions", folder)


def _column_names(node: Node, names: dict[str, str | None]) -> dict[str, str | None]:
    """Column-name fields (``""`` for an optional column means none)."""
    out: dict[str, str | None] = {}
    for key, default in names.items():
        value = node.take(key, str, default=default if default is not None else "",
                          allowed="a column name (a string)")
        out[key] = value or None
    return out


def card_table(kind: str, node: Node, seed: int | None, folder: Path | None, max_states: int) -> LossTable:
    """The loss table of a card section of ``kind = "year_loss_table"`` or ``"event_loss_table"``
    (fields in :func:`card_rows`; ``kind`` already read): ``seed`` is the card's ``[model] seed``,
    ``folder`` the card's folder (``None``: the current directory), ``max_states`` the most states
    (years) a card may have."""
    if kind == "year_loss_table":
        return _card_years(node, folder, max_states).table()
    return _card_events(node, seed, folder, max_states)


def card_space(kind: str, node: Node, seed: int | None, folder: Path | None, max_states: int) -> Scenarios:
    """The scenario space of :func:`card_table` (a year loss table read one region at a time,
    :func:`year_loss_scenarios`)."""
    if kind == "year_loss_table":
        return _card_years(node, folder, max_states).scenarios()
    return _card_events(node, seed, folder, max_states).scenarios


def _card_common(node: Node, folder: Path | None) -> tuple[Path, str, Any, str | None, str]:
    path, where = _card_file(node, "path", folder)
    regions, regions_where = _card_regions(node, folder)
    layout = node.take("layout", str, default="auto", allowed="'auto', 'wide' or 'long'")
    return path, where, regions, regions_where, layout


def _card_years(node: Node, folder: Path | None, max_states: int) -> _YearTable:
    path, where, regions, regions_where, layout = _card_common(node, folder)
    cols = _column_names(node, {"year": "year", "region": "region", "loss": "loss", "weight": None})
    years = node.take("years", int, default=None, allowed="the number of years the table covers")
    try:
        read = _read_years(path, year=cols["year"], region=cols["region"] or "region",
                           loss=cols["loss"] or "loss", weight=cols["weight"], layout=layout,
                           regions=regions, exposure=None, years=years, where=where,
                           regions_where=regions_where, fields=(node.at("path"),))
    except ModelError as err:
        raise _card_error(err, node) from None
    if read.n_states > max_states:
        raise ModelError(node.at("path"), f"{read.n_states} states", f"at most {max_states} states (years)")
    return read


def _card_events(node: Node, seed: int | None, folder: Path | None, max_states: int) -> LossTable:
    path, where, regions, regions_where, layout = _card_common(node, folder)
    cols = _column_names(node, {"event": "event", "rate": "rate", "loss": "loss", "region": "region",
                                "sd": None, "max_loss": None})
    years = node.take("years", int, allowed=f"the number of years to simulate, 1 to {max_states}")
    if not 1 <= years <= max_states:
        raise ModelError(node.at("years"), years, f"the number of years to simulate, 1 to {max_states}")
    chosen_seed = node.take("seed", int, default=seed, allowed="an integer seed >= 0")
    if chosen_seed is None:
        raise ModelError(node.at("seed"), None, "a seed for the simulation (here or [model] seed)",
                         detail="missing")
    if chosen_seed < 0:
        raise ModelError(node.at("seed"), chosen_seed, "an integer seed >= 0")
    view = node.take("view", str, default="aggregate", allowed="'aggregate' or 'occurrence'")
    if view not in ("aggregate", "occurrence"):
        raise ModelError(node.at("view"), view,
                         "'aggregate' (annual sums) or 'occurrence' (largest occurrence)")
    secondary = node.take("secondary", bool, default=True)
    try:
        elt = _read_events(path, event=cols["event"] or "event", rate=cols["rate"] or "rate",
                           loss=cols["loss"] or "loss", region=cols["region"] or "region", sd=cols["sd"],
                           max_loss=cols["max_loss"], layout=layout, regions=regions, exposure=None,
                           where=where, regions_where=regions_where, fields=(node.at("path"),))
        return elt.simulate(years, seed=chosen_seed, view=view, secondary=secondary)
    except ModelError as err:
        raise _card_error(err, node) from None


def _card_error(err: ModelError, node: Node) -> ModelError:
    """A reader's error with the card path: file errors already name ``space.path = ...``; argument
    errors (``years``, ``seed``) get the ``[space]`` prefix."""
    return err if err.field.startswith(node.path) else err.with_prefix(node.path)


def card_rows() -> dict[str, list[tuple[str, str, str, str]]]:
    """The card fields of the two kinds: ``kind -> [(key, type, default, help)]`` (the card reference)."""
    common = [
        ("path", "string", "required", "the table: a CSV or Parquet file, relative to the card's folder "
         "(absolute allowed; a bare name shipped with the bundled cards is found there too)"),
        ("layout", '"auto", "wide" or "long"', '"auto"', "wide: one row per year/event, a column per "
         "region; long: one row per (year/event, region); auto: long when the region and loss columns exist"),
        ("regions", "string or list of strings", "none", "a region table (path; a 'region' column, in the "
         "order wanted) or a list of names: every region of the losses must be in it"),
        ("region", "string", '"region"', "the region column (long layout)"),
        ("loss", "string", '"loss"', "the loss column (long layout)")]
    years = [
        ("year", "string", '"year"', 'the year column ("": each row is a year, wide layout)'),
        ("weight", "string", "none", "a column of year weights (normalised by their sum)"),
        ("years", "integer", "the years with rows", "the number of years the table covers: years "
         "without rows lose 0 (one state of their share)")]
    events = [
        ("event", "string", '"event"', "the event id column"),
        ("rate", "string", '"rate"', "the annual rate column"),
        ("sd", "string", "none", "a standard deviation column: secondary uncertainty (per event's total "
         "in a wide table, per event and region in a long one)"),
        ("max_loss", "string", "none", "a largest-loss column: the secondary law is a beta on "
         "[0, max_loss] (else a gamma)"),
        ("years", "integer", "required", "the number of years simulated (Poisson occurrence): the states"),
        ("seed", "integer", "[model] seed", "the simulation's seed"),
        ("view", '"aggregate" or "occurrence"', '"aggregate"', "annual sums per region, or each region's "
         "largest single-occurrence loss of the year"),
        ("secondary", "true/false", "true", "draw the secondary uncertainty (false: each occurrence loses "
         "its mean)")]
    return {"year_loss_table": [*common, *years], "event_loss_table": [*common, *events]}


def card_reference_rows(path: str) -> list[Row]:
    """Reference rows of the two kinds' fields under ``path`` (``space``)."""
    return [Row(f'{path}.{key} (kind = "{kind}")', typ, default, "", "", help_)
            for kind, fields in card_rows().items() for key, typ, default, help_ in fields]
