"""Disaster risk financing through ex-post taxation: AFPO tax layers for many regions (seed 003).

Regions ``i`` with wealth ``w_i`` and losses ``X_i`` buy insurance from an insurer that can default
(capital ``K``); the residual claims ``eps_i`` (total ``S_eps = (S - K)^+``) are financed by the
government through taxes ``T_i(S_eps)`` that are Pareto optimal for the regions' disutilities
``v_i`` and actuarially fair, ``E[T_i] = E[eps_i]`` (AFPO). Spec: ``disaster_taxation.md``.

The pieces, one idea per module:

* :mod:`.taxation_disutility`: ``phi_i = ln v_i'``, its inverse, ``Psi_i``; CARA, power/CRRA, any
  registered utility; payment disutilities and the weight convention;
* :mod:`.taxation_law`: laws of ``S_eps`` (samples, weighted atoms, ``p0 delta_0 + (1-p0) U[0, W]``);
* :mod:`.taxation_layers`: the PO rule for given weights (exact segment inversion of ``s(u)``,
  ``Lambda(s)``, layer starts ``C_i``) and its exact moments and Jacobian;
* :mod:`.taxation_afpo`: AFPO weights (Newton on the convex potential of spec §9; the damped fixed
  point; the paper's Algorithm 2) and the attainability checks;
* :mod:`.taxation_program`: the same rule as one declarative :class:`~riskopt.program.Program`;
* :mod:`.taxation_two_region`: Proposition 4 in closed form and the sensitivity sweeps;
* :mod:`.taxation_storm`, :mod:`.taxation_economy`, :mod:`.taxation_schemes`: the storm study
  (synthetic generator, insurer, four schemes, single event), split into blocks for dask;
* this module: results (tables, JSON, figures), model cards and the short-hand API
  (:func:`law_economy`, :func:`storm_study`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import jsonable
from ..errors import ModelError
from ..report import format_table
from ..status import Check, Status, from_checks, from_convergence
from .taxation_afpo import AfpoResult, check_targets, relative_residual, solve_afpo
from .taxation_disutility import (
    ExponentialFamily,
    ExponentialPayments,
    PaymentDisutility,
    PowerPayments,
    payment_disutility,
    taxation_family,
)
from .taxation_economy import Economy, Insurer, MatrixSource, StormSource, run_economy
from .taxation_law import AtomLaw, ResidualLaw, UniformAtomLaw
from .taxation_layers import Layers, layers, moments
from .taxation_program import TaxationProgram
from .taxation_storm import (
    SPEC_SEED,
    StormModel,
    StormRegions,
    StormTrack,
    regions_from_csv,
    synthetic_regions,
)
from .taxation_two_region import TwoRegionSolution, proposition4

__all__ = ["AtomLaw", "ExponentialFamily", "ExponentialPayments", "Insurer", "PowerPayments", "StormModel",
           "StudyResult", "TaxationProgram", "TaxationResult", "UniformAtomLaw", "check_targets",
           "direct_residual", "law_economy", "layers", "moments", "payment_disutility", "proposition4",
           "run_economy", "solve_afpo", "storm_study"]

#: a card may not ask for more than this many loss values (regions x scenarios): about 4 GB
MAX_CELLS = 500_000_000


def direct_residual(res: AfpoResult, chunk: int = 20_000) -> tuple[float, np.ndarray]:
    """Fairness residual recomputed by evaluating the rule at every atom (independent of the
    segment moments used by the solver): ``(max_i |E[T_i] - e_i| / e_i, E[T])``."""
    x, w = res.law.nodes(res.rule.s)
    ET = np.zeros(res.family.n)
    for a in range(0, x.size, chunk):
        ET += res.rule.taxes(x[a:a + chunk]) @ w[a:a + chunk]
    return relative_residual(ET, res.targets), ET


def fairness_check(name: str, res: AfpoResult, verified: float) -> Check:
    """The fairness residual recomputed at every atom, against the solver's own allowance (Newton
    stops at ``tol`` or, stalled at the rounding floor, at ``1e3 tol``)."""
    return Check(name, verified, 1e3 * res.tol, note="max_i |E[T_i] - e_i| / e_i, direct evaluation")


def program_checks(program: dict[str, Any] | None) -> list[Check]:
    """The declarative program against the fast path on the same binned law: counted when the
    program's own status is ok (otherwise inconclusive, and said in ``program``)."""
    if program is None or not Status(program["status"]).ok:
        return []
    return [Check("program_alpha_minus_fast_path", program["alpha_max_error"], 1e-6)]


