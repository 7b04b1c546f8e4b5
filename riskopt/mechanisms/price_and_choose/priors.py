"""How each farmer weighs the atoms of X: the priors of the beliefs, on the kept atoms.

:class:`~.spec.Beliefs` says how: the common prior P, a heterogeneous single prior (farmer ``i``
believes his own hit probability is ``q_i``), or an interval credal set ``P(H_j) in [a_j, b_j]`` read
*own-hit* (farmer ``i`` is unsure of his own hit only: two vertices) or *box* (every hit probability
in its interval: the hull of the ``2^n`` product laws). The laws of X under each vertex come from
leave-one-out Poisson-binomial laws (prefix and suffix recursions, truncated to the kept atoms: every
step is a convex combination, so tails keep relative accuracy).

On C the worst case of both readings is the all-high vertex (raising any ``p_j`` shifts N up in the
usual stochastic order and ``exp(-gamma f(x_k))`` is nondecreasing in ``k`` for every f in C): the
max-min utility on C is the entropic CE under that single law (:attr:`PlayerLaws.worst`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...space import Scenarios
from .pools import Pool, add_farmer, lattice_steps, leave_one_out_laws
from .spec import Beliefs

__all__ = ["MAX_BOX_CORNERS", "PlayerLaws", "player_laws"]

#: largest number of box-reading corners enumerated explicitly (beyond: the all-high shortcut)
MAX_BOX_CORNERS = 64


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


def player_laws(pool: Pool, beliefs: Beliefs, law: Scenarios, atoms: Scenarios, *,
                extend_to: int | None = None) -> PlayerLaws:
    """The players' priors on the kept atoms (and the worst-case law on C).

    ``law`` is the full law of X and ``atoms`` its kept atoms (:meth:`.pools.Pool.law`,
    :func:`.pools.keep_atoms`). ``extend_to`` (a lattice size) also returns each player's worst-case
    law on the lattice points ``0..extend_to-1`` (unnormalised, for the tilted-mass check of pruned
    atoms).
    """
    b = beliefs.checked(pool)
    n, S = pool.n, atoms.size
    kept, full_steps = lattice_steps(atoms), lattice_steps(law)
    size = int(kept[-1]) + 1
    ext = max(size, extend_to or size)
    ref_full = law.p
    if b.kind == "common":
        probs = atoms.p
        tail = np.zeros(ext)
        tail[full_steps[full_steps < ext]] = ref_full[full_steps < ext]
        return PlayerLaws(np.broadcast_to(probs, (n, 1, S)).copy(), np.broadcast_to(probs, (n, S)).copy(),
                          ("P",), "every player uses P", np.broadcast_to(tail, (n, ext)).copy())
    steps = pool.loss_steps
    labels: tuple[str, ...]
    if b.kind == "own_hit_prior" or b.reading == "own_hit":
        loo = leave_one_out_laws(pool.p, steps, ext)
        hit_probs = [b.own] if b.kind == "own_hit_prior" else [b.low, b.high]
        assert all(q is not None for q in hit_probs)  # checked
        lattice = [add_farmer(loo, q, steps) for q in hit_probs if q is not None]
        labels = ("own",) if b.kind == "own_hit_prior" else ("low", "high")
        note = ("player i's own hit probability at q_i, the others at the reference"
                if b.kind == "own_hit_prior" else
                "own-hit reading: player i's vertices move his own hit probability to low_i / high_i")
    else:  # box
        assert b.low is not None and b.high is not None  # checked
        corners = _box_corners(b.low, b.high, n)
        if corners is None:
            lattice = [np.broadcast_to(pool.hits_law(b.high, ext), (n, ext)).copy()]
            labels = ("all-high",)
            note = (f"box reading: 2^{n} corners; on C the all-high corner is the worst case "
                    "(stochastic-order shortcut, exact on C), so only it is evaluated")
        else:
            lattice = [np.broadcast_to(pool.hits_law(c, ext), (n, ext)).copy() for c in corners]
            high, low = b.high, b.low
            labels = tuple("".join("h" if c[j] == high[j] and high[j] != low[j] else "l"
                                   for j in range(n)) for c in corners)
            note = f"box reading: all {len(corners)} corner laws (the last is all-high)"
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
