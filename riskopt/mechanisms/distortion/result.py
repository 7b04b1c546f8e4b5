"""The distortion mechanisms' results, on the one result contract (:mod:`riskopt.result`).

* :class:`SharingResult` (``distortion_sharing``): the three inf-convolutions, the allocation
  attaining the headline value, the comonotone layer LP and its layer prices (:class:`LayerPrices`);
* :class:`PortfolioResult` (``distortion_portfolio``): Proposition 4's ``lambda*`` by the closed form
  and by brute force, the value curve, and the group's sharing of the wealth at ``lambda*``.

Both are frozen; their ``status`` is computed from the solves made and the checks between routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ...constraints import ConstraintDual, to_json
from ...data import json_object
from ...measures.distortion import DistortionFunction
from ...result import ResultBase
from ...space import Scenarios
from ...status import Check, Status, from_checks, worst
from .comonotone import ComonotoneResult, comonotone_inf_convolution
from .convolution import Attitude, Representative
from .jackpot import Jackpot, lemma3_jackpot
from .plots import plot_portfolio, plot_sharing
from .report import portfolio_table, sharing_table

__all__ = ["InfConvolutionMethods", "InfConvolutions", "LayerPrices", "PortfolioResult", "SharingResult",
           "Theorem2"]

@dataclass(frozen=True)
class InfConvolutions:
    """The values of the three inf-convolutions at ``X`` (``None``: not determined)."""

    comonotone: float
    unconstrained: float | None = None
    counter_monotone: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"unconstrained": self.unconstrained, "comonotone": self.comonotone,
                "counter_monotone": self.counter_monotone}


@dataclass(frozen=True)
class InfConvolutionMethods:
    """Which result of the paper (or which program) decided each value."""

    comonotone: str
    unconstrained: str
    counter_monotone: str

    def to_dict(self) -> dict[str, str]:
        return {"comonotone": self.comonotone, "unconstrained": self.unconstrained,
                "counter_monotone": self.counter_monotone}


@dataclass(frozen=True)
class Theorem2:
    """What Theorem 2 needs: the agent whose ``h`` is the pointwise minimum (if any), and whether
    ``min_i h_i`` is concave / dually subadditive."""

    min_is_agent: str | None
    min_concave: bool
    min_dually_subadditive: bool

    def to_dict(self) -> dict[str, str | bool | None]:
        return {"min_is_agent": self.min_is_agent, "min_concave": self.min_concave,
                "min_dually_subadditive": self.min_dually_subadditive}


@dataclass(frozen=True)
class LayerPrices:
    """The layer prices of the comonotone layer LP, ``d (value) / d width_k`` (read from the budget
    duals through :func:`riskopt.duals.value_derivative`, or in closed form ``min_i W_ik``).

    ``atoms`` are the sorted atoms of ``X`` (layer ``k`` belongs to atom ``k``); every optimal price
    lies in ``[lower, upper]`` (closed form: a point for a layer of positive width, ``(-inf, min_i
    W_ik]`` for the zero-width layer at ``X = 0``); ``unique`` says no layer has width 0.
    """

    atoms: np.ndarray
    prices: np.ndarray | None
    lower: np.ndarray
    upper: np.ndarray
    unique: bool

    @classmethod
    def of(cls, co: ComonotoneResult) -> LayerPrices:
        lower, upper = co.layers.price_intervals()
        return cls(co.layers.atoms, co.layer_prices, lower, upper, co.prices_unique)


# -------------------------------------------------------------------------- distortion_sharing
@dataclass(frozen=True)
class SharingResult(ResultBase):
    """Values and allocations of the three inf-convolutions (see :mod:`~riskopt.mechanisms.distortion`).

    ``agent_values`` and ``allocation`` are those of the allocation attaining :attr:`objective`: the
    jackpot (risk seekers, VaR agents; on the jackpot's refined space, :attr:`allocation_space`),
    the sharing program's (risk-averse agents) or the comonotone one (on the states of ``space``).
    """

    mechanism_name = "distortion_sharing"

    names: tuple[str, ...]
    hs: tuple[DistortionFunction, ...]
    space: Scenarios
    attitude: Attitude
    side: str
    values: InfConvolutions
    methods: InfConvolutionMethods
    agent_values: np.ndarray
    probabilities: np.ndarray | None
    comonotone: ComonotoneResult
    theorem2: Theorem2
    jackpot: Jackpot | None = None
    representative: Representative | None = None
    #: the allocation of the sharing program (risk-averse agents), by agent name
    program_allocation: Mapping[str, np.ndarray] | None = None
    #: diagnostics reported under the JSON key ``checks`` (differences between routes, statuses)
    checks: Mapping[str, float | str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    solved: tuple[Status, ...] = ()
    verification: tuple[Check, ...] = ()
    method: str = "auto"
    #: the user constraints' duals of the program behind :attr:`objective` (the layer LP's are in
    #: ``comonotone.constraints``)
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)
    #: which of the three values took the user constraints (empty without constraints)
    constrained_values: tuple[str, ...] = ()

    @property
    def objective_sense(self) -> str:
        """``"min"``: the values are minimal total risks (losses)."""
        return "min"

    @property
    def status(self) -> Status:
        """The worst of the solves made (the layer LP, the sharing program, the tail program),
        verified by the checks between routes (closed forms, jackpots, programs that ended ok)."""
        return from_checks(worst(self.comonotone.status, *self.solved), self.verification)

    @property
    def objective(self) -> float:
        """The unconstrained inf-convolution where determined, else the comonotone one."""
        u = self.values.unconstrained
        return u if u is not None else self.values.comonotone

    @property
    def allocation_space(self) -> Scenarios:
        """The space of :attr:`allocation`: the jackpot's (atoms split) or the input space."""
        return self.jackpot.space if self.jackpot is not None else self.space

    @property
    def allocation(self) -> Mapping[str, np.ndarray]:
        """Each agent's share ``X_i`` of ``X`` on the states of :attr:`allocation_space`."""
        if self.jackpot is not None:
            rows = self.jackpot.allocation()
        elif self.program_allocation is not None:
            return dict(self.program_allocation)
        else:
            rows = self.comonotone.allocation()
        return {nm: rows[i] for i, nm in enumerate(self.names)}

    @property
    def prices(self) -> LayerPrices:
        """The comonotone layer LP's layer prices."""
        return LayerPrices.of(self.comonotone)

    def agent_rows(self) -> list[dict[str, Any]]:
        """One row per agent: name, distortion, value, probability of bearing a jackpot, and the value
        at the comonotone allocation."""
        return [{"name": nm, "distortion": self.hs[i].describe(), "value": self.agent_values[i],
                 "probability": None if self.probabilities is None else self.probabilities[i],
                 "comonotone_value": self.comonotone.agent_values[i]} for i, nm in enumerate(self.names)]

    def to_dict(self) -> dict[str, Any]:
        co, lp = self.comonotone, self.prices
        out: dict[str, Any] = {
            "status": self.status,
            "mechanism": self.mechanism_name,
            "verification": [c.to_dict() for c in self.verification],
            "attitude": self.attitude,
            "aggregate_sign": self.side,
            "inf_convolution": self.values.to_dict(),
            "methods": self.methods.to_dict(),
            "agents": self.agent_rows(),
            "objective": self.objective,
            "comonotone": {"closed_form": co.closed_form, "gap": co.gap, "method": co.method,
                           "layer_prices": lp.prices, "layer_prices_unique": lp.unique,
                           "layer_prices_lower": lp.lower, "layer_prices_upper": lp.upper,
                           "build_s": co.build_s, "compile_s": co.compile_s, "solve_s": co.solve_s,
                           "atoms": lp.atoms, "functions": dict(zip(self.names, co.functions,
                                                                           strict=True)),
                           "constraints": to_json(co.constraints)},
            "constrained_values": list(self.constrained_values),
            "solver": {"backend": "riskopt layer LP", "solver": co.method, "compile_s": co.compile_s,
                       "solve_s": co.solve_s},
            "theorem2": self.theorem2.to_dict(),
            "checks": dict(self.checks),
            "notes": list(self.notes),
            "seconds": self.seconds,
        }
        if self.representative is not None:
            out["representative"] = {"side": self.representative.side,
                                     "h_tilde_at_1": float(self.representative(1.0)),
                                     "normalised": False}
        if self.jackpot is not None:
            jp = self.jackpot
            out["jackpot"] = {"atoms": jp.atoms, "shift": jp.shift, "constants": jp.constants,
                              "randomised": jp.randomised,
                              "pieces": {nm: jp.pieces[:, i] for i, nm in enumerate(self.names)}}
        out.update(self.contract_json())
        return json_object(out)

    def table(self, title: str = "") -> str:
        """Plain-text report: the three values, what decided them, and the agents."""
        return sharing_table(title, names=self.names, hs=self.hs, attitude=self.attitude, side=self.side,
                             states=self.space.size, values=self.values.to_dict(),
                             methods=self.methods.to_dict(), agent_values=self.agent_values,
                             probabilities=self.probabilities, comonotone_values=self.comonotone.agent_values,
                             checks=self.checks, notes=self.notes)

    def plot(self, path: str | Path, title: str = "") -> None:
        """The distortions (``h_i``, ``min h_i``, ``h~``) and the jackpot events or the comonotone
        allocation (matplotlib, ``riskopt[plots]``)."""
        plot_sharing(path, title, names=self.names, hs=self.hs, representative=self.representative,
                     jackpot=self.jackpot, comonotone=self.comonotone)


# ------------------------------------------------------------------------ distortion_portfolio
@dataclass(frozen=True)
class PortfolioResult(ResultBase):
    """Optimal risky proportion by the closed form and by brute force, with the value curve.

    ``wealth`` is the terminal wealth ``W_lambda*`` on the states of ``payoff``; :attr:`allocation`
    shares its loss ``-W_lambda*`` optimally among the agents (comonotone for risk-averse groups,
    a scapegoat jackpot on :attr:`allocation_space` for risk-seeking ones).
    """

    mechanism_name = "distortion_portfolio"

    names: tuple[str, ...]
    hs: tuple[DistortionFunction, ...]
    attitude: Attitude
    endowment: float
    cost: float
    g: DistortionFunction
    rho_g: float
    scale: float
    lambda_closed: float
    lambda_brute: float
    value_closed: float
    value_brute: float
    grid: np.ndarray
    curve: np.ndarray
    payoff: Scenarios
    wealth: np.ndarray
    kappa_max: float = 1.0
    #: diagnostics reported under the JSON key ``checks``
    checks: Mapping[str, float | str] = field(default_factory=dict)
    verification: tuple[Check, ...] = ()
    method: str = "auto"
    #: user constraints: none (the portfolio manager takes none)
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)
    #: method "program": the manager's QP's ``lambda`` and value
    lambda_program: float | None = None
    value_program: float | None = None

    @property
    def objective_sense(self) -> str:
        """``"min"``: the group's minimal total risk at ``lambda*``."""
        return "min"

    @property
    def status(self) -> Status:
        """The closed form (exact arithmetic) verified against the brute force and the program."""
        return from_checks(Status.OPTIMAL, self.verification)

    @property
    def objective(self) -> float:
        """The group's minimal total risk at ``lambda*`` (the program's with method ``"program"``,
        else the closed form's)."""
        return self.value_program if self.value_program is not None else self.value_closed

    @property
    def lambda_star(self) -> float:
        """The optimal proportion (the program's with method ``"program"``, else the closed form's)."""
        return self.lambda_program if self.lambda_program is not None else self.lambda_closed

    @cached_property
    def _sharing(self) -> tuple[Scenarios, np.ndarray]:
        loss = Scenarios(self.payoff.p, {"X": -self.wealth})
        if self.attitude == "risk_seeking":
            jp, _ = lemma3_jackpot(loss, self.hs)
            return jp.space, jp.allocation()
        co = comonotone_inf_convolution(loss, self.hs, method="closed_form")
        return loss, co.allocation()

    @property
    def allocation_space(self) -> Scenarios:
        """The space of :attr:`allocation` (the payoff's states, split for a jackpot)."""
        return self._sharing[0]

    @property
    def allocation(self) -> Mapping[str, np.ndarray]:
        """Each agent's share ``X_i <= 0`` of the loss ``-W_lambda*`` (Theorem 2(iii) / Theorem 3)."""
        rows = self._sharing[1]
        return {nm: rows[i] for i, nm in enumerate(self.names)}

    def agent_rows(self) -> list[dict[str, Any]]:
        """One row per agent: name and distortion."""
        return [{"name": nm, "distortion": h.describe()} for nm, h in zip(self.names, self.hs, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return json_object({
            "status": self.status, "mechanism": self.mechanism_name, "attitude": self.attitude,
            "verification": [c.to_dict() for c in self.verification],
            "wealth": ("W_lambda = (1 - lambda) w + lambda w xi - kappa lambda^2 (reconstructed: riskopt's "
                       "choice, the paper leaves the cost unspecified)"),
            "endowment": self.endowment, "cost_kappa": self.cost,
            "g": self.g.describe(), "rho_g_xi": self.rho_g, "G_at_1": self.scale,
            "lambda_star": self.lambda_star, "lambda_closed_form": self.lambda_closed,
            "lambda_brute_force": self.lambda_brute,
            "objective": self.objective, "value_closed_form": self.value_closed,
            "value_brute_force": self.value_brute,
            "agents": self.agent_rows(),
            "curve": {"lambda": self.grid, "value": self.curve}, "checks": dict(self.checks),
            "solver": {"backend": "riskopt", "solver": "closed form (Proposition 4) + brute-force grid",
                       "compile_s": 0.0, "solve_s": None},
            **self.contract_json()})

    def table(self, title: str = "") -> str:
        """Plain-text report: ``lambda*`` by both routes, the value, the checks."""
        return portfolio_table(title, agents=len(self.names), attitude=self.attitude,
                               endowment=self.endowment, cost=self.cost, g=self.g, rho_g=self.rho_g,
                               scale=self.scale, lambda_closed=self.lambda_closed,
                               lambda_brute=self.lambda_brute, value_closed=self.value_closed,
                               value_brute=self.value_brute, checks=self.checks)

    def plot(self, path: str | Path, title: str = "") -> None:
        """The value curve, the gain distortion and the ``lambda*(kappa)`` curve."""
        plot_portfolio(path, title, names=self.names, hs=self.hs, attitude=self.attitude, grid=self.grid,
                       curve=self.curve, lambda_closed=self.lambda_closed, g=self.g,
                       endowment=self.endowment, rho_g=self.rho_g, cost=self.cost, kappa_max=self.kappa_max)
