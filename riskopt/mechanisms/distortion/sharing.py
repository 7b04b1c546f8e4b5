"""Distortion risk sharing (Ghossoub-Ren-Wang 2024): the three inf-convolutions of n agents.

For distortion risk measures ``rho_{h_i}`` (``h_i`` increasing, ``h_i(0) = 0``, ``h_i(1) = 1``) and an
aggregate loss ``X`` on a scenario space, :func:`share` computes

* ``comonotone``: ``□^+ rho_{h_i}(X) = rho_{min_i h_i}(X)`` by the layer LP on the sorted atoms
  (:mod:`~riskopt.mechanisms.distortion.comonotone`), for any distortions;
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
  :mod:`~riskopt.mechanisms.distortion.jackpot`), cross-checked by the tail-probability program.
  A two-sided ``X`` is refused (Proposition 2: the infimum is ``-infinity``).
* **VaR agents** (Example 1): ``□ = □^- = VaR_{sum alpha_i}(X)`` by an explicit counter-monotone
  allocation; other distortions that are neither concave nor convex get ``□`` from Theorem 2(iii)
  when ``min_i h_i`` is concave and ``□^-`` from Theorem 2(ii) when ``min_i h_i = h_k`` is dually
  subadditive.
* **mixed attitudes** (a concave and a convex agent): refused, out of the paper's scope.

**Sharing a constant** (Proposition 3): for ``X = c`` the risk-seeking optimum is a lottery, agent
``i`` bearing ``c`` with probability ``p_i* = f_i(1)`` and the value ``c (□ h_i)(1)``; for powers
``h_i = t^{a_i}``, ``p_i* = (mu*/a_i)^{1/(a_i - 1)}`` with ``sum_i p_i* = 1``
(:func:`~riskopt.mechanisms.distortion.fast.power_lottery`).

**Methods.** ``"auto"`` (the default) solves the comonotone layer LP as a program (or as the
``comonotone`` option says), takes the risk seekers' value from the closed form with the jackpot of
Lemma 3 (cross-checked by the tail-probability program) and the risk averters' from the sharing
program. ``"fast"`` uses closed forms and specialised solvers only: the layer LP straight into
highspy (or in closed form), Theorem 3's closed form and jackpot, Theorem 2(iii) for risk averters
(``□ = □^+``, attained by the comonotone allocation). ``"program"`` solves every value that has a
program on the backend: the layer LP, the sharing program, and the tail-probability program, whose
value and jackpot are then checked against the closed form.

**Your own constraints** (``constraints``, ``[[constraints]]`` in cards; :mod:`riskopt.constraints`)
need programs: ``"auto"`` then runs ``"program"`` and ``"fast"`` refuses them. Every program that
runs takes them: the layer LP (``comonotone`` is then the constrained comonotone value), the
tail-probability program (risk seekers: ``unconstrained`` = ``counter_monotone``, a jackpot being
counter-monotone) or the sharing program (risk averters: ``unconstrained``). A value the paper gives
only in closed form (Theorem 2(ii)'s ``counter_monotone``, Theorem 2(iii) and Example 1 for other
distortions) ignores constraints and is reported as undetermined; ``constrained_values`` lists the
values that took them and ``constraints`` holds the duals of the program behind the headline value.
"""


from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...certificate import ZERO_DATA
from ...constraints import ConstraintDual, ConstraintSpec, check_constraints, require_no_constraints
from ...errors import ModelError
from ...measures.distortion import DistortionFunction, Power, VaRDistortion, choquet_sorted
from ...program import Agent
from ...space import Scenarios
from ...status import DEFAULT_TOLERANCES, Check, Status
from .comonotone import ComonotoneResult, comonotone_inf_convolution
from .convolution import (
    PointwiseMin,
    Representative,
    group_attitude,
    inf_convolution,
    is_concave,
    is_dually_subadditive,
    minimum_is_agent,
    representative,
)
from .fast import power_lottery, var_jackpot
from .jackpot import Jackpot, lemma3_jackpot, one_sided
from .program import QUANTITIES, tail_program, unconstrained_program
from .result import InfConvolutionMethods, InfConvolutions, SharingResult, Theorem2
from .spec import COMONOTONE_ROUTES, distortions_of

