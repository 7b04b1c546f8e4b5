"""Expectation under P or under a subjective law Q, and the shared handling of subjective laws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import cvxpy as cp
import numpy as np

from ..checks import real_array
from ..space import Scenarios, group_sums
from .base import Curvature, Form, Measure, check_law, probabilities, register, state_values

__all__ = ["Expectation", "SubjectiveLaw", "law_matrix", "support_blocks"]


class SubjectiveLaw:
    """Mixin for measures evaluated under an optional subjective law ``law`` (over the states).

    Without a law the measure uses P and is law-invariant; with one it is not (it sees states, not
    only the law of its argument).
    """

    law: np.ndarray | None

    def _init_law(self, law: Any) -> None:
        self.law = None if law is None else real_array("law", law, "a probability vector over the states")
        self.law_invariant = law is None

    def weights(self, space: Scenarios | np.ndarray) -> np.ndarray:
        """The probabilities the measure uses: P, or its own law checked against the space."""
        p = probabilities(space)
        return p if self.law is None else check_law(self.law, p.size)

    def with_law(self, law: Any) -> Any:
        """A copy of the measure evaluated under ``law``."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._init_law(law)
        return clone

    def pushforward(self, index: np.ndarray, size: int) -> Any:
        """The same measure on the atoms of a variable: laws are summed over ``index``."""
        if self.law is None:
            return self
        return self.with_law(group_sums(index, self.law, size))  # each atom's mass to ~one rounding


def support_blocks(Q: np.ndarray, X: cp.Expression) -> list[tuple[np.ndarray, np.ndarray, cp.Expression]]:
    """Rows of ``Q`` grouped by their support: ``(rows, log Q[rows, support], X[rows, support])`` per
    group, so that a vectorised log-domain form leaves out the states a law gives no mass."""
    patterns, group = np.unique(Q > 0, axis=0, return_inverse=True)
    blocks = []
    for g, pattern in enumerate(patterns):
        rows = np.flatnonzero(group.ravel() == g)
        cols = np.flatnonzero(pattern)
        Xg = X[rows, :] if rows.size < Q.shape[0] else X
        Xg = Xg[:, cols] if cols.size < Q.shape[1] else Xg
        blocks.append((rows, np.log(Q[np.ix_(rows, cols)]), Xg))
    return blocks


def law_matrix(measures: Sequence[SubjectiveLaw], space: Scenarios | np.ndarray) -> np.ndarray:
    """Stack the probabilities each measure uses (``(n, S)``)."""
    return np.vstack([m.weights(space) for m in measures])


@register("expectation", "mean")
class Expectation(SubjectiveLaw, Measure):
    """``E_Q[X] = sum_s q_s X(s)``; linear, so a utility of gains and a risk of losses alike."""

    orientation = "risk"
    monetary = True
    convex = True
    comonotone_additive = True
    differentiable = True

    def __init__(self, law: Any = None):
        self._init_law(law)

    def value(self, x: Any, space: Scenarios | np.ndarray) -> float:
        """``sum_s q_s x_s``."""
        q = self.weights(space)
        return float(q @ state_values(x, q.size))

    @classmethod
    def batch_form(cls, measures: Sequence[Measure], X: cp.Expression,
                   space: Scenarios | np.ndarray) -> Form:
        """``sum_s Q_is X_is`` for every row, one vectorised expression."""
        # a batch holds measures of one class (oriented_forms groups them by type)
        Q = law_matrix(cast("Sequence[Expectation]", measures), space)
        return Form(cp.sum(cp.multiply(Q, X), axis=1))

    def monotone_weights(self, probs: np.ndarray, increasing: bool = True) -> np.ndarray:
        """The probabilities themselves: an expectation is linear."""
        return self.weights(probs)

    def gradient(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """The probabilities ``q`` (constant)."""
        return self.weights(space).copy()

    def curvature(self, x: Any, space: Scenarios | np.ndarray) -> Curvature:
        """Zero: an expectation is linear."""
        return Curvature(np.zeros(self.weights(space).size))
