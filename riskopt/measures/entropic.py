"""Entropic certainty equivalent (CARA), the monetary utility of Ogaku (2025)'s pools.

``U(xi) = -(1/gamma) log E_Q[exp(-gamma xi)]``, always evaluated as ``-LSE(log q - gamma xi)/gamma``
so that atoms with probability 1e-300 or exponents in the hundreds neither underflow nor overflow.
Its gradient is the Esscher tilt ``Q_s = q_s exp(-gamma xi_s) / E_Q[exp(-gamma xi)]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import cvxpy as cp
import numpy as np

from ..checks import positive
from ..space import Scenarios
from .base import Curvature, Form, Measure, in_agent_order, register, state_values
from .expectation import SubjectiveLaw, law_matrix, support_blocks

__all__ = ["Entropic"]


def _lse(z: np.ndarray) -> float:
    """``log sum exp z`` with the maximum factored out (``-inf`` entries contribute 0)."""
    top = float(np.max(z))
    return top + float(np.log(np.sum(np.exp(z - top))))


@register("entropic", "cara_ce")
class Entropic(SubjectiveLaw, Measure):
    """Entropic certainty equivalent with risk aversion ``gamma`` under P or a law ``law``."""

    orientation = "utility"
    monetary = True
    convex = True
    differentiable = True

    def __init__(self, gamma: float, law: Any = None):
        self.gamma = positive("gamma", gamma, "risk aversion")
        self._init_law(law)

    def _exponents(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """``log q_s - gamma x_s`` (``-inf`` where ``q_s = 0``)."""
        q = self.weights(space)
        xv = state_values(x, q.size)
        with np.errstate(divide="ignore"):
            z: np.ndarray = np.log(q) - self.gamma * xv
        return z

    def value(self, x: Any, space: Scenarios | np.ndarray) -> float:
        """``-LSE(log q - gamma x) / gamma``."""
        return float(-_lse(self._exponents(x, space)) / self.gamma)

    def gradient(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """The Esscher tilt ``q exp(-gamma x) / E_q[exp(-gamma x)]``."""
        z = self._exponents(x, space)
        return np.exp(z - _lse(z))

    def curvature(self, x: Any, space: Scenarios | np.ndarray) -> Curvature:
        """``-gamma (diag Q - Q Q')`` with ``Q`` the Esscher tilt (negative semidefinite)."""
        q = self.gradient(x, space)
        return Curvature(-self.gamma * q, q[:, None], np.array([self.gamma]))

    @classmethod
    def batch_form(cls, measures: Sequence[Measure], X: cp.Expression,
                   space: Scenarios | np.ndarray) -> Form:
        """``-(1/gamma_i) LSE(log q_i - gamma_i X_i)`` for every row, one vectorised atom.

        States where a law vanishes are left out of that row's sum; rows with different supports
        are built in groups of equal support.
        """
        agents = cast("Sequence[Entropic]", measures)  # a batch holds one class (oriented_forms)
        gamma = np.array([m.gamma for m in agents])
        exprs: list[tuple[np.ndarray, cp.Expression]] = []
        for rows, logq, Xg in support_blocks(law_matrix(agents, space), X):
            lse = cp.log_sum_exp(logq - cp.multiply(gamma[rows, None], Xg), axis=1)
            exprs.append((rows, -cp.multiply(1.0 / gamma[rows], lse)))
        if len(exprs) == 1:
            return Form(exprs[0][1])
        return Form(in_agent_order(exprs))
