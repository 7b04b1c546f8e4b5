"""Layer representation of a reinsurance market: capacity curves on [0, M] and their cell integrals.

Every quantity of Andraos, Ghossoub, Zhu (2025) is an integral over layers ``z in [0, M]``
of a capacity evaluated on the upper sets ``{X_i > z}``:

    alpha_i(z) = alpha_i(X_i > z),       tau_ij(z) = (1 + theta_j) tau_j(X_i > z),

(insurer i's capacity, reinsurer j's true preference) and pricing capacities ``nu_ij(z)``. A
:class:`LayerCurve` is such a nonincreasing function of ``z``; a :class:`CurveBank` holds the
curves of every insurer (one row per insurer, one column per option) and evaluates them on arrays.

:func:`tabulate` integrates the curves over a per-insurer grid of cells. The grid contains

* every input kink (atoms and censoring points of the laws, the points where a piecewise-linear
  distortion bends: ``z = F^{-1}(1 - t_k)`` for its knots ``t_k``, the values of a finite-space loss);
* the **exact breakpoints**: the points where the identity of the lowest or second-lowest curve of
  a group changes, bracketed by two adjacent cells whose lowest-two identities differ and found by
  root finding between the curves that swap (``scipy.optimize.elementwise.find_root``).

Inside a cell the order of the lowest two curves is then constant, so the cell integral of the
pointwise minimum (or second minimum) is the minimum of the cell integrals: sums of cell integrals
are the exact layer integrals. A pair of curves crossing twice within two adjacent cells is not
seen; more ``cells`` resolve it.

Curves of the family ``s * min(exp(-r z) 1{z < c} / g, 1)`` (censored exponential laws, ES or
risk-neutral capacities: the paper's example and the scale benchmarks) are integrated in closed
form as one numpy expression over all insurers and options; other curves by Gauss-Legendre on
cells graded geometrically towards their kinks, one curve at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import exprel

from ...errors import ModelError
from ...laws import Censored, Exponential, Law
from ...measures.distortion import DistortionFunction, ESDistortion, VaRDistortion

__all__ = ["PRICE_LABEL", "ChainCurve", "Combination", "CurveBank", "DistortedSurvival", "LayerAllocation",
           "LayerCurve", "LayerTable", "Lowest", "Order", "chunk_rows", "lowest_two", "order_gap", "tabulate"]

#: edges closer than this (relative to M) are merged
EDGE_TOL = 1e-13
#: survival probabilities at or below this are rounding noise (read as 0)
SF_FLOOR = 4 * np.finfo(float).eps
#: geometric grading levels around the kinks of curves integrated by quadrature
GRADING = 30
#: bytes of curve values one chunk of insurers may hold at once
CHUNK_BYTES = 160_000_000
#: passes of the in-cell order check of :func:`tabulate` (each inserts the crossings it brackets)
ORDER_PASSES = 8
#: two curve values closer than this (relative to their size) are tied: no sign to read
ORDER_TOL = 1e-12
#: curve values evaluated at once by the pointwise passes (order probes and checks)
POINT_CHUNK = 4_000_000
#: lowest and second-lowest values along an axis and their indices (see :func:`lowest_two`)
Order = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: uniform (and quantile) cells of the independent grid of :func:`order_gap`: a prime, so that its
#: edges are not the tabulation's
CHECK_CELLS = 257


class LayerCurve:
    """``z -> nu(X > z)`` on ``[0, M]``: nonincreasing, evaluated on numpy arrays."""

    def __call__(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def kinks(self) -> np.ndarray:
        """Points where the curve jumps or bends (for the grid)."""
        return np.empty(0)

    def quantiles(self, u: np.ndarray) -> np.ndarray:
        """Quantiles at levels ``u`` of the law the curve is read from (empty if none): grid edges
        where the curve moves, whatever ``M``."""
        return np.empty(0)

    def family(self) -> tuple[float, float, float, float] | None:
        """``(rate, cap, level, scale)`` when the curve is ``scale * min(exp(-rate z) 1{z < cap} /
        level, 1)`` (vectorised evaluation), else ``None``."""
        return None


def distortion_knots(h: DistortionFunction | None) -> np.ndarray:
    """Interior points ``t`` in (0, 1) where ``h`` bends or jumps (empty for smooth ``h``)."""
    if h is None:
        return np.empty(0)
    kn = h.knots()
    if kn is not None:
        t = np.asarray(kn[0], float)
        return np.unique(t[(t > 0) & (t < 1)])
    if isinstance(h, VaRDistortion):
        return np.array([h.level])
    parts = getattr(h, "components", None)
    if parts is not None:
        return np.unique(np.concatenate([distortion_knots(c) for c in parts] + [np.empty(0)]))
    return np.empty(0)


@dataclass(frozen=True)
class DistortedSurvival(LayerCurve):
    """``scale * h(S(z))``: a distortion ``h`` (``None``: the identity, a probability) of the
    survival function ``S(z) = P(X > z)`` of ``law``."""

    law: Law
    h: DistortionFunction | None = None
    scale: float = 1.0

    def __call__(self, z: np.ndarray) -> np.ndarray:
        s = np.asarray(self.law.sf(np.asarray(z, float)), float)
        # a discrete law's survival is 1 - cumsum: 1e-16 instead of 0 beyond the top atom
        s = np.where(s <= SF_FLOOR, 0.0, s)
        if self.h is not None:
            s = np.asarray(self.h(np.clip(s, 0.0, 1.0)), float)
        if self.scale != 1.0:
            s = np.asarray(self.scale * s)
        return s

    def quantiles(self, u: np.ndarray) -> np.ndarray:
        q = np.asarray(self.law.ppf(np.asarray(u, float)), float)
        return np.asarray(q[np.isfinite(q)])

    def kinks(self) -> np.ndarray:
        pts = [np.asarray(self.law.kinks(), float)]
        lo, hi = self.law.support()
        pts.append(np.array([v for v in (lo, hi) if np.isfinite(v)], float))
        t = distortion_knots(self.h)
        if t.size:
            pts.append(np.asarray(self.law.ppf(1.0 - t), float))
        return np.unique(np.concatenate(pts))

    def family(self) -> tuple[float, float, float, float] | None:
        law, cap = self.law, np.inf
        if isinstance(self.law, Censored):
            law, cap = self.law.base, float(self.law.cap)
        if not isinstance(law, Exponential):
            return None
        if self.h is None:
            level = 1.0
        elif type(self.h) is ESDistortion:
            level = float(self.h.level)
        else:
            return None
        return float(law.rate), cap, level, float(self.scale)


@dataclass(frozen=True)
class ChainCurve(LayerCurve):
    """``scale * c({X > z})`` for a loss ``X`` on a finite space: piecewise constant.

    ``values`` are the distinct losses ``x_1 < ... < x_K``; ``levels[k]`` is the capacity of
    ``{X > x_k}`` (``levels[0]``: of the whole space, for ``z < x_1``; ``levels[K] = c(empty) = 0``).
    """

    values: np.ndarray
    levels: np.ndarray
    scale: float = 1.0

    @classmethod
    def from_capacity(cls, loss: np.ndarray, capacity: Callable[[np.ndarray], float],
                      scale: float = 1.0) -> ChainCurve:
        """Levels ``c({X > x_k})`` read from a set function on boolean masks over the states."""
        x = np.asarray(loss, float)
        vals = np.unique(x)
        levels = [float(capacity(np.ones(x.size, bool)))]
        levels += [float(capacity(x > v)) for v in vals]
        return cls(vals, np.asarray(levels), scale)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.values, np.asarray(z, float), side="right")
        out: np.ndarray = self.scale * self.levels[k]
        return out

    def kinks(self) -> np.ndarray:
        return self.values.copy()


@dataclass(frozen=True)
class Lowest(LayerCurve):
    """The pointwise ``rank``-th smallest of ``curves`` (``rank = 1``: the second lowest, with
    multiplicity). ``Lowest([alpha, tau_1, ..., tau_m], 1)`` is the second-lowest true preference
    tau-bar of Definition 3.5, the canonical SPNE price."""

    curves: tuple[LayerCurve, ...]
    rank: int = 0

    def __call__(self, z: np.ndarray) -> np.ndarray:
        vals = np.stack([np.asarray(c(z), float) for c in self.curves])
        out: np.ndarray = np.partition(vals, self.rank, axis=0)[self.rank]
        return out

    def kinks(self) -> np.ndarray:
        return np.unique(np.concatenate([c.kinks() for c in self.curves] + [np.empty(0)]))


@dataclass(frozen=True)
class Combination(LayerCurve):
    """``constant + sum_k w_k c_k(z)`` (e.g. a true preference plus a scarcity price times a
    capacity weight)."""

    curves: tuple[LayerCurve, ...]
    weights: tuple[float, ...]
    constant: float = 0.0

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, float)
        out = np.full(z.shape, float(self.constant))
        for c, w in zip(self.curves, self.weights, strict=True):
            out += w * np.asarray(c(z), float)
        return out

    def kinks(self) -> np.ndarray:
        return np.unique(np.concatenate([c.kinks() for c in self.curves] + [np.empty(0)]))


class CurveBank:
    """The curves of ``n`` insurers, ``K`` options each: ``curves[i][k]``.

    :meth:`integrals` integrates rows of the bank over per-row cells: curves of the censored
    exponential family in closed form (``int_a^b e^{-rz} dz = e^{-ra} (1 - e^{-r(b-a)}) / r``, the
    grid containing the cap and the knee ``-ln(g)/r`` of ``min(e^{-rz}/g, 1)``) as one numpy
    expression over all insurers and options; the others by Gauss-Legendre, one curve at a time.
    """

    def __init__(self, curves: Sequence[Sequence[LayerCurve]]):
        rows = [list(r) for r in curves]
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ModelError("curves", None, "a rectangular table of layer curves")
        self.curves = rows
        self.n, self.K = len(rows), len(rows[0])
        params = np.full((self.n, self.K, 4), np.nan)
        for i, row in enumerate(rows):
            for k, c in enumerate(row):
                fam = c.family()
                if fam is not None:
                    params[i, k] = fam
        self.vector = ~np.isnan(params[..., 0])
        self.params = params

    def quantile_edges(self, i: int, cells: int) -> np.ndarray:
        """Quantiles ``k / cells`` (k = 1..cells-1) and ``1 - 10^-j`` (j = 1..15) of the law of
        insurer ``i``'s first curve read from a law (empty if none: curves on a finite space)."""
        u = np.concatenate([np.arange(1, cells) / cells, 1.0 - 10.0 ** -np.arange(1.0, 16.0)])
        for c in self.curves[i]:
            q = c.quantiles(u)
            if q.size:
                return q
        return np.empty(0)

    def kinks(self, i: int) -> np.ndarray:
        """Kinks of every curve of insurer ``i``."""
        row = self.kink_matrix(np.array([i]))[0]
        return np.unique(row[np.isfinite(row)])

    def kink_matrix(self, rows: np.ndarray) -> np.ndarray:
        """Kinks of the curves of ``rows``, one row each, padded with NaN: the caps and knees
        ``-ln(level) / rate`` of family curves in one expression, the others curve by curve."""
        rows = np.asarray(rows, int)
        rate, cap, level, _ = np.moveaxis(self.params[rows], 2, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            knee = np.where(level < 1, -np.log(level) / rate, np.nan)
        out = np.concatenate([np.where(np.isfinite(cap), cap, np.nan), knee], axis=1)
        other = np.flatnonzero(~self.vector[rows].all(axis=1))
        if other.size:
            extra = [np.concatenate([c.kinks() for c in self.curves[rows[r]]] + [np.empty(0)]) for r in other]
            wide = np.full((rows.size, max(e.size for e in extra)), np.nan)
            for r, e in zip(other, extra, strict=True):
                wide[r, : e.size] = e
            out = np.concatenate([out, wide], axis=1)
        return out

    def integrals(self, rows: np.ndarray, edges: np.ndarray, cols: Sequence[int] | None = None,
                  nodes: int = 8) -> np.ndarray:
        """Cell integrals ``(len(rows), len(cols), G)`` of the curves of ``rows`` over the cells
        ``[edges[r, g], edges[r, g + 1]]`` (``nodes`` Gauss-Legendre nodes for general curves)."""
        rows = np.asarray(rows, int)
        cols = list(range(self.K)) if cols is None else list(cols)
        grid = np.ix_(rows, np.asarray(cols, int))
        vec = self.vector[grid]
        if vec.all():
            return _family_integrals(self.params[grid], edges)
        out = np.zeros((rows.size, len(cols), edges.shape[1] - 1))
        if vec.any():
            fam = np.where(vec[..., None], self.params[grid], [1.0, np.inf, 1.0, 0.0])
            out += _family_integrals(fam, edges)
        x, w = _gauss(nodes)
        half = np.diff(edges, axis=1) / 2
        znodes = ((edges[:, 1:] + edges[:, :-1]) / 2)[:, :, None] + half[:, :, None] * x
        for a, b in zip(*np.nonzero(~vec), strict=True):
            vals = self.curves[rows[a]][cols[b]](znodes[a])
            out[a, b] = (vals @ w) * half[a]
        return out

    def values(self, rows: np.ndarray, cols: Sequence[int] | np.ndarray, z: np.ndarray) -> np.ndarray:
        """Curves ``cols`` of insurers ``rows`` at points ``z`` (one row of points per insurer,
        ``(len(rows), P)``): ``(len(rows), len(cols), P)``. Family curves in one expression (the
        parameters gathered once per insurer, not per point), the others curve by curve."""
        rows = np.asarray(rows, int)
        col_idx = np.asarray(cols, int)
        z = np.asarray(z, float)
        grid = np.ix_(rows, col_idx)
        vec = self.vector[grid]
        fam = self.params[grid]
        if not vec.all():
            fam = np.where(vec[..., None], fam, [1.0, np.inf, 1.0, 0.0])
        rate, cap, level, scale = (fam[..., q, None] for q in range(4))
        zz = np.maximum(z, 0.0)[:, None, :]
        out = np.multiply(-rate, zz)
        np.exp(out, out=out)
        with np.errstate(over="ignore"):  # a subnormal level: inf, capped at 1 next
            out /= level
        np.minimum(out, 1.0, out=out)
        out *= scale
        out[np.broadcast_to(zz >= cap, out.shape)] = 0.0
        if not vec.all():  # one call per (insurer, curve), on all the points of that insurer
            for row in np.unique(rows[~vec.all(axis=1)]):
                sel = np.flatnonzero(rows == row)
                for b in np.flatnonzero(~vec[sel[0]]):
                    out[sel, b] = self.curves[row][col_idx[b]](z[sel])
        return np.asarray(out)

    def pairs(self, rows: np.ndarray, cols: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Elementwise: curve ``cols[e]`` of insurer ``rows[e]`` at ``z[e]``."""
        rows, cols, z = np.broadcast_arrays(np.asarray(rows, int), np.asarray(cols, int),
                                            np.asarray(z, float))
        out = np.empty(z.shape)
        vec = self.vector[rows, cols]
        if vec.any():
            rate, cap, level, scale = (self.params[rows[vec], cols[vec], q] for q in range(4))
            zz = np.maximum(z[vec], 0.0)
            v = np.where(zz < cap, np.exp(-rate * zz), 0.0)
            with np.errstate(over="ignore"):  # a subnormal level: inf, capped at 1
                out[vec] = scale * np.minimum(v / level, 1.0)
        if not vec.all():
            idx = np.flatnonzero(~vec.ravel())
            keys = rows.ravel()[idx] * self.K + cols.ravel()[idx]
            flat = out.reshape(-1)
            zf = z.ravel()
            for key in np.unique(keys):
                sel = idx[keys == key]
                flat[sel] = self.curves[key // self.K][key % self.K](zf[sel])
        return out


def _family_integrals(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Closed-form cell integrals of ``scale * min(exp(-rate z) 1{z < cap} / level, 1)`` for
    parameters ``p`` (``(r, K, 4)``) over cells whose edges (``(r, G + 1)``) include every cap and
    knee ``-ln(level) / rate`` in ``[0, M]``."""
    rate, cap, level, scale = (p[..., q, None] for q in range(4))
    a = edges[:, None, :-1]
    width = np.diff(edges, axis=1)[:, None, :]
    out = np.multiply(-rate, a)
    np.exp(out, out=out)
    # int_a^(a+w) exp(-r z) dz = exp(-r a) w exprel(-r w): no 0/0 or overflow for tiny rates
    out *= width * exprel(-rate * width)
    # scale / level first would overflow for a subnormal level and 0 * inf give NaN after the knee;
    # the cells before the knee may still overflow here: they are set flat below
    with np.errstate(over="ignore"):
        out *= scale
        out /= level
    with np.errstate(divide="ignore"):
        knee = -np.log(level[..., 0]) / rate[..., 0]
    top = edges[:, -1:]
    # cells before the knee (flat part, value scale) and from the cap on (value 0): only the
    # (row, option) pairs whose knee or cap falls inside the grid are touched
    for mask, fill in ((knee > edges[:, :1], "flat"), (cap[..., 0] < top, "dead")):
        rk = np.nonzero(mask)
        if rk[0].size == 0:
            continue
        mid = (edges[rk[0], 1:] + edges[rk[0], :-1]) / 2
        sub = out[rk]
        if fill == "flat":
            hit = mid < knee[rk][:, None]
            sub[hit] = np.broadcast_to(scale[rk] * width[rk[0], 0], sub.shape)[hit]
        else:
            sub[mid >= cap[rk]] = 0.0
        out[rk] = sub
    return np.asarray(out)


@dataclass
class LayerTable:
    """Cell integrals of the curves of some insurers: ``integrals[r, k, g] = int over cell g of
    curve k of insurer rows[r]``; ``edges[r]`` are the cell boundaries (padded with M: cells of
    width 0 at the end)."""

    rows: np.ndarray
    edges: np.ndarray
    integrals: np.ndarray
    breakpoints: int = 0
    #: per group: ``lowest_two`` of the group's cell integrals (lo, lo_i, sec, sec_i), indices
    #: within the group
    orders: list[Order] = field(default_factory=list)

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges, axis=1)


#: what sets the price of a cell when it is not one reinsurer's true preference
PRICE_LABEL = {-1: "alpha", -2: "mixed", -3: "posted price", -4: "dual price", -5: "VCG price"}


@dataclass(frozen=True)
class LayerAllocation:
    """Who takes each layer cell of each insurer.

    ``edges[i]`` are insurer i's cell boundaries on ``[0, M]`` (padded with M); ``winner[i, g]`` the
    reinsurer that takes cell g wholly (-1: retained, -2: shared, then ``shares`` says how);
    ``price[i, g]`` the cell integral of the price paid per unit of layer (0 where retained);
    ``source[i, g]`` the curve that sets that price (j: reinsurer j's tau, -1: the insurer's
    alpha, -2: not a single curve, -3: the posted price, -4: the LP's dual price alpha - mu,
    -5: the VCG price alpha - mu^(-j)).
    """

    edges: np.ndarray
    winner: np.ndarray
    price: np.ndarray
    source: np.ndarray
    share_matrix: np.ndarray | None = None

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges, axis=1)

    def shares(self, i: int, m: int) -> np.ndarray:
        """``gamma[j, g]``: the share of cell g of insurer i ceded to reinsurer j."""
        if self.share_matrix is not None:
            return np.asarray(self.share_matrix[i])
        out = np.zeros((m, self.winner.shape[1]))
        won = np.flatnonzero(self.winner[i] >= 0)
        out[self.winner[i, won], won] = 1.0
        return out

    def indemnity(self, i: int, x: np.ndarray, m: int) -> np.ndarray:
        """``I_ij(x) = int_0^x gamma_ij(z) dz`` for every reinsurer j (``(m, len(x))``):
        piecewise linear, exact at every point (gamma is constant on each cell)."""
        e = self.edges[i]
        gam = self.shares(i, m)
        cum = np.concatenate([np.zeros((m, 1)), np.cumsum(gam * np.diff(e), axis=1)], axis=1)
        return np.vstack([np.interp(np.asarray(x, float), e, cum[j]) for j in range(m)])

    def segments(self, i: int, reinsurers: Sequence[str]) -> list[dict[str, Any]]:
        """Insurer i's layer pattern: maximal intervals with the same taker and price curve."""
        e, w = self.edges[i], np.diff(self.edges[i])
        live = np.flatnonzero(w > 0)
        out: list[dict[str, Any]] = []
        for g in live:
            who, src = int(self.winner[i, g]), int(self.source[i, g])
            taker = None if who == -1 else ("shared" if who == -2 else reinsurers[who])
            if taker is None:
                price = None
            else:
                price = PRICE_LABEL.get(src) if src < 0 else f"tau of {reinsurers[src]}"
            if out and out[-1]["reinsurer"] == taker and out[-1]["price"] == price:
                out[-1]["to"] = float(e[g + 1])
            else:
                out.append({"from": float(e[g]), "to": float(e[g + 1]), "reinsurer": taker,
                            "price": price})
        return out


