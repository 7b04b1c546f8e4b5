"""Equilibrium conditions checked from the numbers alone, whatever route produced them.

Given endowments ``e_i``, an allocation ``xi_i`` and prices ``psi`` (``sum_s psi_s = 1``):

* **clearing**: ``max_s |sum_i xi_is - W_s|`` relative to the largest ``|W|``, ``|xi|``;
* **budget**: ``max_i |psi . (xi_i - e_i)|`` relative to the value of the trades
  ``max_i psi . (|xi_i| + |e_i|)``;
* **optimality** of each agent at the prices: for smooth preferences the first-order condition
  ``grad U_i(xi_i) = mu_i psi`` (with concavity, sufficient), measured as
  ``max_s |log grad_s - log psi_s - log mu_i|`` with ``mu_i = sum_s grad_s`` (the relative error of
  each marginal rate of substitution), the gradient's logarithm computed here in closed form; for
  non-smooth cash-invariant preferences the Fenchel gap ``sup_x [U_i(x) - psi . x] - [U_i(xi_i) -
  psi . xi_i] >= 0`` (zero exactly when no allocation of the same price is better), by a small
  convex program of the agent alone over a box around ``xi_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
from scipy.special import logsumexp

from ...agent import Agent
from ...measures import Entropic, Expectation, ExpectedUtility, Measure
from ...measures.base import oriented_forms
from ...measures.utility import CARA, CRRA
from ...space import Scenarios
from ...status import Check

__all__ = ["BUDGET_RTOL", "CLEARING_RTOL", "FOC_RTOL", "GAP_RTOL", "Conditions", "certainty_equivalent",
           "conditions", "log_marginal"]

#: clearing: a sum of n terms of the data's size carries about n eps of rounding (n up to 20,000)
CLEARING_RTOL = 1e-11
#: budget balance: the issue's bar for Negishi's iteration (Newton runs to a few ulps below it)
BUDGET_RTOL = 1e-10
#: first-order conditions: log marginal rates of substitution to 1e-8 (relative error of the MRS)
FOC_RTOL = 1e-8
#: the Fenchel gap of a non-smooth agent comes from a conic solve (Clarabel, default gaps 1e-8)
GAP_RTOL = 1e-6


def _law(m: Measure, p: np.ndarray) -> np.ndarray:
    law = getattr(m, "law", None)
    return p if law is None else np.asarray(law, float) / float(np.sum(law))


def log_marginal(m: Measure, xi: np.ndarray, p: np.ndarray) -> np.ndarray | None:
    """``log dU/dxi_s`` up to a constant, in closed form; None for non-smooth preferences.

    Entropic and expected CARA: ``log q_s - a z_s``; expected CRRA: ``log q_s - eta log(z_s + h)``;
    expectation: ``log q_s``."""
    q = _law(m, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(m, Entropic):
            out: np.ndarray = np.log(q) - m.gamma * xi
            return out
        if isinstance(m, ExpectedUtility):
            z = m.wealth + xi
            if isinstance(m.u, CARA):
                out = np.log(q) - m.u.gamma * z
                return out
            if isinstance(m.u, CRRA):
                out = np.log(q) - m.u.eta * np.log(z + m.u.shift)
                return out
        if isinstance(m, Expectation):
            out = np.log(q)
            return out
    return None


def certainty_equivalent(m: Measure, x: np.ndarray, space: Scenarios) -> float:
    """The sure gain the agent ranks like ``x``: ``U(x)`` for cash-invariant preferences,
    ``u^-1(E u(w + x)) - w`` for expected utility (in the log domain: ``-(1/a) LSE(log q - a x)`` for
    CARA, ``exp(LSE(log q + (1-eta) log y) / (1-eta)) - h - w`` for CRRA, ``y = w + x + h``)."""
    p = space.p
    if isinstance(m, ExpectedUtility):
        q = _law(m, p)
        with np.errstate(divide="ignore"):
            logq = np.log(q)
        if isinstance(m.u, CARA):
            return float(-logsumexp(logq - m.u.gamma * x) / m.u.gamma)
        if isinstance(m.u, CRRA):
            y = m.wealth + x + m.u.shift
            with np.errstate(divide="ignore", invalid="ignore"):
                logy = np.log(y)
            if m.u.eta == 1:
                return float(np.exp(q @ logy) - m.u.shift - m.wealth)
            k = 1.0 - m.u.eta
            return float(np.exp(logsumexp(logq + k * logy) / k) - m.u.shift - m.wealth)
    return float(m.utility(x, space))


def fenchel_gap(m: Measure, xi: np.ndarray, psi: np.ndarray, space: Scenarios, scale: float) -> float:
    """``sup_x [U(x) - psi . x] - [U(xi) - psi . xi]`` over ``|x - xi| <= box``, relative to ``scale``
    (for a cash-invariant concave ``U`` the supremum is 0 or unbounded: the box makes an unbounded
    direction show as a gap of the box's size)."""
    S = xi.size
    box = 10.0 * (1.0 + scale)
    x = cp.Variable(S)
    form = oriented_forms([m], cp.reshape(x, (1, S), order="C"), space, "utility")
    cons = [c for group in form.constraints.values() for c in group.values()]
    cons += [x - xi <= box, xi - x <= box]
    prob = cp.Problem(cp.Maximize(cp.sum(form.expr) - psi @ x), cons)
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError:
        return float("nan")
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or prob.value is None:
        return float("nan")
    at = m.utility(xi, space) - float(psi @ xi)
    return max(float(prob.value) - at, 0.0) / max(scale, np.finfo(float).tiny)


@dataclass(frozen=True)
class Conditions:
    """Per-agent numbers and the three checks (clearing, budget, optimality)."""

    budget_residual: np.ndarray
    optimality_residual: np.ndarray
    optimality_kind: tuple[str, ...]
    log_weight: np.ndarray
    checks: tuple[Check, Check, Check]


def conditions(agents: Sequence[Agent], space: Scenarios, xi: np.ndarray, psi: np.ndarray,
               log_psi: np.ndarray | None = None) -> Conditions:
    """The equilibrium conditions at ``(xi, psi)`` (module docstring); ``psi`` sums to one.
    ``log_psi`` (when known) keeps the first-order conditions exact where a price underflows."""
    E = np.vstack([np.asarray(a.endowment, float) for a in agents])
    W = E.sum(axis=0)
    p = space.p
    size = max(float(np.max(np.abs(W), initial=0.0)), float(np.max(np.abs(xi), initial=0.0)),
               np.finfo(float).tiny)
    clearing = float(np.max(np.abs(xi.sum(axis=0) - W), initial=0.0)) / size
    value = float(np.max(np.abs(xi) @ psi + np.abs(E) @ psi, initial=0.0)) or np.finfo(float).tiny
    budget = np.abs(xi @ psi - E @ psi) / value
    if log_psi is None:
        with np.errstate(divide="ignore", invalid="ignore"):  # a price <= 0: NaN fails its check
            log_psi = np.log(psi)
    opt = np.zeros(len(agents))
    kinds: list[str] = []
    log_weight = np.zeros(len(agents))
    for i, a in enumerate(agents):
        g = log_marginal(a.measure, xi[i], p)
        if g is not None:
            log_mu = float(logsumexp(g))
            opt[i] = float(np.max(np.abs(g - log_psi - log_mu)))
            kinds.append("first-order conditions")
            # lambda_i grad U_i = psi with the gradient's own normalisation: lambda = 1 / sum grad
            log_weight[i] = -_log_gradient_sum(a.measure, xi[i], space)
        else:
            scale = max(float(np.abs(xi[i]) @ psi), abs(a.measure.utility(xi[i], space)), size)
            opt[i] = fenchel_gap(a.measure, xi[i], psi, space, scale)
            kinds.append("Fenchel gap")
            log_weight[i] = 0.0  # cash-invariant: a unit of wealth is worth one unit of utility
    smooth = [k == "first-order conditions" for k in kinds]
    tol = FOC_RTOL if all(smooth) else GAP_RTOL
    checks = (
        Check("clearing", clearing, CLEARING_RTOL, "max_s |sum_i xi_i - W| / max(|W|, |xi|)"),
        Check("budget", float(np.max(budget, initial=0.0)), BUDGET_RTOL,
              "max_i |E[phi (xi_i - e_i)]| / max_i E[phi (|xi_i| + |e_i|)]"),
        Check("optimality", float(np.max(np.where(np.isnan(opt), np.inf, opt), initial=0.0)), tol,
              "first-order conditions: max |log(MRS) error|" if all(smooth) else
              "first-order conditions (smooth agents) and Fenchel gaps (the others)"),
    )
    return Conditions(budget, opt, tuple(kinds), log_weight, checks)


def _log_gradient_sum(m: Measure, xi: np.ndarray, space: Scenarios) -> float:
    """``log sum_s dU/dxi_s`` (the marginal utility of a sure unit), in the log domain."""
    p = space.p
    if isinstance(m, (Entropic, Expectation)):
        return 0.0  # cash-invariant: a sure unit adds exactly one
    assert isinstance(m, ExpectedUtility)
    g = log_marginal(m, xi, p)
    assert g is not None
    return float(logsumexp(g))
