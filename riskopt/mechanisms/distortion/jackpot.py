"""Jackpot (counter-monotone) allocations of a one-signed risk among risk-seeking agents.

A **jackpot** allocation of ``X`` is ``X_i = (X - m) 1_{A_i} + m_i`` with ``(A_i)`` a composition of
the sample space and ``m = sum_i m_i <= ess inf X`` (or ``>= ess sup X``): one agent, drawn at
random, bears all of ``X - m`` (Proposition 1; Lauzier-Lin-Wang's naming: jackpot for
``X >= 0``, scapegoat for ``X <= 0``). It is counter-monotone.

**Lemma 3 (Ghossoub-Ren-Wang 2024).** For convex ``h_i`` and ``X >= 0`` with a uniform ``U_X`` (``X =
F^-1(U_X)``) and an independent uniform ``V``: with ``W = 1 - U_X`` (so ``W < S_X(x)`` iff
``X > x``), the splits ``f_i`` of the inf-convolution (:class:`~riskopt.mechanisms.distortion.
convolution.Representative`) and ``phi_i = sum_{j <= i} f_j'``, the events

    A_i = { phi_{i-1}(W) < V <= phi_i(W) }

have ``P(A_i ∩ {W < s}) = f_i(s)``, hence ``P(X 1_{A_i} > x) = f_i(S_X(x))`` and
``sum_i rho_{h_i}(X 1_{A_i}) = rho_{□h}(X)``. For ``X <= 0`` the same on ``Y = -X`` with the splits
of the sup-convolution of the duals.

**On a finite space** ``W`` is uniform on the interval ``[S_{k-1}, S_k)`` of the ``k``-th largest
atom, so agent ``i`` receives the piece of mass ``f_i(S_k) - f_i(S_{k-1})`` of that atom: the
construction *splits atoms*, which needs randomisation (``X`` in the paper's ``X_U``). Without it,
a split is realised only by grouping the states that carry the atom (consecutively, in their
order); when the pieces cannot be formed that way the functions below say so.

The tail-probability program that cross-checks these allocations is
:class:`~riskopt.mechanisms.distortion.program.TailProgram`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import ModelError
from ...measures.distortion import DistortionFunction, choquet_sorted, cumulated
from ...space import Scenarios
from .convolution import Representative, Side, representative

__all__ = ["GROUPING_TOL", "Jackpot", "jackpot_events", "jackpot_from_pieces", "jackpot_from_split",
           "lemma3_jackpot", "one_sided", "pieces_from_split", "tail_levels"]

#: pieces of an atom whose states cannot realise them within this are refused without randomisation
GROUPING_TOL = 1e-12


def one_sided(x: np.ndarray, field: str = "X") -> Side:
    """``"nonnegative"`` (``X >= 0``) or ``"nonpositive"`` (``X <= 0``); a two-sided ``X`` is refused
    with Proposition 2's reason."""
    if np.all(x >= 0):
        return "nonnegative"
    if np.all(x <= 0):
        return "nonpositive"
    raise ModelError(field, f"values from {float(np.min(x)):g} to {float(np.max(x)):g}",
                     "a one-signed aggregate (X >= 0 or X <= 0) for risk-seeking agents",
                     detail="Proposition 2: on two-sided bounded risks the inf-convolution of convex "
                            "distortion risk measures (not all the identity) is -infinity: two agents "
                            "bet +k and -k on a fair coin, each gaining k (1 - 2 h_i(1/2)) > 0, and k "
                            "grows without limit; the paper therefore restricts allocations to "
                            "L_+ (no agent receives a gain) or L_- (no agent receives a loss)")


@dataclass(frozen=True)
class Jackpot:
    """A jackpot allocation ``X_i = (X - m) 1_{A_i} + m_i`` on a (possibly refined) space.

    ``space`` carries ``X`` and ``atom`` (the atom of the original ``X`` each state belongs to);
    ``owner[s]`` is the agent whose event ``A_i`` contains state ``s``; ``pieces[k, i] =
    P(A_i ∩ {X = x_k})`` for the atoms ``atoms`` (descending in ``|X - m|``).
    """

    space: Scenarios
    owner: np.ndarray
    atoms: np.ndarray
    pieces: np.ndarray
    shift: float
    constants: np.ndarray
    randomised: bool

    @property
    def n_agents(self) -> int:
        return int(self.pieces.shape[1])

    def probabilities(self) -> np.ndarray:
        """``P(A_i)``: each agent's probability of bearing the jackpot."""
        return np.asarray(self.pieces.sum(axis=0), float)

    def allocation(self) -> np.ndarray:
        """``X_i`` on the states of :attr:`space` (``(n, S')``); columns sum to ``X``."""
        x = self.space.X
        own = self.owner[None, :] == np.arange(self.n_agents)[:, None]
        return np.asarray(np.where(own, x - self.shift, 0.0) + self.constants[:, None], float)

    def values(self, hs: Sequence[DistortionFunction]) -> np.ndarray:
        """``rho_{h_i}(X_i)`` evaluated exactly (signed Choquet sums on :attr:`space`)."""
        alloc = self.allocation()
        p = self.space.p
        return np.array([choquet_sorted(alloc[i], p, h) for i, h in enumerate(hs)])


