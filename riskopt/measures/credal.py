"""Max-min (Gilboa-Schmeidler) utility over a credal set given by its vertices.

``U(xi) = min_v U^{q_v}(xi)`` where ``U^q`` is a base utility evaluated under the prior ``q`` and the
credal set is ``conv{q_1, ..., q_V}``. Using the vertices is exact whenever ``q -> U^q(xi)`` is a
decreasing transform of a linear function of ``q`` (expectations, entropic CEs).

Epigraph form: a variable ``t`` with one constraint ``t <= U^{q_v}(xi)`` per vertex; the constraint
group is registered as ``"credal"`` and its multipliers ``beta_v >= 0`` (normalised to sum to one)
are the weights of the agent's worst-case prior ``sum_v beta_v q_v``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import cvxpy as cp
import numpy as np
from scipy.special import logsumexp

from ..checks import real_array
from ..errors import ModelError
from ..space import Scenarios
from .base import Form, Measure, check_law, create, probabilities, register, state_values
from .entropic import Entropic
from .expectation import SubjectiveLaw

__all__ = ["MaxMin"]


@register("maxmin", "credal")
class MaxMin(Measure):
    """Worst case of a base utility over finitely many priors (the vertices of a credal set)."""

    orientation = "utility"
    law_invariant = False

    def __init__(self, base: Measure | str | dict[str, Any], priors: Sequence[Any]):
        if isinstance(base, str):
            base = create(base)
        elif isinstance(base, dict):
            base = create(**base)
        if not isinstance(base, SubjectiveLaw):
            shown = base.describe() if isinstance(base, Measure) else base
            raise ModelError("base", shown, "a measure evaluated under a prior "
                             "(expectation, entropic, expected_utility)")
        allowed = "at least one prior (vertex of the credal set): a probability vector over the states"
        Q = real_array("priors", priors, allowed, ndim=2)
        if Q.shape[0] == 0:
            raise ModelError("priors", priors, allowed)
        self.base = base
        self.priors = list(Q)
        self.monetary = base.monetary
        self.convex = base.convex
        self.differentiable = False

    def _priors(self, space: Scenarios | np.ndarray) -> np.ndarray:
        n = probabilities(space).size
        return np.vstack([check_law(q, n, f"priors[{v}]") for v, q in enumerate(self.priors)])

    def vertex_values(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """``U^{q_v}(xi)`` for every vertex."""
        Q = self._priors(space)
        x = state_values(x, Q.shape[1])
        if isinstance(self.base, Entropic):
            g = self.base.gamma
            ce: np.ndarray = -logsumexp(-g * x[None, :], b=Q, axis=1) / g
            return ce
        return np.array([self.base.with_law(q).utility(x, space) for q in Q])

    def value(self, x: Any, space: Scenarios | np.ndarray) -> float:
        """The smallest vertex value."""
        return float(np.min(self.vertex_values(x, space)))

    def worst_case_prior(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """A minimising vertex (the worst-case prior at ``x``)."""
        prior: np.ndarray = self._priors(space)[int(np.argmin(self.vertex_values(x, space)))]
        return prior

    def gradient(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """The base gradient under the worst-case prior (a supergradient where vertices tie)."""
        g: np.ndarray = self.base.with_law(self.worst_case_prior(x, space)).gradient(x, space)
        return g

    def pushforward(self, index: np.ndarray, size: int) -> MaxMin:
        """The priors summed over the atoms ``index``."""
        pushed = [np.bincount(index, weights=q, minlength=size) for q in self.priors]
        return MaxMin(self.base, pushed)

    @classmethod
    def batch_form(cls, measures: Sequence[Measure], X: cp.Expression,
                   space: Scenarios | np.ndarray) -> Form:
        """Entropic bases with full-support priors: one vectorised ``log_sum_exp`` over every
        (agent, vertex) row (a 500-farmer credal pool compiles in 2 s instead of 72 s); other bases
        are built agent by agent."""
        agents = cast("Sequence[MaxMin]", measures)  # a batch holds one class (oriented_forms)
        if not all(isinstance(m.base, Entropic) for m in agents):
            return super().batch_form(measures, X, space)
        priors = [m._priors(space) for m in agents]
        laws = np.vstack(priors)
        if np.any(laws <= 0):
            return super().batch_form(measures, X, space)
        owner = np.concatenate([np.full(q.shape[0], i) for i, q in enumerate(priors)])
        gamma = np.array([agents[i].base.gamma for i in owner])
        t = cp.Variable(len(measures))
        ce = -cp.multiply(1.0 / gamma, cp.log_sum_exp(np.log(laws) - cp.multiply(gamma[:, None], X[owner, :]),
                                                      axis=1))
        bounds = np.cumsum([0] + [q.shape[0] for q in priors])
        rows = {i: t[i] <= ce[bounds[i]:bounds[i + 1]] for i in range(len(measures))}
        return Form(t, {"credal": rows})

    def single_form(self, x: cp.Expression, space: Scenarios | np.ndarray) -> Form:
        """Epigraph form: ``t <= U^{q_v}(x)`` for every vertex (the ``"credal"`` group)."""
        Q = self._priors(space)
        t = cp.Variable()
        base_forms = []
        native = self.base.orientation == "utility"
        row = cp.reshape(x, (1, x.size), order="C")
        for q in Q:
            # a risk-oriented base (expectation) is seen as the utility U(xi) = -rho(-xi)
            f = type(self.base).batch_form([self.base.with_law(q)], row if native else -row, space)
            if f.constraints:
                raise ModelError("base", self.base.describe(), "a base utility without auxiliary rows")
            u = f.expr if native else -f.expr
            base_forms.append(cp.reshape(u, (1,), order="F"))
        vertex = t <= cp.hstack(base_forms)
        return Form(cp.reshape(t, (1,), order="F"), {"credal": {0: vertex}})

    def describe(self) -> str:
        """The base measure and the number of priors."""
        return f"maxmin({self.base.describe()}, {len(self.priors)} priors)"
