"""The P^{n-1}&C game on a finite menu: utility tables, equalising prices, payoffs, the chooser's rule.

On a menu ``xi^(1..M)`` with the uniform measure ``mu`` (Ogaku 2025, Theorem 3):

* ``U[m, i] = U_i(xi^(m))`` (entropic, or max-min over the player's vertex laws: the minimum of the
  vertex certainty equivalents, each ``-LSE(log q - gamma F)/gamma``);
* ``W_i = sum_{j >= i} U_j`` (reverse cumulative sum), ``W-bar_i = sum_m mu_m W_i``,
  ``Avg_i = W-bar_i - W-bar_{i+1}``;
* equalising prices ``p^{i+1}(xi) = W_{i+1}(xi) - W-bar_{i+1}`` (``p^1 = p^{n+1} = 0``): follower
  ``i + 1``'s continuation ``W_{i+1} - p^{i+1}`` is constant over the menu;
* payoffs ``g_k = U_k - p^k + p^{k+1}``: ``g_k = Avg_k`` for ``k >= 2`` at every point, and at the
  optimum ``g_1 = W* - sum_{k >= 2} Avg_k = Avg_1 + eta`` with the surplus ``eta = W* - sum Avg``.

**The chooser's rule** (Theorem 3(A) read as a strategy). Under equalising prices the last mover is
indifferent among all points, so the rule is explicit: maximise lexicographically
``(W_n - p^n, W_{n-1} - p^{n-1}, ..., W_2 - p^2, W_1)``, each entry compared within a tie tolerance,
remaining ties broken by the lowest menu index. On the equilibrium path every entry but the last is
constant, so the rule returns argmax ``W_1``: the welfare optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .fast import MEAN_SHIFT_SPREAD
from .menus import SAME_POINT, Menu

__all__ = ["Game", "choose", "equalising_prices", "play", "tie_tolerance", "utility_table"]

#: numbers (points x players x vertices x states) evaluated per chunk of the utility table
CHUNK = 4_000_000


def utility_table(allocations: np.ndarray, gammas: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """``U[m, i] = min_v -(1/gamma_i) log E_{q_iv} exp(-gamma_i xi_mi)`` (chunked).

    The log-expectation is taken around the mean (:func:`.fast.log_mean_exp`): a nearly
    risk-neutral player (``gamma xi`` tiny) keeps the relative accuracy of its utility, where the
    usual max-shifted log-sum-exp returns ``log 1`` plus rounding, divided by a tiny gamma; spreads
    beyond ``MEAN_SHIFT_SPREAD`` fall back to the max shift.
    """
    M, n, S = allocations.shape
    V = vertices.shape[1]
    q = np.asarray(vertices, float)
    q = q / q.sum(axis=2, keepdims=True)                      # (n, V, S)
    with np.errstate(divide="ignore"):
        logq = np.log(q)                                      # -inf where q = 0
    live = q > 0
    out = np.empty((M, n))
    step = max(1, CHUNK // max(1, n * V * S))
    for a in range(0, M, step):
        A = allocations[a:a + step]
        y = -(gammas[None, :, None] * A)                     # (m, n, S)
        mean = np.einsum("nvs,mns->mnv", q, y)               # E_q y
        d = y[:, :, None, :] - mean[..., None]               # (m, n, V, S)
        top = np.max(np.where(live[None], d, -np.inf), axis=3)
        safe = top <= MEAN_SHIFT_SPREAD
        with np.errstate(over="ignore", invalid="ignore"):
            t = np.einsum("nvs,mnvs->mnv", q, np.expm1(np.where(live[None] & safe[..., None], d, 0.0)))
            lse = mean + np.log1p(t)
        if not safe.all():
            z = logq[None] + y[:, :, None, :]
            peak = z.max(axis=3, keepdims=True)
            plain = np.log(np.exp(z - peak).sum(axis=3)) + peak[..., 0]
            lse = np.where(safe, lse, plain)
        out[a:a + step] = (-lse / gammas[None, :, None]).min(axis=2)
    return out


def equalising_prices(W: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """``P[m, j]`` = price ``p^{j+1}`` at point ``m`` for ``j = 0..n`` (``p^1 = p^{n+1} = 0``)."""
    M, n = W.shape
    P = np.zeros((M, n + 1))
    P[:, 1:n] = W[:, 1:] - (mu @ W[:, 1:])[None, :]
    return P


def tie_tolerance(W: np.ndarray, unit: float = 1.0) -> float:
    """Values of the chooser's criteria closer than this are ties (rounding of sums of n terms),
    relative to the menu's loss ``unit`` (the floor) and the largest welfare."""
    return 1e-12 * (unit + float(np.abs(W).max()))


