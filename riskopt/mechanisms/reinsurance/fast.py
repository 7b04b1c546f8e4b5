"""The reinsurance market's fast path: the pointwise rules, cell by cell, on exact layer grids.

The market decomposes per insurer and per layer (objectives are additive over layers), and on a grid
holding every crossing of the curves (:func:`.layers.tabulate`) the order of the curves is constant
inside a cell, so each cell is solved in closed form by two reductions over the options:

* :func:`spne_cells`, the **canonical SPNE** (Def. 3.5-3.6, Thm 3.7/3.8): the lowest true preference
  ``min_j tau_ij`` takes the cell when it is below ``alpha_i``, at the second-lowest of
  ``{alpha_i, tau_i1, ..., tau_im}`` (a second-price procurement auction per layer); with one
  reinsurer, the Stackelberg equilibrium;
* :func:`best_response_cells`, every insurer's **generous best response** to posted prices
  (Prop. 3.2, Def. 3.3): the cheapest option, ties to the lowest true preference.

Both process insurers in chunks (:func:`.layers.chunk_rows`) and, with ``verify``, run the
equilibrium verifier (:func:`.verification.verify_cells`) and the pointwise order check
(:func:`.layers.order_gap`) on the same cells. The Pareto layer LP (:mod:`.program`) is the general
path; on the same grid the two agree to ~1e-13.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .layers import CurveBank, LayerAllocation, LayerTable, chunk_rows, order_gap, tabulate
from .verification import verify_cells

__all__ = ["Pointwise", "best_response_cells", "spne_cells"]


@dataclass(frozen=True)
class Pointwise:
    """What a pointwise pass gives, all insurers stacked: who takes each cell at what price
    (``layers``), per-insurer sums (``initial = int alpha_i``, ``ceded = int alpha_i Gamma_i``),
    per-pair sums (``premium[i, j]``, ``cost[i, j] = int tau_ij gamma_ij``), the breakpoints found,
    and with ``verify`` the verifier's arrays (see :class:`.verification.MarketVerification`)."""

    layers: LayerAllocation
    breakpoints: int
    initial: np.ndarray
    ceded: np.ndarray
    premium: np.ndarray
    cost: np.ndarray
    gain: np.ndarray | None = None
    gap: np.ndarray | None = None
    bad: int = 0
    order_gap: np.ndarray | None = None


@dataclass(frozen=True)
class _Part:
    """One chunk of insurers (cell arrays on the chunk's own grid width)."""

    edges: np.ndarray
    winner: np.ndarray
    price: np.ndarray
    source: np.ndarray
    initial: np.ndarray
    ceded: np.ndarray
    premium: np.ndarray
    cost: np.ndarray
    breakpoints: int
    gain: np.ndarray | None = None
    gap: np.ndarray | None = None
    bad: int = 0
    order_gap: np.ndarray | None = None


def spne_cells(bank: CurveBank, n: int, m: int, *, cells: int, nodes: int, verify: bool, bound: float,
               span: float) -> Pointwise:
    """The canonical SPNE of every insurer of ``bank`` (columns ``alpha_i, tau_i1..tau_im``) on
    cells over ``[0, bound]`` plus one dead cell up to ``span``."""
    group = [list(range(m + 1))]
    parts = []
    for rows in chunk_rows(n, m + 1, cells + 8):
        table = tabulate(bank, rows, cells=cells, nodes=nodes, groups=group, bound=bound, span=span)
        parts.append(_second_price(table, m, verify, bank, bound))
    return _assemble(parts, span)


def best_response_cells(bank: CurveBank, n: int, m: int, *, cells: int, nodes: int, verify: bool,
                        bound: float, span: float) -> Pointwise:
    """Every insurer's generous best response; ``bank`` columns ``alpha_i, nu_i1..nu_im,
    tau_i1..tau_im`` (the posted prices, then the true preferences)."""
    groups = [list(range(m + 1)), [0, *range(m + 1, 2 * m + 1)]]
    parts = []
    for rows in chunk_rows(n, 2 * m + 1, cells + 8):
        table = tabulate(bank, rows, cells=cells, nodes=nodes, groups=groups, bound=bound, span=span)
        parts.append(_generous_choice(table, m, verify, bank, bound))
    return _assemble(parts, span)