def _tax_grid(rule: Layers, upper: float, points: int) -> dict[str, Any]:
    s = np.linspace(0.0, upper, points)
    return {"s": s, "T": rule.taxes(s), "Lambda": rule.lam(s)}


# ----------------------------------------------------------------------------- law economies
@dataclass
class TaxationResult:
    """AFPO of regions facing a given law of ``S_eps`` (no insurer: targets = expected losses)."""

    names: tuple[str, ...]
    wealth: np.ndarray
    afpo: AfpoResult
    verified_residual: float
    grid_points: int = 9
    closed_form: TwoRegionSolution | None = None
    program: dict[str, Any] | None = None

    @property
    def alpha(self) -> np.ndarray:
        return self.afpo.alpha

    @property
    def verification(self) -> list[Check]:
        r = self.afpo
        checks = [fairness_check("fairness_residual", r, self.verified_residual),
                  *program_checks(self.program)]
        if self.closed_form is not None:  # Proposition 4 (1e-9: the closed form's own root finding)
            gap = abs(self.closed_form.alpha1 - r.alpha[0])
            checks.append(Check("alpha1_minus_proposition4", gap, 1e-9))
        return checks

    @property
    def status(self) -> Status:
        return from_checks(from_convergence(self.afpo.converged), self.verification)

    def agents(self) -> list[dict[str, Any]]:
        r = self.afpo
        return [{"name": nm, "wealth": float(self.wealth[i]), "cap": float(r.family.caps[i]),
                 "alpha": float(r.alpha[i]), "expected_tax": float(r.expected_tax[i]),
                 "expected_residual_claim": float(r.targets[i]), "layer_start": float(r.layer_start[i]),
                 "cap_start": float(r.rule.cap_start[i]), "zero_target": bool(r.zero_target[i])}
                for i, nm in enumerate(self.names)]

    def to_dict(self) -> dict[str, Any]:
        r = self.afpo
        grid = _tax_grid(r.rule, r.law.upper, self.grid_points)
        out: dict[str, Any] = {
            "mechanism": "disaster_taxation", "kind": "law",
            "status": self.status, "verification": [c.to_dict() for c in self.verification],
            "convention": r.family.convention + "; alpha normalised to sum to 1",
            "law": r.law.describe(), "agents": self.agents(), "fairness_residual": self.verified_residual,
            "objective": afpo_potential(r),
            "solver": {"backend": "riskopt", "solver": f"AFPO {r.method}", "compile_s": 0.0,
                       "solve_s": r.seconds, "iterations": r.iterations},
            "solver_residual": r.residual, "iterations": r.iterations, "method": r.method,
            "seconds": r.seconds, "note": r.note,
            "tax_table": {"s": grid["s"], "Lambda": grid["Lambda"],
                          "T": {nm: grid["T"][i] for i, nm in enumerate(self.names)}}}
        if self.closed_form is not None:
            cf = self.closed_form
            out["closed_form"] = {"case": cf.case, "zeta": cf.zeta, "alpha1": cf.alpha1,
                                  "swapped": cf.swapped,
                                  "alpha1_error": abs(cf.alpha1 - r.alpha[0]),
                                  "T_max_error": float(np.max(np.abs(cf.taxes(grid["s"]) - grid["T"])))}
        if self.program is not None:
            out["program"] = self.program
        return jsonable(out)

    def table(self, title: str = "") -> str:
        r = self.afpo
        lines = [title] if title else []
        lines.append(f"law        {r.law.describe()}")
        lines.append(f"convention {r.family.convention} (alpha sums to 1)")
        lines.append(f"AFPO       {r.method}: {r.iterations} iterations, relative fairness residual "
                     f"{self.verified_residual:.1e} ({'converged' if r.converged else 'NOT converged'}), "
                     f"{r.seconds:.3f} s")
        rows = [{k: v for k, v in a.items() if k != "zero_target"} for a in self.agents()]
        lines += ["", format_table(rows, list(rows[0]))]
        grid = _tax_grid(r.rule, r.law.upper, self.grid_points)
        trows = [{"s": float(s), "Lambda(s)": float(lam), **{f"T[{nm}]": float(grid["T"][i, j])
                                                              for i, nm in enumerate(self.names[:6])}}
                 for j, (s, lam) in enumerate(zip(grid["s"], grid["Lambda"], strict=True))]
        lines += ["", format_table(trows, list(trows[0]))]
        if self.closed_form is not None:
            cf = self.closed_form
            lines.append(f"\nclosed form (Proposition 4): case {cf.case}, zeta = {cf.zeta:.10g}, "
                         f"alpha1 = {cf.alpha1:.10g} (|diff| {abs(cf.alpha1 - r.alpha[0]):.1e})")
        if self.program is not None:
            p = self.program
            lines.append(f"declarative program ({p['backend']}/{p['solver']}, {p['atoms']} atoms): "
                         f"{p['status']}, max |alpha - fast path| {p['alpha_max_error']:.1e}, fairness "
                         f"residual {p['fairness_residual']:.1e}")
        return "\n".join(lines)

    def plot(self, path: str | Path, title: str = "") -> Path:
        from .taxation_plots import plot_layers

        return plot_layers(self.afpo.rule, self.names, self.afpo.law.upper, path, title=title)