def tail_levels(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Atoms of ``y`` in decreasing order, their masses and ``S_k = P(y >= y_k)`` (``S_0 = 0``)."""
    atoms, inv = np.unique(y, return_inverse=True)
    masses = np.bincount(inv, weights=p, minlength=atoms.size)
    atoms, masses = atoms[::-1], masses[::-1]
    return atoms, masses, cumulated(masses)


def pieces_from_split(split: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Atom pieces ``f_i(S_k) - f_i(S_{k-1})`` (``split`` is ``(n, K + 1)``), made exactly feasible."""
    pieces = np.maximum(np.diff(split, axis=1).T, 0.0)  # (K, n); f_i nondecreasing up to rounding
    rows = pieces.sum(axis=1)
    even = np.full(pieces.shape, 1.0 / pieces.shape[1])
    share = np.where(rows[:, None] > 0, pieces / np.where(rows > 0, rows, 1.0)[:, None], even)
    return np.asarray(share * masses[:, None], float)


def jackpot_from_split(space: Scenarios, split: Callable[[np.ndarray], np.ndarray], n_agents: int, *,
                       shift: float = 0.0, constants: Sequence[float] | np.ndarray | None = None,
                       randomisation: bool = True, aggregate: str = "X",
                       field: str = "randomisation") -> Jackpot:
    """The jackpot ``X_i = (X - m) 1_{A_i} + m_i`` whose events follow the split ``f_i`` of the tail
    levels of ``|X - m|``: ``P(A_i ∩ {|X - m| >= y_k}) = f_i(P(|X - m| >= y_k))``.

    ``split(t)`` returns ``(n, len(t))`` nondecreasing rows summing to ``t``. With
    ``randomisation=True`` atoms are split into pieces (new states); otherwise every piece must be a
    union of consecutive states of its atom, else a :class:`ModelError` names ``field``.
    """
    x = space[aggregate]
    y = np.abs(x - shift)
    if np.any(x - shift < 0) and np.any(x - shift > 0):
        raise ModelError("shift", shift, "a shift m <= ess inf X or m >= ess sup X (Proposition 1)")
    consts = np.zeros(n_agents) if constants is None else np.asarray(constants, float)
    if consts.shape != (n_agents,) or abs(consts.sum() - shift) > 1e-12 * max(1.0, abs(shift)):
        raise ModelError("constants", constants, f"{n_agents} constants m_i summing to the shift {shift:g}")
    _, masses, S = tail_levels(y, space.p)
    pieces = pieces_from_split(np.asarray(split(S), float), masses)
    return jackpot_from_pieces(space, pieces, shift=shift, constants=consts, randomisation=randomisation,
                               aggregate=aggregate, field=field)


def jackpot_from_pieces(space: Scenarios, pieces: np.ndarray, *, shift: float = 0.0,
                        constants: Sequence[float] | np.ndarray | None = None, randomisation: bool = True,
                        aggregate: str = "X", field: str = "randomisation") -> Jackpot:
    """The jackpot with ``P(A_i ∩ {X = x_k}) = pieces[k, i]`` for the atoms of ``|X - m|`` in
    decreasing order (rows summing to the atom masses)."""
    x = space[aggregate]
    y = np.abs(x - shift)
    atoms_y, masses, _ = tail_levels(y, space.p)
    pieces = np.asarray(pieces, float)
    n_agents = pieces.shape[1]
    if pieces.shape != (atoms_y.size, n_agents) or np.any(pieces < 0) or not np.allclose(
            pieces.sum(axis=1), masses, rtol=0, atol=1e-12):
        raise ModelError("pieces", pieces, f"a nonnegative ({atoms_y.size}, n) table whose rows sum to "
                         "the atom masses")
    consts = np.zeros(n_agents) if constants is None else np.asarray(constants, float)
    sign = 1.0 if np.all(x - shift >= 0) else -1.0
    atoms_x = shift + sign * atoms_y
    if randomisation:
        k, i = np.nonzero(pieces > 0)
        refined = Scenarios(pieces[k, i] / pieces[k, i].sum(), {"X": atoms_x[k], "atom": k})
        return Jackpot(refined, i, atoms_x, pieces, shift, consts, True)
    owner = _group_states(y, space.p, atoms_y, pieces, field)
    grouped = Scenarios(space.p, {"X": x, "atom": np.searchsorted(-atoms_y, -y)})
    return Jackpot(grouped, owner, atoms_x, pieces, shift, consts, False)


def _group_states(y: np.ndarray, p: np.ndarray, atoms_y: np.ndarray, pieces: np.ndarray,
                  field: str) -> np.ndarray:
    """Agents of the states when the pieces are unions of consecutive states of each atom."""
    k_of = np.searchsorted(-atoms_y, -y)                       # atom of each state (descending)
    order = np.lexsort((np.arange(y.size), k_of))               # states by atom, then by index
    cum = np.concatenate([[0.0], np.cumsum(p[order])])          # state boundaries (global)
    start = np.concatenate([[0.0], np.cumsum(pieces.sum(axis=1))])[:-1]
    bounds = (start[:, None] + np.cumsum(pieces, axis=1)).ravel()  # piece boundaries (global)
    pos = np.clip(np.searchsorted(cum, bounds), 1, cum.size - 1)
    miss = np.minimum(np.abs(cum[pos] - bounds), np.abs(cum[pos - 1] - bounds))
    if np.any(miss > GROUPING_TOL):
        j = int(np.argmax(miss > GROUPING_TOL))
        k, i = divmod(j, pieces.shape[1])
        raise ModelError(field, False, "true (an independent uniform V: atoms may be split), or a "
                         "space whose states can form the jackpot events",
                         detail=f"the optimal jackpot gives agent {i + 1} probability "
                                f"{pieces[k, i]:.6g} of the atom |X| = {atoms_y[k]:g} (mass "
                                f"{pieces[k].sum():.6g}), which no union of its states forms: "
                                "the construction of Lemma 3 needs randomisation (X in X_U)")
    mid = 0.5 * (cum[:-1] + cum[1:])
    owner_sorted = np.searchsorted(bounds, mid) - k_of[order] * pieces.shape[1]
    owner = np.empty(y.size, int)
    owner[order] = np.clip(owner_sorted, 0, pieces.shape[1] - 1)
    return owner


def lemma3_jackpot(space: Scenarios, hs: Sequence[DistortionFunction], *, randomisation: bool = True,
                   aggregate: str = "X", field: str = "randomisation") -> tuple[Jackpot, Representative]:
    """The optimal jackpot (``X >= 0``) / scapegoat (``X <= 0``) allocation of Lemma 3 for convex
    ``h_i``, and the representative ``h~`` whose riskmetric it attains."""
    x = space[aggregate]
    side = one_sided(x, aggregate)
    rep = representative(hs, side)
    return jackpot_from_split(space, rep.split, len(rep.hs), randomisation=randomisation,
                              aggregate=aggregate, field=field), rep


def jackpot_events(rep: Representative, w: np.ndarray, v: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Lemma 3's events on the unit square: the agent ``i`` with ``phi_{i-1}(w) < v <= phi_i(w)``,
    ``phi_i = sum_{j <= i} f_j'`` (derivatives of the splits by central differences).

    ``w`` is the tail level ``1 - U_X`` and ``v`` the independent uniform; for a finite space the
    integral of ``1{A_i}`` over an atom's ``w``-interval is the atom's piece ``f_i(S_k) - f_i(S_{k-1})``.
    """
    w = np.asarray(w, float)
    wu, inv = np.unique(w.ravel(), return_inverse=True)  # a grid repeats its w values: split once
    lo, hi = np.clip(wu - step, 0, 1), np.clip(wu + step, 0, 1)
    d = np.maximum((rep.split(hi) - rep.split(lo)) / (hi - lo), 0.0)
    tot = d.sum(axis=0)
    phi = np.cumsum(d / np.where(tot > 0, tot, 1.0), axis=0)[:, inv]  # phi_n = 1
    vv = np.broadcast_to(np.asarray(v, float), w.shape).ravel()
    agent = (vv[None, :] > phi).sum(axis=0)
    return np.asarray(np.minimum(agent, len(rep.hs) - 1).reshape(w.shape))
