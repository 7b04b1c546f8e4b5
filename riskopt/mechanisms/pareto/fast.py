"""The pareto mechanism's fast path: Ogaku's closed form for entropic utilities under a common prior.

With entropic certainty equivalents ``U_i = -(1/gamma_i) log E[exp(-gamma_i xi_i)]`` and equal
weights, the welfare optimum is the proportional rule ``xi_i = w_i X`` with
``lam = (sum_j 1/gamma_j)^-1``, ``w_i = lam / gamma_i``, welfare ``W* = -(1/lam) log E[exp(-lam X)]``
and the Esscher state-price density ``exp(-lam X) / E[exp(-lam X)]`` (Ogaku, *Risk Sharing Among
Many*, Example 1). It is the oracle of the program path and its ``method="fast"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ...checks import real_array
from ...errors import ModelError
from ...measures import Entropic
from ...program import Agent, SharingProgram
from ...space import Scenarios

__all__ = ["ClosedForm", "closed_form_check", "entropic_closed_form", "is_entropic_common_prior"]


@dataclass(frozen=True)
class ClosedForm:
    """Ogaku (2025), Example 1: proportional rule, welfare and Esscher state-price density."""

    lam: float
    shares: np.ndarray
    welfare: float
    utilities: np.ndarray
    allocation: np.ndarray
    state_density: np.ndarray


def entropic_closed_form(space: Scenarios, gammas: Sequence[float], aggregate: str = "X") -> ClosedForm:
    """Optimum of entropic risk sharing under a common prior (any law of X).

    ``lam = (sum 1/gamma_j)^-1``, ``w_i = lam / gamma_i``, ``xi_i = w_i X``,
    ``W* = -(1/lam) log E[exp(-lam X)]``, ``U_i = w_i W*``, ``dQ/dP = exp(-lam X)/E[exp(-lam X)]``.
    """
    g = real_array("gammas", gammas, "positive finite risk aversions")
    if g.ndim != 1 or np.any(~np.isfinite(g)) or np.any(g <= 0):
        raise ModelError("gammas", gammas, "positive finite risk aversions")
    lam = 1.0 / np.sum(1.0 / g)
    X = space[aggregate]
    with np.errstate(divide="ignore"):
        logp = np.log(space.p)
    lse = logsumexp(logp - lam * X)
    W = -lse / lam
    shares = lam / g
    with np.errstate(invalid="ignore"):
        density = np.where(space.p > 0, np.exp(-lam * X - lse), 0.0)
    return ClosedForm(lam, shares, W, shares * W, shares[:, None] * X[None, :], density)


def is_entropic_common_prior(agents: Sequence[Agent]) -> bool:
    """True when the closed form applies: entropic utilities under the common prior P."""
    return all(isinstance(a.measure, Entropic) and a.measure.law is None for a in agents)


def closed_form_check(program: SharingProgram, solution: Any) -> dict[str, Any] | None:
    """Compare a solved equal-weight entropic welfare program with the closed form (else None).

    Welfare: relative error. Density: ``E_P|d - d*|`` (the natural scale-free norm of a density).
    """
    w = np.asarray(program.weights.value, float)
    if (program.objective_kind != "welfare" or not is_entropic_common_prior(program.agents)
            or not np.allclose(w, w[0]) or not solution.ok or solution.prices.state_density is None):
        return None
    gammas = [a.measure.gamma for a in program.agents if isinstance(a.measure, Entropic)]
    cf = entropic_closed_form(program.space, gammas)
    target = w[0] * cf.welfare
    p = program.space.p
    return {"welfare": target,
            "welfare_rel_error": abs(solution.objective - target) / max(abs(target), 1e-300),
            "density_l1_error": float(p @ np.abs(solution.prices.state_density - cf.state_density)),
            "density_on_states": cf.state_density}