def law_economy(names: Sequence[str], wealth: Any, disutilities: Sequence[PaymentDisutility],
                law: ResidualLaw, expected_losses: Any, *, method: str = "newton", tol: float = 1e-11,
                grid_points: int = 9, program_bins: int | None = None, backend: str = "cvxpy",
                solver: str | None = None, options: dict[str, Any] | None = None,
                **afpo_options: Any) -> TaxationResult:
    """AFPO of regions without an insurer (``pi = 0``, caps ``w_i``, targets ``E[X_i]``) under a law of
    the total loss. Attaches Proposition 4 when it applies (two exponential regions, the uniform
    law) and, with ``program_bins``, the declarative program's answer on the quantile-binned law
    (compared with the fast path on the same binned law)."""
    names = tuple(str(x) for x in names)
    w = np.asarray(wealth, float)
    fam = taxation_family(list(disutilities), np.zeros(len(names)), w)
    res = solve_afpo(fam, law, expected_losses, method=method, tol=tol, names=names, **afpo_options)
    verified, _ = direct_residual(res)
    closed = None
    ds = list(disutilities)
    exponential = all(type(d) is ExponentialPayments for d in ds)
    if (len(names) == 2 and isinstance(law, UniformAtomLaw) and exponential
            and abs(law.upper - w.sum()) <= 1e-12 * w.sum()):
        closed = proposition4(w[0], w[1], ds[0].tolerance, ds[1].tolerance, law.p_zero, res.targets[0],
                              res.targets[1])
    prog = None
    if program_bins is not None:
        prog = program_check(fam, law, res.targets, names, bins=program_bins, backend=backend, solver=solver,
                             options=options or {}, method=method, tol=tol)
    return TaxationResult(names, w, res, verified, grid_points, closed, prog)


def program_check(family: Any, law: ResidualLaw, targets: np.ndarray, names: Sequence[str], *, bins: int,
                  backend: str = "cvxpy", solver: str | None = None, options: dict[str, Any] | None = None,
                  method: str = "newton", tol: float = 1e-11) -> dict[str, Any]:
    """The declarative AFPO program on the binned law vs the fast path on the same binned law."""
    binned = law.binned(bins) if (not isinstance(law, AtomLaw) or law.size > bins) else law
    fast = solve_afpo(family, binned, targets, method=method, tol=tol, names=names)
    prog = TaxationProgram(family, binned, targets=targets, names=names)
    t0 = time.perf_counter()
    sol = prog.solve(backend=backend, solver=solver, **(options or {}))  # raises unless usable
    total = time.perf_counter() - t0
    alpha = np.asarray(sol.extra["alpha"], float)
    lam_fast = fast.rule.lam(binned.x)
    return {"backend": sol.solver.backend, "solver": sol.solver.solver, "status": sol.status,
            "atoms": binned.size,
            "alpha": alpha, "alpha_max_error": float(np.max(np.abs(alpha - fast.alpha))),
            "Lambda_max_rel_error": float(np.max(np.abs(np.asarray(sol.extra["Lambda"]) / lam_fast - 1))),
            "fairness_residual": sol.extra["fairness_residual"], "seconds": total,
            "compile_s": sol.solver.compile_s, "solve_s": sol.solver.solve_s}


