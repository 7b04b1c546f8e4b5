"""Finite menus for price-and-choose: lattice and Dirichlet families in share coordinates, on C or K.

A menu is ``M`` allocations stored as one array ``allocations[m, i, s]`` (menu point, player, state
of the space: the atoms of X for C, the states of ``{0,1}^n`` for K), with the uniform measure
``mu = 1/M``. It always contains the welfare optimum: the families append it as the
last point, and :func:`custom_menu` appends it (with a warning saying so) when a user's menu lacks it.

On C a point is given by its marginal shares: for every gap ``k`` the column ``s_{.k}`` lies in the
simplex and ``F_ik = -sum_{j <= k} s_ij g_j``:

* ``lattice(m)``: every column ranges over ``{a/m : a in Z^n_+, sum a = m}``; the full product over
  the K gaps (``C(m+n-1, n-1)^K`` points, deterministic);
* ``dirichlet(M, seed)``: ``M - 1`` draws ``np.random.default_rng(seed).dirichlet(ones(n),
  size=(M - 1, K))`` (the uniform measure on C), then the optimum.

On K a point is ``xi_i(omega) = q_i(omega) X(omega)`` with a share vector ``q(omega)`` per state
(``dirichlet_atoms``): K is the product over the states with ``X != 0`` of simplices.

The distance used throughout is ``d_sup(xi, eta) = max_i max_{s: P(s) > 0} |xi_is - eta_is|``.

Every menu carries its loss ``unit`` (the largest gap of X on C, the smallest nonzero loss on K: L
for a common loss): the tolerances of the game and of its checks (same point, ties, perturbation
sizes) are multiples of it, so that a pool and the same pool in other currency units (losses times
c, risk aversions over c) play the same game.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ModelError, RiskoptWarning

__all__ = ["MAX_MENU_ENTRIES", "Menu", "compositions", "custom_menu", "dirichlet_atoms", "dirichlet_menu",
           "lattice_menu", "lattice_size", "shares_to_allocations", "sup_distance"]

#: M * n * S numbers held by a menu (8 bytes each): 60 million is about 480 MB
MAX_MENU_ENTRIES = 60_000_000
#: two allocations closer than this in d_sup (in units of the menu's loss unit) are the same point
SAME_POINT = 1e-12


@dataclass(frozen=True)
class Menu:
    """A finite menu (see the module docstring); ``optimum`` indexes the welfare optimum."""

    allocations: np.ndarray
    optimum: int
    family: str
    space: str
    support: np.ndarray
    note: str = ""
    seed: int | None = None
    #: the loss unit: tolerances of the game and its checks are relative to it (module docstring)
    unit: float = 1.0

    @property
    def size(self) -> int:
        return int(self.allocations.shape[0])

    @property
    def mu(self) -> np.ndarray:
        """The uniform measure on the menu points."""
        return np.full(self.size, 1.0 / self.size)

    def flat(self) -> np.ndarray:
        """``(M, n * |support|)`` view of the allocations on the states of positive probability."""
        A = self.allocations if self.support.all() else self.allocations[:, :, self.support]
        return A.reshape(A.shape[0], -1)

    def distances_to(self, index: int) -> np.ndarray:
        """``d_sup`` from every menu point to point ``index``."""
        return sup_distance(self.allocations, self.allocations[index], self.support)

    @functools.cached_property
    def distance_to_optimum(self) -> np.ndarray:
        """``d_sup`` from every menu point to the optimum (one pass over the menu, kept)."""
        return self.distances_to(self.optimum)

    def describe(self) -> dict[str, Any]:
        return {"family": self.family, "space": self.space, "points": self.size, "seed": self.seed,
                "optimum_index": self.optimum, "mu": "uniform 1/M", "note": self.note}


def sup_distance(A: np.ndarray, B: np.ndarray, support: np.ndarray) -> np.ndarray:
    """``max_i max_{s in support} |A[m, i, s] - B[i, s]|`` for every ``m`` (chunked)."""
    out = np.empty(A.shape[0])
    step = max(1, 4_000_000 // max(1, A.shape[1] * A.shape[2]))
    for a in range(0, A.shape[0], step):
        diff = np.abs(A[a:a + step][:, :, support] - B[None][:, :, support])
        out[a:a + step] = diff.reshape(diff.shape[0], -1).max(axis=1)
    return out


def compositions(n: int, m: int) -> np.ndarray:
    """All ``a / m`` with ``a in Z^n_+``, ``sum a = m`` (stars and bars, lexicographic)."""
    rows = []
    for bars in itertools.combinations(range(m + n - 1), n - 1):
        edges = np.concatenate([[-1], bars, [m + n - 1]])
        rows.append(np.diff(edges) - 1)
    return np.asarray(rows, float) / m


def shares_to_allocations(shares: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """``shares[m, k, i]`` (column per gap) -> ``F[m, i, k]`` with ``F[:, :, 0] = 0`` (the anchor)."""
    M, K, n = shares.shape
    F = np.zeros((M, n, K + 1))
    F[:, :, 1:] = -np.cumsum(shares * gaps[None, :, None], axis=1).transpose(0, 2, 1)
    return F


def _check_size(points: int, n: int, states: int, field: str) -> None:
    entries = points * n * states
    if entries > MAX_MENU_ENTRIES:
        raise ModelError(field, points, f"a menu of at most {MAX_MENU_ENTRIES:,} numbers (points x players "
                         f"x states); this one needs {entries:,}")


def lattice_menu(optimum: np.ndarray, gaps: np.ndarray, m: int) -> Menu:
    """The lattice family on C plus the optimum ``optimum`` (``n x (K+1)`` allocation, appended last)."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ModelError("menu.m", m, "a positive integer lattice resolution")
    n, S = optimum.shape
    K = S - 1
    count = lattice_size(n, m, K)
    _check_size(count + 1, n, S, "menu.m")
    cols = compositions(n, m)
    idx = np.stack(np.unravel_index(np.arange(count), (cols.shape[0],) * K), axis=1)
    F = shares_to_allocations(cols[idx], gaps)
    allocations = np.concatenate([F, optimum[None]], axis=0)
    note = (f"lattice(m={m}): {cols.shape[0]} share columns per gap, {cols.shape[0]}^{K} = {count} points; "
            "the welfare optimum is appended as the last point")
    return Menu(allocations, count, f"lattice(m={m})", "C", np.ones(S, bool), note, unit=_unit(gaps))


