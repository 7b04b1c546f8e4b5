"""Distortion risk sharing (seed 002, Ghossoub-Ren-Wang): the three inf-convolutions of n agents.

For distortion risk measures ``rho_{h_i}`` (``h_i`` increasing, ``h_i(0) = 0``, ``h_i(1) = 1``) and an
aggregate loss ``X`` on a scenario space, :func:`share` computes

* ``comonotone``: ``□^+ rho_{h_i}(X) = rho_{min_i h_i}(X)`` by the layer LP on the sorted atoms
  (:mod:`~riskopt.mechanisms.distortion_comonotone`), for any distortions;
* ``unconstrained``: ``□ rho_{h_i}(X)`` over all allocations ``sum_i X_i = X``;
* ``counter_monotone``: ``□^- rho_{h_i}(X)`` over counter-monotone allocations,

with the allocation attaining each value, by the results of the paper:

* **risk averse** (every ``h_i`` concave): ``□`` is a convex program
  (:class:`~riskopt.program.SharingProgram` on :class:`~riskopt.allocation.Budget`, the LP form of
  concave distortions); Theorem 2(iii): it equals ``□^+`` because ``min_i h_i`` is concave.
  ``□^-`` equals both when one agent's ``h_k`` is the minimum (Theorem 2(ii), Corollary 1: agent
  ``k`` takes ``X``); otherwise the paper gives only the bound ``□^- >= rho_{min h}(X)`` and the
  value is reported as undetermined.
* **risk seeking** (every ``h_i`` convex): on ``X >= 0`` or ``X <= 0``, Theorem 3:
  ``□ = □^- = rho_{h~}(X) <= □^+`` with the representative riskmetric ``h~`` (not normalised),
  attained by the jackpot / scapegoat allocation of Lemma 3 (atoms split:
  :mod:`~riskopt.mechanisms.distortion_jackpot`), cross-checked by the tail-probability program.
  A two-sided ``X`` is refused (Proposition 2: the infimum is ``-infinity``).
* **VaR agents** (Example 1): ``□ = □^- = VaR_{sum alpha_i}(X)`` by an explicit counter-monotone
  allocation; other distortions that are neither concave nor convex get ``□`` from Theorem 2(iii)
  when ``min_i h_i`` is concave and ``□^-`` from Theorem 2(ii) when ``min_i h_i = h_k`` is dually
  subadditive.
* **mixed attitudes** (a concave and a convex agent): refused, out of the paper's scope.

**Sharing a constant** (Proposition 3): for ``X = c`` the risk-seeking optimum is a lottery, agent
``i`` bearing ``c`` with probability ``p_i* = f_i(1)`` and the value ``c (□ h_i)(1)``; for powers
``h_i = t^{a_i}``, ``p_i* = (mu*/a_i)^{1/(a_i - 1)}`` with ``sum_i p_i* = 1`` (:func:`power_lottery`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq

from ..allocation import Budget
from ..certificate import ZERO_DATA
from ..data import jsonable
from ..errors import ModelError
from ..measures.convolution import (
    PointwiseMin,
    Representative,
    group_attitude,
    inf_convolution,
    is_concave,
    is_dually_subadditive,
    minimum_is_agent,
)
from ..measures.distortion import (
    Distortion,
    DistortionFunction,
    Power,
    VaRDistortion,
    check_distortion,
    choquet_sorted,
)
from ..plots import finish_figure, pyplot, save_figure
from ..program import Agent, SharingProgram
from ..space import Scenarios
from ..status import DEFAULT_TOLERANCES, Check, Status, from_checks, worst
from .distortion_comonotone import ComonotoneResult, comonotone_inf_convolution
from .distortion_jackpot import (
    Jackpot,
    jackpot_events,
    jackpot_from_split,
    lemma3_jackpot,
    one_sided,
    tail_program,
)

__all__ = ["CARD", "SharingResult", "distortions_of", "power_lottery", "share", "var_jackpot"]

KEYS = ("unconstrained", "comonotone", "counter_monotone")


def distortions_of(agents: Sequence[Agent], field: str = "agents") -> list[DistortionFunction]:
    """The normalised distortion functions of the agents' measures (a ModelError names the agent)."""
    agents = list(agents)
    if len(agents) < 2:
        raise ModelError(field, [a.name for a in agents], "at least two agents")
    names = [a.name for a in agents]
    if len(set(names)) != len(names):
        raise ModelError(f"{field}.name", next(n for n in names if names.count(n) > 1), "distinct names")
    hs = []
    for i, a in enumerate(agents):
        m = a.measure
        if not isinstance(m, Distortion):
            raise ModelError(f"{field}[{i}].measure", m.describe(),
                             "a distortion risk measure (distortion, es, var)")
        hs.append(check_distortion(m.h, normalised=True, field=f"{field}[{i}].measure.h"))
    return hs


