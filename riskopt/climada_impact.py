"""Event loss tables from CLIMADA impacts: modelled catastrophe losses grouped into regions.

`CLIMADA <https://climada.ethz.ch>`_ (ETH Zürich, GPLv3) computes, for a hazard event set and an
exposure portfolio, the impact matrix ``imp_mat[e, p]``: the loss of exposure point ``p`` in event
``e``, with the event's annual frequency ``frequency[e]``. :func:`from_impact` groups the exposure
points into regions ``g`` and returns an :class:`~riskopt.losstables.EventLossTable` with

* ``losses[e, g] = sum_{p in g} imp_mat[e, p]`` (one sparse product ``imp_mat @ G`` with the points x
  groups indicator ``G``), so ``losses.sum(axis=1)`` is CLIMADA's ``at_event``;
* ``rates[e] = frequency[e]`` as given: their sum is the expected number of events a year and, under
  Poisson occurrence, ``P(no event in a year) = exp(-sum)``;
* ``exposure[g] = sum_{p in g} value[p]``.

The groups are given per point (region ids, or a column of the exposures), a lat/lon grid
(:class:`GridGroups`) or k-means clusters of the coordinates (:class:`KMeansGroups`).
:func:`florida_demo` runs CLIMADA's bundled Florida tropical-cyclone demo end to end, offline.

CLIMADA is an optional dependency imported only when called (``pip install 'riskopt[climada]'``);
no CLIMADA code or data is part of riskopt. Losses stay in the data's units (``info["units"]``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ModelError, describe
from .losstables import EventLossTable, LossTable
from .spec import Node, Row

__all__ = [
    "CARD_HAZARDS",
    "DEMO_GROUPS",
    "GridGroups",
    "KMeansGroups",
    "card_reference_rows",
    "card_table",
    "florida_demo",
    "florida_demo_impact",
    "from_impact",
    "in_units",
]

CITATION = ("Aznar-Siguan, G. and Bresch, D. N. (2019): CLIMADA v1: a global weather and climate risk "
            "assessment platform, Geosci. Model Dev., 12, 3085-3097, doi:10.5194/gmd-12-3085-2019")
INSTALL_HINT = ("the climada extra: pip install 'riskopt[climada]' (CLIMADA, GPLv3; it needs GDAL: "
                "apt-get install libgdal-dev, then pip install \"gdal==$(gdal-config --version)\")")


@dataclass(frozen=True)
class GridGroups:
    """A lat/lon grid: point ``p`` is in cell ``(floor((lat_p - lat0)/dlat), floor((lon_p - lon0)/dlon))``
    with ``(lat0, lon0) = origin``; the non-empty cells are the groups, south to north then west to
    east, named ``"lat A..B, lon C..D"`` (their bounds in degrees)."""

    dlat: float
    dlon: float
    origin: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class KMeansGroups:
    """``k`` k-means clusters of the exposure points (scikit-learn, ``random_state=seed``, ``n_init``
    restarts) on ``(lat, lon * cos(mean lat))``, so that distances are roughly equal-area; with
    ``weighted`` the points are weighted by their exposure value. The clusters are renumbered by
    descending exposure value (ties: west to east) and named ``"group 1"``, ``"group 2"``, ..."""

    k: int
    seed: int = 0
    weighted: bool = False
    n_init: int = 10


#: The default grouping of :func:`florida_demo`: 8 k-means regions, seed 0.
DEMO_GROUPS = KMeansGroups(8, seed=0)

Groups = GridGroups | KMeansGroups | str | Sequence[Any] | np.ndarray


def from_impact(impact: Any, exposures: Any, groups: Groups, *, source: str = "") -> EventLossTable:
    """The event loss table of a CLIMADA ``Impact`` (computed with ``save_mat=True``) by group of
    exposure points: ``losses[e, g]`` the sum of ``impact.imp_mat[e, p]`` over the group's points,
    ``rates = impact.frequency`` (as given), ``exposure[g]`` the sum of the points' ``value``.

    ``exposures`` is the CLIMADA ``Exposures`` the impact was computed on (its ``gdf["value"]`` and
    coordinates ``latitude``/``longitude``, or ``gdf`` columns of those names); ``groups`` is one of:
    a group id or name per exposure point (array), the name of a column of ``exposures.gdf`` (e.g.
    ``"region_id"``), a :class:`GridGroups` or a :class:`KMeansGroups`. Groups without points are
    dropped (``info["dropped_groups"]``). ``source`` is prepended to ``info["source"]``.
    """
    mat, freq, event_ids = _impact_arrays(impact)
    n_events, n_points = mat.shape
    value, lat, lon = _exposure_arrays(exposures, n_points)
    _check_coordinates(impact, lat, lon)
    labels, names, note = _group_labels(groups, exposures, value, lat, lon)
    used = np.bincount(labels, minlength=len(names)) > 0
    dropped = [names[g] for g in range(len(names)) if not used[g]]
    if dropped:  # renumber the non-empty groups 0..m-1, in the same order
        new = np.cumsum(used) - 1
        labels, names = new[labels], [n for n, u in zip(names, used, strict=True) if u]
    m = len(names)

    from scipy import sparse

    indicator = sparse.csr_matrix((np.ones(n_points), (np.arange(n_points), labels)), shape=(n_points, m))
    losses = np.asarray((mat @ indicator).toarray(), dtype=float)
    exposure = np.bincount(labels, weights=value, minlength=m).astype(float)
    counts = np.bincount(labels, minlength=m)
    cent_lat = np.bincount(labels, weights=lat, minlength=m) / counts
    cent_lon = np.bincount(labels, weights=lon, minlength=m) / counts

    total = float(freq.sum())
    p_none = math.exp(-total)
    aai = float(freq @ losses.sum(axis=1))
    units = str(getattr(impact, "unit", "") or "")
    info: dict[str, Any] = {
        "source": "; ".join(p for p in (source, f"CLIMADA impact ({_describe_impact(impact)})") if p),
        "units": units or "as in the data (impact.unit not set)",
        "frequency_unit": str(getattr(impact, "frequency_unit", "") or "1/year"),
        "n_events": n_events,
        "n_points": n_points,
        "frequency_sum": total,  # expected_events_per_year, p_no_event_poisson: EventLossTable's own
        "frequency_note": (f"rates are CLIMADA's event frequencies as given: they sum to {total:.6g}, the "
                           f"expected number of events a year; under Poisson occurrence "
                           f"P(no event in a year) = exp(-{total:.6g}) = {p_none:.4g}"),
        "aai_agg": aai,
        "groups": note,
        "points_per_group": dict(zip(names, (int(c) for c in counts), strict=True)),
        "centroids": {n: (float(a), float(b)) for n, a, b in zip(names, cent_lat, cent_lon, strict=True)},
        "dropped_groups": (f"{len(dropped)} group(s) without exposure points dropped: {', '.join(dropped)}"
                           if dropped else "none"),
        "climada_version": _climada_version(),
        "citation": CITATION,
    }
    return EventLossTable(event_ids=event_ids, rates=freq, losses=losses, regions=tuple(names),
                          exposure=exposure, info=info)


def florida_demo_impact() -> tuple[Any, Any]:
    """CLIMADA's bundled Florida tropical-cyclone demo, offline: the hazard ``HAZ_DEMO_H5`` (historical
    IBTrACS storms 1990-2004 on a 2,500-centroid grid), the exposures ``EXP_DEMO_H5`` (their
    ``impf_TC`` is 1) and Emanuel's (2011) USA wind damage function
    (``ImpfTropCyclone.from_emanuel_usa()``, id 1); returns ``(impact, exposures)`` with the impact
    matrix saved (``ImpactCalc(...).impact(save_mat=True)``)."""
    _require_climada()
    with _quiet_climada():
        from climada.engine import ImpactCalc
        from climada.entity import Exposures, ImpactFuncSet, ImpfTropCyclone
        from climada.hazard import Hazard
        from climada.util.constants import EXP_DEMO_H5, HAZ_DEMO_H5

        hazard = Hazard.from_hdf5(HAZ_DEMO_H5)
        exposures = Exposures.from_hdf5(EXP_DEMO_H5)
        impf_set = ImpactFuncSet([ImpfTropCyclone.from_emanuel_usa()])
        impact = ImpactCalc(exposures, impf_set, hazard).impact(save_mat=True)
    return impact, exposures


def florida_demo(groups: Groups = DEMO_GROUPS) -> EventLossTable:
    """The event loss table of CLIMADA's Florida tropical-cyclone demo (:func:`florida_demo_impact`)
    by ``groups`` (default: 8 k-means regions, seed 0), losses in USD. Offline; prints nothing."""
    impact, exposures = florida_demo_impact()
    source = ("CLIMADA demo: hazard tc_fl_1990_2004.h5 (IBTrACS tropical cyclones over Florida, "
              "1990-2004), exposures exp_demo_today.h5, impact function Emanuel (2011) USA")
    return from_impact(impact, exposures, groups, source=source)


# -- inputs ------------------------------------------------------------------------------------------

def _impact_arrays(impact: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The impact matrix (scipy CSR), the frequencies and the event ids, checked."""
    from scipy import sparse

    mat = getattr(impact, "imp_mat", None)
    if mat is None or math.prod(getattr(mat, "shape", (0,))) == 0:
        raise ModelError("impact.imp_mat", None, "the events x exposure points impact matrix: compute the "
                         "impact with ImpactCalc(exposures, impf_set, hazard).impact(save_mat=True)")
    try:
        mat = sparse.csr_matrix(mat, dtype=float)
    except (TypeError, ValueError):
        raise ModelError("impact.imp_mat", mat, "an events x exposure points matrix (scipy sparse)") from None
    if mat.ndim != 2:
        raise ModelError("impact.imp_mat", mat, "an events x exposure points matrix (2-D)")
    if not np.all(np.isfinite(mat.data)) or np.any(mat.data < 0):
        bad = int(np.sum(~np.isfinite(mat.data)))
        raise ModelError("impact.imp_mat", None, "finite losses >= 0",
                         detail=f"min {np.min(mat.data):.6g}, {bad} not finite")
    n_events = mat.shape[0]
    freq = np.asarray(getattr(impact, "frequency", None), dtype=float)
    if freq.shape != (n_events,):
        raise ModelError("impact.frequency", freq if freq.ndim else None,
                         f"one annual frequency per event ({n_events}, the rows of imp_mat)",
                         detail=f"shape {freq.shape}")
    if not np.all(np.isfinite(freq)) or np.any(freq < 0):
        raise ModelError("impact.frequency", freq, "finite frequencies >= 0")
    ids = getattr(impact, "event_id", None)
    event_ids = np.arange(1, n_events + 1) if ids is None else np.asarray(ids)
    if event_ids.shape != (n_events,):
        raise ModelError("impact.event_id", event_ids, f"one id per event ({n_events})")
    return mat, freq, event_ids


