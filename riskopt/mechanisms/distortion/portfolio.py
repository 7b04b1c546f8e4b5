"""The portfolio manager of Ghossoub-Ren-Wang (2024), Section 6 (Propositions 4, 5), with an ASSUMED wealth.

A group holds an endowment ``w > 0``; the manager invests a proportion ``lambda`` in a risky asset
with payoff ``xi >= 0`` (per unit invested), paying a convex cost ``c(lambda) = kappa lambda^2``;
the terminal wealth is shared so that nobody is handed a loss (allocations in ``L_-`` in loss
terms). riskopt assumes the terminal wealth

    W_lambda = (1 - lambda) w + lambda w xi - c(lambda),

a form of riskopt's choosing, not quoted from the paper. Feasibility (the paper's assumption
``W_lambda >= 0``) holds for every ``lambda`` in [0, 1] iff ``kappa <= w min(xi)`` (``W`` is concave
in ``lambda`` in every state, so its minimum over [0, 1] is at an end point).

The manager solves ``min_lambda min{ sum_i rho_{h_i}(X_i) : sum_i X_i = -W_lambda, X_i <= 0 }``.

* **Risk averse** (concave ``h_i``): by Theorem 2(iii) the inner value is
  ``rho_{min h}(-W) = -rho_{h^RA}(W)`` with ``h^RA = (min_i h_i)~ = max_i h~_i`` (convex);
* **risk seeking** (convex ``h_i``): by Theorem 3(ii) it is ``-rho_G(W)``,
  ``G = ⊞ h~_i`` (concave, ``G(1) >= 1``), i.e. ``-[lambda w rho_G(xi) + ((1 - lambda) w - c) G(1)]``.

Proposition 4: with the normalised distortion ``g = h^RA`` or ``g = h_RS = G / G(1)``,

    lambda* = min{ max{ (c')^{-1}( w (rho_g(xi) - 1) ), 0 }, 1 } = clip(w (rho_g(xi) - 1) / (2 kappa)).

:func:`manage` computes ``lambda*`` by this closed form
(:func:`~riskopt.mechanisms.distortion.fast.optimal_proportion`) AND by brute force: the inner value
is evaluated at each ``lambda`` by the general machinery (the Choquet sum of ``-W_lambda`` under
``min h_i`` or the representative ``h~``, no linearity in ``lambda`` used), minimised on a grid and
refined by bounded Brent; at ``lambda*`` the inner value is also solved as a program (the
comonotone layer LP, or the tail-probability program for risk seekers) unless the method is
``"fast"``.

**Program path** (``method="program"``, :class:`ManagerProgram`). The inner value is a Choquet
integral ``rho_g~`` (``g~ = min_i h_i``, or the representative ``h~`` of the nonpositive side for
risk seekers), comonotone additive and positively homogeneous, and ``-W_lambda = c_lambda + lambda w
(-xi)`` with the constant ``c_lambda = kappa lambda^2 - (1 - lambda) w``; so

    inner(lambda) = g~(1) (kappa lambda^2 - (1 - lambda) w) + lambda w rho_g~(-xi),

whose two coefficients are the group's optimal sharing of ``-xi`` and of the constant ``-1``, each
solved by the mechanism's program (the layer LP for risk averters, the tail-probability program for
risk seekers: ``g~(1) = -rho_g~(-1)``), and the manager's problem is the convex QP
``min_{0 <= lambda <= 1} inner(lambda)`` (``kappa g~(1) > 0``) on the backend. A joint program in
``lambda`` and the allocation is not convex for risk seekers: the layers of ``W_lambda`` scale with
``lambda``, making the objective bilinear in ``lambda`` and the tail probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cvxpy as cp
import numpy as np
from scipy.optimize import minimize_scalar

from ...certificate import ZERO_DATA
from ...errors import ModelError
from ...measures.distortion import DistortionFunction, choquet_sorted
from ...program import Agent, Program
from ...space import Scenarios
from ...status import DEFAULT_TOLERANCES, Check
from .comonotone import comonotone_inf_convolution
from .convolution import PointwiseMin, representative
from .fast import optimal_proportion
from .program import tail_program
from .result import PortfolioResult
from .spec import distortions_of

__all__ = ["ManagerProgram", "manage", "manager_program", "wealth"]


def wealth(xi: np.ndarray, w: float, kappa: float, lam: float) -> np.ndarray:
    """The reconstructed terminal wealth ``W_lambda = (1 - lambda) w + lambda w xi - kappa lambda^2``."""
    return (1.0 - lam) * w + lam * w * xi - kappa * lam**2


class _Memo(DistortionFunction):
    """``h`` with its values cached per argument array: the tail levels of ``-W_lambda`` are the same
    for every ``lambda > 0`` (``W`` is increasing in ``xi``), so a sweep evaluates ``h`` once."""

    name = "memo"

    def __init__(self, base: DistortionFunction):
        self.base = base
        self._cache: dict[bytes, np.ndarray] = {}

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, float)
        key = t.tobytes() + bytes(str(t.shape), "ascii")
        if key not in self._cache:
            self._cache[key] = np.asarray(self.base(t), float)
        return self._cache[key]


def _inner(hs: list[DistortionFunction], rep: DistortionFunction | None, payoff: Scenarios, xi: np.ndarray,
           w: float, kappa: float) -> Callable[[float], float]:
    """The group's minimal total risk of ``-W_lambda`` (Theorem 2(iii) / Theorem 3), evaluated by
    the Choquet sum at each ``lambda`` (under ``h~`` for risk seekers, else ``min h_i``)."""
    h = _Memo(PointwiseMin(hs) if rep is None else rep)

    def value(lam: float) -> float:
        return choquet_sorted(-wealth(xi, w, kappa, lam), payoff.p, h)

    return value


class ManagerProgram(Program):
    """The manager's convex QP in ``lambda`` (variable ``"lambda"``, group ``"proportion"``:
    ``lambda <= 1``), ``min g1 (kappa lambda^2 - (1 - lambda) w) + lambda w r`` with ``g1 = g~(1)``
    and ``r = rho_g~(-xi)`` from the inner programs (see the module docstring)."""

    mechanism = "distortion_portfolio"

    def __init__(self, endowment: float, cost: float, g1: float, r: float):
        super().__init__("portfolio_manager", "min")
        if not g1 > 0:
            raise ModelError("agents", g1, "a group whose representative has g~(1) > 0")
        self.endowment, self.cost, self.g1, self.r = float(endowment), float(cost), float(g1), float(r)
        lam = self.variable("lambda", nonneg=True)
        self.constrain("proportion", [lam <= 1.0], "lambda <= 1: at most the endowment is invested")
        w, kappa = self.endowment, self.cost
        self.set_objective(g1 * kappa * cp.square(lam) + (g1 * w + w * r) * lam - g1 * w)

    def inner(self, lam: float) -> float:
        """``inner(lambda)`` evaluated exactly."""
        w, kappa = self.endowment, self.cost
        return self.g1 * (kappa * lam**2 - (1.0 - lam) * w) + lam * w * self.r

    def interpret(self, fields: dict[str, Any]) -> dict[str, Any]:
        lam = float(np.clip(float(self.variables["lambda"].value), 0.0, 1.0))
        fields["objective"] = self.inner(lam)
        fields["extra"] = {**fields.get("extra", {}), "lambda": lam}
        return fields


def manager_program(payoff: Scenarios, hs: Sequence[DistortionFunction], *, endowment: float, cost: float,
                    attitude: str, backend: str = "cvxpy", solver: str | None = None, aggregate: str = "X",
                    **options: Any) -> tuple[ManagerProgram, list[Any]]:
    """The inner programs (the group's optimal sharing of ``-xi`` and of ``-1``) and the manager's QP
    built on their values; returns the QP and the inner solves' statuses."""
    minus_xi = Scenarios(payoff.p, {"X": -payoff[aggregate]})
    minus_one = Scenarios(np.ones(1), {"X": -np.ones(1)})
    values, statuses = [], []
    for loss in (minus_xi, minus_one):
        if attitude == "risk_seeking":
            sol = tail_program(loss, hs).solve(backend=backend, solver=solver, **options)
            value, status = sol.objective, sol.status
        else:
            co = comonotone_inf_convolution(loss, hs, method="program", backend=backend, solver=solver,
                                            **options)
            value, status = co.value, co.status
        assert value is not None  # a usable solve has a value
        values.append(float(value))
        statuses.append(status)
    return ManagerProgram(endowment, cost, -values[1], values[0]), statuses


def manage(payoff: Scenarios, agents: Sequence[Agent], *, endowment: float, cost: float, grid: int = 201,
           method: str = "auto", solver_check: bool = True, backend: str = "cvxpy", solver: str | None = None,
           aggregate: str = "X", **options: Any) -> PortfolioResult:
    """Proposition 4's ``lambda*`` by the closed form and by brute force (see the module docstring).

    ``method``: ``"auto"`` also solves the inner problem at ``lambda*`` as a program on
    ``backend``/``solver`` when ``solver_check`` (the default); ``"fast"`` never does; ``"program"``
    solves the manager's problem by :func:`manager_program` (its ``lambda`` and value are the
    result's, checked against the closed form).
    """
    if method not in ("auto", "fast", "program"):
        raise ModelError("method", method, "'auto', 'fast' or 'program'")
    hs = distortions_of(agents)
    names = [a.name for a in agents]
    lam, rho, g, attitude, scale = optimal_proportion(payoff, hs, endowment, cost, aggregate)
    if not isinstance(grid, int) or grid < 3:
        raise ModelError("grid", grid, "an integer number of grid points >= 3")
    w, kappa = float(endowment), float(cost)
    xi = payoff[aggregate]
    rep = representative(hs, "nonpositive") if attitude == "risk_seeking" else None
    inner = _inner(hs, rep, payoff, xi, w, kappa)
    lams = np.linspace(0.0, 1.0, grid)
    curve = np.array([inner(v) for v in lams])
    k = int(np.argmin(curve))
    lo, hi = lams[max(k - 1, 0)], lams[min(k + 1, grid - 1)]
    best = minimize_scalar(inner, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    cands = [(float(best.fun), float(best.x)), (float(curve[k]), float(lams[k]))]
    value_bf, lam_bf = min(cands)
    value_cf = -scale * ((1.0 - lam) * w - kappa * lam**2 + lam * w * rho)
    value_gap = abs(value_cf - inner(lam))
    checks: dict[str, float | str] = {"lambda_gap": abs(lam - lam_bf), "value_gap": value_gap}
    size = max(abs(value_cf), abs(value_bf)) or ZERO_DATA  # the value's own scale
    tight = DEFAULT_TOLERANCES.tight
    verification = [
        # the closed form's value is the inner value at lambda* (1e-12: two orders of the same sums)
        Check("closed_form_value_at_lambda_star", value_gap, 1e-12 * size),
        # optimality: no point of the grid (refined by Brent) does better than the closed form
        Check("brute_force_not_better", max(value_cf - value_bf, 0.0), tight * size)]
    at_optimum = wealth(xi, w, kappa, lam)
    lam_program = value_program = None
    if method == "program":
        qp, statuses = manager_program(payoff, hs, endowment=w, cost=kappa, attitude=attitude,
                                       backend=backend, solver=solver, aggregate=aggregate, **options)
        sol = qp.solve(backend=backend, solver=solver, polish=False, **options)
        lam_program, value_program = float(sol.extra["lambda"]), sol.objective
        assert value_program is not None
        route = "tail-probability program" if attitude == "risk_seeking" else "comonotone layer LP"
        checks["program"] = f"the inner programs ({route}) and the manager's QP"
        checks["program_statuses"] = ", ".join(str(st) for st in (*statuses, sol.status))
        checks["program_lambda_minus_closed_form"] = lam_program - lam
        checks["program_minus_closed_form"] = value_program - value_cf
        # lambda to 1e-6 (the QP's optimum is flat: a value error e moves lambda by sqrt(e / kappa g1))
        verification += [Check("program_lambda_minus_closed_form", lam_program - lam, 1e-6),
                         Check("program_minus_closed_form", value_program - value_cf, tight * size)]
        at_optimum = wealth(xi, w, kappa, lam_program)
    elif solver_check and method != "fast":
        loss = Scenarios(payoff.p, {"X": -at_optimum})
        if attitude == "risk_seeking":
            sol = tail_program(loss, hs).solve(backend=backend, solver=solver, check=False, **options)
            checks["program_at_lambda_star"] = "tail-probability program"
            program_value, program_status = sol.objective, sol.status
        else:
            co = comonotone_inf_convolution(loss, hs, method="program", backend=backend, solver=solver,
                                            **options)
            checks["program_at_lambda_star"] = "comonotone layer LP (= unconstrained, Theorem 2(iii))"
            program_value, program_status = co.value, co.status
        checks["program_status"] = program_status
        if program_value is not None:
            checks["program_minus_closed_form"] = float(program_value - value_cf)
        if program_status.ok and program_value is not None:  # an ok program that disagrees is a failure
            verification.append(Check("program_minus_closed_form", program_value - value_cf, tight * size))
        else:
            checks["program_note"] = (f"the cross-check program ended {program_status}: inconclusive, "
                                          "not counted against the closed form")
    return PortfolioResult(tuple(names), tuple(hs), attitude, w, kappa, g, rho, scale, lam, lam_bf, value_cf,
                           value_bf, lams, curve, payoff, at_optimum, kappa_max=w * float(np.min(xi)),
                           checks=checks, verification=tuple(verification), method=method,
                           lambda_program=lam_program, value_program=value_program)
