"""Two regions, CARA, no insurer: the closed form of Proposition 4 and its sweeps.

Setting (Assumption 2): ``v_i(x) = g_i exp(x / g_i)``, caps ``w_i``, ``S ~ p0 delta_0 + (1 - p0)
Uniform[0, W]`` with ``W = w1 + w2`` and fair targets ``mu_1 + mu_2 = (1 - p0) W / 2``. With
``zeta = ln(alpha_2 / alpha_1)`` the Pareto-optimal rule is, for every case,

    T1(s) = clip(g1 (s + g2 zeta) / (g1 + g2), max(0, s - w2), min(s, w1)),   T2 = s - T1,

and fairness fixes ``zeta`` in one of three cases (labels such that ``x1 = w1/g1 <= x2 = w2/g2``,
swapped otherwise; results are always reported in the caller's labels):

* case 3 (small ``mu_1``): ``zeta = -x2 + sqrt(M/gamma - x1^2/gamma)``, ``zeta in [-x2, x1 - x2]``;
* case 2: ``zeta = [(1 + gamma) w1/2 + W (mu_1/((1 - p0) w1) - 1)] / g2``, ``zeta in [x1 - x2, 0]``;
* case 1 (large ``mu_1``): ``zeta = x1 - sqrt(M mu/gamma - gamma x2^2)``, ``zeta in [0, x1]``;

``gamma = g2/g1``, ``mu = mu_2/mu_1``, ``M = 2 W mu_1 / ((1 - p0) g1^2)``. The case-3 middle layer
is ``g1 s/(g1+g2) + g1 g2 zeta/(g1+g2)`` (plus sign: the paper prints a minus). An AFPO
exists iff ``(1-p0) w1^2/(2W) <= mu_1 <= (1-p0)(W^2 - w2^2)/(2W)``; outside, the solution says which
bound fails (the paper's mu-sweep range contains such points).

:func:`sensitivity_point` is a pure function of a parameter dict (one row of a sweep) and
:func:`sensitivity` runs a list of them through a sweep runner (:mod:`riskopt.sweep`): serial,
local processes or dask.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ...checks import nonnegative, positive, real, real_array
from ...errors import ModelError

__all__ = ["TwoRegionSolution", "gamma_sweep_points", "mu_sweep_points", "plot_sensitivity",
           "proposition4", "sensitivity", "sensitivity_point"]

#: the paper's baseline: mu-sweep at p0 = 0.2, gamma-sweep at p0 = 0.1
BASELINE = {"w1": 4.5, "w2": 10.0, "g1": 1.0, "g2": 2.0, "mu2": 4.0}


@dataclass(frozen=True)
class TwoRegionSolution:
    """Proposition 4 for one parameter set (original labels throughout).

    ``case`` is 1, 2 or 3 (in the labels where ``x1 <= x2``) or ``None`` when no AFPO exists
    (``reason`` says why; ``zeta``/``alpha1`` are then ``None``, never NaN).
    """

    w1: float
    w2: float
    g1: float
    g2: float
    p0: float
    mu1: float
    mu2: float
    case: int | None
    zeta: float | None
    swapped: bool
    mu1_range: tuple[float, float]
    reason: str = ""

    @property
    def feasible(self) -> bool:
        return self.case is not None

    @property
    def W(self) -> float:  # noqa: N802 - the paper's notation
        return self.w1 + self.w2

    @property
    def alpha1(self) -> float | None:
        """``alpha_1 = 1 / (1 + e^zeta)`` (weights normalised to sum to 1, ``v_i = g_i e^{x/g_i}``)."""
        return None if self.zeta is None else 1.0 / (1.0 + math.exp(self.zeta))

    @property
    def alpha2(self) -> float | None:
        a1 = self.alpha1
        return None if a1 is None else 1.0 - a1

    def taxes(self, s: Any) -> np.ndarray:
        """``(T1(s), T2(s))`` as a ``(2, m)`` array (the PO rule of this zeta)."""
        if self.zeta is None:
            raise ModelError("mu1", self.mu1, f"a fair target in [{self.mu1_range[0]:.6g}, "
                             f"{self.mu1_range[1]:.6g}]", detail=self.reason)
        s = np.atleast_1d(np.asarray(s, float))
        g1, g2 = self.g1, self.g2
        inner = g1 * (s + g2 * self.zeta) / (g1 + g2)
        t1 = np.clip(inner, np.maximum(0.0, s - self.w2), np.minimum(s, self.w1))
        return np.vstack([t1, s - t1])

    def expected_taxes(self) -> np.ndarray:
        """``E[T_i]`` under ``p0 delta_0 + (1 - p0) U[0, W]``, exact (T is piecewise linear)."""
        knots = np.array([0.0, self.W])
        if self.zeta is not None:
            g1, g2 = self.g1, self.g2
            z = self.zeta
            c, s3 = (1 + g2 / g1) * self.w1 - g2 * z, (1 + g1 / g2) * self.w2 + g1 * z
            knots = np.concatenate([knots, [-g2 * z, g1 * z, self.w1, self.w2, c, s3]])
        k = np.unique(np.clip(knots, 0.0, self.W))
        mid = 0.5 * (k[:-1] + k[1:])
        T = self.taxes(np.concatenate([k, mid]))
        Tk, Tm = T[:, : k.size], T[:, k.size:]
        simpson = (np.diff(k) / 6.0) * (Tk[:, :-1] + 4 * Tm + Tk[:, 1:])
        return cast("np.ndarray", (1.0 - self.p0) / self.W * simpson.sum(axis=1))

    def layer_points(self) -> dict[str, float | None]:
        """Where the layers change: region 1's entry ``g1 zeta`` or region 2's ``-g2 zeta``, the cap
        point ``c = (1 + gamma) w1 - g2 zeta`` and ``s3 = (1 + 1/gamma) w2 + g1 zeta`` (original
        labels, ``gamma = g2/g1``)."""
        if self.zeta is None:
            return {"entry": None, "c": None, "s3": None}
        z, g1, g2 = self.zeta, self.g1, self.g2
        return {"entry": g1 * z if z >= 0 else -g2 * z, "c": (1 + g2 / g1) * self.w1 - g2 * z,
                "s3": (1 + g1 / g2) * self.w2 + g1 * z}


def proposition4(w1: float, w2: float, g1: float, g2: float, p0: float, mu1: float,
                 mu2: float | None = None) -> TwoRegionSolution:
    """AFPO of two CARA regions in closed form (all three cases, labels swapped when needed)."""
    w1, w2 = positive("w1", w1, "wealth"), positive("w2", w2, "wealth")
    g1, g2 = positive("g1", g1, "risk tolerance"), positive("g2", g2, "risk tolerance")
    p0 = nonnegative("p0", p0)
    if p0 >= 1:
        raise ModelError("p0", p0, "a probability of no loss in [0, 1)")
    W = w1 + w2
    total = (1 - p0) * W / 2
    mu1 = nonnegative("mu1", mu1, "expected loss")
    if mu2 is None:
        mu2 = total - mu1
    mu2 = real("mu2", mu2, f"mu1 + mu2 = (1 - p0) W / 2 = {total:.12g}")
    if abs(mu1 + mu2 - total) > 1e-9 * max(1.0, total):
        raise ModelError("mu2", mu2, f"mu1 + mu2 = (1 - p0) W / 2 = {total:.12g}",
                         detail="fairness needs the targets to add up to E[S]")
    lo, hi = (1 - p0) * w1 ** 2 / (2 * W), (1 - p0) * (W ** 2 - w2 ** 2) / (2 * W)
    base: dict[str, Any] = {"w1": w1, "w2": w2, "g1": g1, "g2": g2, "p0": p0, "mu1": mu1, "mu2": mu2}
    if mu1 < lo - 1e-12 * W or mu1 > hi + 1e-12 * W:
        side = (f"mu1 = {mu1:.6g} > {hi:.6g} = E[min(S, w1)]: region 1 cannot pay that much"
                if mu1 > hi else f"mu1 = {mu1:.6g} < {lo:.6g} = E[(S - w2)^+]: region 2 cannot pay that much")
        return TwoRegionSolution(**base, case=None, zeta=None, swapped=False, mu1_range=(lo, hi),
                                 reason="no AFPO exists: " + side)
    swapped = w1 / g1 > w2 / g2
    if swapped:
        case, zeta = _ordered_case(w2, w1, g2, g1, p0, mu2)
        zeta = -zeta
    else:
        case, zeta = _ordered_case(w1, w2, g1, g2, p0, mu1)
    return TwoRegionSolution(**base, case=case, zeta=zeta, swapped=swapped, mu1_range=(lo, hi))


def _ordered_case(w1: float, w2: float, g1: float, g2: float, p0: float, mu1: float) -> tuple[int, float]:
    """Case and zeta when ``x1 <= x2`` (the labels of the proposition)."""
    W = w1 + w2
    x1, x2, gam = w1 / g1, w2 / g2, g2 / g1

    def case2_mu1(zeta: float) -> float:  # E[T1] in case 2 as a function of zeta
        c = (1 + gam) * w1 - g2 * zeta
        return (1 - p0) * ((1 + gam) * w1 ** 2 / (2 * W) + w1 - w1 * c / W)

    M = 2 * W * mu1 / ((1 - p0) * g1 ** 2)
    mu = ((1 - p0) * W / 2 - mu1) / mu1
    if mu1 >= case2_mu1(0.0):
        return 1, x1 - math.sqrt(max(M * mu / gam - gam * x2 ** 2, 0.0))
    if mu1 >= case2_mu1(x1 - x2):
        zeta = ((1 + gam) * w1 / 2 + W * (mu1 / ((1 - p0) * w1) - 1)) / g2
        return 2, zeta
    return 3, -x2 + math.sqrt(max(M / gam - x1 ** 2 / gam, 0.0))


# ------------------------------------------------------------------------------ sweeps
def sensitivity_point(params: Mapping[str, Any]) -> dict[str, Any]:
    """One sweep row from a parameter dict: ``w1, w2, g1, g2, p0`` and either ``mu1`` (``mu2``
    defaults to the rest) or ``mu`` (``mu2/mu1`` with the total fixed); ``s_points`` (fractions of
    ``W``) lists where ``T1`` is reported. Pure: no state, safe for any runner."""
    p = dict(params)
    W = p["w1"] + p["w2"]
    total = (1 - p["p0"]) * W / 2
    if "mu" in p:
        mu1 = total / (1 + p["mu"])
        mu2 = total - mu1
    else:
        mu1 = p["mu1"]
        mu2 = p.get("mu2", total - mu1)
    sol = proposition4(p["w1"], p["w2"], p["g1"], p["g2"], p["p0"], mu1, mu2)
    row: dict[str, Any] = {"mu1": mu1, "mu2": mu2, "mu_ratio": mu2 / mu1 if mu1 > 0 else None,
                           "gamma": p["g2"] / p["g1"], "case": sol.case, "feasible": sol.feasible,
                           "swapped": sol.swapped, "zeta": sol.zeta, "alpha1": sol.alpha1,
                           "alpha2": sol.alpha2, "reason": sol.reason, **sol.layer_points()}
    for frac in p.get("s_points", (0.125, 0.25, 0.5, 0.75)):
        row[f"T1({frac:g}W)"] = None if not sol.feasible else float(sol.taxes(frac * W)[0, 0])
    return row


def mu_sweep_points(mus: Sequence[float], *, p0: float = 0.2, **base: Any) -> list[dict[str, Any]]:
    """The paper's mu-sweep (Fig. 6/8): ``mu = mu2/mu1`` with ``mu1 + mu2 = (1 - p0) W/2`` fixed."""
    b = {**BASELINE, **base}
    b.pop("mu2", None)
    p0 = real("p0", p0, "a probability of no loss in [0, 1)")
    ratios = real_array("mus", mus, "a list of ratios mu2/mu1", ndim=1)
    return [{**b, "p0": p0, "mu": float(m)} for m in ratios]


