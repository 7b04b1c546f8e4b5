"""The exact atom-level menu K for small pools, and the comparison K versus C.

K is the paper's feasible set ``Delta_Xq^{n-1}`` on ``Omega = {0,1}^n``: arrays ``xi`` (players x
states) with ``sum_i xi_i = X``, ``xi_i <= 0`` and ``xi_i = 0`` where ``X = 0`` (riskopt's
:class:`~riskopt.allocation.Budget` with :class:`~riskopt.allocation.SignRestriction`). It has
``n 2^n`` numbers, so it is built for at most :data:`MAX_ATOM_FARMERS` farmers.

Priors live on the states: the product law of the reference hit probabilities (or the common-shock
mixture), a product law with the player's own hit probability moved (own-hit prior), the two
own-hit vertices, or the ``2^n`` corners of the box. With a common prior the K-optimum is
comonotone (it lies in C); with heterogeneous or credal beliefs it is not X-measurable (players bet
on individual hurricanes) and beats the best comonotone rule: :func:`compare_menus` says by how much.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...allocation import Budget, SignRestriction
from ...errors import ModelError
from ...measures import Entropic, MaxMin, Measure
from ...program import Agent
from ...solution import Solution
from ...space import Scenarios
from ...status import Status, from_certificate
from ..pareto import welfare
from .maxmin_polish import KKTPolish, polish_maxmin
from .optimum import PoolOptimum, pool_optimum
from .pools import Pool
from .priors import MAX_BOX_CORNERS
from .spec import MAX_ATOM_FARMERS, Beliefs

__all__ = ["MAX_ATOM_FARMERS", "KOptimum", "MenuComparison", "atom_priors", "atom_space", "compare_menus",
           "welfare_atoms"]

#: Clarabel tolerances for the atom-level programs (their reference values have 6 digits)
K_OPTIONS = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}


def atom_space(pool: Pool) -> Scenarios:
    """``{0,1}^n`` with the reference law; variables ``hits``, ``endowments`` and ``X``."""
    if pool.n > MAX_ATOM_FARMERS:
        raise ModelError("pool", f"{pool.n} farmers", f"at most {MAX_ATOM_FARMERS} farmers for the "
                         "atom-level menu K (2^n states); use the comonotone menu C")
    base = Scenarios.bernoulli_atoms(np.clip(pool.p, 0, 1).tolist(), pool.losses.tolist())
    if pool.shock is None:
        return base
    hits = base["hits"]
    probs = (pool.shock.storm_prob * _product(hits, pool.shock.p_storm)
             + (1 - pool.shock.storm_prob) * _product(hits, pool.shock.p_calm))
    return Scenarios(probs / probs.sum(), {k: base[k] for k in base.names})


def _product(hits: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.asarray(np.prod(np.where(hits == 1, p, 1 - p), axis=1))


def atom_priors(pool: Pool, beliefs: Beliefs, space: Scenarios) -> list[list[np.ndarray]]:
    """Each player's priors on the states (one for single priors, the vertices of a credal set)."""
    b = beliefs.checked(pool)
    hits = space["hits"]
    if b.kind == "common":
        return [[space.p.copy()] for _ in range(pool.n)]
    out = []
    for i in range(pool.n):
        if b.kind == "own_hit_prior" or b.reading == "own_hit":
            bounds = [b.own] if b.kind == "own_hit_prior" else [b.low, b.high]
            values = [float(q[i]) for q in bounds if q is not None]
            laws = []
            for v in values:
                p = pool.p.copy()
                p[i] = v
                laws.append(_product(hits, p))
        else:
            low, high = b.low, b.high
            assert low is not None and high is not None  # checked
            free = np.flatnonzero(high > low)
            if 2 ** free.size > MAX_BOX_CORNERS:
                raise ModelError("beliefs.reading", "box", f"at most {MAX_BOX_CORNERS} box corners on K "
                                 "(there is no stochastic-order shortcut off C)")
            laws = []
            for bits in range(2 ** free.size):
                p = low.copy()
                for t, j in enumerate(free):
                    if (bits >> t) & 1:
                        p[j] = high[j]
                laws.append(_product(hits, p))
        out.append(laws)
    return out


