"""Hurricane pools for price-and-choose: farmers, the law of the number of hits, and pruning.

A :class:`Pool` is ``n`` farmers; farmer ``j`` loses ``L_j`` when hit (independent hits with
probabilities ``p_j``, or a one-factor common shock), and evaluates gains by an entropic certainty
equivalent with risk aversion ``gamma_j``. The aggregate is ``X = -sum_j L_j 1{H_j}``; its law is the
Poisson-binomial law computed by the stable recursion of :mod:`riskopt.space` (on the lattice
``{0, -tick, -2 tick, ...}`` when losses differ). Atoms are ordered by increasing loss, ``x_0 = 0``
first (the anchor of the comonotone menu C).

The law of X and its kept atoms are :class:`~riskopt.space.Scenarios` (the one finite law type):
:meth:`Pool.law` carries the variables ``X`` and ``steps`` (the lattice index: the number of hits for
a common loss, multiples of the tick otherwise; :func:`lattice_steps` reads it as integers), and
:func:`keep_atoms` prunes the upper tail only (keep ``0..k_max``, the last atom of mass ``>= tau``),
as the paper's §1.2 says: the anchor ``X = 0`` keeps its exact mass, however small, and the mass
dropped is the space's ``pruned_mass``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ...checks import positive, real, real_array
from ...errors import ModelError, RiskoptWarning
from ...space import Scenarios, poisson_binomial

__all__ = ["OVERFLOW_GAMMA_LOSS", "PRUNE", "CommonShock", "Pool", "atom_gaps", "keep_atoms", "lattice_steps",
           "leave_one_out_laws"]

#: gamma_i * (largest loss) from which tilts pile up on the worst atoms: allocations become
#: unidentifiable in double precision and exponential cones lose accuracy (warned, never NaN)
OVERFLOW_GAMMA_LOSS = 100.0
#: atoms of X of smaller mass beyond the last heavier one are dropped (``[space] prune``)
PRUNE = 1e-16


@dataclass(frozen=True)
class CommonShock:
    """A storm regime with probability ``storm_prob``; given the regime hits are independent."""

    p_storm: np.ndarray
    p_calm: np.ndarray
    storm_prob: float


def _floats(values: ArrayLike, n: int, field_name: str) -> np.ndarray:
    allowed = f"a number or a list of {n} numbers"
    given = real_array(field_name, values, allowed)
    if given.ndim > 1 or given.size not in (1, n):
        raise ModelError(field_name, values, allowed)
    arr = np.array(np.broadcast_to(given.ravel(), (n,)), dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        k = int(np.argmax(bad))
        raise ModelError(f"{field_name}[{k}]", float(arr[k]), "a finite number")
    return arr


def prune_tolerance(prune: Any) -> float:
    tol = real("prune", prune, "a pruning tolerance in [0, 1)")
    if not 0 <= tol < 1:
        raise ModelError("prune", prune, "a pruning tolerance in [0, 1)")
    return tol


def probabilities(values: ArrayLike, n: int | None, field_name: str) -> np.ndarray:
    arr = np.atleast_1d(real_array(field_name, values, "hit probabilities in [0, 1]"))
    if n is not None:
        if arr.size == 1:
            arr = np.full(n, float(arr[0]))
        elif arr.shape != (n,):
            raise ModelError(field_name, f"{arr.size} values", f"one hit probability per farmer ({n})")
    bad = ~(np.isfinite(arr) & (arr >= 0) & (arr <= 1))
    if bad.any():
        k = int(np.argmax(bad))
        raise ModelError(f"{field_name}[{k}]", float(arr[k]), "a hit probability in [0, 1]")
    return arr


@dataclass(frozen=True)
class Pool:
    """Farmers sharing hurricane losses (see the module docstring)."""

    gammas: np.ndarray
    p: np.ndarray
    losses: np.ndarray
    names: tuple[str, ...]
    tick: float | None = None
    shock: CommonShock | None = None
    #: the pruning tolerance of the law of X (:func:`keep_atoms`)
    prune: float = PRUNE

    @classmethod
    def independent(cls, gammas: ArrayLike, p: ArrayLike, loss: ArrayLike = 1.0, *,
                    tick: float | None = None, names: Sequence[str] | None = None,
                    prune: float = PRUNE) -> Pool:
        """Independent hits with probabilities ``p`` (a number or one per farmer)."""
        g = cls._gammas(gammas)
        pj = probabilities(p, g.size, "p")
        return cls._make(g, pj, loss, names, tick, None, prune)

    @classmethod
    def common_shock(cls, gammas: ArrayLike, p_storm: ArrayLike, p_calm: ArrayLike, storm_prob: float,
                     loss: float = 1.0, *, names: Sequence[str] | None = None, prune: float = PRUNE) -> Pool:
        """One-factor common shock: law of N is ``s PB(p_storm) + (1 - s) PB(p_calm)``."""
        g = cls._gammas(gammas)
        ps = probabilities(p_storm, g.size, "p_storm")
        pc = probabilities(p_calm, g.size, "p_calm")
        s = real("storm_prob", storm_prob, "a probability in [0, 1]")
        if not 0 <= s <= 1:
            raise ModelError("storm_prob", storm_prob, "a probability in [0, 1]")
        marginal = s * ps + (1 - s) * pc
        return cls._make(g, marginal, loss, names, None, CommonShock(ps, pc, s), prune)

    @staticmethod
    def _gammas(gammas: ArrayLike) -> np.ndarray:
        g = np.atleast_1d(real_array("gamma", gammas, "risk aversions of at least two farmers"))
        if g.ndim != 1 or g.size < 2:
            raise ModelError("gamma", gammas, "risk aversions of at least two farmers")
        bad = ~(np.isfinite(g) & (g > 0))
        if bad.any():
            k = int(np.argmax(bad))
            raise ModelError(f"gamma[{k}]", float(g[k]), "risk aversion: a finite number > 0")
        return g

    @classmethod
    def _make(cls, g: np.ndarray, pj: np.ndarray, loss: ArrayLike, names: Sequence[str] | None,
              tick: float | None, shock: CommonShock | None, prune: float = PRUNE) -> Pool:
        n = g.size
        prune_tolerance(prune)
        losses = _floats(loss, n, "loss")
        if np.any(losses <= 0):
            k = int(np.argmax(losses <= 0))
            raise ModelError(f"loss[{k}]", float(losses[k]), "a positive loss")
        if tick is None and not np.all(losses == losses[0]):
            raise ModelError("tick", None, "a common tick when the losses differ")
        if tick is not None:
            tick = positive("tick", tick, "the lattice step of the losses")
            steps = losses / tick
            if np.any(np.abs(steps - np.round(steps)) > 1e-9 * np.maximum(1, steps)):
                raise ModelError("loss", losses.tolist(), f"multiples of the tick {tick:g}")
        if shock is None and np.any(pj >= 1):
            k = int(np.argmax(pj >= 1))
            raise ModelError(f"p[{k}]", float(pj[k]), "a hit probability < 1 (X = 0, the anchor of "
                             "the menu C, must be possible)")
        if shock is not None and np.any(np.minimum(shock.p_storm, shock.p_calm) >= 1):
            k = int(np.argmax(np.minimum(shock.p_storm, shock.p_calm) >= 1))
            raise ModelError(f"p_calm[{k}]", float(shock.p_calm[k]), "a hit probability < 1 in some "
                             "regime (X = 0 must be possible)")
        if np.all(pj == 0):
            raise ModelError("p", pj.tolist(), "some farmer with a positive hit probability "
                             "(otherwise X = 0 and there is nothing to share)")
        if names is None:
            names = tuple(f"farmer {i + 1}" for i in range(n))
        else:
            names = tuple(str(s) for s in names)
            if len(names) != n or len(set(names)) != n:
                raise ModelError("names", list(names), f"{n} distinct names")
        worst = g * losses.max()
        if np.any(worst >= OVERFLOW_GAMMA_LOSS):
            k = int(np.argmax(worst))
            warnings.warn(f"gamma[{k}] * loss = {worst[k]:g} >= {OVERFLOW_GAMMA_LOSS:g}: the tilts "
                          "concentrate on the worst atoms, so allocations are identified only on few "
                          "gaps and conic solvers lose accuracy (riskopt works in log space: W*, prices "
                          "and payoffs stay finite)", RiskoptWarning, stacklevel=3)
        return cls(g, pj, losses, names, tick, shock, float(prune))

    # ------------------------------------------------------------------ laws
    @property
    def n(self) -> int:
        return self.gammas.size

    @property
    def unit(self) -> float:
        """Lattice spacing of X: the common loss, or the tick."""
        return float(self.losses[0]) if self.tick is None else self.tick

    @property
    def loss_steps(self) -> np.ndarray:
        """Each farmer's loss in lattice units (1 for a common loss)."""
        return np.round(self.losses / self.unit).astype(int)

    def law(self) -> Scenarios:
        """The law of X on its atoms (X = 0 first, increasing loss), with the lattice index ``steps``."""
        if self.shock is not None:
            full = Scenarios.common_shock_hits(self.shock.p_storm.tolist(), self.shock.p_calm.tolist(),
                                               self.shock.storm_prob, float(self.losses[0]))
        else:
            loss = self.losses.tolist() if self.tick is not None else float(self.losses[0])
            full = Scenarios.bernoulli_hits(self.p.tolist(), loss, tick=self.tick)
        return full.with_variables(steps=np.round(-full.X / self.unit))

    def atoms(self, prune: float | None = None) -> Scenarios:
        """The kept atoms of the law of X (:func:`keep_atoms` at ``prune``, default the pool's)."""
        full = self.law()
        if full.X[0] != 0 or full.p[0] <= 0:
            raise ModelError("p", self.p.tolist(), "hit probabilities leaving X = 0 possible (the anchor)")
        return keep_atoms(full, self.prune if prune is None else prune)

    def hits_law(self, p: np.ndarray, size: int) -> np.ndarray:
        """Law of ``sum_j steps_j 1{H_j}`` on lattice points ``0..size-1`` for hit probabilities p."""
        law = poisson_binomial(p, self.loss_steps)
        out = np.zeros(size)
        m = min(size, law.size)
        out[:m] = law[:m]
        return out