# ----------------------------------------------------------------------------------- storm
@dataclass
class StudyResult:
    """The storm study: insurer, hybrid and pure-sharing AFPO rules, scheme comparison, one event."""

    economy: Economy
    regions: StormRegions
    model: StormModel | None
    scenarios: int
    seed: int | None
    verified: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def verification(self) -> list[Check]:
        e = self.economy
        return [fairness_check(f"fairness_residual_{k}", r, self.verified[k])
                for k, r in (("hybrid", e.hybrid), ("pure", e.pure)) if k in self.verified]

    @property
    def status(self) -> Status:
        e = self.economy
        solved = from_convergence(e.hybrid.converged and e.pure.converged)
        return from_checks(solved, self.verification)

    def agents(self) -> list[dict[str, Any]]:
        e = self.economy
        h, p = e.hybrid, e.pure
        return [{"name": nm, "wealth": float(e.wealth[i]), "cap": float(e.caps[i]),
                 "alpha": float(h.alpha[i]), "expected_tax": float(h.expected_tax[i]),
                 "expected_residual_claim": float(e.expected_residual_claim[i]),
                 "layer_start": float(h.layer_start[i]), "premium": float(e.premiums[i]),
                 "expected_loss": float(e.expected_loss[i]), "pure_alpha": float(p.alpha[i]),
                 "pure_layer_start": float(p.layer_start[i])} for i, nm in enumerate(e.names)]

    def to_dict(self) -> dict[str, Any]:
        e = self.economy
        h, p = e.hybrid, e.pure
        ev = e.event
        out = {
            "mechanism": "disaster_taxation", "kind": "storm",
            "status": self.status, "verification": [c.to_dict() for c in self.verification],
            "convention": f"hybrid: {h.family.convention}; pure: {p.family.convention}; alpha normalised to "
                          "sum to 1",
            "regions": len(e.names), "scenarios": self.scenarios, "seed": self.seed,
            "insurer": {"theta": e.insurer.theta, "eta": e.insurer.eta, "premium_income": e.k, "capital": e.K,
                        "expected_loss": float(e.probs @ e.S), "expected_residual": e.expected_residual,
                        "default_scenarios": int(np.sum(e.S > e.K))},
            "agents": self.agents(),
            "fairness_residual": self.verified.get("hybrid", h.residual), "iterations": h.iterations,
            "objective": afpo_potential(h),
            "solver": {"backend": "riskopt", "solver": f"AFPO {h.method} (hybrid and pure)", "compile_s": 0.0,
                       "solve_s": h.seconds + p.seconds, "iterations": h.iterations + p.iterations},
            "fairness_residual_from": ("direct evaluation at every atom" if self.verified
                                       else "solver moments"),
            "pure": {"fairness_residual": self.verified.get("pure", p.residual), "iterations": p.iterations,
                     "converged": p.converged},
            "scheme_comparison": e.comparison.to_dict(),
            "single_event": {"index": ev.index, "S": ev.S, "S_eps": ev.S_eps, "set": ev.scenario_set,
                             "regions": ev.rows(e.names)},
            "copula": None if self.model is None else {
                "min_eigenvalue": self.model.min_eigenvalue, "factor_rank": self.model.factor_rank,
                "correlation_error": self.model.correlation_error},
            "timings": {**self.timings, **e.timings},
        }
        return jsonable(out)

    def table(self, title: str = "", rows: int = 12) -> str:
        e = self.economy
        h, p = e.hybrid, e.pure
        out = [title] if title else []
        out.append(f"regions {len(e.names)}, scenarios {self.scenarios}, premium income k = {e.k:.6g}, "
                   f"capital K = {e.K:.6g}, E[S] = {e.probs @ e.S:.6g}, E[S_eps] = {e.expected_residual:.6g}")
        prob = e.comparison.probability
        out.append(f"P(Omega_+) = {prob[0]:.4f}, P(Omega_=) = {prob[1]:.4f}, P(Omega_-) = {prob[2]:.4f}")
        out.append(f"hybrid AFPO: {h.iterations} Newton iterations, residual "
                   f"{self.verified.get('hybrid', h.residual):.1e}; alpha from {h.alpha.min():.3g} to "
                   f"{h.alpha.max():.3g} ({h.family.convention})")
        out.append(f"pure sharing AFPO: {p.iterations} iterations, residual "
                   f"{self.verified.get('pure', p.residual):.1e}")
        out.append("")
        out.append("scheme comparison: E[v(l_i) | set], mean over regions, share of regions better off")
        srows = [{"set": r["set"], "difference": r["difference"], "mean": r["mean_over_regions"],
                  "better off": f"{100 * r['share_better_off']:.0f} %"} for r in e.comparison.summary()]
        out.append(format_table(srows, ["set", "difference", "mean", "better off"]))
        order = np.argsort(-e.expected_residual_claim)[:rows]
        agents = self.agents()
        cols = ["name", "wealth", "premium", "cap", "alpha", "expected_residual_claim", "expected_tax",
                "layer_start"]
        out.append("")
        out.append(f"regions with the largest expected residual claims ({rows} of {len(e.names)}; "
                   "--format json for all)")
        out.append(format_table([{c: agents[i][c] for c in cols} for i in order], cols))
        ev = e.event
        erows = ev.rows(e.names)
        top = np.argsort([-r["loss"] for r in erows])[:rows]
        out.append("")
        out.append(f"single event #{ev.index}: S = {ev.S:.6g}, S_eps = {ev.S_eps:.6g} ({ev.scenario_set}); "
                   f"regions with the largest losses")
        ecols = ["name", "loss", "insurer_pays", "residual_claim", "tax_hybrid", "net_transfer_hybrid",
                 "tax_pure", "v_hybrid_minus_insurance"]
        out.append(format_table([{c: erows[i][c] for c in ecols} for i in top], ecols))
        return "\n".join(out)

    def plot(self, path: str | Path, title: str = "") -> Path:
        from .taxation_plots import plot_storm

        e = self.economy
        ev = e.event
        diff = e.comparison.differences["hybrid - insurance"][:, 2]
        panels = {"expected loss E[X_i]": e.expected_loss, f"event #{ev.index}: loss X_i": ev.table["loss"],
                  "event: net transfer T_i - eps_i (hybrid)": ev.table["net_transfer_hybrid"],
                  "E[v | Omega_-]: hybrid - insurance": diff}
        return plot_storm(self.regions.xy, e.names, panels, e.hybrid.rule, e.hybrid.law.upper, path,
                          title=title)


