"""Choquet integral with a general capacity on a finite space (value; linear on monotone f(X)).

A capacity ``c`` assigns a number to every event (a set of states) with ``c(empty) = 0``,
``c(Omega) = 1`` (normalised) and ``A subset B => c(A) <= c(B)`` (monotone). With states sorted by
decreasing loss and ``A_k`` the ``k`` worst states,

    int L dc = sum_k L_(k) [c(A_k) - c(A_{k-1})].

Capacities of the form ``h o P`` (distortions) are built by :meth:`Capacity.distorted`; a table of
values over subsets by :meth:`Capacity.from_table` (checked on all subsets for up to 16 states).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..checks import integer
from ..errors import ModelError
from ..space import Scenarios
from .base import Measure, probabilities, register, state_values

__all__ = ["Capacity", "Choquet"]

EXHAUSTIVE_CHECK_STATES = 16


class Capacity:
    """A monotone set function on the states of a finite space, evaluated on boolean masks."""

    def __init__(self, fn: Callable[[np.ndarray], float], n_states: int, *, normalised: bool = True,
                 check: bool = True):
        self.fn = fn
        self.n_states = int(n_states)
        self.normalised = normalised
        if check:
            self._check()

    def __call__(self, mask: np.ndarray) -> float:
        """``c(A)`` for the event given by a boolean mask over the states."""
        return float(self.fn(np.asarray(mask, bool)))

    @classmethod
    def from_table(cls, table: Mapping[Iterable[int], float] | Iterable[Mapping[str, Any]],
                   n_states: int, *, normalised: bool = True) -> Capacity:
        """Values on subsets: ``{(0, 2): 0.5, ...}`` or ``[{states = [0, 2], value = 0.5}, ...]``.

        The empty set is 0; the full set defaults to 1; any subset missing from the table is
        refused (a capacity must be defined on every event the integral can meet).
        """
        if isinstance(table, Mapping):
            items = list(table.items())
        else:
            items = []
            for k, entry in enumerate(table):
                if not isinstance(entry, Mapping):
                    raise ModelError(f"capacity[{k}]", entry, "a table {states = [...], value = v}")
                items.append((entry.get("states", ()), entry.get("value")))
        values: dict[frozenset[int], float] = {frozenset(): 0.0}
        for states, v in items:
            if isinstance(states, (str, bytes)) or not hasattr(states, "__iter__"):
                raise ModelError("capacity.states", states, "a list of state indices")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ModelError("capacity.value", v, "a number")
            key = frozenset(integer("capacity.states", s, "a list of state indices") for s in states)
            if any(s < 0 or s >= n_states for s in key):
                raise ModelError("capacity.states", sorted(key), f"state indices in [0, {n_states})")
            values[key] = float(v)
        values.setdefault(frozenset(range(n_states)), 1.0)

        def fn(mask: np.ndarray) -> float:
            key = frozenset(np.flatnonzero(mask).tolist())
            try:
                return values[key]
            except KeyError:
                raise ModelError("capacity", sorted(key), "a value for this event") from None

        return cls(fn, n_states, normalised=normalised)

    @classmethod
    def distorted(cls, h: Callable[[np.ndarray], np.ndarray], probs: np.ndarray) -> Capacity:
        """``c(A) = h(P(A))``: monotone by construction when ``h`` is nondecreasing."""
        p = np.asarray(probs, float)
        total = math.fsum(p)

        def fn(mask: np.ndarray) -> float:
            # P(A) correctly rounded sums (a VaR distortion forgives only a few ulps at its level), as
            # one minus the rest above 1/2: exactly 1 on Omega, never 1 + 2e-16 (Wang: NaN)
            inside = math.fsum(p[mask]) / total
            if inside > 0.5:
                inside = 1.0 - math.fsum(p[~mask]) / total
            return float(h(np.array(min(max(inside, 0.0), 1.0))))

        return cls(fn, p.size, check=False)

    def _check(self) -> None:
        n = self.n_states
        full = np.ones(n, bool)
        if abs(self(np.zeros(n, bool))) > 1e-12:
            raise ModelError("capacity", "c(empty)", "a capacity with c(empty set) = 0")
        if self.normalised and abs(self(full) - 1) > 1e-12:
            raise ModelError("capacity", f"c(Omega) = {self(full):g}", "a normalised capacity, c(Omega) = 1")
        if n > EXHAUSTIVE_CHECK_STATES:
            return  # monotonicity is then checked along every chain an integral visits
        subsets, vals = self._all_subsets
        for s in range(n):
            without = np.flatnonzero(subsets[:, s] == 0)
            drop = vals[without] - vals[without | (1 << s)]
            if np.any(drop > 1e-12):
                k = int(without[np.argmax(drop)])
                raise ModelError("capacity", f"adding state {s} to {np.flatnonzero(subsets[k]).tolist()}",
                                 "a monotone capacity (adding a state never lowers it)")

    @functools.cached_property
    def _all_subsets(self) -> tuple[np.ndarray, np.ndarray]:
        """Every event as a 0/1 row (event k holds the states of the bits of k) and its capacity."""
        n = self.n_states
        subsets = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
        return subsets, np.array([self(m.astype(bool)) for m in subsets])

    @functools.cached_property
    def additive(self) -> bool:
        """``c(A) = sum_{s in A} c({s})`` on every event: a probability. Checked exhaustively up to
        ``EXHAUSTIVE_CHECK_STATES`` states; larger capacities count as non-additive."""
        if self.n_states > EXHAUSTIVE_CHECK_STATES:
            return False
        subsets, vals = self._all_subsets
        single = vals[1 << np.arange(self.n_states)]
        return bool(np.allclose(vals, subsets @ single, atol=1e-12, rtol=0))

    def chain(self, order: np.ndarray) -> np.ndarray:
        """``c(A_0), ..., c(A_S)`` along the chain of the first ``k`` states of ``order``."""
        mask = np.zeros(self.n_states, bool)
        out = [0.0]
        for s in order:
            mask[s] = True
            out.append(self(mask))
        vals = np.asarray(out)
        if np.any(np.diff(vals) < -1e-12):
            raise ModelError("capacity", "a decreasing chain", "a monotone capacity")
        return vals


@register("choquet")
class Choquet(Measure):
    """Choquet integral ``int L dc`` of a loss with respect to a capacity (not law-invariant)."""

    orientation = "risk"
    convex = False
    comonotone_additive = True
    law_invariant = False

    def __init__(self, capacity: Capacity | Iterable[Mapping[str, Any]], n_states: int | None = None):
        if not isinstance(capacity, Capacity):
            if n_states is None:
                raise ModelError("n_states", None, "the number of states of the capacity table")
            if integer("n_states", n_states, "a positive number of states") < 1:
                raise ModelError("n_states", n_states, "a positive number of states")
            capacity = Capacity.from_table(capacity, n_states)
        self.capacity = capacity
        self.monetary = capacity.normalised

    def value(self, x: Any, space: Scenarios | np.ndarray) -> float:
        """``sum_k L_(k) [c(A_k) - c(A_{k-1})]`` with states sorted by decreasing loss."""
        n = probabilities(space).size
        if n != self.capacity.n_states:
            raise ModelError("capacity", f"{self.capacity.n_states} states", f"one per state ({n})")
        xv = state_values(x, n)
        order = np.argsort(-xv, kind="stable")
        return float(xv[order] @ np.diff(self.capacity.chain(order)))

    def monotone_weights(self, probs: np.ndarray, increasing: bool = True) -> np.ndarray:
        """On a space whose states are the atoms of X (sorted ascending)."""
        n = np.asarray(probs).size
        if n != self.capacity.n_states:
            raise ModelError("capacity", f"{self.capacity.n_states} states", f"one per atom ({n})")
        order = np.arange(n)[::-1] if increasing else np.arange(n)
        w = np.empty(n)
        w[order] = np.diff(self.capacity.chain(order))
        return w

    def describe(self) -> str:
        """The number of states of the capacity."""
        return f"choquet(capacity on {self.capacity.n_states} states)"