def _exposure_arrays(exposures: Any, n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exposure values and coordinates (``latitude``/``longitude`` attributes, else ``gdf`` columns)."""
    gdf = getattr(exposures, "gdf", None)
    if gdf is None or "value" not in gdf:
        raise ModelError("exposures.gdf", None, "a table with a 'value' column per exposure point")
    value = np.asarray(gdf["value"], dtype=float)
    coords = []
    for name in ("latitude", "longitude"):
        c = getattr(exposures, name, None)
        if c is None and name in gdf:
            c = gdf[name]
        if c is None:
            raise ModelError(f"exposures.{name}", None, "the coordinates of the exposure points")
        coords.append(np.asarray(c, dtype=float))
    for name, a in (("value", value), ("latitude", coords[0]), ("longitude", coords[1])):
        if a.shape != (n_points,):
            raise ModelError(f"exposures.{name}", a, f"one per exposure point ({n_points}, the columns of "
                             "impact.imp_mat): the exposures the impact was computed on")
        if not np.all(np.isfinite(a)):
            raise ModelError(f"exposures.{name}", a, "finite numbers")
    if np.any(value < 0):
        raise ModelError("exposures.value", value, "exposure values >= 0")
    return value, coords[0], coords[1]


def _check_coordinates(impact: Any, lat: np.ndarray, lon: np.ndarray) -> None:
    """The impact's own exposure coordinates (``coord_exp``), where it has them, must be the exposures'."""
    coord = getattr(impact, "coord_exp", None)
    if coord is None:
        return
    coord = np.asarray(coord, dtype=float)
    if coord.shape == (lat.size, 2) and not np.allclose(coord, np.column_stack([lat, lon]), atol=1e-6):
        raise ModelError("exposures", None, "the exposures the impact was computed on",
                         detail="their coordinates differ from impact.coord_exp")


# -- groups ------------------------------------------------------------------------------------------

def _group_labels(groups: Groups, exposures: Any, value: np.ndarray, lat: np.ndarray,
                  lon: np.ndarray) -> tuple[np.ndarray, list[str], str]:
    """Group index per point (0..n_groups-1), the group names and a note on how they were made."""
    if isinstance(groups, GridGroups):
        return _grid_labels(groups, lat, lon)
    if isinstance(groups, KMeansGroups):
        return _kmeans_labels(groups, value, lat, lon)
    note = "given per exposure point"
    if isinstance(groups, str):
        gdf = exposures.gdf
        if groups not in gdf:
            columns = ", ".join(map(str, gdf.columns))
            raise ModelError("groups", groups, f"a column of exposures.gdf ({columns})")
        note = f"exposures.gdf[{groups!r}]"
        groups = np.asarray(gdf[groups])
    ids = np.asarray(groups)
    if ids.shape != lat.shape:
        raise ModelError("groups", ids, f"one group id per exposure point ({lat.size}), a GridGroups or a "
                         "KMeansGroups", detail=f"shape {ids.shape}")
    if ids.dtype.kind == "f" and not np.all(np.isfinite(ids)):
        raise ModelError("groups", ids, "a group id for every exposure point (no NaN)")
    if ids.dtype.kind == "O" and any(g is None for g in ids):
        raise ModelError("groups", ids, "a group id for every exposure point (no None)")
    try:
        uniq, labels = np.unique(ids, return_inverse=True)
    except TypeError:  # mixed types: order by their text
        uniq, labels = np.unique(ids.astype(str), return_inverse=True)
    return labels.reshape(-1), [_name(u) for u in uniq], f"{note}, in sorted order of the ids"


def _name(gid: Any) -> str:
    """A group id as a name (integral floats without the '.0')."""
    if isinstance(gid, float | np.floating) and float(gid).is_integer():
        return str(int(gid))
    return str(gid)


def _grid_labels(grid: GridGroups, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, list[str], str]:
    for name, v in (("dlat", grid.dlat), ("dlon", grid.dlon)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ModelError(f"groups.{name}", v, "a cell size in degrees > 0")
    lat0, lon0 = (float(x) for x in grid.origin)
    with np.errstate(over="ignore", invalid="ignore"):
        fi, fj = np.floor((lat - lat0) / grid.dlat), np.floor((lon - lon0) / grid.dlon)
    if not (np.all(np.abs(fi) < 2**52) and np.all(np.abs(fj) < 2**52)):
        raise ModelError("groups", f"a grid of {grid.dlat:g} x {grid.dlon:g} degrees from {grid.origin}",
                         "cells and an origin that number the points' cells with integers below 2**52")
    i, j = fi.astype(np.int64), fj.astype(np.int64)
    cells, labels = np.unique(np.column_stack([i, j]), axis=0, return_inverse=True)
    names = [f"lat {lat0 + a * grid.dlat:.6g}..{lat0 + (a + 1) * grid.dlat:.6g}, "
             f"lon {lon0 + b * grid.dlon:.6g}..{lon0 + (b + 1) * grid.dlon:.6g}" for a, b in cells]
    note = f"lat/lon grid of {grid.dlat:g} x {grid.dlon:g} degrees from origin {(lat0, lon0)}, south to north"
    return labels.reshape(-1), names, note


def _kmeans_labels(km: KMeansGroups, value: np.ndarray, lat: np.ndarray,
                   lon: np.ndarray) -> tuple[np.ndarray, list[str], str]:
    n = lat.size
    if isinstance(km.k, bool) or not isinstance(km.k, int | np.integer) or not 1 <= km.k <= n:
        raise ModelError("groups.k", km.k, f"a number of groups in 1..{n} (the exposure points)")
    if isinstance(km.n_init, bool) or not isinstance(km.n_init, int) or km.n_init < 1:
        raise ModelError("groups.n_init", km.n_init, "a number of k-means restarts >= 1")
    if isinstance(km.seed, bool) or not isinstance(km.seed, int | np.integer) or not 0 <= km.seed < 2**32:
        raise ModelError("groups.seed", km.seed, "a k-means seed in 0..2**32 - 1 (scikit-learn's range)")
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        raise ModelError("scikit-learn", None, "scikit-learn for KMeansGroups: pip install "
                         "'riskopt[climada]' or pip install scikit-learn") from None
    X = np.column_stack([lat, lon * math.cos(math.radians(float(np.mean(lat))))])
    weight = value if km.weighted else None
    if weight is not None and not np.any(weight > 0):
        raise ModelError("exposures.value", value, "some value > 0 for weighted k-means groups")
    with warnings.catch_warnings():  # fewer distinct points than k: the empty clusters are dropped
        warnings.filterwarnings("ignore", message="Number of distinct clusters", category=Warning)
        raw = KMeans(n_clusters=int(km.k), random_state=km.seed, n_init=km.n_init).fit(
            X, sample_weight=weight).labels_
    raw = np.asarray(raw, dtype=np.int64)
    k = int(km.k)
    vals = np.bincount(raw, weights=value, minlength=k)
    cnt = np.bincount(raw, minlength=k)
    mean_lon = np.bincount(raw, weights=lon, minlength=k) / np.maximum(cnt, 1)
    empty = cnt == 0  # ordered last, dropped by the caller
    order = np.lexsort((mean_lon, -vals, empty))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    names = [f"group {g + 1}" for g in range(k)]
    note = (f"k-means, k = {k}, seed {km.seed}, {km.n_init} restarts, on (lat, lon cos(mean lat))"
            f"{', weighted by exposure value' if km.weighted else ''}; numbered by descending exposure value")
    return rank[raw], names, note


# -- CLIMADA -----------------------------------------------------------------------------------------

def _require_climada() -> None:
    """Import CLIMADA, or a one-line ModelError saying how to install it."""
    try:
        with _quiet_warnings():
            import climada  # noqa: F401
    except ImportError:
        raise ModelError("climada", None, INSTALL_HINT) from None


def _climada_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("climada")
    except PackageNotFoundError:
        return None


def _describe_impact(impact: Any) -> str:
    parts = []
    haz = getattr(impact, "haz_type", "")
    if haz:
        parts.append(f"hazard type {haz}")
    mat = getattr(impact, "imp_mat", None)
    if mat is not None:
        parts.append(f"imp_mat {mat.shape[0]} events x {mat.shape[1]} exposure points")
    return ", ".join(parts) or describe(impact)


@contextmanager
def _quiet_warnings() -> Iterator[None]:
    """CLIMADA's own deprecation warnings (raised in its modules, e.g. by cartopy, fiona and pandas
    names it imports) and its demo files' known warning hidden: they are not the user's code."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"climada(\.|$)")
        # exp_demo_today.h5 stores its points as pickled shapely<2 geometries
        warnings.filterwarnings("ignore", message="Unpickling a shapely", category=UserWarning)
        yield