def dirichlet_menu(optimum: np.ndarray, gaps: np.ndarray, size: int, seed: int) -> Menu:
    """``size - 1`` flat-Dirichlet points of C (the uniform measure on C) plus the optimum."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ModelError("menu.size", size, "an integer number of menu points >= 2")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ModelError("menu.seed", seed, "an integer seed >= 0")
    n, S = optimum.shape
    _check_size(size, n, S, "menu.size")
    draws = np.random.default_rng(seed).dirichlet(np.ones(n), size=(size - 1, S - 1))
    F = shares_to_allocations(draws, gaps)
    allocations = np.concatenate([F, optimum[None]], axis=0)
    note = (f"dirichlet(M={size}, seed={seed}): default_rng(seed).dirichlet(ones(n), size=(M-1, K)); "
            "the welfare optimum is appended as the last point")
    return Menu(allocations, size - 1, f"dirichlet(M={size}, seed={seed})", "C", np.ones(S, bool), note,
                int(seed), _unit(gaps))


def dirichlet_atoms(optimum: np.ndarray, X: np.ndarray, probs: np.ndarray, size: int, seed: int) -> Menu:
    """``size - 1`` points of K: ``xi_i(omega) = q_i(omega) X(omega)``, ``q(omega)`` flat Dirichlet per
    state with ``X != 0`` (0 where ``X = 0``), plus the optimum (appended last)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ModelError("menu.size", size, "an integer number of menu points >= 2")
    n, S = optimum.shape
    _check_size(size, n, S, "menu.size")
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.ones(n), size=(size - 1, S))          # (M-1, S, n)
    alloc = (q * X[None, :, None]).transpose(0, 2, 1)
    alloc[:, :, X == 0] = 0.0
    allocations = np.concatenate([alloc, optimum[None]], axis=0)
    note = (f"dirichlet on K (M={size}, seed={seed}): shares of X(omega) per state; the welfare optimum "
            "over K is appended as the last point")
    losses = np.abs(X[X != 0])
    return Menu(allocations, size - 1, f"dirichlet-K(M={size}, seed={seed})", "K", probs > 0, note, int(seed),
                _unit(losses.min(initial=np.inf) if losses.size else np.zeros(0)))


def custom_menu(allocations: np.ndarray, optimum: np.ndarray, x: np.ndarray, *, tol: float = 1e-9) -> Menu:
    """A user's menu on C (``allocations[m, i, k]`` on the kept atoms). Points must lie in C (anchor,
    budget, monotone within ``tol`` times the loss unit); the optimum is appended, with a warning, if
    it is missing."""
    A = np.asarray(allocations, float)
    n, S = optimum.shape
    unit = _unit(-np.diff(np.asarray(x, float)))
    tol = tol * unit
    if A.ndim != 3 or A.shape[1:] != (n, S):
        raise ModelError("menu.allocations", f"shape {A.shape}", f"(points, {n} players, {S} atoms)")
    if not np.all(np.isfinite(A)):
        raise ModelError("menu.allocations", "non-finite values", "finite allocations")
    bad_anchor = np.abs(A[:, :, 0]).max(axis=1) > tol
    bad_budget = np.abs(A.sum(axis=1) - x[None, :]).max(axis=1) > tol
    bad_mono = np.diff(A, axis=2).max(axis=(1, 2), initial=-np.inf) > tol
    bad = bad_anchor | bad_budget | bad_mono
    if bad.any():
        m = int(np.argmax(bad))
        why = "anchor f_i(0) = 0" if bad_anchor[m] else ("budget sum_i f_i = x" if bad_budget[m] else
                                                         "monotone f_i")
        raise ModelError(f"menu.allocations[{m}]", "a point outside C", f"allocations in C ({why} fails)")
    d = sup_distance(A, optimum, np.ones(S, bool))
    if d.min() <= SAME_POINT * unit:
        return Menu(A, int(np.argmin(d)), "custom", "C", np.ones(S, bool), "the menu contains the optimum",
                    unit=unit)
    warnings.warn(f"menu: the welfare optimum is not among the {A.shape[0]} menu points (nearest at d_sup = "
                  f"{d.min():.3g}); it was appended as point {A.shape[0]}", RiskoptWarning, stacklevel=2)
    allocations = np.concatenate([A, optimum[None]], axis=0)
    return Menu(allocations, A.shape[0], "custom", "C", np.ones(S, bool),
                "the welfare optimum was not in the menu and was appended as the last point", unit=unit)


def _unit(gaps: np.ndarray | float) -> float:
    """The largest gap (1 if there is none): the menu's loss unit."""
    top = float(np.max(np.asarray(gaps, float), initial=0.0))
    return top if np.isfinite(top) and top > 0 else 1.0


def lattice_size(n: int, m: int, gaps: int) -> int:
    """Number of lattice points (without the optimum): ``C(m+n-1, n-1)^K``."""
    return int(math.comb(m + n - 1, n - 1) ** gaps)