def choose(W: np.ndarray, P: np.ndarray, tol: float) -> int:
    """The chooser's lexicographic rule (module docstring) on the price vector ``P``.

    The criteria ``(W_n - p^n, ..., W_2 - p^2, W_1)`` form an ``M x n`` matrix; entries whose spread
    over the remaining candidates is within ``tol`` cannot break ties and are skipped, so each pass
    filters on the first criterion that does (vectorised: one pass per effective tie-break).
    """
    n = W.shape[1]
    crit = np.concatenate([(W[:, 1:] - P[:, 1:n])[:, ::-1], W[:, :1]], axis=1)
    idx = np.arange(W.shape[0])
    while idx.size > 1:
        V = crit[idx]
        moving = np.flatnonzero(V.max(axis=0) - V.min(axis=0) > tol)
        if moving.size == 0:
            break
        v = V[:, moving[0]]
        idx = idx[v >= v.max() - tol]
    return int(idx.min())


@dataclass(frozen=True)
class Game:
    """The game's tables and its equilibrium outcome (see the module docstring).

    ``U, W, prices, payoffs`` are per menu point; ``avg``, ``wbar`` per player; ``chosen`` is the
    chooser's pick under equalising prices; ``welfare`` is ``W_1`` there (= W* when it is the
    optimum); ``best_other`` is the best welfare of a point that is not the optimum.
    """

    U: np.ndarray
    W: np.ndarray
    prices: np.ndarray
    payoffs: np.ndarray
    avg: np.ndarray
    wbar: np.ndarray
    mu: np.ndarray
    optimum: int
    chosen: int
    welfare: float
    eta: float
    best_other: float
    tol: float

    @property
    def n(self) -> int:
        return int(self.U.shape[1])

    @property
    def outcome_payoffs(self) -> np.ndarray:
        """``g_k`` at the chosen point (``g_1 = Avg_1 + eta``, ``g_k = Avg_k`` otherwise)."""
        return np.asarray(self.payoffs[self.chosen])

    def to_dict(self) -> dict[str, Any]:
        return {"welfare_at_choice": self.welfare, "eta": self.eta, "avg": self.avg, "wbar": self.wbar,
                "prices_at_choice": self.prices[self.chosen, 1:self.n], "payoffs": self.outcome_payoffs,
                "chosen_index": self.chosen, "optimum_index": self.optimum,
                "menu_gap_best_other": self.welfare - self.best_other}


def play(menu: Menu, U: np.ndarray) -> Game:
    """Tables, equalising prices, payoffs and the chooser's pick on ``menu`` with utilities ``U``."""
    mu = menu.mu
    W = np.cumsum(U[:, ::-1], axis=1)[:, ::-1]
    wbar = mu @ W
    avg = mu @ U
    P = equalising_prices(W, mu)
    G = U - P[:, :-1] + P[:, 1:]
    tol = tie_tolerance(W, menu.unit)
    chosen = choose(W, P, tol)
    same = menu.distance_to_optimum <= SAME_POINT * menu.unit
    others = W[~same, 0]
    best_other = float(others.max()) if others.size else -np.inf
    welfare = float(W[chosen, 0])
    return Game(U, W, P, G, avg, wbar, mu, menu.optimum, chosen, welfare, welfare - float(avg.sum()),
                best_other, tol)