def storm_study(regions: int | StormRegions = 212, scenarios: int = 100_000, *, seed: int | None = SPEC_SEED,
                insurer: Insurer | None = None, disutility: PaymentDisutility | None = None,
                streams: str = "single", runner: Any = None, premium_basis: str = "sample",
                method: str = "newton", tol: float = 1e-11, event: str | int = "median_default",
                block: int | None = None, verify: bool = True, **model_options: Any) -> StudyResult:
    """The storm study end to end (spec §13): regions (synthetic stand-in, or given), scenarios,
    insurer (default ``theta = 0.3``, ``K = 1000``), both AFPO rules and the scheme comparison.

    ``streams="single"`` follows the spec's draw order exactly (in memory, serial);
    ``streams="blocks"`` draws each block from its own seeded generator, lets ``runner`` (e.g.
    ``riskopt.sweep.Dask()``) spread the blocks and gives identical numbers on any runner.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    rng = None
    if isinstance(regions, StormRegions):
        reg = regions
    else:
        reg, rng = synthetic_regions(regions, seed if seed is not None else SPEC_SEED)
    model = StormModel(reg, **model_options)
    timings["model"] = time.perf_counter() - t0
    ins = insurer if insurer is not None else Insurer(theta=0.3, capital=1000.0)
    disp = disutility if disutility is not None else ExponentialPayments()
    t0 = time.perf_counter()
    if streams == "single":
        X = model.generate(scenarios, rng if rng is not None else np.random.default_rng(seed), block=block)
        source: Any = MatrixSource(X, validate=False)  # drawn by the model: finite and >= 0
    elif streams == "blocks":
        if seed is None:
            raise ModelError("seed", None, "an integer seed for streams = 'blocks'")
        source = StormSource(model, scenarios, int(seed), block or model.default_block())
    else:
        raise ModelError("storm.streams", streams, "'single' or 'blocks'")
    timings["scenarios"] = time.perf_counter() - t0
    a, b = model.shape_a, model.beta_b
    sd = reg.wealth * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    eco = run_economy(source, reg.names, reg.wealth, insurer=ins, disutility=disp,
                      premium_basis=premium_basis, expected_losses=model.expected_losses(), loss_sd=sd,
                      runner=runner, method=method, tol=tol, event=event)
    verified = {}
    if verify:
        t0 = time.perf_counter()
        verified = {"hybrid": direct_residual(eco.hybrid)[0], "pure": direct_residual(eco.pure)[0]}
        timings["verify"] = time.perf_counter() - t0
    return StudyResult(eco, reg, model, scenarios, seed, verified, timings)


# --------------------------------------------------------------------------------- cards
@dataclass
class LawCard:
    names: tuple[str, ...]
    wealth: np.ndarray
    disutilities: list[PaymentDisutility]
    law: ResidualLaw
    expected_losses: np.ndarray
    method: str
    tol: float
    grid_points: int
    program_bins: int | None


@dataclass
class StormCard:
    regions: int | None
    csv: str | None
    scenarios: int
    seed: int | None
    track: StormTrack
    beta_b: float
    psd: str
    streams: str
    factor_rank: int | None
    quantile_step: float
    insurer: Insurer
    disutility: PaymentDisutility
    premium_basis: str
    method: str
    tol: float
    event: str | int


def _disutility(node: Any) -> PaymentDisutility:
    name = node.take("name", str, allowed="'exponential', 'power' or a utility name (cara, crra, ...)")
    params = {k: v for k, v in node.data.items() if k != "name"}
    node.used.update(params)
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ModelError(node.at(k), v, "a number")
    try:
        return payment_disutility(name, **{k: float(v) for k, v in params.items()})
    except ModelError as err:
        raise err.with_prefix(node.path) from None
    except TypeError as err:
        raise ModelError(node.path, node.data, f"the parameters of the disutility '{name}'",
                         detail=str(err)) from None


def _afpo_options(root: Any) -> tuple[str, float]:
    from ..cardschema import Node

    node = root.child("afpo", default=None) or Node({}, "afpo")
    method = node.take("method", str, default="newton", allowed="'newton', 'fixed_point' or 'algorithm2'")
    if method not in ("newton", "fixed_point", "algorithm2"):
        raise ModelError(node.at("method"), method, "'newton', 'fixed_point' or 'algorithm2'")
    tol = node.take("tol", float, default=1e-11)
    if not (np.isfinite(tol) and 0 < tol < 1):
        raise ModelError(node.at("tol"), tol, "a relative tolerance in (0, 1)")
    node.finish()
    return method, tol


def card_spec(root: Any, draws: Any) -> LawCard | StormCard:
    """Read ``[[regions]]`` + ``[law]`` (a law economy) or ``[storm]`` + ``[insurer]`` (the study)."""
    has_storm, has_regions = "storm" in root.data, "regions" in root.data
    if has_storm == has_regions:
        raise ModelError("storm", None, "exactly one of [storm] (the storm study) or [[regions]] with [law]")
    method, tol = _afpo_options(root)
    return _storm_card(root, draws, method, tol) if has_storm else _law_card(root, method, tol)


def _law_card(root: Any, method: str, tol: float) -> LawCard:
    from ..cardschema import MAX_AGENTS, MAX_STATES, Node, number_list

    items = root.take("regions", list, allowed="a list of region tables ([[regions]])")
    if not 1 <= len(items) <= MAX_AGENTS:
        raise ModelError("regions", f"{len(items)} regions", f"between 1 and {MAX_AGENTS} regions")
    names, wealth, losses, ds = [], [], [], []
    for i, raw in enumerate(items):
        node = Node(raw, f"regions[{i}]")
        name = node.take("name", str, default=f"region {i + 1}")
        if name in names:
            raise ModelError(node.at("name"), name, "distinct region names", detail="duplicated region name")
        w = node.take("wealth", float, allowed="a wealth > 0")
        if not (np.isfinite(w) and w > 0):
            raise ModelError(node.at("wealth"), w, "a finite wealth > 0")
        mu = node.take("expected_loss", float, allowed="the fairness target E[X_i] >= 0")
        if not (np.isfinite(mu) and mu >= 0):
            raise ModelError(node.at("expected_loss"), mu, "a finite expected loss >= 0")
        dnode = node.child("disutility")
        ds.append(_disutility(dnode))
        dnode.finish()
        node.finish()
        names.append(name)
        wealth.append(w)
        losses.append(mu)
    lnode = root.child("law")
    kind = lnode.take("kind", str, allowed="'atom_uniform', 'samples' or 'discrete'")
    if kind == "atom_uniform":
        p0 = lnode.take("p0", float, allowed="a probability of no loss in [0, 1)")
        upper = lnode.take("upper", float, default=float(sum(wealth)))
        try:
            law: ResidualLaw = UniformAtomLaw(p0, upper)
        except ModelError as err:
            raise err.with_prefix(lnode.path) from None
    elif kind in ("samples", "discrete"):
        values = number_list(lnode.take("values", list), lnode.at("values"))
        if not 1 <= values.size <= MAX_STATES:
            raise ModelError(lnode.at("values"), f"{values.size} values",
                             f"between 1 and {MAX_STATES} values")
        probs = None
        if kind == "discrete":
            probs = number_list(lnode.take("probs", list), lnode.at("probs"), values.size)
        try:
            law = AtomLaw(values, probs, field=lnode.at("values"))
        except ModelError as err:
            raise err if err.field.startswith(lnode.path) else err.with_prefix(lnode.path) from None
    else:
        raise ModelError(lnode.at("kind"), kind, "'atom_uniform', 'samples' or 'discrete'")
    lnode.finish()
    onode = root.child("output", default=None) or Node({}, "output")
    grid = onode.take("grid", int, default=9)
    if not 2 <= grid <= 10_000:
        raise ModelError(onode.at("grid"), grid, "a number of s points in [2, 10000]")
    onode.finish()
    pnode = root.child("program", default=None)
    bins = None
    if pnode is not None:
        bins = pnode.take("bins", int, allowed="a number of quantile bins in [1, 5000]")
        if not 1 <= bins <= 5000:
            raise ModelError(pnode.at("bins"), bins, "a number of quantile bins in [1, 5000]")
        pnode.finish()
    return LawCard(tuple(names), np.asarray(wealth), ds, law, np.asarray(losses), method, tol, grid, bins)


def _storm_card(root: Any, draws: Any, method: str, tol: float) -> StormCard:
    from ..cardschema import MAX_STATES, Node, number_list

    node = root.child("storm")
    csv = node.take("csv", str, default=None)
    n = node.take("regions", int, default=None if csv else 212, allowed="a number of synthetic regions >= 2")
    if csv is not None and n is not None:
        raise ModelError(node.at("regions"), n, "either regions (synthetic) or csv (your regions), not both")
    if n is not None and not 2 <= n <= 20_000:
        raise ModelError(node.at("regions"), n, "a number of synthetic regions in [2, 20000]")
    scenarios = node.take("scenarios", int, default=100_000)
    if not 1 <= scenarios <= MAX_STATES:
        raise ModelError(node.at("scenarios"), scenarios, f"a number of scenarios in [1, {MAX_STATES}]")
    if n is not None and n * scenarios > MAX_CELLS:
        raise ModelError(node.at("scenarios"), scenarios, f"regions x scenarios <= {MAX_CELLS:.0e}")
    track_raw = node.take("track", list, default=[[-10.0, 44.0], [30.0, 60.0]])
    if len(track_raw) != 2:
        raise ModelError(node.at("track"), track_raw, "two points [[x0, y0], [x1, y1]]")
    pts = [number_list(p, node.at(f"track[{j}]"), 2) for j, p in enumerate(track_raw)]
    unit = node.take("length_unit", float, default=1.5)
    track = StormTrack(tuple(pts[0]), tuple(pts[1]), unit)
    beta_b = node.take("beta_b", float, default=0.5)
    if not (np.isfinite(beta_b) and beta_b > 0):
        raise ModelError(node.at("beta_b"), beta_b, "a positive Beta shape")
    psd = node.take("psd", str, default="repair")
    if psd not in ("repair", "raise"):
        raise ModelError(node.at("psd"), psd, "'repair' or 'raise'")
    streams = node.take("streams", str, default="single")
    if streams not in ("single", "blocks"):
        raise ModelError(node.at("streams"), streams, "'single' or 'blocks'")
    rank = node.take("factor_rank", int, default=None)
    if rank is not None and rank < 1:
        raise ModelError(node.at("factor_rank"), rank, "a positive rank (omit it for the exact factor)")
    step = node.take("quantile_step", float, default=0.005)
    if not (np.isfinite(step) and 0 < step <= 0.1):
        raise ModelError(node.at("quantile_step"), step, "a grid step in (0, 0.1]")
    basis = node.take("premium_basis", str, default="sample")
    if basis not in ("sample", "expected"):
        raise ModelError(node.at("premium_basis"), basis, "'sample' or 'expected'")
    node.finish()
    inode = root.child("insurer", default=None) or Node({}, "insurer")
    kw = {}
    for key in ("theta", "eta", "capital", "own_capital"):
        v = inode.take(key, float, default=None)
        if v is not None:
            kw[key] = v
    shares = inode.take("surplus_shares", (float, list), default=0.0)
    if isinstance(shares, list):
        shares = number_list(shares, inode.at("surplus_shares"))
        if n is not None and shares.size not in (1, n):  # csv regions are counted at run time
            raise ModelError(inode.at("surplus_shares"), f"{shares.size} shares",
                             f"one share, or one per region ({n})")
    inode.finish()
    if "capital" not in kw and "own_capital" not in kw:
        kw["capital"] = 1000.0
    try:
        insurer = Insurer(theta=kw.get("theta", 0.3), eta=kw.get("eta", 0.0), capital=kw.get("capital"),
                          own_capital=kw.get("own_capital"), surplus_shares=shares)
    except ModelError as err:
        raise ModelError(err.field if err.field.startswith("insurer") else f"insurer.{err.field}", err.value,
                         err.allowed, detail=err.detail) from None
    dnode = root.child("disutility", default=None) or Node({"name": "exponential"}, "disutility")
    disp = _disutility(dnode)
    dnode.finish()
    cnode = root.child("comparison", default=None) or Node({}, "comparison")
    event = cnode.take("event", (str, int), default="median_default")
    if isinstance(event, str) and event not in ("median_default", "largest"):
        raise ModelError(cnode.at("event"), event, "'median_default', 'largest' or a scenario index")
    if isinstance(event, int) and not 0 <= event < scenarios:
        raise ModelError(cnode.at("event"), event, f"a scenario index in [0, {scenarios})")
    cnode.finish()
    seed = draws.seed if draws.seed is not None else SPEC_SEED
    return StormCard(n, csv, scenarios, seed, track, beta_b, psd, streams, rank, step, insurer, disp, basis,
                     method, tol, event)


def card_run(spec: LawCard | StormCard, backend: str, solver: str | None, options: dict[str, Any]) -> Any:
    """Run a disaster-taxation card."""
    if isinstance(spec, LawCard):
        try:
            return law_economy(spec.names, spec.wealth, spec.disutilities, spec.law, spec.expected_losses,
                               method=spec.method, tol=spec.tol, grid_points=spec.grid_points,
                               program_bins=spec.program_bins, backend=backend, solver=solver,
                               options=options)
        except ModelError as err:
            if err.field.startswith("targets["):
                name = err.field[len("targets["):-1]
                if name in spec.names:
                    path = f"regions[{spec.names.index(name)}].expected_loss"
                    raise ModelError(path, err.value, err.allowed, detail=err.detail) from None
            raise
    regions: int | StormRegions = spec.regions if spec.csv is None else regions_from_csv(spec.csv)
    if isinstance(regions, StormRegions) and regions.n * spec.scenarios > MAX_CELLS:
        raise ModelError("storm.scenarios", spec.scenarios, f"regions x scenarios <= {MAX_CELLS:.0e}")
    return storm_study(regions, spec.scenarios, seed=spec.seed, insurer=spec.insurer,
                       disutility=spec.disutility, streams=spec.streams, premium_basis=spec.premium_basis,
                       method=spec.method, tol=spec.tol, event=spec.event, track=spec.track,
                       beta_b=spec.beta_b, psd=spec.psd, factor_rank=spec.factor_rank,
                       quantile_step=spec.quantile_step)


def _card() -> Any:
    from ..cardschema import CardMechanism

    return CardMechanism("disaster_taxation", card_spec, card_run)


CARD = _card()


def afpo_potential(result: Any) -> float:
    """The convex potential the AFPO weights minimise (spec §9), at the solution:
    ``F(a) = sum_i e_i a_i - E[g(S_eps; a)]`` with ``g`` the per-scenario value of
    ``min sum_i Psi_i(T_i) + a_i T_i`` (reported as the card's objective)."""
    from .taxation_layers import moments

    value = moments(result.rule, result.law, jacobian=False, value=True).expected_value
    return float(result.targets @ result.a - value)