@contextmanager
def _quiet_climada() -> Iterator[None]:
    """CLIMADA's logger (it logs to stdout) at WARNING at least during the call, and
    :func:`_quiet_warnings`. CLIMADA must be imported already (its import sets the logger's level)."""
    logger = logging.getLogger("climada")
    level = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        with _quiet_warnings():
            yield
    finally:
        logger.setLevel(level)


# -- cards -------------------------------------------------------------------------------------------

#: the hazard sets a card's ``kind = "climada"`` section may name (data shipped inside CLIMADA's wheel)
CARD_HAZARDS = ("florida_tc_demo",)


def card_table(node: Node, seed: int | None, max_states: int) -> LossTable:
    """The loss table of a card section of ``kind = "climada"`` (``kind`` already read; fields in
    :func:`card_reference_rows`): CLIMADA's Florida demo grouped as asked, simulated to ``years``
    years by Poisson occurrence (:meth:`~riskopt.losstables.EventLossTable.simulate`) and divided by
    ``unit``. Without CLIMADA: one ModelError naming the extra to install."""
    hazard = node.take("hazard", str, default=CARD_HAZARDS[0], allowed=f"one of {list(CARD_HAZARDS)}")
    if hazard not in CARD_HAZARDS:
        raise ModelError(node.at("hazard"), hazard, f"one of {list(CARD_HAZARDS)}")
    groups = _card_groups(node)
    years = node.take("years", int, allowed=f"the number of years to simulate, 1 to {max_states}")
    if not 1 <= years <= max_states:
        raise ModelError(node.at("years"), years, f"the number of years to simulate, 1 to {max_states}")
    chosen = node.take("seed", int, default=seed, allowed="an integer seed >= 0")
    if chosen is None or chosen < 0:
        raise ModelError(node.at("seed"), chosen, "an integer seed >= 0 (here or [model] seed)")
    view = node.take("view", str, default="aggregate", allowed="'aggregate' or 'occurrence'")
    if view not in ("aggregate", "occurrence"):
        raise ModelError(node.at("view"), view,
                         "'aggregate' (annual sums) or 'occurrence' (largest occurrence)")
    unit = node.take("unit", float, default=1.0, allowed="a positive number of USD per unit of the losses")
    if not (math.isfinite(unit) and unit > 0):
        raise ModelError(node.at("unit"), unit, "a positive finite number of USD per unit of the losses")
    try:
        _require_climada()
    except ModelError:
        raise ModelError(node.at("kind"), "climada", INSTALL_HINT,
                         detail="CLIMADA is not installed") from None
    return in_units(_demo_table(groups), unit).simulate(years, seed=chosen, view=view)


