"""Hurricane pools for price-and-choose: farmers, the law of the number of hits, pruning, beliefs.

A :class:`Pool` is ``n`` farmers; farmer ``j`` loses ``L_j`` when hit (independent hits with
probabilities ``p_j``, or a one-factor common shock), and evaluates gains by an entropic certainty
equivalent with risk aversion ``gamma_j``. The aggregate is ``X = -sum_j L_j 1{H_j}``; its law is the
Poisson-binomial law computed by the stable recursion of :mod:`riskopt.space` (on the lattice
``{0, -tick, -2 tick, ...}`` when losses differ). Atoms are ordered by increasing loss, ``x_0 = 0``
first (the anchor of the comonotone menu C).

:meth:`Pool.atoms` prunes the upper tail only (keep ``0..k_max``, the last atom of mass ``>= tau``),
as the spec's §1.2 says: the anchor ``X = 0`` keeps its exact mass, however small.

:class:`Beliefs` says how each farmer weighs the atoms: the common prior P, a heterogeneous single
prior (farmer ``i`` believes his own hit probability is ``q_i``), or an interval credal set
``P(H_j) in [a_j, b_j]`` read *own-hit* (farmer ``i`` is unsure of his own hit only: two vertices) or
*box* (every hit probability in its interval: the hull of the ``2^n`` product laws). The laws of X
under each vertex come from leave-one-out Poisson-binomial laws (prefix and suffix recursions,
truncated to the kept atoms: every step is a convex combination, so tails keep relative accuracy).

On C the worst case of both readings is the all-high vertex (raising any ``p_j`` shifts N up in the
usual stochastic order and ``exp(-gamma f(x_k))`` is nondecreasing in ``k`` for every f in C): the
max-min utility on C is the entropic CE under that single law (:attr:`PlayerLaws.worst`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ModelError, RiskoptWarning
from ..space import Scenarios, poisson_binomial

__all__ = ["OVERFLOW_GAMMA_LOSS", "Atoms", "Beliefs", "CommonShock", "PlayerLaws", "Pool",
           "leave_one_out_laws"]

#: gamma_i * (largest loss) from which tilts pile up on the worst atoms: allocations become
#: unidentifiable in double precision and exponential cones lose accuracy (warned, never NaN)
OVERFLOW_GAMMA_LOSS = 100.0
#: largest number of box-reading corners enumerated explicitly (beyond: the all-high shortcut)
MAX_BOX_CORNERS = 64


@dataclass(frozen=True)
class CommonShock:
    """A storm regime with probability ``storm_prob``; given the regime hits are independent."""

    p_storm: np.ndarray
    p_calm: np.ndarray
    storm_prob: float


@dataclass(frozen=True)
class Atoms:
    """The kept atoms of X: ``x`` (``x_0 = 0``, decreasing), renormalised ``probs``, lattice index
    ``steps`` (number of hits for a common loss, multiples of the tick otherwise), the full law and
    the probability pruned."""

    x: np.ndarray
    probs: np.ndarray
    steps: np.ndarray
    full: Scenarios
    full_steps: np.ndarray
    pruned_mass: float
    tolerance: float

    @property
    def size(self) -> int:
        return self.x.size

    @property
    def gaps(self) -> np.ndarray:
        """``g_k = x_{k-1} - x_k > 0`` for ``k = 1..K``."""
        return -np.diff(self.x)


def _floats(values: ArrayLike, n: int, field_name: str) -> np.ndarray:
    try:
        arr = np.array(np.broadcast_to(np.asarray(values, float), (n,)), dtype=float)
    except (TypeError, ValueError):
        raise ModelError(field_name, values, f"a number or a list of {n} numbers") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        k = int(np.argmax(bad))
        raise ModelError(f"{field_name}[{k}]", float(arr[k]), "a finite number")
    return arr


def _probabilities(values: ArrayLike, n: int | None, field_name: str) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, float))
    except (TypeError, ValueError):
        raise ModelError(field_name, values, "hit probabilities in [0, 1]") from None
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

    @classmethod
    def independent(cls, gammas: ArrayLike, p: ArrayLike, loss: ArrayLike = 1.0, *,
                    tick: float | None = None, names: Sequence[str] | None = None) -> Pool:
        """Independent hits with probabilities ``p`` (a number or one per farmer)."""
        g = cls._gammas(gammas)
        pj = _probabilities(p, g.size, "p")
        return cls._make(g, pj, loss, names, tick, None)

    @classmethod
    def common_shock(cls, gammas: ArrayLike, p_storm: ArrayLike, p_calm: ArrayLike, storm_prob: float,
                     loss: float = 1.0, *, names: Sequence[str] | None = None) -> Pool:
        """One-factor common shock: law of N is ``s PB(p_storm) + (1 - s) PB(p_calm)``."""
        g = cls._gammas(gammas)
        ps = _probabilities(p_storm, g.size, "p_storm")
        pc = _probabilities(p_calm, g.size, "p_calm")
        s = float(storm_prob)
        if not (np.isfinite(s) and 0 <= s <= 1):
            raise ModelError("storm_prob", storm_prob, "a probability in [0, 1]")
        marginal = s * ps + (1 - s) * pc
        return cls._make(g, marginal, loss, names, None, CommonShock(ps, pc, s))

    @staticmethod
    def _gammas(gammas: ArrayLike) -> np.ndarray:
        try:
            g = np.atleast_1d(np.asarray(gammas, float))
        except (TypeError, ValueError):
            raise ModelError("gamma", gammas, "risk aversions of at least two farmers") from None
        if g.ndim != 1 or g.size < 2:
            raise ModelError("gamma", gammas, "risk aversions of at least two farmers")
        bad = ~(np.isfinite(g) & (g > 0))
        if bad.any():
            k = int(np.argmax(bad))
            raise ModelError(f"gamma[{k}]", float(g[k]), "risk aversion: a finite number > 0")
        return g

    @classmethod
    def _make(cls, g: np.ndarray, pj: np.ndarray, loss: ArrayLike, names: Sequence[str] | None,
              tick: float | None, shock: CommonShock | None) -> Pool:
        n = g.size
        losses = _floats(loss, n, "loss")
        if np.any(losses <= 0):
            k = int(np.argmax(losses <= 0))
            raise ModelError(f"loss[{k}]", float(losses[k]), "a positive loss")
        if tick is None and not np.all(losses == losses[0]):
            raise ModelError("tick", None, "a common tick when the losses differ")
        if tick is not None:
            tick = float(tick)
            if not (np.isfinite(tick) and tick > 0):
                raise ModelError("tick", tick, "a positive finite tick")
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
        return cls(g, pj, losses, names, tick, shock)

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
        """The law of X on its atoms (X = 0 first, increasing loss)."""
        if self.shock is not None:
            return Scenarios.common_shock_hits(self.shock.p_storm, self.shock.p_calm,
                                               self.shock.storm_prob, float(self.losses[0]))
        return Scenarios.bernoulli_hits(self.p, self.losses if self.tick is not None else
                                        float(self.losses[0]), tick=self.tick)

    def atoms(self, prune: float = 1e-16) -> Atoms:
        """Keep atoms ``0..k_max`` (``k_max`` the last atom of mass ``>= prune``), renormalised."""
        if not (np.isfinite(prune) and 0 <= prune < 1):
            raise ModelError("prune", prune, "a pruning tolerance in [0, 1)")
        full = self.law()
        steps = np.round(-full.X / self.unit).astype(int)
        heavy = np.flatnonzero(full.p >= prune) if prune > 0 else np.flatnonzero(full.p > 0)
        k_max = int(heavy[-1])
        keep = np.arange(full.size) <= k_max
        if full.X[0] != 0 or full.p[0] <= 0:
            raise ModelError("p", self.p.tolist(), "hit probabilities leaving X = 0 possible (the anchor)")
        kept = _prune_tail(full, keep)
        return Atoms(kept.X.copy(), kept.p.copy(), steps[keep], full, steps, kept.pruned_mass, prune)

    def hits_law(self, p: np.ndarray, size: int) -> np.ndarray:
        """Law of ``sum_j steps_j 1{H_j}`` on lattice points ``0..size-1`` for hit probabilities p."""
        law = poisson_binomial(p, self.loss_steps)
        out = np.zeros(size)
        m = min(size, law.size)
        out[:m] = law[:m]
        return out


def _prune_tail(full: Scenarios, keep: np.ndarray) -> Scenarios:
    """``Scenarios.prune`` keeping exactly the atoms in ``keep`` (the tolerance below one drops every
    other atom; the dropped mass is recorded in ``pruned_mass``)."""
    return full.prune(float(np.nextafter(1.0, 0.0)), keep=keep)


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


def _add_farmer(base: np.ndarray, prob: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Row ``i``: the law ``base[i]`` convolved with farmer ``i`` hit with probability ``prob[i]``."""
    out = base * (1 - prob[:, None])
    for s in np.unique(steps):
        rows = np.flatnonzero(steps == s)
        if s < base.shape[1]:
            out[rows, s:] += prob[rows, None] * base[rows, :base.shape[1] - s]
    return out