@dataclass(frozen=True)
class KOptimum:
    """Welfare optimum over K: ``allocation[i, s]``, whether it is X-measurable (``spread`` is the
    largest range of a player's allocation over the states of one value of X)."""

    welfare: float
    allocation: np.ndarray
    status: Status
    spread: float
    seconds: float
    solution: Solution
    polish: KKTPolish | None = None

    @property
    def x_measurable(self) -> bool:
        return self.spread <= 1e-6

    def to_dict(self) -> dict[str, Any]:
        return {"welfare": self.welfare, "status": self.status, "x_measurable": self.x_measurable,
                "spread_within_levels_of_X": self.spread, "seconds": self.seconds,
                "polish": None if self.polish is None else self.polish.to_dict()}


def welfare_atoms(pool: Pool, beliefs: Beliefs | None = None, *, backend: str = "cvxpy",
                 solver: str | None = None, **options: Any) -> KOptimum:
    """Maximise ``sum_i U_i(xi_i)`` over K (entropic, entropic under own priors, or max-min)."""
    beliefs = beliefs or Beliefs.common()
    t0 = time.perf_counter()
    space = atom_space(pool)
    priors = atom_priors(pool, beliefs, space)
    agents = []
    for name, g, laws in zip(pool.names, pool.gammas, priors, strict=True):
        m: Measure
        if beliefs.kind == "common":
            m = Entropic(g)
        elif len(laws) == 1:
            m = Entropic(g, law=laws[0])
        else:
            m = MaxMin(Entropic(g), laws)
        agents.append(Agent(name, m))
    clarabel = backend == "cvxpy" and solver in (None, "CLARABEL")
    opts = {**K_OPTIONS, **options} if clarabel else options
    sol = welfare(space, agents, allocation=Budget(), restrictions=[SignRestriction()]).solve(
        backend=backend, solver=solver, **opts)
    xi = np.vstack([sol.allocation[a.name] for a in agents])
    X = space.X
    welfare_value = float("nan") if sol.objective is None else float(sol.objective)
    status, polish = sol.status, None
    if sol.status.usable and "budget" in sol.duals:
        t = np.array([sol.values[a.name] for a in agents])
        beta = [np.ravel(sol.duals[f"credal:{a.name}"]) if f"credal:{a.name}" in sol.duals else np.ones(1)
                for a in agents]
        polish = polish_maxmin(X, [np.vstack(laws) for laws in priors], pool.gammas, xi, t,
                               np.ravel(sol.duals["budget"]), beta)
        if polish.applied and polish.residual_after is not None and polish.xi is not None \
                and polish.t is not None:
            xi = polish.xi
            welfare_value = float(polish.t.sum())
            # the polished point's own KKT residual (absolute, in the units of X) gates the status
            relative = polish.residual_after / (float(np.abs(X).max()) or 1.0)
            status = from_certificate(Status.OPTIMAL, relative)
    _, level = np.unique(X, return_inverse=True)
    spread = 0.0
    for lv in range(level.max() + 1):
        cols = xi[:, level == lv]
        spread = max(spread, float((cols.max(axis=1) - cols.min(axis=1)).max()))
    return KOptimum(welfare_value, xi, status, spread, time.perf_counter() - t0, sol, polish)


@dataclass(frozen=True)
class MenuComparison:
    """``W_K`` (the atom-level menu K) against ``W_C`` (the best comonotone rule)."""

    welfare_k: float
    welfare_c: float
    k: KOptimum
    c: PoolOptimum

    @property
    def gain(self) -> float:
        """``W_K - W_C`` (0 under a common prior; > 0 when the K-optimum bets on single hurricanes)."""
        return self.welfare_k - self.welfare_c

    @property
    def x_measurable(self) -> bool:
        """Whether the K-optimum is X-measurable (then it lies in C)."""
        return self.k.x_measurable

    def to_dict(self) -> dict[str, Any]:
        return {"W_K": self.welfare_k, "W_C": self.welfare_c, "gain_K_over_C": self.gain,
                "K_x_measurable": self.x_measurable, "K_status": self.k.status,
                "K_polish": None if self.k.polish is None else self.k.polish.to_dict()}


def compare_menus(pool: Pool, beliefs: Beliefs | None = None, *, optimum: PoolOptimum | None = None,
                  **options: Any) -> MenuComparison:
    """``W_K`` (atom level) against ``W_C`` (best comonotone rule): equal under a common prior, and
    ``W_K > W_C`` with a non-X-measurable K-optimum under heterogeneous or credal beliefs.
    ``optimum``: the pool optimum over C already at hand (``pool_optimum(pool, beliefs)``)."""
    k = welfare_atoms(pool, beliefs, **options)
    c = pool_optimum(pool, beliefs) if optimum is None else optimum
    return MenuComparison(k.welfare, c.optimum.welfare, k, c)