def keep_atoms(law: Scenarios, prune: float) -> Scenarios:
    """Keep atoms ``0..k_max`` of ``law`` (``k_max`` the last atom of mass ``>= prune``), renormalised;
    the mass dropped is recorded in ``pruned_mass`` (``Scenarios.prune`` with a tolerance below one
    drops every atom not kept)."""
    prune_tolerance(prune)
    heavy = np.flatnonzero(law.p >= prune) if prune > 0 else np.flatnonzero(law.p > 0)
    if heavy.size == 0:
        raise ModelError("prune", prune, "a tolerance that keeps at least one state",
                         detail=f"the heaviest atom has mass {float(np.max(law.p, initial=0.0)):.3g}")
    k_max = int(heavy[-1])
    keep = np.arange(law.size) <= k_max
    return law.prune(float(np.nextafter(1.0, 0.0)), keep=keep)


def lattice_steps(space: Scenarios) -> np.ndarray:
    """The lattice index of every atom (variable ``steps``: hits, or multiples of the tick) as integers."""
    return space["steps"].astype(int)


def atom_gaps(space: Scenarios) -> np.ndarray:
    """``g_k = x_{k-1} - x_k > 0`` for ``k = 1..K`` (atoms of X decreasing from ``x_0 = 0``)."""
    return -np.diff(space.X)