def gamma_sweep_points(gammas: Sequence[float], *, p0: float = 0.1, **base: Any) -> list[dict[str, Any]]:
    """The paper's gamma-sweep (Fig. 7/9, Appendix C with ``w2 = 8``): ``g1 = 1``, ``g2 = gamma``,
    ``mu2 = 4``, ``mu1 = (1 - p0) W/2 - mu2``; labels are swapped where ``w1/g1 > w2/g2``."""
    b = {**BASELINE, **base}
    W = b["w1"] + b["w2"]
    mu2 = b.pop("mu2")
    p0 = real("p0", p0, "a probability of no loss in [0, 1)")
    return [{**b, "g1": 1.0, "g2": float(g), "p0": p0, "mu1": (1 - p0) * W / 2 - mu2, "mu2": mu2}
            for g in real_array("gammas", gammas, "a list of risk tolerances", ndim=1)]


def sensitivity(points: Sequence[Mapping[str, Any]], *, runner: Any = None) -> Any:
    """Run :func:`sensitivity_point` over ``points`` with a sweep runner (``None``: serial).
    Returns :class:`riskopt.sweep.SweepResult` (one row per point, in order)."""
    from ...sweep import pointwise, sweep

    return sweep(pointwise(sensitivity_point), [dict(p) for p in points], runner=runner, progress=False)


