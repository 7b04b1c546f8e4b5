"""The equilibrium mechanism's result: allocation, state prices, budgets, Negishi weights, gains.

JSON (``to_dict``): ``status``, ``probabilities`` and ``aggregate`` (lists over states),
``prices.state_density`` (``E_P[density] = 1``) and ``prices.state_prices``, ``agents`` (each with
``name``, ``endowment``, ``allocation``, ``weight``, ``budget``, ``budget_residual``, certainty
equivalents and the ``gain`` over autarky), ``verification`` (``clearing``, ``budget``,
``optimality``: residual, tolerance, passed) and the contract's ``method``, ``objective_sense`` and
``constraints``. The objective is the total gain over autarky in certainty equivalents.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...data import json_object
from ...duals import Prices
from ...plots import finish_figure, pyplot, save_figure
from ...report import format_table, number
from ...result import ResultBase
from ...status import Check, Status, from_checks
from .spec import EquilibriumSpec
from .verify import Conditions, certainty_equivalent, conditions

__all__ = ["Equilibrium", "assemble"]


@dataclass(frozen=True)
class Equilibrium(ResultBase):
    """A competitive equilibrium (or why there is none): see the module docstring.

    ``xi`` ``(n, S)`` and ``psi`` (state prices summing to one) are None when no equilibrium was
    found; ``route`` says how it was computed (``"buhlmann"``, ``"negishi"``, ``"welfare + side
    payments"``, ``"negishi over the welfare program"``); ``explanation`` says why a status is not
    ok; ``price_bounds`` bound every equilibrium price where the prices are not unique (kinks)."""

    mechanism_name = "equilibrium"

    spec: EquilibriumSpec
    status: Status
    method: str
    route: str
    xi: np.ndarray | None
    psi: np.ndarray | None
    conditions: Conditions | None
    iterations: int = 0
    residuals: tuple[float, ...] = ()
    seconds: float = 0.0
    explanation: str = ""
    notes: tuple[str, ...] = ()
    price_bounds: tuple[np.ndarray, np.ndarray] | None = None
    solver: Mapping[str, Any] = field(default_factory=dict)
    constraints: Mapping[str, Any] = field(default_factory=dict)
    #: ``log psi``, finite where a price underflows to 0 (exponents beyond -745); None: ``log(psi)``
    log_psi: np.ndarray | None = None
    #: per state: is the price unique (the welfare program's own finding, cash-invariant route)
    price_unique: np.ndarray | None = None
    #: is the allocation unique (None: not known; False: other optima are equilibria too)
    allocation_unique: bool | None = None
    #: where the prices are not unique: each agent's side payment ``E[phi (e_i - xi*_i)]`` ranges over
    #: ``[lower_i, upper_i]`` as ``phi`` runs over the equilibrium prices (the equilibrium set of the
    #: welfare optimum ``xi*``: allocations ``xi*_i + c_i``, the ``c_i`` summing to 0)
    side_payment_bounds: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ the contract
    @property
    def objective_sense(self) -> str:
        """``"max"``: the objective is the total gain over autarky."""
        return "max"

    @property
    def ok(self) -> bool:
        return self.status.ok

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.spec.agents]

    @property
    def allocation(self) -> dict[str, np.ndarray]:
        """Each agent's equilibrium allocation (gains per state); empty without an equilibrium."""
        if self.xi is None:
            return {}
        return {nm: self.xi[i] for i, nm in enumerate(self.names)}

    @property
    def verification(self) -> tuple[Check, ...]:
        return () if self.conditions is None else self.conditions.checks

    @property
    def state_density(self) -> np.ndarray | None:
        """``phi_s = psi_s / p_s`` (``E_P[phi] = 1``)."""
        return None if self.psi is None else self.psi / self.spec.space.p

    @property
    def prices(self) -> Prices:
        """State prices and density as :class:`~riskopt.duals.Prices` (state probabilities too)."""
        p = self.spec.space.p
        if self.psi is None:
            return Prices(state_probs=p, note=self.explanation)
        smooth = all(k != "monetary" for k in self.spec.kinds)  # a gradient fixes the supporting prices
        unique = np.full(p.size, True, dtype=object) if smooth else self.price_unique
        lower = upper = None
        if self.price_bounds is not None:
            lower, upper = self.price_bounds
            # an interval narrower than the LP's feasibility tolerance (1e-9 relative) is a point
            width = upper - lower
            unique = np.asarray(width <= 1e-9 * np.maximum(np.abs(upper), np.abs(lower)), dtype=object)
        return Prices(state_prices=self.psi, state_density=self.psi / p, determined=np.ones(p.size, bool),
                      state_probs=p, unique=unique, lower=lower, upper=upper, note=self._price_note())

    def _price_note(self) -> str:
        if self.price_bounds is None:
            return "equilibrium state prices, normalised to sum to one (E_P[density] = 1)"
        return ("the prices are not unique where lower < upper (kinks of the preferences): every price "
                "vector supporting the welfare optimum is an equilibrium price, each with its own side "
                "payments; the point reported is the solver's")

    @property
    def budgets(self) -> np.ndarray:
        """Each agent's budget: the value of its endowment at the prices, ``E[phi e_i]``."""
        if self.psi is None:
            return np.full(len(self.names), np.nan)
        return np.asarray(self.spec.endowments @ self.psi)

    def certainty_equivalents(self) -> tuple[np.ndarray, np.ndarray]:
        """(of the endowments, of the allocations): ``u^-1(E u(w + x)) - w`` or ``U(x)``."""
        space = self.spec.space
        agents = self.spec.agents
        e = np.array([certainty_equivalent(a.measure, np.asarray(a.endowment), space) for a in agents])
        if self.xi is None:
            return e, np.full(e.size, np.nan)
        x = np.array([certainty_equivalent(a.measure, self.xi[i], space) for i, a in enumerate(agents)])
        return e, x

    @property
    def gains(self) -> np.ndarray:
        """Each agent's gain over autarky in certainty equivalents (>= 0 in an equilibrium)."""
        e, x = self.certainty_equivalents()
        return np.asarray(x - e)

    @property
    def objective(self) -> float | None:
        """The total gain over autarky (certainty equivalents); None without an equilibrium."""
        return None if self.xi is None else float(np.sum(self.gains))

    def agent_rows(self) -> list[dict[str, Any]]:
        """One row per agent: name, measure, weight, budget, budget_residual, certainty equivalents,
        gain, optimality residual (arrays: endowment and allocation)."""
        ce_e, ce_x = self.certainty_equivalents()
        c = self.conditions
        rows = []
        for i, a in enumerate(self.spec.agents):
            log_w = None if c is None else float(c.log_weight[i])
            rows.append({
                "name": a.name, "measure": a.measure.describe(),
                "weight": None if log_w is None else float(np.exp(log_w)) if log_w < 709 else None,
                "log_weight": log_w,
                "budget": float(self.budgets[i]),
                "budget_residual": None if c is None else float(c.budget_residual[i]),
                "optimality_residual": None if c is None else float(c.optimality_residual[i]),
                "ce_endowment": float(ce_e[i]), "ce_allocation": float(ce_x[i]),
                "gain": float(ce_x[i] - ce_e[i]),
                "endowment": np.asarray(a.endowment),
                "allocation": None if self.xi is None else self.xi[i],
                **({} if self.side_payment_bounds is None else {
                    "side_payment_lower": float(self.side_payment_bounds[0][i]),
                    "side_payment_upper": float(self.side_payment_bounds[1][i])}),
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (module docstring)."""
        prices = self.prices
        price_doc: dict[str, Any] = {"state_density": prices.state_density,
                                     "state_prices": prices.state_prices, "unique": prices.all_unique,
                                     "note": prices.note}
        if prices.lower is not None:
            price_doc.update(lower=prices.lower, upper=prices.upper)
        return json_object({
            "status": self.status,
            "status_meaning": self.status.meaning,
            "mechanism": "equilibrium",
            "route": self.route,
            "objective": self.objective,
            "probabilities": self.spec.space.p,
            "aggregate": self.spec.aggregate,
            "prices": price_doc,
            "agents": self.agent_rows(),
            "verification": {c.name: c.to_dict() for c in self.verification},
            "allocation_unique": self.allocation_unique,
            "iterations": self.iterations,
            "budget_residuals": list(self.residuals),
            "seconds": self.seconds,
            "solver": {"backend": "riskopt", "solver": self.route, "compile_s": 0.0,
                       "solve_s": self.seconds, **self.solver},
            **({"explanation": self.explanation} if self.explanation else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
            **self.contract_json(),
        })

    def table(self, title: str = "") -> str:
        """Plain-text report: status, route, the per-agent table, the checks and (for small
        spaces) the state prices."""
        out = [title] if title else []
        out.append(f"status     {self.status}: {self.status.meaning}")
        if self.explanation:
            out.append(f"why        {self.explanation}")
        out.append(f"route      {self.route} ({self.method}), {self.iterations} Newton steps, "
                   f"{self.seconds:.3f}s")
        out.append(f"objective  {number(self.objective)}  (total gain over autarky, certainty equivalents)")
        cols = ["name", "weight", "budget", "budget_residual", "ce_endowment", "ce_allocation", "gain"]
        out += ["", format_table(self.agent_rows(), cols, noun="agents")]
        if self.verification:
            out += ["", format_table([{"check": c.name, "residual": c.residual, "tolerance": c.tolerance,
                                       "passed": "yes" if c.passed else "NO"} for c in self.verification],
                                     ["check", "residual", "tolerance", "passed"], noun="checks")]
        if self.psi is not None and self.psi.size <= 12:
            p = self.spec.space.p
            rows = [{"state": s, "P": float(p[s]), "aggregate": float(self.spec.aggregate[s]),
                     "price": float(self.psi[s]), "density": float(self.psi[s] / p[s])}
                    for s in range(p.size)]
            out += ["", format_table(rows, ["state", "P", "aggregate", "price", "density"], noun="states")]
        return "\n".join(out)

    def figure(self, title: str = "") -> Any:
        """Allocations against the aggregate, and the state-price density."""
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
        W = self.spec.aggregate
        order = np.argsort(W, kind="stable")
        if self.xi is not None and self.psi is not None:
            for i, nm in enumerate(self.names[:10]):
                ax1.plot(W[order], self.xi[i][order], marker=".", label=nm)
            ax2.plot(W[order], (self.psi / self.spec.space.p)[order], marker=".", color="k")
        ax1.set_xlabel("aggregate W")
        ax1.set_ylabel("allocation")
        if len(self.names) <= 10:
            ax1.legend(fontsize="small")
        ax2.set_xlabel("aggregate W")
        ax2.set_ylabel("state-price density")
        return finish_figure(fig, title)

    def plot(self, path: str | Path, title: str = "") -> Any:
        """Write :meth:`figure` to ``path``."""
        return save_figure(self.figure(title), path)


def assemble(spec: EquilibriumSpec, base: Status, method: str, route: str, xi: np.ndarray, psi: np.ndarray,
             t0: float, log_psi: np.ndarray | None = None, **extra: Any) -> Equilibrium:
    """The result at ``(xi, psi)``: the equilibrium conditions checked afresh decide the status on
    top of the route's own ``base`` (:func:`riskopt.status.from_checks`)."""
    cond = conditions(spec.agents, spec.space, xi, psi, log_psi)
    status = from_checks(base, cond.checks)
    explanation = extra.pop("explanation", "")
    if not status.ok and not explanation:
        explanation = "; ".join(f"{c.name} residual {c.residual:.3g} > {c.tolerance:g}"
                                for c in cond.checks if not c.passed)
    return Equilibrium(spec, status, method, route, xi, psi, cond, seconds=time.perf_counter() - t0,
                       explanation=explanation, log_psi=log_psi, **extra)
