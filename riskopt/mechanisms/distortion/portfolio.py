"""The portfolio manager of seed 002, Section 6 (Propositions 4 and 5), with a RECONSTRUCTED wealth.

A group holds an endowment ``w > 0``; the manager invests a proportion ``lambda`` in a risky asset
with payoff ``xi >= 0`` (per unit invested), paying a convex cost ``c(lambda) = kappa lambda^2``;
the terminal wealth is shared so that nobody is handed a loss (allocations in ``L_-`` in loss
terms). The seed's formula for the wealth was lost in extraction; the spec (§7, [D]) reconstructs

    W_lambda = (1 - lambda) w + lambda w xi - c(lambda),

**an assumed form**, and riskopt uses it. Feasibility (the paper's assumption ``W_lambda >= 0``)
holds for every ``lambda`` in [0, 1] iff ``kappa <= w min(xi)`` (``W`` is concave in ``lambda`` in
every state, so its minimum over [0, 1] is at an end point).

The manager solves ``min_lambda min{ sum_i rho_{h_i}(X_i) : sum_i X_i = -W_lambda, X_i <= 0 }``.

* **Risk averse** (concave ``h_i``): by Theorem 2(iii) the inner value is
  ``rho_{min h}(-W) = -rho_{h^RA}(W)`` with ``h^RA = (min_i h_i)~ = max_i h~_i`` (convex);
* **risk seeking** (convex ``h_i``): by Theorem 3(ii) it is ``-rho_G(W)``,
  ``G = ⊞ h~_i`` (concave, ``G(1) >= 1``), i.e. ``-[lambda w rho_G(xi) + ((1 - lambda) w - c) G(1)]``.

Proposition 4: with the normalised distortion ``g = h^RA`` or ``g = h_RS = G / G(1)``,

    lambda* = min{ max{ (c')^{-1}( w (rho_g(xi) - 1) ), 0 }, 1 } = clip(w (rho_g(xi) - 1) / (2 kappa)).

:func:`manage` computes ``lambda*`` by this closed form AND by brute force: the inner value is
evaluated at each ``lambda`` by the general machinery (the Choquet sum of ``-W_lambda`` under
``min h_i`` or the representative ``h~``, no linearity in ``lambda`` used), minimised on a grid and
refined by bounded Brent; at ``lambda*`` the inner value is also solved as a program (the
comonotone layer LP, or the tail-probability program for risk seekers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from ..certificate import ZERO_DATA
from ..checks import positive
from ..data import jsonable
from ..errors import ModelError
from ..measures.convolution import PointwiseMax, PointwiseMin, group_attitude, representative, sup_convolution
from ..measures.distortion import DistortionFunction, Power, check_distortion, choquet_sorted
from ..program import Agent
from ..space import Scenarios
from ..status import DEFAULT_TOLERANCES, Check, Status, from_checks
from .distortion_comonotone import comonotone_inf_convolution
from .distortion_jackpot import tail_program
from .distortion_sharing import distortions_of

__all__ = ["CARD", "Normalised", "PortfolioResult", "gain_distortion", "lambda_curve", "manage",
           "optimal_proportion"]


class Normalised(DistortionFunction):
    """``g(t) = G(t) / G(1)``: a distortion built from an unnormalised one (``h_RS`` of Prop. 4)."""

    name = "normalised"

    def __init__(self, base: DistortionFunction):
        self.base = base
        self.scale = float(base(1.0))
        if not self.scale > 0:
            raise ModelError("base", base.describe(), "a function with G(1) > 0")

    def __call__(self, t):
        return np.asarray(self.base(t), float) / self.scale

    def describe(self) -> str:
        return f"{self.base.describe()} / {self.scale:.6g}"


def gain_distortion(hs: Sequence[DistortionFunction],
                    field: str = "agents") -> tuple[DistortionFunction, str, float]:
    """Proposition 4's ``g`` with the group's attitude and the scale ``G(1)`` (1 if risk averse).

    Risk averse: ``h^RA = max_i h~_i``; risk seeking: ``h_RS = G / G(1)``, ``G = ⊞ h~_i``.
    """
    attitude = group_attitude(hs, field)
    duals = [h.dual() for h in hs]
    if attitude == "risk_averse":
        return PointwiseMax(duals), attitude, 1.0
    if attitude == "risk_seeking":
        G = sup_convolution(duals, field)
        g = Normalised(G)
        return g, attitude, g.scale
    if attitude == "neutral":
        return Power(1.0), attitude, 1.0
    raise ModelError(field, [h.describe() for h in hs], "distortions that are all concave or all convex "
                     "(Proposition 4)", detail="the portfolio result needs one attitude in the group")


def _check(payoff: Scenarios, w: float, kappa: float, aggregate: str, prefix: str = "") -> np.ndarray:
    xi = payoff[aggregate]
    if np.any(xi < 0):
        raise ModelError(f"{prefix}payoff", float(np.min(xi)), "a nonnegative risky payoff xi >= 0")
    if kappa > w * float(np.min(xi)) + 1e-15:
        raise ModelError(f"{prefix}cost", kappa,
                         f"a cost with c(1) = kappa <= w min(xi) = {w * np.min(xi):g}",
                         detail="the terminal wealth W_lambda = (1 - lambda) w + lambda w xi - kappa "
                                "lambda^2 must stay >= 0 for every lambda in [0, 1] (the paper's "
                                "feasibility assumption)")
    return xi


def optimal_proportion(payoff: Scenarios, hs: Sequence[DistortionFunction], endowment: float, cost: float,
                       aggregate: str = "X") -> tuple[float, float, DistortionFunction, str, float]:
    """Closed form of Proposition 4: ``(lambda*, rho_g(xi), g, attitude, G(1))``."""
    w = positive("endowment", endowment, "the group's endowment w")
    kappa = positive("cost", cost, "the quadratic cost kappa in c(lambda) = kappa lambda^2")
    xi = _check(payoff, w, kappa, aggregate)
    g, attitude, scale = gain_distortion(hs)
    rho = choquet_sorted(xi, payoff.p, g)
    lam = float(np.clip(w * (rho - 1.0) / (2.0 * kappa), 0.0, 1.0))
    return lam, rho, g, attitude, scale


def _wealth(xi: np.ndarray, w: float, kappa: float, lam: float) -> np.ndarray:
    """The reconstructed terminal wealth ``W_lambda = (1 - lambda) w + lambda w xi - kappa lambda^2``."""
    return (1.0 - lam) * w + lam * w * xi - kappa * lam**2


@dataclass
class PortfolioResult:
    """Optimal risky proportion by the closed form and by brute force, with the value curve."""

    names: list[str]
    hs: list[DistortionFunction]
    attitude: str
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
    kappa_max: float = 1.0
    checks: dict[str, Any] = field(default_factory=dict)
    verification: tuple[Check, ...] = ()

    @property
    def status(self) -> Status:
        """The closed form (exact arithmetic) verified against the brute force and the program."""
        return from_checks(Status.OPTIMAL, self.verification)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "status": self.status, "mechanism": "distortion_portfolio", "attitude": self.attitude,
            "verification": [c.to_dict() for c in self.verification],
            "wealth": "W_lambda = (1 - lambda) w + lambda w xi - kappa lambda^2 (reconstructed, spec §7)",
            "endowment": self.endowment, "cost_kappa": self.cost,
            "g": self.g.describe(), "rho_g_xi": self.rho_g, "G_at_1": self.scale,
            "lambda_star": self.lambda_closed, "lambda_brute_force": self.lambda_brute,
            "objective": self.value_closed, "value_brute_force": self.value_brute,
            "agents": [{"name": nm, "distortion": h.describe()} for nm, h in zip(self.names, self.hs,
                                                                                 strict=True)],
            "curve": {"lambda": self.grid, "value": self.curve}, "checks": self.checks,
            "solver": {"backend": "riskopt", "solver": "closed form (Proposition 4) + brute-force grid",
                       "compile_s": 0.0, "solve_s": None}})

    def table(self, title: str = "") -> str:
        lines = [title] if title else []
        lines += [f"portfolio manager: {len(self.names)} agents, {self.attitude}; "
                  f"w = {self.endowment:g}, c(lambda) = {self.cost:g} lambda^2 (reconstructed wealth)",
                  f"  g = {self.g.describe()}",
                  f"  rho_g(xi)            {self.rho_g:.10g}",
                  f"  G(1)                 {self.scale:.10g}",
                  f"  lambda* closed form  {self.lambda_closed:.10g}",
                  f"  lambda* brute force  {self.lambda_brute:.10g}",
                  f"  optimal total risk   {self.value_closed:.10g} (brute force {self.value_brute:.10g})"]
        lines += [f"  check {k}: {v:.3g}" if isinstance(v, float) else f"  check {k}: {v}"
                  for k, v in self.checks.items()]
        return "\n".join(lines)

    def plot(self, path: str, title: str = "") -> None:
        from ..plots import finish_figure, pyplot, save_figure

        plt = pyplot()
        fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
        ax1.plot(self.grid, self.curve, label="inner value (general machinery)")
        ax1.axvline(self.lambda_closed, color="r", ls="--", label=f"lambda* = {self.lambda_closed:.4f}")
        ax1.set_xlabel("lambda")
        ax1.set_ylabel("min total risk of -W_lambda")
        ax1.legend(fontsize=8)
        t = np.linspace(0, 1, 401)
        ax2.plot(t, t, "k:", label="identity")
        ax2.plot(t, self.g(t), "r", label=f"g ({'h^RA' if self.attitude == 'risk_averse' else 'h_RS'})")
        for nm, h in zip(self.names, self.hs, strict=True):
            ax2.plot(t, h.dual()(t), lw=0.8, label=f"dual of {nm}")
        ax2.set_xlabel("t")
        ax2.legend(fontsize=7)
        kappas = np.linspace(self.kappa_max / 50, self.kappa_max, 50)
        ax3.plot(kappas, np.clip(self.endowment * (self.rho_g - 1) / (2 * kappas), 0, 1))
        ax3.axvline(self.cost, color="r", ls="--", label=f"kappa = {self.cost:g}")
        ax3.set_xlabel("kappa (cost c = kappa lambda^2)")
        ax3.set_ylabel("lambda*")
        ax3.set_title("lambda* curve (feasible kappa <= w min xi)")
        ax3.legend(fontsize=8)
        save_figure(finish_figure(fig, title), path, dpi=100)


class _Memo(DistortionFunction):
    """``h`` with its values cached per argument array: the tail levels of ``-W_lambda`` are the same
    for every ``lambda > 0`` (``W`` is increasing in ``xi``), so a sweep evaluates ``h`` once."""

    name = "memo"

    def __init__(self, base: DistortionFunction):
        self.base = base
        self._cache: dict[bytes, np.ndarray] = {}

    def __call__(self, t):
        t = np.asarray(t, float)
        key = t.tobytes() + bytes(str(t.shape), "ascii")
        if key not in self._cache:
            self._cache[key] = np.asarray(self.base(t), float)
        return self._cache[key]


def _inner(hs: list[DistortionFunction], attitude: str, rep: DistortionFunction | None,
           payoff: Scenarios, xi: np.ndarray, w: float, kappa: float) -> Callable[[float], float]:
    """The group's minimal total risk of ``-W_lambda`` (Theorem 2(iii) / Theorem 3), evaluated by
    the Choquet sum at each ``lambda``."""
    h = _Memo(PointwiseMin(hs) if attitude != "risk_seeking" else rep)

    def value(lam: float) -> float:
        return choquet_sorted(-_wealth(xi, w, kappa, lam), payoff.p, h)

    return value


def manage(payoff: Scenarios, agents: Sequence[Agent], *, endowment: float, cost: float, grid: int = 201,
           solver_check: bool = True, backend: str = "cvxpy", solver: str | None = None,
           aggregate: str = "X", **options: Any) -> PortfolioResult:
    """Proposition 4's ``lambda*`` by the closed form and by brute force (see the module docstring)."""
    hs = distortions_of(agents)
    names = [a.name for a in agents]
    lam, rho, g, attitude, scale = optimal_proportion(payoff, hs, endowment, cost, aggregate)
    if not isinstance(grid, int) or grid < 3:
        raise ModelError("grid", grid, "an integer number of grid points >= 3")
    w, kappa = float(endowment), float(cost)
    xi = payoff[aggregate]
    rep = representative(hs, "nonpositive") if attitude == "risk_seeking" else None
    inner = _inner(hs, attitude, rep, payoff, xi, w, kappa)
    lams = np.linspace(0.0, 1.0, grid)
    curve = np.array([inner(v) for v in lams])
    k = int(np.argmin(curve))
    lo, hi = lams[max(k - 1, 0)], lams[min(k + 1, grid - 1)]
    best = minimize_scalar(inner, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    cands = [(float(best.fun), float(best.x)), (float(curve[k]), float(lams[k]))]
    value_bf, lam_bf = min(cands)
    value_cf = -scale * ((1.0 - lam) * w - kappa * lam**2 + lam * w * rho)
    res = PortfolioResult(names, hs, attitude, w, kappa, g, rho, scale, lam, lam_bf, value_cf, value_bf,
                          lams, curve, kappa_max=w * float(np.min(xi)))
    res.checks["lambda_gap"] = abs(lam - lam_bf)
    res.checks["value_gap"] = abs(value_cf - inner(lam))
    size = max(abs(value_cf), abs(value_bf)) or ZERO_DATA  # the value's own scale
    tight = DEFAULT_TOLERANCES.tight
    verification = [
        # the closed form's value is the inner value at lambda* (1e-12: two orders of the same sums)
        Check("closed_form_value_at_lambda_star", res.checks["value_gap"], 1e-12 * size),
        # optimality: no point of the grid (refined by Brent) does better than the closed form
        Check("brute_force_not_better", max(value_cf - value_bf, 0.0), tight * size)]
    if solver_check:
        loss = Scenarios(payoff.p, {"X": -_wealth(xi, w, kappa, lam)})
        if attitude == "risk_seeking":
            sol = tail_program(loss, hs).solve(backend=backend, solver=solver, check=False, **options)
            res.checks["program_at_lambda_star"] = "tail-probability program"
            program_value, program_status = sol.objective, sol.status
        else:
            co = comonotone_inf_convolution(loss, hs, method="program", backend=backend, solver=solver,
                                            **options)
            res.checks["program_at_lambda_star"] = "comonotone layer LP (= unconstrained, Theorem 2(iii))"
            program_value, program_status = co.value, co.status
        res.checks["program_status"] = program_status
        if program_value is not None:
            res.checks["program_minus_closed_form"] = float(program_value - value_cf)
        if program_status.ok and program_value is not None:  # an ok program that disagrees is a failure
            verification.append(Check("program_minus_closed_form", program_value - value_cf, tight * size))
        else:
            res.checks["program_note"] = (f"the cross-check program ended {program_status}: inconclusive, "
                                          "not counted against the closed form")
    res.verification = tuple(verification)
    return res


def lambda_curve(payoff: Scenarios, family: Callable[[float], Sequence[DistortionFunction]],
                 thetas: Sequence[float], endowment: float, cost: float) -> np.ndarray:
    """``lambda*(theta)`` for a one-parameter family of groups (Examples 6 and 7), closed form."""
    out = []
    for theta in thetas:
        hs = [check_distortion(h, field=f"family({theta:g})") for h in family(theta)]
        out.append(optimal_proportion(payoff, hs, endowment, cost)[0])
    return np.asarray(out)


# ----------------------------------------------------------------------------- model cards
@dataclass
class PortfolioCard:
    payoff: Scenarios
    agents: list[Agent]
    endowment: float
    cost: float
    grid: int


def card_spec(root: Any, draws: Any) -> PortfolioCard:
    """Read ``[[agents]]``/``[pool]``, ``[payoff]`` (a space section: ``X`` is ``xi``) and
    ``[portfolio]`` (``endowment``, ``cost``, ``grid``)."""
    from ..cardschema import build_agents, build_space

    payoff_node = root.child("payoff")
    agents = build_agents(root, draws, None)
    payoff = build_space(payoff_node, draws)
    node = root.child("portfolio")
    w = node.take("endowment", float, default=1.0, allowed="the group's endowment w > 0")
    kappa = node.take("cost", float, allowed="kappa > 0 in the cost c(lambda) = kappa lambda^2")
    grid = node.take("grid", int, default=201, allowed="an integer number of grid points in [3, 100000]")
    node.finish()
    if not (np.isfinite(w) and w > 0):
        raise ModelError(node.at("endowment"), w, "the group's endowment w > 0")
    if not (np.isfinite(kappa) and kappa > 0):
        raise ModelError(node.at("cost"), kappa, "kappa > 0 in the cost c(lambda) = kappa lambda^2")
    if not 3 <= grid <= 100_000:
        raise ModelError(node.at("grid"), grid, "an integer number of grid points in [3, 100000]")
    xi = payoff.X
    if np.any(xi < 0):
        raise ModelError("payoff.values", float(np.min(xi)), "a nonnegative risky payoff xi >= 0")
    try:
        _check(payoff, w, kappa, "X", prefix="")
    except ModelError as err:
        raise ModelError(node.at("cost"), kappa, err.allowed, detail=err.detail) from None
    gain_distortion(distortions_of(agents), "agents")
    return PortfolioCard(payoff, agents, w, kappa, grid)


def card_run(spec: PortfolioCard, backend: str, solver: str | None,
             options: dict[str, Any]) -> PortfolioResult:
    return manage(spec.payoff, spec.agents, endowment=spec.endowment, cost=spec.cost, grid=spec.grid,
                  backend=backend, solver=solver, **options)


def _card() -> Any:
    from ..cardschema import CardMechanism

    return CardMechanism("distortion_portfolio", card_spec, card_run)


CARD = _card()