def plot_sensitivity(rows: Sequence[Mapping[str, Any]], x: str, path: Any, *, title: str = "") -> Any:
    """The paper's sensitivity figures: ``alpha_1`` (solid) and ``alpha_2`` (dashed) against ``x``,
    coloured by the active case, infeasible points marked on the axis, ``zeta`` on a second axis."""
    from ...plots import finish_figure, pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = {1: "tab:red", 2: "tab:blue", 3: "tab:green"}
    xs = np.array([r[x] for r in rows], float)
    for case, col in colours.items():
        sel = [i for i, r in enumerate(rows) if r["case"] == case]
        if sel:
            ax.plot(xs[sel], [rows[i]["alpha1"] for i in sel], ".", color=col, label=f"alpha1, case {case}")
            ax.plot(xs[sel], [rows[i]["alpha2"] for i in sel], "x", ms=3, color=col)
    bad = [i for i, r in enumerate(rows) if not r["feasible"]]
    if bad:
        ax.plot(xs[bad], np.zeros(len(bad)), "k|", ms=12, label="no AFPO")
    ax2 = ax.twinx()
    ok = [i for i, r in enumerate(rows) if r["feasible"]]
    ax2.plot(xs[ok], [rows[i]["zeta"] for i in ok], ":", color="grey", label="zeta")
    ax2.set_ylabel("zeta = ln(alpha2/alpha1)")
    ax.set_xlabel(x)
    ax.set_ylabel("alpha (solid/dots: alpha1, crosses: alpha2)")
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title)
    return save_figure(finish_figure(fig), path)