__all__ = ["comonotone_route", "share"]

METHODS = ("auto", "fast", "program")


def comonotone_route(method: str, comonotone: str | None) -> tuple[str, str | None]:
    """How the layer LP is solved for ``method``, and a note when the method overrides the
    ``comonotone`` option: with ``"auto"`` the option decides (default ``"program"``); ``"fast"``
    takes ``"direct"`` or ``"closed_form"`` (default ``"direct"``), ``"program"`` takes ``"program"``."""
    if method not in METHODS:
        raise ModelError("method", method, "'auto', 'fast' or 'program'")
    if comonotone is not None and comonotone not in COMONOTONE_ROUTES:
        raise ModelError("comonotone", comonotone, "'program', 'direct' or 'closed_form'")
    default = "direct" if method == "fast" else "program"
    if comonotone is None or method == "auto":
        return comonotone or default, None
    if (comonotone == "program") == (method == "program"):
        return comonotone, None
    return default, (f"method '{method}' solved the comonotone layer LP by '{default}' (the comonotone "
                     f"option '{comonotone}' belongs to the other method)")


@dataclass
class _Draft:
    """What the routes below fill in before the result is frozen."""

    values: dict[str, float | None]
    methods: dict[str, str]
    agent_values: np.ndarray
    scale: float
    probabilities: np.ndarray | None = None
    jackpot: Jackpot | None = None
    representative: Representative | None = None
    program_allocation: dict[str, np.ndarray] | None = None
    checks: dict[str, float | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    solved: list[Status] = field(default_factory=list)
    verification: list[Check] = field(default_factory=list)
    constraints: tuple[ConstraintSpec, ...] = ()
    names: list[str] = field(default_factory=list)
    #: the duals of the program behind ``unconstrained`` (when it took the user constraints)
    duals: dict[str, ConstraintDual] | None = None
    constrained: list[str] = field(default_factory=list)

    def agree(self, name: str, difference: float) -> None:
        """Record that two routes to one value agree within the tight tolerance (relative to E|X|)."""
        self.verification.append(Check(name, difference, DEFAULT_TOLERANCES.tight * self.scale))


def share(space: Scenarios, agents: Sequence[Agent], *, method: str = "auto", randomisation: bool = True,
          comonotone: str | None = None, backend: str = "cvxpy", solver: str | None = None,
          cross_check: bool = True, aggregate: str = "X", constraints: Sequence[ConstraintSpec] = (),
          **options: Any) -> SharingResult:
    """The three inf-convolutions of the agents' distortion risk measures at ``X`` (see the module
    docstring for which result of the paper determines each value, and for the methods).

    ``comonotone``: how the layer LP is solved (``"program"`` on ``backend``/``solver``, ``"direct"``
    highspy, ``"closed_form"``; default: by the method). ``randomisation``: atoms of ``X`` may be
    split (an independent uniform exists); otherwise a jackpot whose pieces the states cannot form
    is refused. ``cross_check``: with method ``"auto"``, also solve the tail-probability program
    (risk-seeking agents). ``constraints``: the modeler's own (see the module docstring).
    """
    constraints = tuple(constraints)
    if method == "fast":
        require_no_constraints(constraints, method, "closed forms and the layer LP in highspy ignore them")
    if constraints and method == "auto":
        method = "program"  # the fast path cannot take them: every value that has a program is solved
    route, overridden = comonotone_route(method, comonotone)
    t0 = time.perf_counter()
    hs = distortions_of(agents)
    names = [a.name for a in agents]
    check_constraints(constraints, {"agent": names}, QUANTITIES)
    attitude = group_attitude(hs, "agents")
    x = space[aggregate]
    side = "nonnegative" if np.all(x >= 0) else "nonpositive" if np.all(x <= 0) else "two-sided"
    if attitude == "risk_seeking":
        one_sided(x, "space")  # Proposition 2
    co = comonotone_inf_convolution(space, hs, method=route, backend=backend, solver=solver,
                                    names=names, aggregate=aggregate, constraints=constraints,
                                    **(options if route == "program" else {}))
    k_min = minimum_is_agent(hs)
    h_min = PointwiseMin(hs)
    thm2 = Theorem2(None if k_min is None else names[k_min], is_concave(h_min), is_dually_subadditive(h_min))
    draft = _Draft({"comonotone": co.value},
                   {"comonotone": f"layer LP on the sorted atoms ({co.method}); = rho_(min h_i)(X)"},
                   co.agent_values.copy(), float(space.p @ np.abs(space.X)) or ZERO_DATA,
                   constraints=constraints, names=names)
    if overridden is not None:
        draft.notes.append(overridden)
    if constraints:
        draft.constrained.append("comonotone")
        draft.methods["comonotone"] = ("with your constraints: the layer LP on the sorted atoms (program); "
                                       ">= rho_(min h_i)(X), the unconstrained closed form")
    if attitude == "risk_seeking":
        _risk_seeking(draft, space, hs, method, randomisation, cross_check, backend, solver, aggregate,
                      options)
    elif attitude in ("risk_averse", "neutral"):
        _risk_averse(draft, co, space, agents, attitude, hs, k_min, method, backend, solver, aggregate,
                     options)
    elif constraints:
        _general_constrained(draft)
    else:
        _general(draft, co, space, names, hs, k_min, thm2, randomisation, aggregate)
    values, methods = draft.values, draft.methods
    duals = draft.duals if draft.duals is not None else dict(co.constraints)
    return SharingResult(
        names=tuple(names), hs=tuple(hs), space=space, attitude=attitude, side=side,
        values=InfConvolutions(co.value, values["unconstrained"], values["counter_monotone"]),
        methods=InfConvolutionMethods(methods["comonotone"], methods["unconstrained"],
                                      methods["counter_monotone"]),
        agent_values=draft.agent_values, probabilities=draft.probabilities, comonotone=co, theorem2=thm2,
        jackpot=draft.jackpot, representative=draft.representative,
        program_allocation=draft.program_allocation, checks=draft.checks, notes=tuple(draft.notes),
        seconds=time.perf_counter() - t0, solved=tuple(draft.solved), verification=tuple(draft.verification),
        method=method, constraints=duals, constrained_values=tuple(draft.constrained))


def _risk_seeking(res: _Draft, space: Scenarios, hs: list[DistortionFunction], method: str,
                  randomisation: bool, cross_check: bool, backend: str, solver: str | None, aggregate: str,
                  options: dict[str, Any]) -> None:
    x = space[aggregate]
    if method == "program":
        _tail_program_route(res, space, hs, randomisation, backend, solver, aggregate, options)
        if res.constraints:  # Proposition 3's lottery is the unconstrained optimum: not compared
            return
    else:
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
        if cross_check and method == "auto":
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
    h_tilde = res.representative
    assert h_tilde is not None and res.jackpot is not None
    res.notes.append(f"h~(1) = {float(h_tilde(1.0)):.10g}: the representative riskmetric is not normalised "
                     "(no translation invariance)")
    if len(x) and np.ptp(x) == 0:
        c = float(x[0])
        res.notes.append(f"constant payoff (Proposition 3): value = c (□h)(1) = {c:g} x "
                         f"{float(inf_convolution(hs)(1.0)):.10g}")
        if all(isinstance(h, Power) for h in hs) and h_tilde.side == "nonnegative":
            p, mu = power_lottery([h.a for h in hs if isinstance(h, Power)])
            res.checks["proposition3_mu"] = mu
            gap = float(np.max(np.abs(p - res.jackpot.probabilities())))
            res.checks["proposition3_max_probability_gap"] = gap
            if method != "program":  # the closed-form jackpot is exact; a program's split is not
                res.verification.append(Check("proposition3_max_probability_gap", gap, 1e-9))


def _tail_program_route(res: _Draft, space: Scenarios, hs: list[DistortionFunction], randomisation: bool,
                        backend: str, solver: str | None, aggregate: str, options: dict[str, Any]) -> None:
    """Method ``"program"``: the tail-probability program's value and jackpot, checked against the
    closed form ``rho_h~(X)`` of Theorem 3 and the jackpot's exact value."""
    x = space[aggregate]
    rep = representative(hs, one_sided(x, aggregate))
    closed = choquet_sorted(x, space.p, rep)
    prog = tail_program(space, hs, aggregate, names=res.names)
    prog.add_constraints(res.constraints)
    sol = prog.solve(backend=backend, solver=solver, **options)  # raises unless the status is usable
    res.solved.append(sol.status)
    assert sol.objective is not None
    value = float(sol.objective)
    jp = prog.jackpot(randomisation=randomisation)
    vals = jp.values(hs)
    res.values["unconstrained"] = res.values["counter_monotone"] = value
    res.agent_values, res.probabilities = vals, jp.probabilities()
    res.jackpot, res.representative = jp, rep
    res.checks["tail_program_status"] = sol.status
    if res.constraints:
        res.duals = prog.constraint_duals(sol)
        res.constrained += ["unconstrained", "counter_monotone"]
        res.methods["unconstrained"] = res.methods["counter_monotone"] = (
            "with your constraints: the tail-probability program (Theorem 3's jackpot class, exact for "
            "constraints on expected losses), attained by its jackpot (counter-monotone); >= rho_h~(X), "
            "the unconstrained closed form (check constrained_minus_unconstrained_closed_form)")
        res.checks["constrained_minus_unconstrained_closed_form"] = value - closed
        # constraints cannot lower the minimum (a violation beyond the tolerance is a failure)
        res.agree("closed_form_minus_constrained_value", max(closed - value, 0.0))
    else:
        res.methods["unconstrained"] = res.methods["counter_monotone"] = (
            "the tail-probability program (Theorem 3), attained by its jackpot; checked against rho_h~(X)")
        res.checks["tail_program_minus_closed_form"] = value - closed
        res.agree("tail_program_minus_closed_form", value - closed)
    res.checks["jackpot_minus_tail_program"] = float(vals.sum() - value)
    res.agree("jackpot_minus_tail_program", float(vals.sum() - value))


def _risk_averse(res: _Draft, co: ComonotoneResult, space: Scenarios, agents: Sequence[Agent], attitude: str,
                 hs: list[DistortionFunction], k_min: int | None, method: str, backend: str,
                 solver: str | None, aggregate: str, options: dict[str, Any]) -> None:
    x = space[aggregate]
    names = [a.name for a in agents]
    if attitude == "neutral" and not res.constraints:
        res.values["unconstrained"] = res.values["counter_monotone"] = float(space.p @ x)
        res.methods["unconstrained"] = res.methods["counter_monotone"] = \
            "every h_i = id: E[X] for any allocation"
        return
    if method == "fast":
        res.values["unconstrained"] = co.value
        res.methods["unconstrained"] = ("Theorem 2(iii): min_i h_i is concave, so □ = □^+ (attained by the "
                                        "comonotone allocation)")
    else:
        prog = unconstrained_program(space, agents, aggregate)
        prog.add_constraints(res.constraints)
        sol = prog.solve(backend=backend, solver=solver, polish=False, **options)
        res.solved.append(sol.status)
        assert sol.objective is not None
        res.values["unconstrained"] = sol.objective
        res.agent_values = np.array([sol.values[nm] for nm in names])
        res.program_allocation = {nm: np.asarray(sol.allocation[nm], float) for nm in names}
        difference = float(sol.objective - co.value)
        res.checks["unconstrained_minus_comonotone"] = difference
        if res.constraints:
            res.duals = prog.constraint_duals(sol)
            res.constrained.append("unconstrained")
            res.methods["unconstrained"] = ("with your constraints: convex program over all allocations "
                                            "(LP form of concave distortions)")
            # comonotone allocations are allocations: the constrained □ is no higher than □^+
            res.agree("unconstrained_not_above_comonotone", max(difference, 0.0))
        else:
            res.methods["unconstrained"] = ("convex program over all allocations (LP form of concave "
                                            "distortions); Theorem 2(iii): = rho_(min h_i)(X)")
            res.agree("unconstrained_minus_comonotone (Theorem 2(iii))", difference)
    if res.constraints:
        res.values["counter_monotone"] = None
        res.methods["counter_monotone"] = ("undetermined with your constraints (Theorem 2's closed forms "
                                           "ignore them)")
    elif k_min is not None:
        res.values["counter_monotone"] = choquet_sorted(x, space.p, hs[k_min])
        res.methods["counter_monotone"] = (f"Theorem 2(ii)/Corollary 1: h_min = h of {names[k_min]}, "
                                           "who takes X (others 0)")
    else:
        res.values["counter_monotone"] = None
        bound = co.value
        res.methods["counter_monotone"] = ("undetermined: min_i h_i is no single agent's h; Theorem 2(i) "
                                           f"bounds it below by rho_(min h_i)(X) = {bound:.10g}")


def _general(res: _Draft, co: ComonotoneResult, space: Scenarios, names: list[str],
             hs: list[DistortionFunction], k_min: int | None, thm2: Theorem2, randomisation: bool,
             aggregate: str) -> None:
    x = space[aggregate]
    if all(isinstance(h, VaRDistortion) for h in hs) and sum(_level(h) for h in hs) < 1:
        levels = [_level(h) for h in hs]
        jp = var_jackpot(space, levels, randomisation=randomisation, aggregate=aggregate)
        vals = jp.values(hs)
        res.values["unconstrained"] = res.values["counter_monotone"] = float(vals.sum())
        res.methods["unconstrained"] = res.methods["counter_monotone"] = (
            f"Example 1: VaR at the summed level {sum(levels):g}, attained by a counter-monotone allocation")
        res.agent_values, res.probabilities, res.jackpot = vals, jp.probabilities(), jp
        target = choquet_sorted(x, space.p, VaRDistortion(sum(levels)))
        difference = float(vals.sum() - target)
        res.checks["example1_minus_var_of_summed_level"] = difference
        res.agree("example1_minus_var_of_summed_level", difference)
        return
    if thm2.min_concave:
        res.values["unconstrained"] = co.value
        res.methods["unconstrained"] = "Theorem 2(iii): min_i h_i is concave, so □ = □^+"
    else:
        res.values["unconstrained"] = None
        res.methods["unconstrained"] = ("undetermined: min_i h_i is not concave and the agents are not all "
                                        "VaR (the general problem is non-convex)")
    if k_min is not None and is_dually_subadditive(hs[k_min]):
        res.values["counter_monotone"] = choquet_sorted(x, space.p, hs[k_min])
        res.methods["counter_monotone"] = (f"Theorem 2(ii): h_min = h of {names[k_min]} is dually "
                                           "subadditive; that agent takes X")
    else:
        res.values["counter_monotone"] = None
        res.methods["counter_monotone"] = "undetermined by the paper's results for these distortions"


def _general_constrained(res: _Draft) -> None:
    """Distortions neither all concave nor all convex, with constraints: only the layer LP is a
    program (Theorem 2(iii) and Example 1 are closed forms that ignore constraints)."""
    res.values["unconstrained"] = res.values["counter_monotone"] = None
    res.methods["unconstrained"] = res.methods["counter_monotone"] = (
        "undetermined with your constraints: for these distortions the paper's values are closed forms "
        "(Theorem 2, Example 1) that ignore them, and the allocation problem is not convex")


def _level(h: DistortionFunction) -> float:
    return float(h.level) if isinstance(h, VaRDistortion) else 1.0
