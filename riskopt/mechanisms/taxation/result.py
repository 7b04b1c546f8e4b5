"""Results of the taxation mechanism, on the one result contract (:mod:`riskopt.result`).

* :class:`TaxationResult`: AFPO of regions facing a given law of ``S_eps`` (a law card);
* :class:`StudyResult`: the storm study (insurer, hybrid and pure-sharing AFPO rules, the scheme
  comparison, one event).

Both are frozen dataclasses of the family :class:`TaxationResultBase`: a status computed from the
checks made (the fairness residual recomputed at every atom, the program against the fast path, the
closed form of Proposition 4), the objective ``V = E[sum_i Psi_i(T_i(S_eps))]`` (minimised; by
duality ``V = -F(a*)``, minus the convex potential of the paper at the AFPO weights), the modeler's
constraints with their duals ``d V / d rhs`` (:mod:`.constrained`), the taxes by region
(``allocation``), the tax multiplier ``Lambda(s)`` (``prices``), ``to_dict``, ``table`` and ``plot``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...constraints import ConstraintDual
from ...data import jsonable
from ...result import ResultBase
from ...status import Check, Status, from_checks, from_convergence
from .economy import Economy
from .fast import AfpoResult, relative_residual
from .law import describe, nodes, upper
from .layers import TaxLayers, moments
from .storm import StormModel, StormRegions
from .two_region import TwoRegionSolution

__all__ = ["ProgramCheck", "StudyResult", "TaxMultiplier", "TaxationResult", "TaxationResultBase",
           "afpo_potential", "direct_residual", "fairness_check"]

#: the card mechanism name
MECHANISM = "disaster_taxation"
#: points of the reported tax table (s from 0 to the top of the support)
GRID_POINTS = 9
#: tolerance of the program's alpha against the fast path on the same binned law
PROGRAM_ALPHA_TOL = 1e-6


def direct_residual(res: AfpoResult, chunk: int = 20_000) -> tuple[float, np.ndarray]:
    """Fairness residual recomputed by evaluating the rule at every atom (independent of the
    segment moments used by the solver): ``(max_i |E[T_i] - e_i| / e_i, E[T])``."""
    x, w = nodes(res.law, res.rule.s)
    ET = np.zeros(res.family.n)
    for a in range(0, x.size, chunk):
        ET += res.rule.taxes(x[a:a + chunk]) @ w[a:a + chunk]
    return relative_residual(ET, res.targets), ET


def fairness_check(name: str, res: AfpoResult, verified: float) -> Check:
    """The fairness residual recomputed at every atom, against the solver's own allowance (Newton
    stops at ``tol`` or, stalled at the rounding floor, at ``1e3 tol``)."""
    return Check(name, verified, 1e3 * res.tol, note="max_i |E[T_i] - e_i| / e_i, direct evaluation")


def afpo_potential(result: AfpoResult) -> float:
    """The convex potential the AFPO weights minimise, at the solution:
    ``F(a) = sum_i e_i a_i - E[g(S_eps; a)]`` with ``g`` the per-scenario value of
    ``min sum_i Psi_i(T_i) + a_i T_i``. At the AFPO, ``F(a*) = -E[sum_i Psi_i(T_i)]`` (duality):
    its negative is the reported objective."""
    value = moments(result.rule, result.law, jacobian=False, value=True).expected_value
    assert value is not None
    return float(result.targets @ result.a - value)


@dataclass(frozen=True)
class TaxMultiplier:
    """The tax multiplier ``Lambda(s)``: the common level of weighted marginal disutility
    ``alpha_i v_i'(T_i(s))`` of every region paying an interior tax at the residual claim ``s``
    (weights normalised to sum to 1, in the family's convention). ``source`` says where the values
    come from: the exact layer rule, or the program's budget duals (``d f*/d s_k / p_k``, read
    through :func:`riskopt.duals.value_derivative`)."""

    s: np.ndarray
    Lambda: np.ndarray
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"s": jsonable(self.s), "Lambda": jsonable(self.Lambda), "source": self.source}


@dataclass(frozen=True)
class ProgramCheck:
    """The declarative AFPO program on a finite (binned) law against the fast path on that same law."""

    backend: str
    solver: str
    status: Status
    atoms: int
    alpha: np.ndarray
    alpha_max_error: float
    Lambda_max_rel_error: float
    fairness_residual: float
    seconds: float
    compile_s: float
    solve_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "solver": self.solver, "status": self.status, "atoms": self.atoms,
                "alpha": self.alpha, "alpha_max_error": self.alpha_max_error,
                "Lambda_max_rel_error": self.Lambda_max_rel_error,
                "fairness_residual": self.fairness_residual, "seconds": self.seconds,
                "compile_s": self.compile_s, "solve_s": self.solve_s}

    def checks(self) -> list[Check]:
        """Counted when the program's own status is ok (otherwise inconclusive, and said in
        ``program``)."""
        if not Status(self.status).ok:
            return []
        return [Check("program_alpha_minus_fast_path", self.alpha_max_error, PROGRAM_ALPHA_TOL)]


def _tax_grid(rule: TaxLayers, top: float, points: int) -> dict[str, np.ndarray]:
    s = np.linspace(0.0, top, points)
    return {"s": s, "T": rule.taxes(s), "Lambda": rule.lam(s)}


class TaxationResultBase(ResultBase):
    """What the taxation results share (the registered mechanism name)."""

    mechanism_name = MECHANISM

    @property
    def objective_sense(self) -> str:
        """``"min"``: the objective ``E[sum_i Psi_i(T_i)]`` is what the AFPO rule minimises."""
        return "min"


# ----------------------------------------------------------------------------- law economies
@dataclass(frozen=True)
class TaxationResult(TaxationResultBase):
    """AFPO of regions facing a given law of ``S_eps`` (no insurer: targets = expected losses).

    ``method``: ``"fast"`` (the AFPO solver of :mod:`.fast` on the law) or ``"program"`` (the
    declarative program on the quantile-binned law; ``afpo`` then holds the rule of the program's
    weights, ``multiplier`` the budget duals' ``Lambda`` at the atoms, and ``program`` the fast path
    on the same binned law).
    """

    names: tuple[str, ...]
    wealth: np.ndarray
    afpo: AfpoResult
    verified_residual: float
    grid_points: int = GRID_POINTS
    closed_form: TwoRegionSolution | None = None
    program: ProgramCheck | None = None
    method: str = "fast"
    multiplier: TaxMultiplier | None = field(default=None, repr=False)
    #: the program's optimal value when its constraints are more than caps of the layer rule
    value: float | None = None
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)

    @property
    def alpha(self) -> np.ndarray:
        return self.afpo.alpha

    @property
    def verification(self) -> tuple[Check, ...]:
        r = self.afpo
        checks = [fairness_check("fairness_residual", r, self.verified_residual),
                  *(self.program.checks() if self.program is not None else [])]
        if self.closed_form is not None and self.closed_form.alpha1 is not None:
            # Proposition 4 (1e-9: the closed form's own root finding)
            gap = abs(self.closed_form.alpha1 - r.alpha[0])
            checks.append(Check("alpha1_minus_proposition4", gap, 1e-9))
        return tuple(checks)

    @property
    def status(self) -> Status:
        return from_checks(from_convergence(self.afpo.converged), self.verification)

    @property
    def objective(self) -> float:
        """``V = E[sum_i Psi_i(T_i)]`` (``-F(a*)``, or the program's optimal value)."""
        return self.value if self.value is not None else -afpo_potential(self.afpo)

    def _grid(self) -> dict[str, np.ndarray]:
        return _tax_grid(self.afpo.rule, upper(self.afpo.law), self.grid_points)

    @property
    def allocation(self) -> dict[str, np.ndarray]:
        """Each region's taxes ``T_i(s)`` on the tax table's levels ``s``."""
        T = self._grid()["T"]
        return {nm: T[i] for i, nm in enumerate(self.names)}

    @property
    def prices(self) -> TaxMultiplier:
        """``Lambda(s)``: from the budget duals at the atoms (method ``"program"``), else from the
        exact layer rule on the tax table's levels."""
        if self.multiplier is not None:
            return self.multiplier
        grid = self._grid()
        return TaxMultiplier(grid["s"], grid["Lambda"], "the exact layer rule")

    def agent_rows(self) -> list[dict[str, Any]]:
        r = self.afpo
        return [{"name": nm, "wealth": float(self.wealth[i]), "cap": float(r.family.caps[i]),
                 "alpha": float(r.alpha[i]), "expected_tax": float(r.expected_tax[i]),
                 "expected_residual_claim": float(r.targets[i]), "layer_start": float(r.layer_start[i]),
                 "cap_start": float(r.rule.cap_start[i]), "zero_target": bool(r.zero_target[i])}
                for i, nm in enumerate(self.names)]

    def agents(self) -> list[dict[str, Any]]:
        return self.agent_rows()

    def to_dict(self) -> dict[str, Any]:
        r = self.afpo
        grid = self._grid()
        out: dict[str, Any] = {
            "mechanism": MECHANISM, "kind": "law",
            "status": self.status, "verification": [c.to_dict() for c in self.verification],
            "convention": r.family.convention + "; alpha normalised to sum to 1",
            "law": describe(r.law), "agents": self.agent_rows(), "fairness_residual": self.verified_residual,
            "objective": self.objective,
            "solver": self._solver(),
            "solver_residual": r.residual, "iterations": r.iterations, "afpo_algorithm": r.method,
            "seconds": r.seconds, "note": r.note,
            "tax_table": {"s": grid["s"], "Lambda": grid["Lambda"],
                          "T": {nm: grid["T"][i] for i, nm in enumerate(self.names)}}}
        if self.closed_form is not None:
            cf = self.closed_form
            alpha1 = cf.alpha1 if cf.alpha1 is not None else float("nan")
            out["closed_form"] = {"case": cf.case, "zeta": cf.zeta, "alpha1": cf.alpha1,
                                  "swapped": cf.swapped,
                                  "alpha1_error": abs(alpha1 - r.alpha[0]),
                                  "T_max_error": float(np.max(np.abs(cf.taxes(grid["s"]) - grid["T"])))}
        if self.program is not None:
            out["program"] = self.program.to_dict()
        if self.multiplier is not None:
            out["prices"] = self.multiplier.to_dict()
        out.update(self.contract_json())
        return jsonable(out)  # type: ignore[no-any-return]

    def _solver(self) -> dict[str, Any]:
        r, p = self.afpo, self.program
        if self.method == "program" and p is not None:
            return {"backend": p.backend, "solver": p.solver, "compile_s": p.compile_s, "solve_s": p.solve_s,
                    "iterations": r.iterations}
        return {"backend": "riskopt", "solver": f"AFPO {r.method}", "compile_s": 0.0, "solve_s": r.seconds,
                "iterations": r.iterations}

    def table(self, title: str = "") -> str:
        from .report import law_table

        return law_table(self, title)

    def plot(self, path: str | Path, title: str = "") -> Path:
        from .plots import plot_layers

        return plot_layers(self.afpo.rule, self.names, upper(self.afpo.law), path, title=title)


# ----------------------------------------------------------------------------------- storm
@dataclass(frozen=True)
class StudyResult(TaxationResultBase):
    """The storm study: insurer, hybrid and pure-sharing AFPO rules, scheme comparison, one event;
    ``model`` is the synthetic storm, or ``None`` when the losses came from a loss table (then
    ``losses`` says where from: :attr:`riskopt.losstables.LossTable.info`)."""

    economy: Economy
    regions: StormRegions
    model: StormModel | None
    scenarios: int
    seed: int | None
    verified: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    grid_points: int = GRID_POINTS
    method: str = "fast"
    #: the program's optimal value when its constraints are more than caps of the layer rule
    value: float | None = None
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)
    #: what the scheme comparison's hybrid rule is, when it is not the solved rule itself
    comparison_note: str = ""
    #: the program path: the program's weights against the fast path (or the decomposition) on the law
    program: ProgramCheck | None = None
    #: the loss table's provenance (file or model, years, seed, rates) when the losses came from one
    losses: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hybrid(self) -> AfpoResult:
        assert self.economy.hybrid is not None  # the study always solves both AFPO problems
        return self.economy.hybrid

    @property
    def pure(self) -> AfpoResult:
        assert self.economy.pure is not None
        return self.economy.pure

    @property
    def verification(self) -> tuple[Check, ...]:
        return (*(fairness_check(f"fairness_residual_{k}", r, self.verified[k])
                  for k, r in (("hybrid", self.hybrid), ("pure", self.pure)) if k in self.verified),
                *(self.program.checks() if self.program is not None else ()))

    @property
    def status(self) -> Status:
        solved = from_convergence(self.hybrid.converged and self.pure.converged)
        return from_checks(solved, self.verification)

    @property
    def objective(self) -> float:
        """The hybrid rule's ``V = E[sum_i Psi_i(T_i)]`` (``-F(a*)``, or the program's optimal value)."""
        return self.value if self.value is not None else -afpo_potential(self.hybrid)

    def _grid(self) -> dict[str, np.ndarray]:
        return _tax_grid(self.hybrid.rule, upper(self.hybrid.law), self.grid_points)

    @property
    def allocation(self) -> dict[str, np.ndarray]:
        """Each region's hybrid taxes ``T_i(s)`` on levels ``s`` of ``S_eps`` from 0 to its maximum."""
        T = self._grid()["T"]
        return {nm: T[i] for i, nm in enumerate(self.economy.names)}

    @property
    def prices(self) -> TaxMultiplier:
        """``Lambda(s)`` of the hybrid rule (exact) on the same levels."""
        grid = self._grid()
        return TaxMultiplier(grid["s"], grid["Lambda"], "the exact layer rule (hybrid)")

    def agent_rows(self) -> list[dict[str, Any]]:
        e = self.economy
        h, p = self.hybrid, self.pure
        return [{"name": nm, "wealth": float(e.wealth[i]), "cap": float(e.caps[i]),
                 "alpha": float(h.alpha[i]), "expected_tax": float(h.expected_tax[i]),
                 "expected_residual_claim": float(e.expected_residual_claim[i]),
                 "layer_start": float(h.layer_start[i]), "premium": float(e.premiums[i]),
                 "expected_loss": float(e.expected_loss[i]), "pure_alpha": float(p.alpha[i]),
                 "pure_layer_start": float(p.layer_start[i])} for i, nm in enumerate(e.names)]

    def agents(self) -> list[dict[str, Any]]:
        return self.agent_rows()

    def to_dict(self) -> dict[str, Any]:
        e = self.economy
        h, p = self.hybrid, self.pure
        ev = e.event
        comparison = e.comparison
        assert ev is not None and comparison is not None
        out = {
            "mechanism": MECHANISM, "kind": "storm" if self.model is not None else "loss_table",
            "status": self.status, "verification": [c.to_dict() for c in self.verification],
            "convention": f"hybrid: {h.family.convention}; pure: {p.family.convention}; alpha normalised to "
                          "sum to 1",
            "regions": len(e.names), "scenarios": self.scenarios, "seed": self.seed,
            "insurer": {"theta": e.insurer.theta, "eta": e.insurer.eta, "premium_income": e.k, "capital": e.K,
                        "expected_loss": float(e.probs @ e.S), "expected_residual": e.expected_residual,
                        "default_scenarios": int(np.sum(e.S > e.K))},
            "agents": self.agent_rows(),
            "fairness_residual": self.verified.get("hybrid", h.residual), "iterations": h.iterations,
            "objective": self.objective,
            "afpo_algorithm": h.method,
            "solver": {"backend": "riskopt", "solver": f"AFPO {h.method} (hybrid and pure)", "compile_s": 0.0,
                       "solve_s": h.seconds + p.seconds, "iterations": h.iterations + p.iterations},
            "fairness_residual_from": ("direct evaluation at every atom" if self.verified
                                       else "solver moments"),
            "pure": {"fairness_residual": self.verified.get("pure", p.residual), "iterations": p.iterations,
                     "converged": p.converged},
            "scheme_comparison": comparison.to_dict(),
            "single_event": {"index": ev.index, "S": ev.S, "S_eps": ev.S_eps, "set": ev.scenario_set,
                             "regions": ev.rows(e.names)},
            "timings": {**self.timings, **e.timings},
            **self.contract_json(),
        }
        if self.model is not None:
            out["copula"] = {"min_eigenvalue": self.model.min_eigenvalue,
                             "factor_rank": self.model.factor_rank,
                             "correlation_error": self.model.correlation_error}
        else:
            out["losses"] = dict(self.losses)
        if self.comparison_note:
            out["comparison_note"] = self.comparison_note
        if self.program is not None:
            out["program"] = self.program.to_dict()
        return jsonable(out)  # type: ignore[no-any-return]

    def table(self, title: str = "") -> str:
        from .report import storm_table

        return storm_table(self, title)

    def plot(self, path: str | Path, title: str = "") -> Path:
        from .plots import plot_storm

        e = self.economy
        ev, comparison = e.event, e.comparison
        assert ev is not None and comparison is not None
        diff = comparison.differences["hybrid - insurance"][:, 2]
        panels = {"expected loss E[X_i]": e.expected_loss, f"event #{ev.index}: loss X_i": ev.table["loss"],
                  "event: net transfer T_i - eps_i (hybrid)": ev.table["net_transfer_hybrid"],
                  "E[v | Omega_-]: hybrid - insurance": diff}
        return plot_storm(self.regions.xy, e.names, panels, self.hybrid.rule, upper(self.hybrid.law), path,
                          title=title)