def lowest_two(V: np.ndarray, axis: int = 1) -> Order:
    """Lowest and second-lowest values along ``axis`` (with multiplicity) and their indices.

    Ties go to the smaller index (option 0, retention, first). Reductions and one pass per option
    over the other axes, which stay contiguous: no sort, no copy of ``V``.
    """
    V = np.moveaxis(V, axis, 1) if V.ndim > 1 else V[None, :]
    K = V.shape[1]
    lo = V.min(axis=1)
    lo_i = np.zeros(lo.shape, np.int32)
    for k in range(K - 1, -1, -1):  # downwards, so that the smallest tied index is written last
        np.copyto(lo_i, k, where=V[:, k] == lo)
    sec = np.full(lo.shape, np.inf)
    for k in range(K):
        np.minimum(sec, V[:, k], out=sec, where=lo_i != k)
    sec_i = np.full(lo.shape, -1, np.int32)
    for k in range(K - 1, -1, -1):
        np.copyto(sec_i, k, where=(V[:, k] == sec) & (lo_i != k))
    return lo, lo_i, sec, sec_i


def _gauss(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(nodes, bool) or not isinstance(nodes, (int, np.integer)) or not 1 <= nodes <= 64:
        raise ModelError("nodes", nodes, "an integer number of Gauss-Legendre nodes per cell in [1, 64]")
    return np.polynomial.legendre.leggauss(int(nodes))


def _merge(edges: np.ndarray, bound: float) -> np.ndarray:
    """Rows of candidate edges (``(r, L)``, NaN for none) -> sorted edges in [0, M], merged within
    EDGE_TOL * M (0 and M kept exactly), padded with M. Vectorised over rows: two sorts."""
    tol = EDGE_TOL * bound
    E = np.clip(np.asarray(edges, float), 0.0, bound)
    E[tol >= E] = 0.0
    E[bound - tol <= E] = bound
    E = np.sort(E, axis=1)  # NaN last
    drop = np.zeros(E.shape, bool)
    drop[:, 1:] = E[:, 1:] - E[:, :-1] <= tol
    E[drop | np.isnan(E)] = np.inf
    E = np.sort(E, axis=1)
    width = int(np.isfinite(E).sum(axis=1).max())
    E = E[:, :width]
    E[~np.isfinite(E)] = bound
    return E


def _graded(points: np.ndarray, width: float) -> np.ndarray:
    """Edges ``p +- width 2^-k`` (k = 1..GRADING) around each row's kinks ``points`` (``(r, L)``):
    Gauss-Legendre then converges on curves whose derivatives blow up there (a Wang or power
    distortion where S -> 0 or 1)."""
    steps = width * 0.5 ** np.arange(1, GRADING + 1)
    around = np.concatenate([points[:, :, None] - steps, points[:, :, None] + steps], axis=2)
    return around.reshape(points.shape[0], -1)


def _padded(rows: Sequence[np.ndarray]) -> np.ndarray:
    """A list of 1-d arrays as one array padded with NaN."""
    out = np.full((len(rows), max([1, *(r.size for r in rows)])), np.nan)
    for k, r in enumerate(rows):
        out[k, : r.size] = r
    return out


def _brackets(bank: CurveBank, rows: np.ndarray, edges: np.ndarray, orders: Sequence[Order],
              cols: Sequence[int], groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, ...]:
    """Pairs of adjacent cells where the lowest-two identity of a group changes, with the pairs of
    curves whose difference changes sign over the two cells: ``(row, a, b, z_left, z_right)``.

    A crossing inside cell g shows as a change between g - 1 and g or between g and g + 1, so
    the two-cell bracket always contains it (one crossing per pair of cells)."""
    live = np.diff(edges, axis=1) > 0
    col_arr = np.asarray(cols)
    out: list[list[np.ndarray]] = [[], [], [], [], []]
    for group, order in zip(groups, orders, strict=True):
        g = np.asarray(group, int)
        _, lo_i, _, sec_i = order
        code = lo_i * len(g) + sec_i
        change = (code[:, 1:] != code[:, :-1]) & live[:, 1:] & live[:, :-1]
        r, c = np.nonzero(change)
        if r.size == 0:
            continue
        zl, zr = edges[r, c], np.nextafter(edges[r, c + 2], -np.inf)
        cand = np.stack([lo_i[r, c], sec_i[r, c], lo_i[r, c + 1], sec_i[r, c + 1]], axis=1)
        for a_col, b_col in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)):
            a, b = cand[:, a_col], cand[:, b_col]
            ok = (a != b) & (a >= 0) & (b >= 0)
            if not ok.any():
                continue
            ra, ca, cb = r[ok], col_arr[g[a[ok]]], col_arr[g[b[ok]]]
            za, zb = zl[ok], zr[ok]
            dl = bank.pairs(rows[ra], ca, za) - bank.pairs(rows[ra], cb, za)
            dr = bank.pairs(rows[ra], ca, zb) - bank.pairs(rows[ra], cb, zb)
            sign = (np.sign(dl) != np.sign(dr)) & np.isfinite(dl) & np.isfinite(dr)
            for o, v in zip(out, (ra, np.minimum(ca, cb), np.maximum(ca, cb), za, zb), strict=True):
                o.append(v[sign])
    if not out[0] or not sum(o.size for o in out[0]):
        return np.empty(0, int), np.empty(0, int), np.empty(0, int), np.empty(0), np.empty(0)
    rr, aa, bb, zl, zr = (np.concatenate(o) for o in out)
    key = np.unique(np.stack([rr, aa, bb, zl], axis=1), axis=0, return_index=True)[1]
    return rr[key], aa[key], bb[key], zl[key], zr[key]