# ------------------------------------------------------------------------ Proposition 3
def power_lottery(exponents: Sequence[float], field: str = "exponents") -> tuple[np.ndarray, float]:
    """Proposition 3(i): ``p_i* = (mu*/a_i)^{1/(a_i - 1)}`` with ``mu*`` the root of
    ``sum_i (mu/a_i)^{1/(a_i - 1)} = 1`` (Brent's method on ``log mu``); returns ``(p*, mu*)``.

    The value of sharing a constant ``c`` is ``c sum_i (p_i*)^{a_i}``.
    """
    a = np.asarray(exponents, float)
    if a.ndim != 1 or a.size < 2 or np.any(~np.isfinite(a)) or np.any(a <= 1):
        raise ModelError(field, exponents, "at least two power exponents a_i > 1 (convex t^a)")

    def excess(log_mu: float) -> float:
        return float(np.sum(np.exp((log_mu - np.log(a)) / (a - 1.0)))) - 1.0

    lo, hi = -1.0, 1.0
    while excess(lo) > 0:
        lo *= 2
    while excess(hi) < 0:
        hi *= 2
    log_mu = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    p = np.exp((log_mu - np.log(a)) / (a - 1.0))
    return p / p.sum(), float(np.exp(log_mu))


# ---------------------------------------------------------------------------- Example 1
def var_jackpot(space: Scenarios, levels: Sequence[float], *, randomisation: bool = True,
                aggregate: str = "X", field: str = "randomisation") -> Jackpot:
    """Example 1: a counter-monotone allocation with ``sum_i VaR_{alpha_i}(X_i) = VaR_{sum alpha}(X)``.

    With ``m = ess inf X`` and ``Y = X - m >= 0``: agents ``1..n-1`` take ``Y`` on disjoint events of
    probabilities ``alpha_i`` inside the top ``sum alpha`` tail of ``Y`` (their VaR is 0); agent ``n``
    takes ``Y`` on the rest plus the constant ``m``, and its VaR is ``m + VaR_{sum alpha}(Y)``.
    The split is ``f_i(s) = min(max(s - c_{i-1}, 0), alpha_i)`` (``c`` the cumulated levels).
    """
    a = np.asarray(levels, float)
    if a.ndim != 1 or a.size < 2 or np.any(a <= 0) or a.sum() >= 1:
        raise ModelError("levels", levels, "VaR levels alpha_i > 0 with sum alpha_i < 1 (Example 1)")
    c = np.concatenate([[0.0], np.cumsum(a)])
    x = space[aggregate]
    m = float(np.min(x))

    def split(s: np.ndarray) -> np.ndarray:
        f = np.clip(s[None, :] - c[:-2, None], 0.0, a[:-1, None])
        return np.vstack([f, s[None, :] - f.sum(axis=0)])

    consts = np.zeros(a.size)
    consts[-1] = m
    return jackpot_from_split(space, split, a.size, shift=m, constants=consts,
                              randomisation=randomisation, aggregate=aggregate, field=field)


