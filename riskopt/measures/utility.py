"""Expected utility ``E_Q[u(w + xi)]`` with CARA or CRRA (power, with shift) utility functions.

Utility functions are small registered classes (``"cara"``, ``"crra"``), each with its numpy value,
derivative and concave cvxpy form. Seen as a risk measure of a payment ``L`` this is the expected
disutility ``E[v(L)]`` with ``v(y) = -u(w - y)``, the form used by the taxation mechanism.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import cvxpy as cp
import numpy as np

from ..checks import finite, nonnegative, positive
from ..errors import ModelError
from ..space import Scenarios
from .base import Form, Measure, register, state_values
from .expectation import SubjectiveLaw, law_matrix

__all__ = ["CARA", "CRRA", "ExpectedUtility", "UtilityFunction", "utility_function"]

_UTILITIES: dict[str, type[UtilityFunction]] = {}


def _register_utility(name: str) -> Callable[[type[UtilityFunction]], type[UtilityFunction]]:
    def deco(cls: type[UtilityFunction]) -> type[UtilityFunction]:
        _UTILITIES[name] = cls
        cls.name = name
        return cls

    return deco


class UtilityFunction:
    """A concave increasing utility ``u`` with ``u(0) = 0`` on its domain ``z > lower``."""

    name: ClassVar[str]
    lower: float = -np.inf

    def __call__(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def second_derivative(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cvx(self, z: cp.Expression) -> cp.Expression:
        """Concave cvxpy expression of ``u`` applied elementwise."""
        raise NotImplementedError

    def key(self) -> tuple:
        return (self.name, *vars(self).values())


@_register_utility("cara")
class CARA(UtilityFunction):
    """``u(z) = (1 - exp(-gamma z)) / gamma`` (absolute risk aversion ``gamma``)."""

    def __init__(self, gamma: float):
        self.gamma = positive("gamma", gamma, "risk aversion")

    def __call__(self, z):
        return -np.expm1(-self.gamma * np.asarray(z, float)) / self.gamma

    def derivative(self, z):
        return np.exp(-self.gamma * np.asarray(z, float))

    def second_derivative(self, z):
        return -self.gamma * np.exp(-self.gamma * np.asarray(z, float))

    def cvx(self, z):
        return (1 - cp.exp(-self.gamma * z)) / self.gamma


@_register_utility("crra")
class CRRA(UtilityFunction):
    """Power utility with shift: ``u(z) = ((z + s)^(1-eta) - s^(1-eta)) / (1 - eta)``, log for eta = 1.

    Relative risk aversion ``eta > 0`` at ``z + s``; defined for ``z > -s``. With ``s = 0`` and
    ``eta >= 1`` the normalisation ``u(0) = 0`` is impossible, so the constant is dropped instead.
    """

    def __init__(self, eta: float, shift: float = 0.0):
        self.eta = positive("eta", eta, "relative risk aversion")
        self.shift = nonnegative("shift", shift)
        self.lower = -self.shift

    def _const(self) -> float:
        if self.shift == 0 and self.eta >= 1:
            return 0.0
        return np.log(self.shift) if self.eta == 1 else self.shift ** (1 - self.eta) / (1 - self.eta)

    def __call__(self, z):
        y = np.asarray(z, float) + self.shift
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.log(y) if self.eta == 1 else y ** (1 - self.eta) / (1 - self.eta)
        return raw - self._const()

    def derivative(self, z):
        return (np.asarray(z, float) + self.shift) ** (-self.eta)

    def second_derivative(self, z):
        return -self.eta * (np.asarray(z, float) + self.shift) ** (-self.eta - 1)

    def cvx(self, z):
        y = z + self.shift
        if self.eta == 1:
            return cp.log(y) - self._const()
        return cp.power(y, 1 - self.eta) / (1 - self.eta) - self._const()


def utility_function(spec: str | UtilityFunction, **params: Any) -> UtilityFunction:
    """Build a utility function from its name and parameters (or pass one through)."""
    if isinstance(spec, UtilityFunction):
        return spec
    try:
        cls = _UTILITIES[spec]
    except KeyError:
        raise ModelError("utility", spec, f"one of {sorted(_UTILITIES)}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError("utility", params, f"parameters of '{spec}'", detail=str(exc)) from None


@register("expected_utility", "eu")
class ExpectedUtility(SubjectiveLaw, Measure):
    """``U(xi) = E_Q[u(wealth + xi)]`` for a concave utility ``u`` (not cash-invariant)."""

    orientation = "utility"
    monetary = False
    convex = True
    differentiable = True

    def __init__(self, utility: str | UtilityFunction = "cara", wealth: float = 0.0, law: Any = None,
                 **params: Any):
        self.u = utility_function(utility, **params)
        self.wealth = finite("wealth", wealth)
        self._init_law(law)

    @classmethod
    def from_params(cls, **params: Any) -> ExpectedUtility:
        """Card form: ``utility`` (name), ``wealth``, ``law`` and the utility's own parameters."""
        import inspect

        name = params.get("utility", "cara")
        ucls = _UTILITIES.get(name) if isinstance(name, str) else None
        if ucls is None:
            raise ModelError("utility", name, f"one of {sorted(_UTILITIES)}")
        own = [p for p in inspect.signature(ucls.__init__).parameters if p != "self"]
        allowed = ["utility", "wealth", "law", *own]
        for key in params:
            if key not in allowed:
                raise ModelError(key, params[key], f"a parameter of expected_utility with '{name}': "
                                 f"one of {allowed}")
        return cls(**params)

    def _argument(self, x: Any, q: np.ndarray) -> np.ndarray:
        z = self.wealth + state_values(x, q.size)
        if np.any((z <= self.u.lower) & (q > 0)):
            raise ModelError("wealth + x", float(z[q > 0].min()),
                             f"values above {self.u.lower} (the domain of the utility)")
        return z

    def value(self, x: Any, space: Scenarios | np.ndarray) -> float:
        q = self.weights(space)
        z = self._argument(x, q)
        return float(q[q > 0] @ self.u(z[q > 0]))

    def gradient(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        q = self.weights(space)
        z = self._argument(x, q)
        out = np.zeros_like(q)
        out[q > 0] = q[q > 0] * self.u.derivative(z[q > 0])
        return out

    def hessian(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        q = self.weights(space)
        z = self._argument(x, q)
        d = np.zeros_like(q)
        d[q > 0] = q[q > 0] * self.u.second_derivative(z[q > 0])
        return np.diag(d)

    def hessian_nnz(self, states: int) -> int:
        return states  # diagonal: an expected utility is separable across states

    @classmethod
    def batch_form(cls, measures, X, space) -> Form:
        """Vectorised when the agents share one utility function and wealth; else row by row."""
        Q = law_matrix(measures, space)
        first = measures[0]
        support = np.flatnonzero(Q.max(axis=0) > 0)  # states of zero probability impose no domain
        Qs, Xs = Q[:, support], (X[:, support] if support.size < Q.shape[1] else X)
        if all(m.u.key() == first.u.key() and m.wealth == first.wealth for m in measures):
            return Form(cp.sum(cp.multiply(Qs, first.u.cvx(first.wealth + Xs)), axis=1))
        rows = [Qs[i] @ m.u.cvx(m.wealth + Xs[i]) for i, m in enumerate(measures)]
        return Form(cp.hstack(rows))

    def describe(self) -> str:
        params = ", ".join(f"{k}={v:g}" for k, v in vars(self.u).items() if k != "lower")
        return f"expected_utility({self.u.name}({params}), wealth={self.wealth:g})"