def _by_pair(rows: int, m: int, who: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum of ``weights`` over cells taken by each (insurer, reinsurer): ``(rows, m)``."""
    r, g = np.nonzero(who >= 0)
    return np.bincount(r * m + who[r, g], weights=weights[r, g], minlength=rows * m).reshape(rows, m)


def _second_price(table: LayerTable, m: int, verify: bool, bank: CurveBank, top: float) -> _Part:
    """SPNE on one chunk: lowest true preference takes the cell at the second-lowest price."""
    ints = table.integrals
    A, T = ints[:, 0], ints[:, 1:]
    lo, lo_i, sec, sec_i = table.orders[0]
    w = table.widths
    ceded = (lo_i > 0) & (w > 0)
    winner = np.where(ceded, lo_i - 1, -1)
    r = A.shape[0]
    gain = gap = gaps = None
    bad = 0
    if verify:
        S = np.zeros_like(T)
        rr, gg = np.nonzero(ceded)
        S[rr, winner[rr, gg], gg] = 1.0
        N = np.broadcast_to(sec[:, None, :], T.shape)
        gain, gap, bad = verify_cells(A, T, N, S, w)
        gaps = order_gap(bank, table.rows, table.edges, list(range(m + 1)), lo_i,
                         np.where(ceded, sec_i, -1), top=top)
    return _Part(table.edges, winner, np.where(ceded, sec, 0.0), np.where(ceded, sec_i - 1, -1),
                 A.sum(axis=1), np.where(ceded, A, 0.0).sum(axis=1), _by_pair(r, m, winner, sec),
                 _by_pair(r, m, winner, lo), table.breakpoints, gain, gap, bad, gaps)


def _generous_choice(table: LayerTable, m: int, verify: bool, bank: CurveBank, top: float) -> _Part:
    """Best response on one chunk: the cheapest option, ties to the lowest true preference."""
    ints = table.integrals
    A, N, T = ints[:, 0], ints[:, 1:m + 1], ints[:, m + 1:]
    w = table.widths
    P = np.concatenate([A[:, None], N], axis=1)
    TT = np.concatenate([A[:, None], T], axis=1)
    best = P.min(axis=1)
    tol = 1e-12 * (np.abs(best) + w)
    key = np.where((best + tol)[:, None, :] >= P, TT, np.inf)
    choice = np.argmin(key, axis=1)
    winner = np.where((choice > 0) & (w > 0), choice - 1, -1)
    safe = np.maximum(winner, 0)[:, None, :]
    price = np.where(winner >= 0, np.take_along_axis(N, safe, 1)[:, 0], 0.0)
    cost = np.take_along_axis(T, safe, 1)[:, 0]
    r = A.shape[0]
    gain = gap = gaps = None
    bad = 0
    if verify:
        S = np.zeros_like(T)
        rr, gg = np.nonzero(winner >= 0)
        S[rr, winner[rr, gg], gg] = 1.0
        gain, gap, bad = verify_cells(A, T, N, S, w)
        gaps = order_gap(bank, table.rows, table.edges, list(range(m + 1)), winner + 1, top=top)
    return _Part(table.edges, winner, price, np.where(winner >= 0, -3, -1), A.sum(axis=1),
                 np.where(winner >= 0, A, 0.0).sum(axis=1), _by_pair(r, m, winner, price),
                 _by_pair(r, m, winner, cost), table.breakpoints, gain, gap, bad, gaps)


def _assemble(parts: Sequence[_Part], bound: float) -> Pointwise:
    """Stack chunk results (cell arrays padded to the widest chunk)."""
    G = max(p.edges.shape[1] for p in parts)

    def pad(arrays: Sequence[np.ndarray], fill: float, extra: int = 0) -> np.ndarray:
        return np.vstack([np.pad(a, ((0, 0), (0, G - extra - a.shape[1])), constant_values=fill)
                          for a in arrays])

    layers = LayerAllocation(pad([p.edges for p in parts], bound),
                             pad([p.winner for p in parts], -1, 1).astype(np.int32),
                             pad([p.price for p in parts], 0.0, 1),
                             pad([p.source for p in parts], -1, 1).astype(np.int32))
    gains = [p.gain for p in parts if p.gain is not None]
    gaps = [p.gap for p in parts if p.gap is not None]
    orders = [p.order_gap for p in parts if p.order_gap is not None]
    checked = len(gains) == len(gaps) == len(orders) == len(parts)
    return Pointwise(layers, int(sum(p.breakpoints for p in parts)),
                     np.concatenate([p.initial for p in parts]), np.concatenate([p.ceded for p in parts]),
                     np.vstack([p.premium for p in parts]), np.vstack([p.cost for p in parts]),
                     gain=np.sum(gains, axis=0) if checked else None,
                     gap=np.concatenate(gaps) if checked else None,
                     bad=int(sum(p.bad for p in parts)),
                     order_gap=np.concatenate(orders) if checked else None)