# -------------------------------------------------------------------------------- result
@dataclass
class SharingResult:
    """Values and allocations of the three inf-convolutions (``None``: not determined)."""

    names: list[str]
    hs: list[DistortionFunction]
    space: Scenarios
    attitude: str
    side: str
    values: dict[str, float | None]
    methods: dict[str, str]
    agent_values: np.ndarray
    probabilities: np.ndarray | None
    comonotone: ComonotoneResult
    jackpot: Jackpot | None = None
    representative: Representative | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    theorem2: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    solved: list[Status] = field(default_factory=list)
    verification: list[Check] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """The worst of the solves made (the layer LP, the sharing program), verified by the checks
        between routes (closed forms, jackpots, cross-check programs that ended ok)."""
        return from_checks(worst(self.comonotone.status, *self.solved), self.verification)

    def scale(self) -> float:
        """The values' scale: ``E|X|`` (1 when ``X`` is identically 0)."""
        return float(self.space.p @ np.abs(self.space.X)) or ZERO_DATA

    def agree(self, name: str, difference: float) -> None:
        """Record that two routes to one value agree within the tight tolerance (relative to E|X|)."""
        self.verification.append(Check(name, difference, DEFAULT_TOLERANCES.tight * self.scale()))

    def to_dict(self) -> dict[str, Any]:
        agents = []
        for i, nm in enumerate(self.names):
            agents.append({"name": nm, "distortion": self.hs[i].describe(), "value": self.agent_values[i],
                           "probability": None if self.probabilities is None else self.probabilities[i],
                           "comonotone_value": self.comonotone.agent_values[i]})
        co = self.comonotone
        out: dict[str, Any] = {
            "status": self.status,
            "mechanism": "distortion_sharing",
            "verification": [c.to_dict() for c in self.verification],
            "attitude": self.attitude,
            "aggregate_sign": self.side,
            "inf_convolution": {k: self.values[k] for k in KEYS},
            "methods": self.methods,
            "agents": agents,
            "objective": self.values["unconstrained"] if self.values["unconstrained"] is not None
            else self.values["comonotone"],
            "comonotone": {"closed_form": co.closed_form, "gap": co.gap, "method": co.method,
                           "layer_prices": co.layer_prices, "layer_prices_unique": co.prices_unique,
                           "layer_prices_lower": co.layers.price_intervals()[0],
                           "layer_prices_upper": co.layers.price_intervals()[1],
                           "build_s": co.build_s, "compile_s": co.compile_s, "solve_s": co.solve_s,
                           "atoms": co.layers.atoms, "functions": dict(zip(self.names, co.functions,
                                                                           strict=True))},
            "solver": {"backend": "riskopt layer LP", "solver": co.method, "compile_s": co.compile_s,
                       "solve_s": co.solve_s},
            "theorem2": self.theorem2,
            "checks": self.checks,
            "notes": self.notes,
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
        return jsonable(out)

    def table(self, title: str = "") -> str:
        lines = [title] if title else []
        lines.append(f"distortion risk sharing: {len(self.names)} agents, {self.attitude}, "
                     f"X {self.side} on {self.space.size} states")
        for k in KEYS:
            v = self.values[k]
            lines.append(f"  {k:<17} {'undetermined' if v is None else f'{v:.10g}':>18}   {self.methods[k]}")
        head = f"  {'agent':<14} {'distortion':<28} {'value':>14} {'probability':>12} {'comonotone':>14}"
        lines += ["", head, "  " + "-" * (len(head) - 2)]
        for i, nm in enumerate(self.names):
            prob = "" if self.probabilities is None else f"{self.probabilities[i]:.6f}"
            lines.append(f"  {nm:<14} {self.hs[i].describe():<28} {self.agent_values[i]:>14.8g} "
                         f"{prob:>12} {self.comonotone.agent_values[i]:>14.8g}")
        for k, v in self.checks.items():
            lines.append(f"  check {k}: {v:.3g}" if isinstance(v, float) else f"  check {k}: {v}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot(self, path: str, title: str = "") -> None:
        plt = pyplot()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        t = np.linspace(0.0, 1.0, 401)
        for nm, h in zip(self.names, self.hs, strict=True):
            ax1.plot(t, h(t), lw=1, label=f"{nm}: {h.describe()}")
        ax1.plot(t, PointwiseMin(self.hs)(t), "k--", lw=1.5, label="min h_i (comonotone)")
        if self.representative is not None:
            ax1.plot(t, self.representative(t), "r", lw=2, label="h~ (Theorem 3, not normalised)")
        ax1.set_xlabel("t")
        ax1.set_title("distortions")
        ax1.legend(fontsize=7)
        if self.representative is not None:
            w, v = np.meshgrid(np.linspace(0, 1, 301), np.linspace(0, 1, 301))
            ev = jackpot_events(self.representative, w, v)
            ax2.pcolormesh(w, v, ev, shading="auto", cmap="tab10", vmin=0, vmax=9)
            if self.jackpot.atoms.size <= 20:  # the atoms' W-intervals (few atoms only)
                for s in np.cumsum(self.jackpot.pieces.sum(axis=1))[:-1]:
                    ax2.axvline(s, color="w", lw=0.8, ls=":")
            ax2.set_xlabel("W = tail level (1 - U_X for X >= 0)")
            ax2.set_ylabel("V (independent uniform)")
            ax2.set_title("jackpot events A_i (Lemma 3; colour = agent)")
        else:
            co = self.comonotone
            for nm, f in zip(self.names, co.functions, strict=True):
                ax2.step(co.layers.atoms, f, where="post", label=nm)
            ax2.set_xlabel("x")
            ax2.set_title("comonotone allocation f_i(x)")
            ax2.legend(fontsize=7)
        save_figure(finish_figure(fig, title), path, dpi=100)


# --------------------------------------------------------------------------- the mechanism
def share(space: Scenarios, agents: Sequence[Agent], *, randomisation: bool = True,
          comonotone: str = "program", backend: str = "cvxpy", solver: str | None = None,
          cross_check: bool = True, aggregate: str = "X", **options: Any) -> SharingResult:
    """The three inf-convolutions of the agents' distortion risk measures at ``X`` (see the module
    docstring for which result of the paper determines each value).

    ``comonotone``: how the layer LP is solved (``"program"`` on ``backend``/``solver``, ``"direct"``
    highspy, ``"closed_form"``). ``randomisation``: atoms of ``X`` may be split (an independent
    uniform exists); otherwise a jackpot whose pieces the states cannot form is refused.
    ``cross_check``: also solve the tail-probability program (risk-seeking agents).
    """
    t0 = time.perf_counter()
    hs = distortions_of(agents)
    names = [a.name for a in agents]
    attitude = group_attitude(hs, "agents")
    x = space[aggregate]
    side = "nonnegative" if np.all(x >= 0) else "nonpositive" if np.all(x <= 0) else "two-sided"
    if attitude == "risk_seeking":
        one_sided(x, "space")  # Proposition 2
    co = comonotone_inf_convolution(space, hs, method=comonotone, backend=backend, solver=solver,
                                    names=names, aggregate=aggregate,
                                    **(options if comonotone == "program" else {}))
    values: dict[str, float | None] = {"comonotone": co.value}
    methods = {"comonotone": f"layer LP on the sorted atoms ({co.method}); = rho_(min h_i)(X)"}
    k_min = minimum_is_agent(hs)
    h_min = PointwiseMin(hs)
    thm2 = {"min_is_agent": None if k_min is None else names[k_min], "min_concave": is_concave(h_min),
            "min_dually_subadditive": is_dually_subadditive(h_min)}
    result = SharingResult(names, hs, space, attitude, side, values, methods, co.agent_values.copy(), None,
                           co, theorem2=thm2)
    if attitude == "risk_seeking":
        _risk_seeking(result, space, hs, randomisation, cross_check, backend, solver, aggregate, options)
    elif attitude in ("risk_averse", "neutral"):
        _risk_averse(result, space, agents, hs, k_min, backend, solver, aggregate, options)
    else:
        _general(result, space, hs, k_min, randomisation, aggregate)
    result.seconds = time.perf_counter() - t0
    return result


def _risk_seeking(res: SharingResult, space: Scenarios, hs: list[DistortionFunction], randomisation: bool,
                  cross_check: bool, backend: str, solver: str | None, aggregate: str,
                  options: dict[str, Any]) -> None:
    x = space[aggregate]
    jp, rep = lemma3_jackpot(space, hs, randomisation=randomisation, aggregate=aggregate)
    closed = choquet_sorted(x, space.p, rep)
    vals = jp.values(hs)
    res.values["unconstrained"] = res.values["counter_monotone"] = closed
    form = "□ h_i" if rep.side == "nonnegative" else "G(1) - G(1 - t), G = ⊞ h~_i"
    res.methods["unconstrained"] = res.methods["counter_monotone"] = (
        f"Theorem 3: rho_h~(X), h~ = {form}, attained by the jackpot of Lemma 3")
    res.agent_values, res.probabilities = vals, jp.probabilities()
    res.jackpot, res.representative = jp, rep
    res.checks["jackpot_minus_closed_form"] = float(vals.sum() - closed)
    res.agree("jackpot_minus_closed_form", float(vals.sum() - closed))
    if cross_check:
        prog = tail_program(space, hs, aggregate)
        sol = prog.solve(backend=backend, solver=solver, check=False, **options)
        res.checks["tail_program_status"] = sol.status
        if sol.objective is not None:
            res.checks["tail_program_minus_closed_form"] = float(sol.objective - closed)
        if sol.status.ok and sol.objective is not None:  # an ok program that disagrees is a failure
            res.agree("tail_program_minus_closed_form", float(sol.objective - closed))
        else:
            res.notes.append(f"the tail-probability cross-check ended {sol.status}: inconclusive, not "
                             "counted against the closed form")
    res.notes.append(f"h~(1) = {float(rep(1.0)):.10g}: the representative riskmetric is not normalised "
                     "(no translation invariance)")
    if len(x) and np.ptp(x) == 0:
        c = float(x[0])
        res.notes.append(f"constant payoff (Proposition 3): value = c (□h)(1) = {c:g} x "
                         f"{float(inf_convolution(hs)(1.0)):.10g}")
        if all(isinstance(h, Power) for h in hs) and rep.side == "nonnegative":
            p, mu = power_lottery([h.a for h in hs])
            res.checks["proposition3_mu"] = mu
            gap = float(np.max(np.abs(p - jp.probabilities())))
            res.checks["proposition3_max_probability_gap"] = gap
            res.verification.append(Check("proposition3_max_probability_gap", gap, 1e-9))


def _risk_averse(res: SharingResult, space: Scenarios, agents: Sequence[Agent], hs: list[DistortionFunction],
                 k_min: int | None, backend: str, solver: str | None, aggregate: str,
                 options: dict[str, Any]) -> None:
    x = space[aggregate]
    if res.attitude == "neutral":
        res.values["unconstrained"] = res.values["counter_monotone"] = float(space.p @ x)
        res.methods["unconstrained"] = res.methods["counter_monotone"] = \
            "every h_i = id: E[X] for any allocation"
        return
    for i, a in enumerate(agents):  # the LP form of each concave distortion must exist on this space
        try:
            a.measure.lp_knots(space.p)
        except ModelError as err:
            raise err.with_prefix(f"agents[{i}].measure") from None
    prog = SharingProgram(space, list(agents), allocation=Budget(), objective="total_risk",
                          aggregate=aggregate)
    sol = prog.solve(backend=backend, solver=solver, polish=False, **options)
    res.solved.append(sol.status)
    res.values["unconstrained"] = sol.objective
    res.methods["unconstrained"] = ("convex program over all allocations (LP form of concave distortions); "
                                    "Theorem 2(iii): = rho_(min h_i)(X)")
    res.agent_values = np.array([sol.values[nm] for nm in res.names])
    res.checks["unconstrained_minus_comonotone"] = float(sol.objective - res.values["comonotone"])
    res.agree("unconstrained_minus_comonotone (Theorem 2(iii))", res.checks["unconstrained_minus_comonotone"])
    if k_min is not None:
        res.values["counter_monotone"] = choquet_sorted(x, space.p, hs[k_min])
        res.methods["counter_monotone"] = (f"Theorem 2(ii)/Corollary 1: h_min = h of {res.names[k_min]}, "
                                           "who takes X (others 0)")
    else:
        res.values["counter_monotone"] = None
        bound = res.values["comonotone"]
        res.methods["counter_monotone"] = ("undetermined: min_i h_i is no single agent's h; Theorem 2(i) "
                                           f"bounds it below by rho_(min h_i)(X) = {bound:.10g}")


def _general(res: SharingResult, space: Scenarios, hs: list[DistortionFunction], k_min: int | None,
             randomisation: bool, aggregate: str) -> None:
    x = space[aggregate]
    if all(isinstance(h, VaRDistortion) for h in hs) and sum(h.level for h in hs) < 1:
        levels = [h.level for h in hs]
        jp = var_jackpot(space, levels, randomisation=randomisation, aggregate=aggregate)
        vals = jp.values(hs)
        res.values["unconstrained"] = res.values["counter_monotone"] = float(vals.sum())
        res.methods["unconstrained"] = res.methods["counter_monotone"] = (
            f"Example 1: VaR at the summed level {sum(levels):g}, attained by a counter-monotone allocation")
        res.agent_values, res.probabilities, res.jackpot = vals, jp.probabilities(), jp
        target = choquet_sorted(x, space.p, VaRDistortion(sum(levels)))
        res.checks["example1_minus_var_of_summed_level"] = float(vals.sum() - target)
        res.agree("example1_minus_var_of_summed_level", res.checks["example1_minus_var_of_summed_level"])
        return
    if res.theorem2["min_concave"]:
        res.values["unconstrained"] = res.values["comonotone"]
        res.methods["unconstrained"] = "Theorem 2(iii): min_i h_i is concave, so □ = □^+"
    else:
        res.values["unconstrained"] = None
        res.methods["unconstrained"] = ("undetermined: min_i h_i is not concave and the agents are not all "
                                        "VaR (the general problem is non-convex)")
    if k_min is not None and is_dually_subadditive(hs[k_min]):
        res.values["counter_monotone"] = choquet_sorted(x, space.p, hs[k_min])
        res.methods["counter_monotone"] = (f"Theorem 2(ii): h_min = h of {res.names[k_min]} is dually "
                                           "subadditive; that agent takes X")
    else:
        res.values["counter_monotone"] = None
        res.methods["counter_monotone"] = "undetermined by the paper's results for these distortions"


# ----------------------------------------------------------------------------- model cards
@dataclass
class SharingCard:
    space: Scenarios
    agents: list[Agent]
    randomisation: bool
    comonotone: str
    cross_check: bool


def card_spec(root: Any, draws: Any) -> SharingCard:
    """Read ``[[agents]]``/``[pool]`` (distortion measures), ``[space]`` and ``[sharing]``."""
    from ..cardschema import Node, build_agents, build_space

    space_node = root.child("space")
    agents = build_agents(root, draws, None)
    space = build_space(space_node, draws)
    node = root.child("sharing", default=None) or Node({}, "sharing")
    randomisation = node.take("randomisation", bool, default=True)
    comonotone = node.take("comonotone", str, default="program",
                           allowed="'program', 'direct' or 'closed_form'")
    if comonotone not in ("program", "direct", "closed_form"):
        raise ModelError(node.at("comonotone"), comonotone, "'program', 'direct' or 'closed_form'")
    cross_check = node.take("cross_check", bool, default=True)
    node.finish()
    hs = distortions_of(agents)
    attitude = group_attitude(hs, "agents")
    if attitude == "risk_seeking":
        one_sided(space.X, "space")
    return SharingCard(space, agents, randomisation, comonotone, cross_check)


def card_run(spec: SharingCard, backend: str, solver: str | None, options: dict[str, Any]) -> SharingResult:
    try:
        return share(spec.space, spec.agents, randomisation=spec.randomisation, comonotone=spec.comonotone,
                     backend=backend, solver=solver, cross_check=spec.cross_check, **options)
    except ModelError as err:  # name the card's field
        if err.field == "randomisation":
            raise err.with_prefix("sharing") from None
        raise


def _card() -> Any:
    from ..cardschema import CardMechanism

    return CardMechanism("distortion_sharing", card_spec, card_run)


CARD = _card()
