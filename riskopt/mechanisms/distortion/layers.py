"""The layers of ``X`` on its sorted atoms, anchored at 0: the data of the comonotone layer LP.

A comonotone allocation is ``X_i = f_i(X)`` with ``f_i`` nondecreasing and ``sum_i f_i = id``.
Anchor every ``f_i`` at 0 (for distortions with ``h_i(1) = 1`` constants cost ``sum_i c_i = 0``, so
nothing is lost) and cut ``X`` into **layers** between consecutive atoms ``x_0 < ... < x_{K-1}``
and 0: above 0 the layer ``(max(x_{k-1}, 0), x_k]`` is paid when ``X >= x_k``; below 0 the layer
``(x_k, min(x_{k+1}, 0)]`` is taken away when ``X <= x_k``. Agent ``i`` holds a share
``L_ik >= 0`` of every layer, ``sum_i L_ik = width_k``, and by comonotonic additivity

    rho_{h_i}(f_i(X)) = sum_{k above} L_ik h_i(P(X >= x_k)) - sum_{k below} L_ik h~_i(P(X <= x_k)),

linear in ``L`` for ANY distortion (VaR included). So the comonotone inf-convolution is the LP

    minimise  sum_ik W_ik L_ik   subject to   sum_i L_ik = width_k,  L >= 0,

whose optimum puts each layer on the agent with the smallest weight: ``rho_{min_i h_i}(X)``
(Embrechts-Liu-Wang 2018; Ghossoub-Ren-Wang 2024, §4). The budget multiplier of layer ``k`` is its **price**
``min_i W_ik`` (``h_min(P(X >= x_k))`` above 0): the marginal cost of one more unit of that layer.

Build cost: one sort of the states (``np.unique``, ``S log S``) and ``n K`` weights; the constraint
matrix has one nonzero per variable (no ``S x S`` block). The LP is solved as a declarative program
(:class:`~riskopt.mechanisms.distortion.program.ComonotoneLayerLP`), as matrices straight into
highspy (:func:`~riskopt.mechanisms.distortion.fast.solve_layers_highs`), or in closed form
(:meth:`AtomLayers.closed_form`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import ModelError
from ...measures.distortion import DistortionFunction, check_distortion, cumulated
from ...space import Scenarios

__all__ = ["AtomLayers", "layers_of"]


@dataclass(frozen=True)
class AtomLayers:
    """The layer decomposition of ``X`` (anchored at 0) and the agents' weights on it.

    ``atoms`` (ascending) with ``probs``; ``state_atom[s]`` maps states to atoms. Layer ``k``
    belongs to atom ``k``: ``width[k] >= 0``, ``above[k]`` (True: paid when ``X >= x_k``; False:
    taken away when ``X <= x_k``). ``W[i, k]`` is agent ``i``'s cost per unit of layer ``k``.
    """

    atoms: np.ndarray
    probs: np.ndarray
    state_atom: np.ndarray
    width: np.ndarray
    above: np.ndarray
    W: np.ndarray
    build_s: float = 0.0

    @property
    def n_agents(self) -> int:
        return int(self.W.shape[0])

    @property
    def size(self) -> int:
        return int(self.atoms.size)

    def closed_form(self) -> float:
        """``rho_{min_i h_i}(X)``: every layer on its cheapest agent."""
        return float(self.width @ self.W.min(axis=0))

    def prices(self) -> np.ndarray:
        """The layer prices ``min_i W_ik`` (the budget multipliers of the LP)."""
        return np.asarray(self.W.min(axis=0), float)

    def price_intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """Every optimal layer price, in closed form: the LP separates by layer and its value is
        ``sum_k width_k min_i W_ik`` for widths >= 0. A layer of positive width has the one price
        ``min_i W_ik``; a layer of width 0 (an atom at X = 0) has the right derivative ``min_i W_ik``
        and the left one ``-inf`` (a negative width is infeasible): every price ``<= min_i W_ik``
        supports the optimum, which is why solvers disagree there."""
        upper = self.prices()
        lower = np.where(self.width > 0, upper, -np.inf)
        return lower, upper

    def cheapest(self) -> np.ndarray:
        """The closed-form shares: every layer on its cheapest agent (the first on ties)."""
        L = np.zeros(self.W.shape)
        L[np.argmin(self.W, axis=0), np.arange(self.size)] = self.width
        return L

    def functions(self, L: np.ndarray) -> np.ndarray:
        """``f_i(x_k)`` on the atoms from layer shares ``L`` (``(n, K)``): cumulated upwards above 0,
        downwards below 0."""
        up = np.where(self.above, L, 0.0)
        down = np.where(self.above, 0.0, L)
        return np.asarray(np.cumsum(up, axis=1) - np.cumsum(down[:, ::-1], axis=1)[:, ::-1], float)

    def feasible(self, L: np.ndarray) -> np.ndarray:
        """``L`` projected on the constraints (nonnegative, columns summing to the widths exactly)."""
        L = np.maximum(np.asarray(L, float), 0.0)
        col = L.sum(axis=0)
        even = np.full(L.shape, 1.0 / L.shape[0])
        share = np.where(col > 0, L / np.where(col > 0, col, 1.0), even)
        return np.asarray(share * self.width[None, :], float)


def layers_of(space: Scenarios | tuple[np.ndarray, np.ndarray], hs: Sequence[DistortionFunction], *,
              aggregate: str = "X", field: str = "agents") -> AtomLayers:
    """Sort the atoms of ``X`` and tabulate every agent's layer weights (``O(S log S + n K)``).

    ``space`` is a :class:`Scenarios` (``X`` read from ``aggregate``) or a pair ``(x, p)``.
    Distortions must be normalised (``h(1) = 1``): layers are anchored at 0.
    """
    t0 = time.perf_counter()
    if isinstance(space, Scenarios):
        x, p = space[aggregate], space.p
    else:
        x, p = (np.asarray(v, float) for v in space)
    if x.ndim != 1 or x.shape != p.shape or not np.all(np.isfinite(x)):
        raise ModelError("aggregate", x, "finite values, one per state")
    hs = list(hs)
    if not hs:
        raise ModelError(field, hs, "at least one agent")
    for i, h in enumerate(hs):
        check_distortion(h, normalised=True, field=f"{field}[{i}].h")
    atoms, state_atom = np.unique(x, return_inverse=True)
    probs = np.bincount(state_atom, weights=p, minlength=atoms.size)
    ge = cumulated(probs[::-1])[::-1][:-1]   # P(X >= x_k)
    gt = np.append(ge[1:], 0.0)              # P(X > x_k)
    above = atoms > 0
    prev = np.concatenate([[-np.inf], atoms[:-1]])
    nxt = np.concatenate([atoms[1:], [np.inf]])
    width = np.where(above, atoms - np.maximum(prev, 0.0), np.minimum(nxt, 0.0) - atoms)
    width = np.maximum(width, 0.0)
    level = np.where(above, ge, gt)
    W = np.empty((len(hs), atoms.size))
    for i, h in enumerate(hs):  # a loop over agents; every weight row is one vectorised call
        hv = np.asarray(h(level), float)
        W[i] = np.where(above, hv, -(1.0 - hv))  # below 0: -h~(P(X <= x_k)) = -(1 - h(P(X > x_k)))
    return AtomLayers(atoms, probs, state_atom, width, above, W, time.perf_counter() - t0)
