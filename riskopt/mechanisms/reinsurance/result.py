"""Outcomes of the reinsurance market: who takes which layer, premiums, risks, prices, checks, JSON.

A :class:`MarketOutcome` is what every route returns (the pointwise SPNE, Stackelberg and best
responses of :mod:`.fast`; the Pareto layer LP with its VCG or dual premiums and the LP best
response of :mod:`.program`), so that they are compared cell by cell. With ``alpha_i`` the
insurer's capacity curve, ``tau_ij`` the reinsurers' true preferences and ``gamma_ij`` the marginal
indemnities (the share of layer z ceded to j):

* insurer i:    ``post_i = rho_i(X_i) - int alpha_i Gamma_i dz + sum_j pi_ij``,
  ``Gamma_i = sum_j gamma_ij``;
* reinsurer j:  ``post_j = sum_i int tau_ij gamma_ij dz - sum_i pi_ij`` (initial risk 0);
* welfare gain = initial risk - post-transfer risk; the aggregate risk ``sum of post`` does not
  depend on the premiums (they cancel) and is minimal exactly at the Pareto optima.

It is on the one result contract (:mod:`riskopt.result`): ``status`` is computed from the
``verification`` checks (the equilibrium verifier and every yes/no check of the run) on top of the
LP's own status; ``allocation`` gives each agent's layer shares; ``prices`` the layer prices.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ...constraints import ConstraintDual
from ...data import jsonable
from ...plots import save_figure
from ...program import Program
from ...result import ResultBase
from ...solution import Solution
from ...status import Check, Status, from_checks
from .layers import LayerAllocation, LayerTable
from .plots import market_figure
from .report import comparison_table, market_table
from .spec import InsurerSpec, ReinsurerSpec
from .verification import MarketVerification

__all__ = ["GridInfo", "MarketOutcome", "MarketPrices", "MarketView", "ParetoCheck", "SolverInfo"]


class MarketView(Protocol):
    """What an outcome reads of its market (:class:`~riskopt.mechanisms.reinsurance.Market`)."""

    @property
    def insurers(self) -> Sequence[InsurerSpec]: ...

    @property
    def reinsurers(self) -> Sequence[ReinsurerSpec]: ...

    @property
    def bound(self) -> float: ...

    @property
    def layer_bound(self) -> float: ...

    def curve_values(self, i: int, z: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class MarketPrices:
    """Layer prices, per insurer and cell of ``layers.edges`` (``(n, G)``; cells of width 0 pad).

    ``paid``: the cell integral of the price paid per unit of layer ceded (0 where retained; what
    sets it: ``layers.source``). From the layer LP: ``layer_value`` = ``mu``, the **marginal value of
    a unit of layer** (``-dV*/dw`` from the layer rows' duals, through
    :func:`riskopt.duals.value_derivative`): the cell average of ``(alpha_i - min_j tau_ij)^+``
    without capacity limits, so ``sum mu w`` is insurer i's gain from trade; and ``scarcity``, the
    LP's multipliers ``lambda_j = -dV*/dK_j`` of the reinsurers' capacity rows (0 where unlimited).
    ``mu`` is not the equilibrium price: the price of a layer won by j is ``alpha_i - mu^(-j)``.
    """

    paid: np.ndarray
    layer_value: np.ndarray | None = None
    scarcity: np.ndarray | None = None


@dataclass(frozen=True)
class GridInfo:
    """The layer grid of a run: uniform cells, Gauss nodes, exact breakpoints found, and the widest
    insurer's cells (pointwise) or the LP's variables."""

    cells: int
    nodes: int
    breakpoints: int
    max_cells_per_insurer: int | None = None
    lp_variables: int | None = None

    def to_dict(self) -> dict[str, int]:
        out = {"cells": self.cells, "nodes": self.nodes, "breakpoints": self.breakpoints}
        if self.max_cells_per_insurer is not None:
            out["max_cells_per_insurer"] = self.max_cells_per_insurer
        if self.lp_variables is not None:
            out["lp_variables"] = self.lp_variables
        return out


@dataclass(frozen=True)
class SolverInfo:
    """What solved a layer LP: backend, solver, its status, timings, iterations, KKT residual."""

    backend: str
    solver: str
    status: Status
    compile_s: float
    solve_s: float
    iterations: int | None
    max_kkt_residual: float | None

    @classmethod
    def of(cls, solution: Solution) -> SolverInfo:
        rep, cert = solution.solver, solution.certificate
        return cls(rep.backend, rep.solver, solution.status, rep.compile_s, rep.solve_s, rep.iterations,
                   None if cert is None else cert.max_residual)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "solver": self.solver, "status": self.status,
                "compile_s": self.compile_s, "solve_s": self.solve_s, "iterations": self.iterations,
                "max_kkt_residual": self.max_kkt_residual}


@dataclass(frozen=True)
class ParetoCheck:
    """The Pareto layer LP an SPNE run was checked against (``market.pareto_check``)."""

    solver: SolverInfo
    layer_values: Mapping[str, float] | None
    vcg_surplus: Mapping[str, float] | None

    def to_dict(self) -> dict[str, Any]:
        return {"solver": self.solver.to_dict(), "layer_values": self.layer_values,
                "vcg_surplus": self.vcg_surplus}


#: the LP's prices in the table, with their labels
_PRICE_LINES = (("scarcity_prices", "scarcity prices of capacity (continuum lambda*)"),
                ("scarcity_prices_lp", "scarcity prices of capacity (LP multipliers)"),
                ("layer_values", "layer values sum mu w (LP duals)"),
                ("vcg_surplus", "VCG surpluses V*(-j) - V*"))


@dataclass(frozen=True)
class MarketOutcome(ResultBase):
    """Allocation, premiums and risks of every agent in a reinsurance market.

    ``premium[i, j]``: premium insurer i pays reinsurer j; ``ceded_value[i] = int alpha_i Gamma_i``
    (what the indemnities are worth to insurer i); ``cost[i, j] = int tau_ij gamma_ij`` (what
    they cost reinsurer j, loading included). ``kind`` says what was solved ("stackelberg", "spne",
    "best response", "pareto", "pareto (capacity)"), ``method`` by which route ("fast": pointwise;
    "program": the layer LP) and ``route`` how in words ("pointwise", "lp (highs)"; the JSON's
    ``method``). ``equilibrium`` holds the verifier's findings, ``checks`` the run's named checks
    (numbers, and yes/no facts that gate the status). From the LP: ``layer_values`` (``sum mu w`` per
    insurer), ``vcg_surplus`` (``V*_{-j} - V*``), ``scarcity_prices`` (the continuum ``lambda*``) and
    ``scarcity_prices_lp`` (the LP's multipliers) by name, the solved ``program``, its ``solution``
    and the layer ``tabulation``. ``constraints``: the user constraints' duals ``dV*/d rhs`` by name
    (:mod:`riskopt.constraints`); ``notes``: what the run did not compute, and why.
    """

    mechanism_name = "reinsurance_market"

    market: MarketView
    kind: str
    route: str
    initial_risk: np.ndarray
    premium: np.ndarray
    ceded_value: np.ndarray
    cost: np.ndarray
    layers: LayerAllocation
    prices: MarketPrices
    method: Literal["fast", "program"] = "fast"
    equilibrium: MarketVerification | None = None
    checks: Mapping[str, float | bool] = field(default_factory=dict)
    comparison: MarketOutcome | None = None
    grid: GridInfo | None = None
    seconds: float | None = None
    solver: SolverInfo | None = None
    pareto_lp: ParetoCheck | None = None
    premiums_rule: str | None = None
    layer_values: Mapping[str, float] | None = None
    vcg_surplus: Mapping[str, float] | None = None
    scarcity_prices: Mapping[str, float] | None = None
    scarcity_prices_lp: Mapping[str, float] | None = None
    solution: Solution | None = field(default=None, repr=False)
    program: Program | None = field(default=None, repr=False)
    tabulation: LayerTable | None = field(default=None, repr=False)
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ numbers
    @property
    def objective_sense(self) -> str:
        """``"min"``: the objective is the aggregate risk."""
        return "min"

    @property
    def insurer_post(self) -> np.ndarray:
        return np.asarray(self.initial_risk - self.ceded_value + self.premium.sum(axis=1))

    @property
    def reinsurer_post(self) -> np.ndarray:
        return np.asarray((self.cost - self.premium).sum(axis=0))

    @property
    def insurer_gain(self) -> np.ndarray:
        return np.asarray(self.initial_risk - self.insurer_post)

    @property
    def reinsurer_gain(self) -> np.ndarray:
        return -self.reinsurer_post

    @property
    def aggregate_risk(self) -> float:
        """Sum of every agent's post-transfer risk (premiums cancel)."""
        return float(self.initial_risk.sum() - self.ceded_value.sum() + self.cost.sum())

    @property
    def objective(self) -> float:
        """The aggregate risk (minimal exactly at the Pareto optima)."""
        return self.aggregate_risk

    @property
    def individually_rational(self) -> bool:
        scale = 1e-9 * max(1.0, float(np.abs(self.initial_risk).max(initial=0.0)))
        return bool(np.all(self.insurer_gain >= -scale) and np.all(self.reinsurer_gain >= -scale))

    @property
    def allocation(self) -> dict[str, np.ndarray]:
        """Each agent's layers by name: insurer i -> ``gamma_i`` (``(m, G)``: the share of each cell
        of ``layers.edges[i]`` ceded to each reinsurer); reinsurer j -> ``(n, G)``: the share of each
        insurer's cells it takes."""
        n, m = len(self.market.insurers), len(self.market.reinsurers)
        shares = np.stack([self.layers.shares(i, m) for i in range(n)])
        out = {ins.name: shares[i] for i, ins in enumerate(self.market.insurers)}
        out.update({re.name: shares[:, j] for j, re in enumerate(self.market.reinsurers)})
        return out

    def agent_rows(self) -> list[dict[str, Any]]:
        """One row per agent: name, role, initial_risk, premium_paid / premium_received,
        post_transfer_risk, welfare_gain."""
        rows = []
        for i, ins in enumerate(self.market.insurers):
            rows.append({"name": ins.name, "role": "insurer", "initial_risk": float(self.initial_risk[i]),
                         "premium_paid": float(self.premium[i].sum()),
                         "post_transfer_risk": float(self.insurer_post[i]) + 0.0,
                         "welfare_gain": float(self.insurer_gain[i]) + 0.0})
        for j, re in enumerate(self.market.reinsurers):
            rows.append({"name": re.name, "role": "reinsurer", "initial_risk": 0.0,
                         "premium_received": float(self.premium[:, j].sum()),
                         "post_transfer_risk": float(self.reinsurer_post[j]) + 0.0,
                         "welfare_gain": float(self.reinsurer_gain[j]) + 0.0})
        return rows

    def segments(self, i: int) -> list[dict[str, Any]]:
        """Insurer i's layer pattern (see :meth:`LayerAllocation.segments`)."""
        return self.layers.segments(i, [r.name for r in self.market.reinsurers])

    # ------------------------------------------------------------------ status
    @property
    def verification(self) -> tuple[Check, ...]:
        """The checks that decide the status: the equilibrium verifier's (when it ran) and every
        yes/no check of the run (e.g. "SPNE Pareto optimal")."""
        ver = self.equilibrium.checks() if self.equilibrium is not None else ()
        flags = tuple(Check(k, bool(v)) for k, v in self.checks.items() if isinstance(v, (bool, np.bool_)))
        return (*ver, *flags)

    @property
    def status(self) -> Status:
        """The LP's status (``optimal`` for the pointwise rule) gated by :attr:`verification`."""
        base = Status.OPTIMAL
        if self.solution is not None:
            try:
                base = Status(str(self.solution.status))
            except ValueError:
                base = Status.SOLVER_ERROR
        return from_checks(base, self.verification)

    # ------------------------------------------------------------------ outputs
    def to_dict(self, *, layers: bool = True) -> dict[str, Any]:
        """JSON-safe: agents (name, initial_risk, premium_paid / premium_received,
        post_transfer_risk, welfare_gain), premiums per pair, layer patterns, checks, the grid and
        the solver; ``method`` (``"fast"``/``"program"``), ``route`` (in words), ``objective_sense``
        and the user ``constraints`` (the result contract)."""
        mk = self.market
        out: dict[str, Any] = {
            "mechanism": "reinsurance_market", "kind": self.kind, **self.contract_json(), "route": self.route,
            "status": self.status.value, "bound": mk.bound, "bound_used": mk.layer_bound,
            "objective": self.aggregate_risk,
            "aggregate_risk": self.aggregate_risk,
            "individually_rational": self.individually_rational,
            "agents": self.agent_rows(),
            "premiums": {ins.name: {re.name: float(self.premium[i, j]) for j, re in enumerate(mk.reinsurers)}
                         for i, ins in enumerate(mk.insurers)},
        }
        if layers and len(mk.insurers) <= 50:
            out["layers"] = {ins.name: self.segments(i) for i, ins in enumerate(mk.insurers)}
        if self.equilibrium is not None:
            out["verification"] = self.equilibrium.to_dict()
        if self.checks:
            out["checks"] = dict(self.checks)
        if self.comparison is not None:
            out["comparison"] = {"kind": self.comparison.kind, "agents": self.comparison.agent_rows(),
                                 "aggregate_risk": self.comparison.aggregate_risk}
        grid = None if self.grid is None else self.grid.to_dict()
        if self.solver is None:  # the pointwise path solves each layer cell in closed form
            extras: tuple[tuple[str, Any], ...] = (
                ("grid", grid), ("seconds", self.seconds),
                ("pareto_lp", None if self.pareto_lp is None else self.pareto_lp.to_dict()),
                ("solver", {"backend": "riskopt", "solver": f"pointwise ({self.route})", "compile_s": 0.0,
                            "solve_s": self.seconds}))
        else:
            extras = (("scarcity_prices", self.scarcity_prices),
                      ("scarcity_prices_lp", self.scarcity_prices_lp),
                      ("layer_values", self.layer_values), ("vcg_surplus", self.vcg_surplus),
                      ("solver", self.solver.to_dict()), ("premiums_rule", self.premiums_rule),
                      ("grid", grid), ("seconds", self.seconds))
        out.update((k, v) for k, v in extras if v is not None)
        if self.notes:
            out["notes"] = list(self.notes)
        doc: dict[str, Any] = jsonable(out)
        return doc

    def table(self, title: str = "") -> str:
        """Plain text: the per-agent table (the paper's Tables 1 and 2), checks, layer patterns."""
        mk = self.market
        m = len(mk.reinsurers)
        heading = (f"{self.kind} with {len(mk.insurers)} insurers and {m} reinsurer{'s' * (m != 1)} "
                   f"({self.route}); layers on [0, {mk.layer_bound:g}]"
                   + (f" (bound {mk.bound:g} declared: nothing to share above the losses)"
                      if mk.layer_bound < mk.bound else "") + f"; status {self.status.value}")
        prices = [(label, getattr(self, key) or {}) for key, label in _PRICE_LINES]
        if self.constraints:
            prices.append(("your constraints: dV*/d rhs (a row per cell: summed over the rows)",
                           {k: float(v.dual.sum()) for k, v in self.constraints.items()}))
        comparison = None if self.comparison is None else comparison_table(
            self.comparison.kind, self.comparison.agent_rows(), self.kind, self.agent_rows())
        layers = ([(ins.name, self.segments(i)) for i, ins in enumerate(mk.insurers)]
                  if len(mk.insurers) <= 12 else [])
        notes = "".join("\n" + textwrap.fill(f"note: {n}", 100, subsequent_indent="  ") for n in self.notes)
        return market_table(heading=heading, rows=self.agent_rows(), aggregate_risk=self.aggregate_risk,
                            individually_rational=self.individually_rational, equilibrium=self.equilibrium,
                            checks=self.checks, prices=prices, comparison=comparison, layers=layers,
                            title=title) + notes

    def plot(self, path: str | Path, title: str = "", *, max_insurers: int = 4) -> Path:
        """Write :meth:`figure` to ``path``."""
        return save_figure(self.figure(title, max_insurers=max_insurers), path)

    def figure(self, title: str = "", *, max_insurers: int = 4) -> Any:
        """Indemnities I_ij(x) per insurer (the paper's Figures 1 and 3) and the curves alpha_i,
        tau_ij, tau-bar_i (Figure 2), as a matplotlib Figure."""
        mk = self.market
        m = len(mk.reinsurers)
        return market_figure(insurers=[ins.name for ins in mk.insurers],
                             reinsurers=[re.name for re in mk.reinsurers], layer_bound=mk.layer_bound,
                             indemnity=lambda i, x: self.layers.indemnity(i, x, m), curves=mk.curve_values,
                             title=title, max_insurers=max_insurers)
