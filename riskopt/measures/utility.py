"""Expected utility ``E_Q[u(w + xi)]`` with CARA or CRRA (power, with shift) utility functions.

Utility functions are small registered classes (``"cara"``, ``"crra"``), each with its numpy value,
derivative and concave cvxpy form. Seen as a risk measure of a payment ``L`` this is the expected
disutility ``E[v(L)]`` with ``v(y) = -u(w - y)``, the form used by the taxation mechanism.

**Numerics.** The expectation and its derivatives are weighted sums ``sum_s q_s f(z_s)`` whose terms
may be representable when ``f(z_s)`` alone is not (``0.5 e^710``; ``1e-300 y^-9`` at ``y = 1e-40``).
Every weighted term ``q f`` is formed as ``exp(log q + log f)`` where the direct product would overflow
or underflow, and CARA's expectation goes through ``L = log E_q[exp(-gamma z)]``
(:meth:`CARA.expectation`). A value, gradient or Hessian entry is then ``-inf``/``inf`` only when the
true number is beyond the largest double (about 1.8e308).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import cvxpy as cp
import numpy as np

from ..checks import finite, nonnegative, positive
from ..errors import ModelError
from ..space import Scenarios
from .base import Curvature, Form, Measure, in_agent_order, register, state_values
from .entropic import _lse
from .expectation import SubjectiveLaw, law_matrix, support_blocks

__all__ = ["CARA", "CRRA", "ExpectedUtility", "UtilityFunction", "utility_function"]

_UTILITIES: dict[str, type[UtilityFunction]] = {}
#: exp(709) = 8.2e307 is finite; beyond it a weighted term is formed in the log domain
_EXP_MAX = 709.0


def _register_utility(name: str) -> Callable[[type[UtilityFunction]], type[UtilityFunction]]:
    def deco(cls: type[UtilityFunction]) -> type[UtilityFunction]:
        _UTILITIES[name] = cls
        cls.name = name
        return cls

    return deco


def _weighted(c: np.ndarray, value: np.ndarray, log_value: np.ndarray) -> np.ndarray:
    """``c * value`` for ``c >= 0`` and ``value = exp(log_value) >= 0``, without an intermediate
    overflow or underflow: ``exp(log c + log_value)`` where the direct product is not a positive finite
    number (``0.5 * exp(710)``, ``1e-300 * 1e360``); elsewhere the direct product (one rounding, where
    the log domain costs ``u |log c + log_value|``). ``c = 0`` gives 0."""
    c = np.asarray(c, float)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        out = np.array(c * value, float)
        bad = (~np.isfinite(out) | (out == 0)) & (c > 0)
        if bad.any():
            out[bad] = np.exp(np.log(np.broadcast_to(c, out.shape)[bad])
                              + np.broadcast_to(log_value, out.shape)[bad])
        out[np.broadcast_to(c == 0, out.shape)] = 0.0
    return out


class UtilityFunction:
    """A concave increasing utility ``u`` with ``u(0) = 0`` on its domain ``z > lower``."""

    name: ClassVar[str]
    lower: float = -np.inf

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """``u(z)`` elementwise."""
        raise NotImplementedError

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """``u'(z)`` elementwise."""
        raise NotImplementedError

    def second_derivative(self, z: np.ndarray) -> np.ndarray:
        """``u''(z)`` elementwise."""
        raise NotImplementedError

    def cvx(self, z: cp.Expression) -> cp.Expression:
        """Concave cvxpy expression of ``u`` applied elementwise."""
        raise NotImplementedError

    # weighted forms: ``q > 0`` are the probabilities of the states ``z`` (subclasses avoid overflow)
    def expectation(self, q: np.ndarray, z: np.ndarray) -> float:
        """``sum_s q_s u(z_s)``."""
        return float(q @ self(z))

    def weighted_derivative(self, q: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``q_s u'(z_s)``."""
        out: np.ndarray = q * self.derivative(z)
        return out

    def weighted_second_derivative(self, q: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``q_s u''(z_s)``."""
        out: np.ndarray = q * self.second_derivative(z)
        return out

    def cvx_expectation(self, Q: np.ndarray, Z: cp.Expression) -> cp.Expression:
        """``sum_s Q_is u(Z_is)`` for every row ``i`` (concave in ``Z``)."""
        return cp.sum(cp.multiply(Q, self.cvx(Z)), axis=1)

    def key(self) -> tuple[Any, ...]:
        """Name and parameters: equal keys mean the same function (batched together)."""
        return (self.name, *vars(self).values())


@_register_utility("cara")
class CARA(UtilityFunction):
    """``u(z) = (1 - exp(-gamma z)) / gamma`` (absolute risk aversion ``gamma``)."""

    def __init__(self, gamma: float):
        self.gamma = positive("gamma", gamma, "risk aversion")

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """``-expm1(-gamma z) / gamma``."""
        return -np.expm1(-self.gamma * np.asarray(z, float)) / self.gamma

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """``exp(-gamma z)``."""
        return np.exp(-self.gamma * np.asarray(z, float))

    def second_derivative(self, z: np.ndarray) -> np.ndarray:
        """``-gamma exp(-gamma z)``."""
        return -self.gamma * np.exp(-self.gamma * np.asarray(z, float))

    def cvx(self, z: cp.Expression) -> cp.Expression:
        """``(1 - exp(-gamma z)) / gamma``."""
        return (1 - cp.exp(-self.gamma * z)) / self.gamma

    def expectation(self, q: np.ndarray, z: np.ndarray) -> float:
        """``E_q[u(z)] = (1 - E) / gamma`` with ``E = E_q[exp(-gamma z)] = exp(L)``,
        ``L = LSE(log q - gamma z)``.

        For ``L <= 709`` (``E`` finite) as ``-(1/gamma) sum_s q_s expm1(-gamma z_s)``, which is
        ``(1 - E)/gamma`` when ``sum q = 1`` and keeps full relative accuracy for small ``z`` (each term
        ``q expm1(a)`` is ``exp(log q + a) - q`` where ``exp(a)`` alone would overflow); beyond, as
        ``1/gamma - exp(L - log gamma)``. ``-inf`` only when ``(1 - E)/gamma < -1.8e308``.
        """
        q, a = np.asarray(q, float), -self.gamma * np.asarray(z, float)
        with np.errstate(over="ignore", divide="ignore"):
            L = _lse(np.log(q) + a)
            if L > _EXP_MAX:
                return float(1.0 / self.gamma - np.exp(L - np.log(self.gamma)))
            big = a > _EXP_MAX
            terms = q * np.expm1(np.minimum(a, _EXP_MAX))
            terms[big] = np.exp(np.log(q[big]) + a[big]) - q[big]
            return float(-np.sum(terms) / self.gamma)

    def weighted_derivative(self, q: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``q exp(-gamma z)``, as ``exp(log q - gamma z)`` where ``exp(-gamma z)`` overflows."""
        a = -self.gamma * np.asarray(z, float)
        with np.errstate(over="ignore", under="ignore"):
            return _weighted(np.asarray(q, float), np.exp(a), a)

    def weighted_second_derivative(self, q: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``-gamma q exp(-gamma z)`` (the log domain through ``log gamma + log q - gamma z``)."""
        a = -self.gamma * np.asarray(z, float)
        with np.errstate(over="ignore", under="ignore"):
            return -_weighted(np.asarray(q, float), self.gamma * np.exp(a), np.log(self.gamma) + a)

    def cvx_expectation(self, Q: np.ndarray, Z: cp.Expression) -> cp.Expression:
        """``(1 - sum_s exp(log Q_is - gamma Z_is)) / gamma``: the probabilities inside the exponent,
        so that no coefficient ``q e^(-gamma z)`` reaches the solver; rows are grouped by support."""
        parts = [(rows, (1 - cp.sum(cp.exp(logq - self.gamma * Zg), axis=1)) / self.gamma)
                 for rows, logq, Zg in support_blocks(Q, Z)]
        return parts[0][1] if len(parts) == 1 else in_agent_order(parts)


@_register_utility("crra")
class CRRA(UtilityFunction):
    """Power utility with shift: ``u(z) = ((z + s)^(1-eta) - s^(1-eta)) / (1 - eta)``, log for eta = 1.

    Relative risk aversion ``eta > 0`` at ``z + s``; defined for ``z > -s``. With ``s = 0`` and
    ``eta >= 1`` the normalisation ``u(0) = 0`` is impossible, so the constant is dropped instead.

    Evaluated without the cancellation of the difference of powers (``s = 1e6, z = 1`` or ``eta`` near
    1 would lose most digits): with ``r = log(y / s)`` (``log1p(z / s)`` for ``|z| <= s / 2``) and
    ``top = max(y^(1-eta), s^(1-eta))``, ``u = sign(z) top (1 - exp(-|1 - eta| |r|)) / |1 - eta|``.
    """

    #: the largest relative risk aversion taken: cvxpy writes ``(z + s)^(1 - eta)`` with rational
    #: powers, which fail beyond ~1e4 (a division by zero inside cvxpy), and at 1e3 the utility's
    #: values already sit near the double-precision underflow at ordinary wealth levels
    MAX_ETA = 1000.0

    def __init__(self, eta: float, shift: float = 0.0):
        self.eta = positive("eta", eta, "relative risk aversion")
        if self.eta > self.MAX_ETA:
            raise ModelError("eta", eta, f"relative risk aversion at most {self.MAX_ETA:g} (beyond, "
                             "(z + s)^(1 - eta) under- or overflows double precision)")
        self.shift = nonnegative("shift", shift)
        self.lower = -self.shift

    def _const(self) -> float:
        if self.shift == 0 and self.eta >= 1:
            return 0.0
        c: float = np.log(self.shift) if self.eta == 1 else self.shift ** (1 - self.eta) / (1 - self.eta)
        return c

    def _parts(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(sign, c, base, y)`` with ``u = sign c base^(1-eta)`` (``c >= 0`` at most ``|log(y/s)|``).

        ``s = 0``: ``sign = sign(1 - eta)``, ``c = 1/|1 - eta|``, ``base = y``."""
        z = np.asarray(z, float)
        s, k = self.shift, 1.0 - self.eta
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = z + s
            if s == 0:
                return np.full(z.shape, np.sign(k)), np.full(z.shape, 1 / abs(k)), y, y
            near = np.abs(z) <= 0.5 * s
            r = np.where(near, np.log1p(np.where(near, z, 0.0) / s), np.log(y) - np.log(s))
            c = -np.expm1(-abs(k) * np.abs(r)) / abs(k)
            base = np.maximum(y, s) if k > 0 else np.minimum(y, s)
            return np.sign(r), c, base, y

    def _log_ratio(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.shift == 0:
                log_z: np.ndarray = np.log(z)
                return log_z
            near = np.abs(z) <= 0.5 * self.shift
            return np.where(near, np.log1p(np.where(near, z, 0.0) / self.shift),
                            np.log(z + self.shift) - np.log(self.shift))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """``sign c base^(1-eta)`` (:meth:`_parts`), ``log(1 + z / s)`` for ``eta = 1``."""
        if self.eta == 1:
            return self._log_ratio(z)
        sign, c, base, _ = self._parts(z)
        k = 1 - self.eta
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            u: np.ndarray = sign * _weighted(c, np.power(base, k), k * np.log(base))
            return u

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """``(z + s)^-eta``."""
        with np.errstate(divide="ignore", over="ignore"):
            return (np.asarray(z, float) + self.shift) ** (-self.eta)

    def second_derivative(self, z: np.ndarray) -> np.ndarray:
        """``-eta (z + s)^(-eta-1)``."""
        with np.errstate(divide="ignore", over="ignore"):
            return -self.eta * (np.asarray(z, float) + self.shift) ** (-self.eta - 1)

    def cvx(self, z: cp.Expression) -> cp.Expression:
        """``log`` or power of ``z + s`` less the constant ``u(0)`` (concave). The power is written
        with power cones (``approx=False``): cvxpy's default replaces ``1 - eta`` by a rational
        within ~1e-5 (``-80/37`` for ``-2.16218``), a different utility; solvers without power cones
        (ECOS) are then refused by cvxpy rather than handed the approximation."""
        y = z + self.shift
        if self.eta == 1:
            return cp.log(y) - self._const()
        return cp.power(y, 1 - self.eta, approx=False) / (1 - self.eta) - self._const()

    def expectation(self, q: np.ndarray, z: np.ndarray) -> float:
        """``sum_s q_s u(z_s)`` with each term ``sign c (q base^(1-eta))``, the product in the log domain
        where ``base^(1-eta)`` overflows (``eta > 1``, ``y`` tiny)."""
        q = np.asarray(q, float)
        if self.eta == 1:
            return float(q @ self._log_ratio(z))
        sign, c, base, _ = self._parts(z)
        k = 1 - self.eta
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            qtop = _weighted(q, np.power(base, k), k * np.log(base))
            return float(np.sum(sign * c * qtop))

    def weighted_derivative(self, q: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``q y^-eta``, as ``exp(log q - eta log y)`` where ``y^-eta`` overflows."""
        y = np.asarray(z, float) + self.shift
        with np.errstate(divide="ignore", over="ignore"):
            return _weighted(np.asarray(q, float), np.power(y, -self.eta), -self.eta * np.log(y))

    def weighted_second_derivative(self, q: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``-eta q y^(-eta-1)`` (log domain as for the derivative)."""
        y = np.asarray(z, float) + self.shift
        with np.errstate(divide="ignore", over="ignore"):
            return -_weighted(np.asarray(q, float), self.eta * np.power(y, -self.eta - 1),
                              np.log(self.eta) - (self.eta + 1) * np.log(y))


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
        """``sum_s q_s u(z_s)`` over ``q_s > 0`` (:meth:`UtilityFunction.expectation`: ``-inf`` only when
        the true value is below -1.8e308)."""
        q = self.weights(space)
        z = self._argument(x, q)
        pos = q > 0
        return float(self.u.expectation(q[pos], z[pos]))

    def gradient(self, x: Any, space: Scenarios | np.ndarray) -> np.ndarray:
        """``q u'(w + x)`` (0 on states of zero probability)."""
        q = self.weights(space)
        z = self._argument(x, q)
        out = np.zeros_like(q)
        out[q > 0] = self.u.weighted_derivative(q[q > 0], z[q > 0])
        return out

    def curvature(self, x: Any, space: Scenarios | np.ndarray) -> Curvature:
        """``diag(q u''(w + x))``: an expected utility is separable across states."""
        q = self.weights(space)
        z = self._argument(x, q)
        d = np.zeros_like(q)
        d[q > 0] = self.u.weighted_second_derivative(q[q > 0], z[q > 0])
        return Curvature(d)

    @classmethod
    def batch_form(cls, measures: Sequence[Measure], X: cp.Expression,
                   space: Scenarios | np.ndarray) -> Form:
        """Vectorised when the agents share one utility function and wealth; else row by row."""
        agents = cast("Sequence[ExpectedUtility]", measures)  # a batch holds one class (oriented_forms)
        Q = law_matrix(agents, space)
        first = agents[0]
        support = np.flatnonzero(Q.max(axis=0) > 0)  # states of zero probability impose no domain
        Qs, Xs = Q[:, support], (X[:, support] if support.size < Q.shape[1] else X)
        if all(m.u.key() == first.u.key() and m.wealth == first.wealth for m in agents):
            return Form(first.u.cvx_expectation(Qs, first.wealth + Xs))
        rows = [m.u.cvx_expectation(Qs[i:i + 1], m.wealth + Xs[i:i + 1, :]) for i, m in enumerate(agents)]
        return Form(cp.hstack(rows))

    def describe(self) -> str:
        """The utility function with its parameters, and the wealth."""
        params = ", ".join(f"{k}={v:g}" for k, v in vars(self.u).items() if k != "lower")
        return f"expected_utility({self.u.name}({params}), wealth={self.wealth:g})"