@dataclass(frozen=True)
class PlayerLaws:
    """How each player weighs the kept atoms.

    ``vertices[i, v]`` is player ``i``'s ``v``-th prior (a law of X on the kept atoms, renormalised;
    rows repeat a vertex when players have fewer vertices); ``labels[v]`` names it; ``worst[i]`` is
    the law under which ``i``'s utility on C is evaluated (the all-high vertex for credal readings).
    """

    vertices: np.ndarray
    worst: np.ndarray
    labels: tuple[str, ...]
    note: str = ""
    worst_tail: np.ndarray | None = field(default=None, repr=False)


BeliefKind = Literal["common", "own_hit_prior", "credal"]


@dataclass(frozen=True)
class Beliefs:
    """Common prior, heterogeneous own-hit priors, or interval credal sets (own-hit / box)."""

    kind: BeliefKind = "common"
    reading: str = ""
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    own: np.ndarray | None = None

    @classmethod
    def common(cls) -> Beliefs:
        return cls("common")

    @classmethod
    def own_hit_prior(cls, q: ArrayLike) -> Beliefs:
        """Farmer ``i`` believes his own hit probability is ``q_i`` (others at the reference)."""
        return cls("own_hit_prior", "own_hit", own=np.atleast_1d(np.asarray(q, float)))

    @classmethod
    def credal(cls, low: ArrayLike, high: ArrayLike, reading: str = "own_hit") -> Beliefs:
        """Interval credal sets ``P(H_j) in [low_j, high_j]`` read ``"own_hit"`` or ``"box"``."""
        if reading not in ("own_hit", "box"):
            raise ModelError("beliefs.reading", reading, "'own_hit' or 'box'")
        return cls("credal", reading, np.atleast_1d(np.asarray(low, float)),
                   np.atleast_1d(np.asarray(high, float)))

    @property
    def description(self) -> str:
        if self.kind == "common":
            return "common prior P"
        if self.kind == "own_hit_prior":
            return "heterogeneous single priors (own hit probability q_i)"
        return f"credal intervals, {self.reading.replace('_', '-')} reading"

    def checked(self, pool: Pool) -> Beliefs:
        """Validate against the pool (sizes, ``0 <= low <= p <= high <= 1``); scalars broadcast."""
        n = pool.n
        if self.kind == "common":
            return self
        if pool.shock is not None:
            raise ModelError("beliefs.kind", self.kind, "'common' for a common-shock pool (own-hit and "
                             "credal readings perturb independent hit probabilities)")
        if self.kind == "own_hit_prior":
            q = _probabilities(self.own, n, "beliefs.own")
            if np.any(q >= 1):
                k = int(np.argmax(q >= 1))
                raise ModelError(f"beliefs.own[{k}]", float(q[k]), "a hit probability < 1")
            return Beliefs(self.kind, self.reading, own=q)
        low = _probabilities(self.low, n, "beliefs.low")
        high = _probabilities(self.high, n, "beliefs.high")
        for j in range(n):
            if low[j] > high[j]:
                raise ModelError(f"beliefs.low[{j}]", float(low[j]),
                                 f"a lower bound <= beliefs.high[{j}] = {high[j]:g}")
            if not low[j] <= pool.p[j] <= high[j]:
                raise ModelError(f"beliefs.high[{j}]" if pool.p[j] > high[j] else f"beliefs.low[{j}]",
                                 float(high[j] if pool.p[j] > high[j] else low[j]),
                                 f"an interval containing the reference p[{j}] = {pool.p[j]:g}")
        if np.any(high >= 1):
            k = int(np.argmax(high >= 1))
            raise ModelError(f"beliefs.high[{k}]", float(high[k]), "an upper bound < 1 (X = 0 must stay "
                             "possible under every prior)")
        return Beliefs(self.kind, self.reading, low, high)

    # --------------------------------------------------------------- laws
    def laws(self, pool: Pool, atoms: Atoms, *, extend_to: int | None = None) -> PlayerLaws:
        """The players' priors on the kept atoms (and the worst-case law on C).

        ``extend_to`` (a lattice size) also returns each player's worst-case law on the lattice
        points ``0..extend_to-1`` (unnormalised, for the tilted-mass check of pruned atoms).
        """
        b = self.checked(pool)
        n, S = pool.n, atoms.size
        size = int(atoms.steps[-1]) + 1
        ext = max(size, extend_to or size)
        ref_full = atoms.full.p
        if b.kind == "common":
            law = atoms.probs
            tail = np.zeros(ext)
            tail[atoms.full_steps[atoms.full_steps < ext]] = ref_full[atoms.full_steps < ext]
            return PlayerLaws(np.broadcast_to(law, (n, 1, S)).copy(), np.broadcast_to(law, (n, S)).copy(),
                              ("P",), "every player uses P", np.broadcast_to(tail, (n, ext)).copy())
        steps = pool.loss_steps
        if b.kind == "own_hit_prior" or b.reading == "own_hit":
            loo = leave_one_out_laws(pool.p, steps, ext)
            probs = [b.own] if b.kind == "own_hit_prior" else [b.low, b.high]
            lattice = [_add_farmer(loo, q, steps) for q in probs]
            labels = ("own",) if b.kind == "own_hit_prior" else ("low", "high")
            note = ("player i's own hit probability at q_i, the others at the reference"
                    if b.kind == "own_hit_prior" else
                    "own-hit reading: player i's vertices move his own hit probability to low_i / high_i")
        else:  # box
            corners = _box_corners(b.low, b.high, n)
            if corners is None:
                lattice = [np.broadcast_to(pool.hits_law(b.high, ext), (n, ext)).copy()]
                labels = ("all-high",)
                note = (f"box reading: 2^{n} corners; on C the all-high corner is the worst case "
                        "(stochastic-order shortcut, exact on C), so only it is evaluated")
            else:
                lattice = [np.broadcast_to(pool.hits_law(c, ext), (n, ext)).copy() for c in corners]
                labels = tuple("".join("h" if c[j] == b.high[j] and b.high[j] != b.low[j] else "l"
                                       for j in range(n)) for c in corners)
                note = f"box reading: all {len(corners)} corner laws (the last is all-high)"
        kept = atoms.steps
        verts = np.stack([lat[:, kept] for lat in lattice], axis=1)
        verts = verts / verts.sum(axis=2, keepdims=True)
        worst_lattice = lattice[-1]
        worst = verts[:, -1, :].copy()
        return PlayerLaws(verts, worst, labels, note, worst_lattice)


def _box_corners(low: np.ndarray, high: np.ndarray, n: int) -> list[np.ndarray] | None:
    """The distinct corners of the box (all-high last), or None when there are too many."""
    free = np.flatnonzero(high > low)
    if 2 ** free.size > MAX_BOX_CORNERS:
        return None
    corners = []
    for bits in range(2 ** free.size):
        c = low.copy()
        for t, j in enumerate(free):
            if (bits >> t) & 1:
                c[j] = high[j]
        corners.append(c)
    return corners