def in_units(elt: EventLossTable, unit: float) -> EventLossTable:
    """``elt`` with every amount (losses, exposure, secondary standard deviations and bounds) divided
    by ``unit`` (``info["units"]`` says so)."""
    if unit == 1.0:
        return elt

    def scaled(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a / unit

    units = elt.info.get("units", "")
    return dataclasses.replace(elt, losses=elt.losses / unit, exposure=scaled(elt.exposure),
                               loss_sd=scaled(elt.loss_sd), max_loss=scaled(elt.max_loss),
                               info={**elt.info, "units": f"{unit:g} {units}".strip(), "unit": unit})


@functools.lru_cache(maxsize=4)
def _demo_table(groups: GridGroups | KMeansGroups) -> EventLossTable:
    """:func:`florida_demo` once per grouping and process (a card read twice does not recompute)."""
    return florida_demo(groups)


def _card_groups(node: Node) -> GridGroups | KMeansGroups:
    allowed = "{kmeans = K, seed = S, weighted = false} or {grid = [dlat, dlon], origin = [lat0, lon0]}"
    value = node.take("groups", dict, default={"kmeans": DEMO_GROUPS.k, "seed": DEMO_GROUPS.seed},
                      allowed=allowed)
    sub = Node(value, node.at("groups"))
    if ("kmeans" in value) == ("grid" in value):
        raise ModelError(node.at("groups"), value, allowed)
    if "kmeans" in value:
        k = sub.take("kmeans", int, allowed="a number of groups >= 1")
        if k < 1:
            raise ModelError(sub.at("kmeans"), k, "a number of groups >= 1")
        # the seed's range is checked where scikit-learn gets it (_kmeans_labels: groups.seed)
        km = KMeansGroups(k, seed=sub.take("seed", int, default=0, allowed="a k-means seed in 0..2**32 - 1"),
                          weighted=sub.take("weighted", bool, default=False))
        sub.finish()
        return km
    cell = sub.take("grid", list, allowed="[dlat, dlon] in degrees, both > 0")
    origin = sub.take("origin", list, default=[0.0, 0.0], allowed="[lat0, lon0] in degrees")
    sub.finish()
    numbers = [*cell, *origin]
    if len(cell) != 2 or len(origin) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        raise ModelError(node.at("groups"), value, allowed)
    if not (cell[0] > 0 and cell[1] > 0):
        raise ModelError(sub.at("grid"), cell, "[dlat, dlon] in degrees, both > 0")
    return GridGroups(float(cell[0]), float(cell[1]), (float(origin[0]), float(origin[1])))


def card_reference_rows(path: str) -> list[Row]:
    """Reference rows of the ``kind = "climada"`` fields under ``path``."""
    fields = [
        ("hazard", f"one of {', '.join(repr(h) for h in CARD_HAZARDS)}", f'"{CARD_HAZARDS[0]}"',
         "CLIMADA's bundled Florida tropical-cyclone demo (216 IBTrACS storms 1990-2004, 50 exposure "
         "points, Emanuel's USA damage function); needs the climada extra"),
        ("groups", "table", "{kmeans = 8, seed = 0}", "the regions: k-means clusters of the exposure "
         "points ({kmeans = K, seed = S, weighted = false}) or a lat/lon grid ({grid = [dlat, dlon], "
         "origin = [lat0, lon0]})"),
        ("years", "integer", "required", "the number of years simulated (Poisson occurrence): the states"),
        ("seed", "integer", "[model] seed", "the simulation's seed"),
        ("view", '"aggregate" or "occurrence"', '"aggregate"', "annual sums per region, or each region's "
         "largest single-occurrence loss of the year"),
        ("unit", "number", "1", "USD per unit of the losses and exposure values (1e9: USD bn)")]
    return [Row(f'{path}.{key} (kind = "climada")', typ, default, "", "", help_)
            for key, typ, default, help_ in fields]