def _roots(bank: CurveBank, rows: np.ndarray, rr: np.ndarray, aa: np.ndarray, bb: np.ndarray,
           zl: np.ndarray, zr: np.ndarray) -> np.ndarray:
    """Where curve ``aa`` crosses curve ``bb`` of insurer ``rows[rr]`` in ``[zl, zr]`` (bracketing:
    a jump between the ends gives the jump point, an existing edge)."""
    from scipy.optimize.elementwise import find_root

    if rr.size == 0:
        return np.empty(0)

    def diff(z: np.ndarray, i: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(bank.pairs(i, a, z) - bank.pairs(i, b, z))

    res = find_root(diff, (zl, zr), args=(rows[rr], aa, bb),
                    tolerances={"xatol": 0.0, "xrtol": 2 * np.finfo(float).eps, "fatol": 0.0,
                                "frtol": 0.0})
    return np.where(np.isfinite(res.x), res.x, zl)


def tabulate(bank: CurveBank, rows: np.ndarray, *, bound: float, cells: int = 64, nodes: int = 8,
             groups: Sequence[Sequence[int]] = (), cols: Sequence[int] | None = None,
             extra_edges: Sequence[np.ndarray] | None = None, span: float | None = None) -> LayerTable:
    """Cell integrals of the curves of insurers ``rows`` on a grid with exact breakpoints.

    The grid of insurer ``i`` is ``cells`` uniform cells on ``[0, bound]``, refined at the kinks of
    its curves, at quantiles of its loss law (:meth:`CurveBank.quantile_edges`), at
    ``extra_edges[r]`` and at every point where the lowest-two identity of a column ``group``
    changes, between two cells or inside one (``groups=()``: no root finding). ``nodes``
    Gauss-Legendre nodes per cell for curves without a closed-form integral. ``groups`` index the
    bank's columns. ``span > bound``: one more cell ``[bound, span]`` for every row (layers above
    every loss: the insurer's curve is 0 there, so nothing in it needs resolving).
    """
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 1:
        raise ModelError("cells", cells, "a positive integer number of uniform cells")
    _gauss(nodes)
    rows = np.asarray(rows, int)
    cols = list(range(bank.K)) if cols is None else list(cols)
    kinks = bank.kink_matrix(rows)
    parts = [np.broadcast_to(np.linspace(0.0, bound, int(cells) + 1), (rows.size, int(cells) + 1)), kinks]
    if extra_edges is not None:
        parts.append(_padded([np.asarray(extra_edges[r], float) for r in range(rows.size)]))
    generic = ~bank.vector[rows].all(axis=1)
    if generic.any():  # grading towards the kinks of curves integrated by quadrature
        points = np.concatenate([np.zeros((rows.size, 1)), kinks], axis=1)
        graded = _graded(points, bound / cells)
        graded[~generic] = np.nan
        parts.append(graded)
    # cells on the loss's own scale: the uniform cells on [0, M] are M / cells wide however
    # concentrated the loss is (an unbounded law truncated far out, or much larger losses of other
    # insurers). Every row: its tail quantiles, so that probes and checks see nonzero curves up to
    # P(X > z) = 1e-15; rows integrated by quadrature: the quantiles k / cells too
    parts.append(_padded([bank.quantile_edges(int(r), int(cells) if gen else 1)
                          for r, gen in zip(rows, generic, strict=True)]))
    edges = _merge(np.concatenate(parts, axis=1), bound)
    ints = bank.integrals(rows, edges, cols, nodes)
    local = [[cols.index(c) for c in g] for g in groups]
    orders = [lowest_two(ints[:, g, :]) for g in local]
    found = 0
    if groups:
        # crossings seen as a change of order between the integrals of adjacent cells, and inside
        # one cell by probing the curves themselves (a cell wide against the insurer's own scale:
        # a bound far beyond its losses, or much larger losses of other insurers); then the new
        # cells only, until no crossing is left
        probe: np.ndarray | None = None
        for _ in range(ORDER_PASSES):
            found_now = [_inner_brackets(bank, rows, edges, cols, local, probe)]
            if probe is None:
                found_now.append(_brackets(bank, rows, edges, orders, cols, local))
            rr, aa, bb, zl, zr = (np.concatenate(parts) for parts in zip(*found_now, strict=True))
            if rr.size == 0:
                break
            rr, aa, bb = rr.astype(int), aa.astype(int), bb.astype(int)
            roots = _roots(bank, rows, rr, aa, bb, zl, zr)
            found += _distinct(rr, roots, EDGE_TOL * bound)
            edges, ints, orders, probe = _refine(bank, rows, edges, ints, orders, local, rr, roots, cols,
                                                 nodes, bound)
            if not probe.any():
                break  # every root fell on an existing edge: nothing left to split
    if span is not None and span > bound:
        dead = np.tile([bound, float(span)], (rows.size, 1))
        edges = np.concatenate([edges, dead[:, 1:]], axis=1)
        ints = np.concatenate([ints, bank.integrals(rows, dead, cols, nodes)], axis=2)
        orders = [_joined(order, lowest_two(ints[:, g, -1:])) for g, order in zip(local, orders, strict=True)]
    return LayerTable(rows, edges, ints, found, orders)


def _joined(order: Order, more: Order) -> Order:
    """Two orders of the same rows side by side (cells of ``order`` first)."""
    lo, lo_i, sec, sec_i = (np.concatenate([a, b], axis=1) for a, b in zip(order, more, strict=True))
    return lo, lo_i, sec, sec_i


def _distinct(rr: np.ndarray, roots: np.ndarray, tol: float) -> int:
    """Number of distinct roots per row (the two detections may bracket the same crossing)."""
    if roots.size == 0:
        return 0
    order = np.lexsort((roots, rr))
    r, z = rr[order], roots[order]
    return int(1 + np.count_nonzero((r[1:] != r[:-1]) | (np.diff(z) > tol)))


def _row_chunks(n_rows: int, width: int) -> list[slice]:
    """Slices of rows holding at most POINT_CHUNK values of ``width`` curve values per row."""
    step = max(1, POINT_CHUNK // max(1, width))
    return [slice(s, s + step) for s in range(0, n_rows, step)]


def _inner_brackets(bank: CurveBank, rows: np.ndarray, edges: np.ndarray, cols: Sequence[int],
                    groups: Sequence[Sequence[int]],
                    only: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Cells whose lowest-two identity differs between two consecutive probe points, with the pairs
    of curves whose difference changes sign *strictly* (beyond ORDER_TOL) between them:
    ``(row, a, b, z_from, z_to)``. ``only``: a mask of the cells to probe (default: all).

    :func:`_brackets` compares the orders of *cell integrals* of adjacent cells, which misses several
    crossings inside one cell (the integrals of a cell can keep their order while the curves swap
    twice); the curves themselves do not. The probes are the ends of every cell (each edge is
    evaluated once; at a kink the left limit, just below the edge, stands for the cell on its left:
    curves are right-continuous), which suffices for the censored exponential family (two of its
    curves cross at most once between kinks), and the thirds of the cells of rows with other curves
    (which may cross twice). A pair crossing twice between two probes stays unseen: :func:`order_gap`,
    at other points, measures what that costs."""
    col_arr = np.asarray(cols)
    out: list[list[np.ndarray]] = [[], [], [], [], []]
    generic = ~bank.vector[rows].all(axis=1)
    kinks = bank.kink_matrix(rows)
    G1 = edges.shape[1]
    for group in groups:
        bc = col_arr[np.asarray(group, int)]
        for sl in _row_chunks(rows.size, 2 * bc.size * G1):
            offset = sl.start
            E = edges[sl]
            live = np.diff(E, axis=1) > 0
            if only is not None:
                live &= only[sl]
                if not live.any():
                    continue
            # kinks that are right edges of live cells: the left limit stands for the cell
            jump = np.zeros(E.shape, bool)
            for k in range(kinks.shape[1]):
                jump |= kinks[sl, k:k + 1] == E
            jump = jump[:, 1:] & live
            gen = generic[sl]
            V = None
            if only is None:  # cells probed at their two ends: every edge evaluated once
                V = bank.values(rows[sl], bc, E)                        # (r, K, G + 1)
                _, lo, _, sec = lowest_two(V)
                plain = live & ~jump & ~gen[:, None]
                r, g = np.nonzero(plain & ((lo[:, :-1] != lo[:, 1:]) | (sec[:, :-1] != sec[:, 1:])))
                if r.size:
                    _collect(out, bc, r + offset, E[r, g], E[r, g + 1], V[r, :, g], V[r, :, g + 1])
                r, g = np.nonzero(live & (jump | gen[:, None]))
            else:
                r, g = np.nonzero(live)
            if r.size == 0:
                continue
            # the others cell by cell: left end, [thirds,] right end or its left limit
            right = E[r, g + 1]
            right = np.where(jump[r, g], np.nextafter(right, -np.inf), right)
            zs = [E[r, g]]
            if gen[r].any():
                w = right - zs[0]
                zs += [np.where(gen[r], zs[0] + t * w, zs[0]) for t in (1.0 / 3.0, 2.0 / 3.0)]
            zs.append(right)
            first = V[r, :, g] if V is not None else bank.values(rows[sl][r], bc, zs[0][:, None])[:, :, 0]
            Vs = [first] + [bank.values(rows[sl][r], bc, z[:, None])[:, :, 0] for z in zs[1:]]
            for (za, Va), (zb, Vb) in itertools.pairwise(zip(zs, Vs, strict=True)):
                _collect(out, bc, r + offset, za, zb, Va, Vb)
    if not out[0] or not sum(o.size for o in out[0]):
        return np.empty(0, int), np.empty(0, int), np.empty(0, int), np.empty(0), np.empty(0)
    rr, aa, bb, zl, zr = (np.concatenate(o) for o in out)
    key = np.unique(np.stack([rr, aa, bb, zl], axis=1), axis=0, return_index=True)[1]
    return rr[key], aa[key], bb[key], zl[key], zr[key]


def _collect(out: list[list[np.ndarray]], bc: np.ndarray, r: np.ndarray, za: np.ndarray, zb: np.ndarray,
             Va: np.ndarray, Vb: np.ndarray) -> None:
    """Append to ``out`` the pairs of curves (bank columns ``bc``) whose difference changes sign
    strictly between the probes ``za`` and ``zb`` of cells (of rows ``r``) whose lowest-two identity
    differs there (values ``(cells, K)`` at each probe)."""
    _, lo_a, _, sec_a = lowest_two(Va)
    _, lo_b, _, sec_b = lowest_two(Vb)
    c = np.flatnonzero((lo_a != lo_b) | (sec_a != sec_b))
    if c.size == 0:
        return
    cand = np.stack([lo_a[c], sec_a[c], lo_b[c], sec_b[c]], axis=1)
    for a_col, b_col in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)):
        a, b = cand[:, a_col], cand[:, b_col]
        ok = (a != b) & (a >= 0) & (b >= 0)
        cc, a, b = c[ok], a[ok], b[ok]
        la, lb, ra, rb = Va[cc, a], Va[cc, b], Vb[cc, a], Vb[cc, b]
        dl, dr = la - lb, ra - rb
        tie = ORDER_TOL * (np.abs(la) + np.abs(lb) + np.abs(ra) + np.abs(rb))
        sign = (dl * dr < 0) & (np.minimum(np.abs(dl), np.abs(dr)) > tie)
        for o, v in zip(out, (r[cc], np.minimum(bc[a], bc[b]), np.maximum(bc[a], bc[b]), za[cc], zb[cc]),
                        strict=True):
            o.append(v[sign])


def order_gap(bank: CurveBank, rows: np.ndarray, edges: np.ndarray, group: Sequence[int],
              lowest: np.ndarray, second: np.ndarray | None = None, *, top: float | None = None,
              cells: int = CHECK_CELLS) -> np.ndarray:
    """How far an allocation read from cell integrals is from the pointwise rule, per row.

    ``group`` are bank columns; ``lowest[r, g]`` (``second[r, g]``; -1: none, not checked) index
    within it the curve the allocation treats as the lowest (second lowest) on cell g of ``edges``.
    The check is made on a grid of its own, not the tabulation's: ``cells`` uniform cells on
    ``[0, top]`` (default: the last edge) and as many quantile cells of each row's loss law, which
    the tabulation does not use (a prime count against its power of two). At the midpoint ``z`` of
    every check cell of width ``h`` the curves themselves, not their cell integrals, give::

        sum h [(c_lowest(z) - min_k c_k(z)) + |c_second(z) - second_k c_k(z)|],

    0 when the tabulation's grid resolves every crossing, and otherwise a midpoint-rule estimate of
    the error (in risk units) of the layer integrals read from it.
    """
    rows = np.asarray(rows, int)
    gc = np.asarray(group, int)
    lowest = np.asarray(lowest).astype(int)
    second = None if second is None else np.asarray(second).astype(int)
    ends = edges[:, -1] if top is None else np.full(rows.size, float(top))
    check = [np.concatenate([np.linspace(0.0, ends[r], cells + 1), bank.quantile_edges(int(i), cells)])
             for r, i in enumerate(rows)]
    grid = np.sort(np.clip(_padded(check), 0.0, ends[:, None]), axis=1)     # NaN last
    mid = (grid[:, 1:] + grid[:, :-1]) / 2
    h = np.diff(grid, axis=1)
    live = np.isfinite(h) & (h > 0)
    mid = np.where(live, mid, 0.0)
    h = np.where(live, h, 0.0)
    # the tabulation cell of every check point
    where = np.empty(mid.shape, int)
    for k in range(rows.size):
        where[k] = np.searchsorted(edges[k], mid[k], side="right") - 1
    where = np.clip(where, 0, edges.shape[1] - 2)
    out = np.zeros(rows.size)
    for sl in _row_chunks(rows.size, gc.size * mid.shape[1]):
        V = bank.values(rows[sl], gc, mid[sl])                                # (r, K, P)
        r, p = np.nonzero(live[sl])
        g = where[sl][r, p]
        lo = lowest[sl][r, g]
        keep = lo >= 0
        r, p, g, lo = r[keep], p[keep], g[keep], lo[keep]
        err = V[r, lo, p] - V.min(axis=1)[r, p]                               # >= 0
        if second is not None and gc.size > 1:
            sc = second[sl][r, g]
            V[r, lo, p] = np.inf                                              # the others' minimum
            err += np.where(sc >= 0, np.abs(V[r, np.maximum(sc, 0), p] - V.min(axis=1)[r, p]), 0.0)
        out[sl] = np.bincount(r, weights=err * h[sl][r, p], minlength=V.shape[0])
    return out


def _insert(edges: np.ndarray, rr: np.ndarray, roots: np.ndarray, bound: float) -> tuple[np.ndarray, ...]:
    """Edges with ``roots`` (of rows ``rr``) inserted, vectorised over rows.

    Roots within EDGE_TOL * M of an existing edge or of each other are dropped (the existing kink
    stays exact). Returns the new padded edges and, per new cell, its old cell and whether it is
    that old cell unchanged.
    """
    tol = EDGE_TOL * bound
    r_n, width = edges.shape
    flat = edges.ravel()
    # nearest old edges of each root (the row offsets only locate; values are compared exactly)
    off = np.arange(r_n) * (2.0 * bound + 1.0)
    pos = np.searchsorted((edges + off[:, None]).ravel(), roots + off[rr])
    pos = np.clip(pos, rr * width + 1, rr * width + width - 1)
    near = np.minimum(np.abs(roots - flat[pos - 1]), np.abs(flat[pos] - roots)) <= tol
    rr, roots = rr[~near], roots[~near]
    # all edges and kept roots, sorted by (row, z); old edges carry their old index, roots -1
    z = np.concatenate([flat, roots])
    row = np.concatenate([np.repeat(np.arange(r_n), width), rr])
    old = np.concatenate([np.arange(width)[None, :].repeat(r_n, 0).ravel(), np.full(roots.size, -1)])
    order = np.lexsort((old < 0, z, row))
    z, row, old = z[order], row[order], old[order]
    same = np.concatenate([[False], (row[1:] == row[:-1]) & (z[1:] - z[:-1] <= tol)])
    z, row, old = z[~same], row[~same], old[~same]
    counts = np.bincount(row, minlength=r_n)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(z.size) - start[row]
    new_w = int(counts.max())
    new_edges = np.full((r_n, new_w), bound)
    new_edges[row, col] = z
    old_idx = np.full((r_n, new_w), -1)
    old_idx[row, col] = old
    # forward-fill the last old edge at or left of each new edge
    filled = np.maximum.accumulate(np.where(old_idx >= 0, old_idx, -1), axis=1)
    old_cell = np.clip(filled[:, :-1], 0, width - 2)
    same_cell = (old_idx[:, :-1] >= 0) & (old_idx[:, 1:] == old_idx[:, :-1] + 1)
    return new_edges, old_cell, same_cell


def _refine(bank: CurveBank, rows: np.ndarray, edges: np.ndarray, ints: np.ndarray, orders: list[Order],
            local: list[list[int]], rr: np.ndarray, roots: np.ndarray, cols: Sequence[int], nodes: int,
            bound: float) -> tuple[np.ndarray, np.ndarray, list[Order], np.ndarray]:
    """Insert ``roots`` (of rows ``rr``) as edges; integrate (and order) only the cells they split
    (returned last: the mask of those new cells)."""
    new_edges, old_cell, keep = _insert(edges, rr, roots, bound)
    left, right = new_edges[:, :-1], new_edges[:, 1:]
    keep &= right > left
    out = np.take_along_axis(ints, old_cell[:, None, :], axis=2)
    rc, gc = np.nonzero(~keep)
    out[rc, :, gc] = 0.0
    live = right[rc, gc] > left[rc, gc]
    rc, gc = rc[live], gc[live]
    if rc.size:
        cell_edges = np.stack([left[rc, gc], right[rc, gc]], axis=1)
        out[rc, :, gc] = bank.integrals(rows[rc], cell_edges, cols, nodes)[:, :, 0]
    new_orders: list[Order] = []
    for g, order in zip(local, orders, strict=True):
        lo, lo_i, sec, sec_i = (np.take_along_axis(part, old_cell, axis=1) for part in order)
        if rc.size:
            new = lowest_two(out[rc, :, gc][:, g][:, :, None])
            for part, column in zip((lo, lo_i, sec, sec_i), new, strict=True):
                part[rc, gc] = column[:, 0]
        new_orders.append((lo, lo_i, sec, sec_i))
    split = np.zeros(keep.shape, bool)
    split[rc, gc] = True
    return new_edges, out, new_orders, split


def chunk_rows(n: int, K: int, cells: int, budget: int = CHUNK_BYTES) -> list[np.ndarray]:
    """Insurer chunks whose cell arrays (``K`` curves on ``cells`` cells, float64, a few
    temporaries) fit in ``budget`` bytes."""
    per_row = max(1, K * cells * 8 * 6)
    size = int(max(1, min(n, budget // per_row)))
    return [np.arange(s, min(n, s + size)) for s in range(0, n, size)]