def leave_one_out_laws(p: np.ndarray, steps: np.ndarray, size: int) -> np.ndarray:
    """``out[i]`` = law of ``sum_{j != i} steps_j 1{H_j}`` on lattice points ``0..size-1``.

    Prefix laws (farmers before ``i``) and suffix laws (after ``i``) by the convex-combination
    recursion, truncated to ``size`` points (exact there: entries below ``size`` only depend on
    entries below ``size``), then one truncated convolution per farmer, vectorised over farmers.
    """
    n = p.size
    pre = np.zeros((n + 1, size))
    suf = np.zeros((n + 1, size))
    pre[0, 0] = suf[n, 0] = 1.0
    for j in range(n):
        s = int(steps[j])
        pre[j + 1] = pre[j] * (1 - p[j])
        if s < size:
            pre[j + 1, s:] += p[j] * pre[j, :size - s]
    for j in range(n - 1, -1, -1):
        s = int(steps[j])
        suf[j] = suf[j + 1] * (1 - p[j])
        if s < size:
            suf[j, s:] += p[j] * suf[j + 1, :size - s]
    a, b = pre[:n], suf[1:]
    out = np.zeros((n, size))
    for k in range(size):
        out[:, k:] += a[:, k:k + 1] * b[:, :size - k]
    return out


def add_farmer(base: np.ndarray, prob: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Row ``i``: the law ``base[i]`` convolved with farmer ``i`` hit with probability ``prob[i]``."""
    out: np.ndarray = base * (1 - prob[:, None])
    for s in np.unique(steps):
        rows = np.flatnonzero(steps == s)
        if s < base.shape[1]:
            out[rows, s:] += prob[rows, None] * base[rows, :base.shape[1] - s]
    return out
