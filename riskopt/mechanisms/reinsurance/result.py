"""Outcomes of the reinsurance market: who takes which layer, premiums, risks, tables, JSON, plots.

A :class:`MarketOutcome` is what every solution path returns (the pointwise SPNE, Stackelberg,
best responses, the Pareto LP with its VCG or dual prices), so that they are compared cell by
cell. With ``alpha_i`` the insurer's capacity curve, ``tau_ij`` the reinsurers' true preferences and
``gamma_ij`` the marginal indemnities (the share of layer z ceded to j):

* insurer i:    ``post_i = rho_i(X_i) - int alpha_i Gamma_i dz + sum_j pi_ij``,
  ``Gamma_i = sum_j gamma_ij``;
* reinsurer j:  ``post_j = sum_i int tau_ij gamma_ij dz - sum_i pi_ij`` (initial risk 0);
* welfare gain = initial risk - post-transfer risk; the aggregate risk ``sum of post`` does not
  depend on the premiums (they cancel) and is minimal exactly at the Pareto optima.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data import jsonable
from ..plots import finish_figure, pyplot, save_figure
from ..report import format_table
from ..status import Status, from_verification
from .reinsurance_layers import lowest_two

if TYPE_CHECKING:
    from .reinsurance_market import Market

__all__ = ["LayerAllocation", "MarketOutcome", "Verification"]

#: entries of the (insurers x reinsurers x cells) arrays the verifier handles at once (cache)
VERIFY_BLOCK = 100_000
#: shares within this of 0 or 1 count as bang-bang
SHARE_TOL = 1e-9
#: what sets the price of a cell when it is not one reinsurer's true preference
_PRICE_LABEL = {-1: "alpha", -2: "mixed", -3: "posted price", -4: "dual price", -5: "VCG price"}


@dataclass(frozen=True)
class LayerAllocation:
    """Who takes each layer cell of each insurer.

    ``edges[i]`` are insurer i's cell boundaries on ``[0, M]`` (padded with M); ``winner[i, g]`` the
    reinsurer that takes cell g wholly (-1: retained, -2: shared, then ``shares`` says how);
    ``price[i, g]`` the cell integral of the price paid per unit of layer (0 where retained);
    ``source[i, g]`` the curve that sets that price (j: reinsurer j's tau, -1: the insurer's
    alpha, -2: not a single curve, -3: the posted price, -4: the LP's dual price alpha - mu,
    -5: the VCG price alpha - mu^(-j)).
    """

    edges: np.ndarray
    winner: np.ndarray
    price: np.ndarray
    source: np.ndarray
    share_matrix: np.ndarray | None = None

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges, axis=1)

    def shares(self, i: int, m: int) -> np.ndarray:
        """``gamma[j, g]``: the share of cell g of insurer i ceded to reinsurer j."""
        if self.share_matrix is not None:
            return self.share_matrix[i]
        out = np.zeros((m, self.winner.shape[1]))
        won = np.flatnonzero(self.winner[i] >= 0)
        out[self.winner[i, won], won] = 1.0
        return out

    def indemnity(self, i: int, x: np.ndarray, m: int) -> np.ndarray:
        """``I_ij(x) = int_0^x gamma_ij(z) dz`` for every reinsurer j (``(m, len(x))``):
        piecewise linear, exact at every point (gamma is constant on each cell)."""
        e = self.edges[i]
        gam = self.shares(i, m)
        cum = np.concatenate([np.zeros((m, 1)), np.cumsum(gam * np.diff(e), axis=1)], axis=1)
        return np.vstack([np.interp(np.asarray(x, float), e, cum[j]) for j in range(m)])

    def segments(self, i: int, reinsurers: Sequence[str]) -> list[dict[str, Any]]:
        """Insurer i's layer pattern: maximal intervals with the same taker and price curve."""
        e, w = self.edges[i], np.diff(self.edges[i])
        live = np.flatnonzero(w > 0)
        out: list[dict[str, Any]] = []
        for g in live:
            who, src = int(self.winner[i, g]), int(self.source[i, g])
            taker = None if who == -1 else ("shared" if who == -2 else reinsurers[who])
            if taker is None:
                price = None
            else:
                price = _PRICE_LABEL.get(src) if src < 0 else f"tau of {reinsurers[src]}"
            if out and out[-1]["reinsurer"] == taker and out[-1]["price"] == price:
                out[-1]["to"] = float(e[g + 1])
            else:
                out.append({"from": float(e[g]), "to": float(e[g + 1]), "reinsurer": taker,
                            "price": price})
        return out


@dataclass(frozen=True)
class Verification:
    """Equilibrium checks, layer by layer (objectives are additive over layers, so a layer-by-layer
    check is a global check).

    ``reinsurer_gain[j]``: the most reinsurer j could add to its payoff by re-pricing any layers
    against the others' prices, the insurers best-responding with generous tie-breaking (a
    supremum; <= 0 up to rounding in an equilibrium). ``insurer_gap[i]``: how much insurer i loses
    against its best response to the posted prices. ``generous_violations``: cells where a tie
    between equally cheap options was not broken towards the lowest true preference.
    """

    reinsurer_gain: np.ndarray
    insurer_gap: np.ndarray
    generous_violations: int
    tolerance: float
    #: per insurer: how far the allocation read from cell integrals is from the pointwise rule, the
    #: curves themselves evaluated on a grid of the check's own (:func:`.reinsurance_layers.order_gap`).
    #: The three checks above compare cell integrals with cell integrals *on the same grid*, so a
    #: grid too coarse to hold every crossing passes them with a wrong answer; this one does not.
    order_gap: np.ndarray | None = None

    @property
    def total_order_gap(self) -> float:
        """The pointwise order gap summed over insurers (compared with the tolerance, a total too)."""
        return 0.0 if self.order_gap is None else float(np.sum(self.order_gap))

    @property
    def ok(self) -> bool:
        worst = max(float(np.max(self.reinsurer_gain, initial=0.0)),
                    float(np.max(self.insurer_gap, initial=0.0)), self.total_order_gap)
        return bool(worst <= self.tolerance and self.generous_violations == 0)  # NaN fails too

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"ok": self.ok, "max_reinsurer_gain": float(np.max(self.reinsurer_gain, initial=0.0)),
                         "max_insurer_gap": float(np.max(self.insurer_gap, initial=0.0)),
                         "generous_violations": self.generous_violations,
                         "pointwise_order_gap": self.total_order_gap, "tolerance": self.tolerance})


def verify_cells(A: np.ndarray, T: np.ndarray, N: np.ndarray, S: np.ndarray, widths: np.ndarray,
                 *, rel_tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray, int]:
    """Layer-by-layer equilibrium check on cell integrals.

    ``A`` (r, G): insurer capacity; ``T`` (r, m, G): true preferences; ``N`` (r, m, G): posted
    prices; ``S`` (r, m, G): ceded shares. Option 0 (retention) has price and true preference ``A``.

    * insurer gap: its cost ``sum_j S_j (N_j - A)`` minus the best, ``min(0, min_j N_j - A)``;
    * generous distribution: every chosen option is among the cheapest (within ``rel_tol``) and
      has the lowest true preference among them;
    * reinsurer j re-pricing a cell can at best undercut the cheapest other option
      ``q_j = min(A, min_{k != j} N_k)``: its supremum payoff is ``(q_j - T_j)^+`` (attained or
      approached, depending on the tie-break), against ``S_j (N_j - T_j)`` now.

    Returns ``(reinsurer_gain (m,), insurer_gap (r,), generous_violations)``. Rows are checked
    in blocks that stay in cache (the arithmetic is a chain of memory-bound passes).
    """
    r, m, G = T.shape
    block = max(1, int(VERIFY_BLOCK // max(1, m * G)))
    gain, gap, bad = np.zeros(m), np.empty(r), 0
    for s in range(0, r, block):
        sl = slice(s, s + block)
        g_, gap[sl], b_ = _verify_block(A[sl], T[sl], N[sl], S[sl], widths[sl], rel_tol)
        gain += g_
        bad += b_
    return gain, gap, bad


def _verify_block(A: np.ndarray, T: np.ndarray, N: np.ndarray, S: np.ndarray, widths: np.ndarray,
                  rel_tol: float) -> tuple[np.ndarray, np.ndarray, int]:
    tol = rel_tol * (np.abs(A) + widths)
    best = np.minimum(A, N.min(axis=1))
    ceded = S.sum(axis=1)
    cost = np.einsum("rjg,rjg->rg", S, N) - A * ceded
    gap = (cost - np.minimum(best - A, 0.0)).sum(axis=1)
    limit = best + tol
    tied_n = limit[:, None, :] >= N
    tied_0 = limit >= A
    best_true = np.minimum(np.where(tied_0, A, np.inf), np.where(tied_n, T, np.inf).min(axis=1))
    worst_ok = best_true + tol
    bad = ((1.0 - ceded > SHARE_TOL) & (~tied_0 | (worst_ok < A))).sum()
    bad += ((S > SHARE_TOL) & (~tied_n | (worst_ok[:, None, :] < T))).sum()
    m = N.shape[1]
    lo, lo_i, sec, _ = lowest_two(N, axis=1)
    others = np.where(np.arange(m)[None, :, None] == lo_i[:, None, :], sec[:, None, :], lo[:, None, :])
    sup = np.maximum(np.minimum(A[:, None, :], others) - T, 0.0)
    gain = (sup - S * (N - T)).sum(axis=(0, 2))
    return gain, gap, int(bad)


@dataclass(frozen=True)
class MarketOutcome:
    """Allocation, premiums and risks of every agent in a reinsurance market.

    ``premium[i, j]``: premium insurer i pays reinsurer j; ``ceded_value[i] = int alpha_i Gamma_i``
    (what the indemnities are worth to insurer i); ``cost[i, j] = int tau_ij gamma_ij`` (what
    they cost reinsurer j, loading included).
    """

    market: Market
    kind: str
    method: str
    initial_risk: np.ndarray
    premium: np.ndarray
    ceded_value: np.ndarray
    cost: np.ndarray
    layers: LayerAllocation
    verification: Verification | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    comparison: MarketOutcome | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: objects and arrays for programmatic use (the LP's Solution, duals); not in to_dict()
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ numbers
    @property
    def insurer_post(self) -> np.ndarray:
        return self.initial_risk - self.ceded_value + self.premium.sum(axis=1)

    @property
    def reinsurer_post(self) -> np.ndarray:
        return (self.cost - self.premium).sum(axis=0)

    @property
    def insurer_gain(self) -> np.ndarray:
        return self.initial_risk - self.insurer_post

    @property
    def reinsurer_gain(self) -> np.ndarray:
        return -self.reinsurer_post

    @property
    def aggregate_risk(self) -> float:
        """Sum of every agent's post-transfer risk (premiums cancel)."""
        return float(self.initial_risk.sum() - self.ceded_value.sum() + self.cost.sum())

    @property
    def individually_rational(self) -> bool:
        scale = 1e-9 * max(1.0, float(np.abs(self.initial_risk).max(initial=0.0)))
        return bool(np.all(self.insurer_gain >= -scale) and np.all(self.reinsurer_gain >= -scale))

    def agents(self) -> list[dict[str, Any]]:
        """One row per agent: the keys of the issue's JSON output."""
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

    @property
    def status(self) -> Status:
        """The solve's status (``optimal`` for the pointwise rule, the LP's otherwise) gated by the
        checks made: the equilibrium verification and every yes/no check (e.g. "SPNE Pareto
        optimal" of a card run)."""
        base = Status.OPTIMAL
        sol = self.details.get("solution")
        if sol is not None:
            try:
                base = Status(str(sol.status))
            except ValueError:
                base = Status.SOLVER_ERROR
        passed: bool | None = None if self.verification is None else self.verification.ok
        flags = [v for v in self.checks.values() if isinstance(v, (bool, np.bool_))]
        if flags:
            passed = (passed is not False) and all(bool(v) for v in flags)
        return from_verification(base, passed)

    # ------------------------------------------------------------------ outputs
    def to_dict(self, *, layers: bool = True) -> dict[str, Any]:
        """JSON-safe: agents (name, initial_risk, premium_paid / premium_received,
        post_transfer_risk, welfare_gain), premiums per pair, layer patterns, checks."""
        mk = self.market
        out: dict[str, Any] = {
            "mechanism": "reinsurance_market", "kind": self.kind, "method": self.method,
            "status": self.status.value, "bound": mk.bound, "bound_used": mk.layer_bound,
            "objective": self.aggregate_risk,
            "aggregate_risk": self.aggregate_risk,
            "individually_rational": self.individually_rational,
            "agents": self.agents(),
            "premiums": {ins.name: {re.name: float(self.premium[i, j]) for j, re in enumerate(mk.reinsurers)}
                         for i, ins in enumerate(mk.insurers)},
        }
        if layers and len(mk.insurers) <= 50:
            out["layers"] = {ins.name: self.segments(i) for i, ins in enumerate(mk.insurers)}
        if self.verification is not None:
            out["verification"] = self.verification.to_dict()
        if self.checks:
            out["checks"] = self.checks
        if self.comparison is not None:
            out["comparison"] = {"kind": self.comparison.kind, "agents": self.comparison.agents(),
                                 "aggregate_risk": self.comparison.aggregate_risk}
        out.update(self.extra)
        # the pointwise path solves each layer cell in closed form; LP runs carry their own report
        out.setdefault("solver", {"backend": "riskopt", "solver": f"pointwise ({self.method})",
                                  "compile_s": 0.0, "solve_s": self.extra.get("seconds")})
        return jsonable(out)

    def table(self, title: str = "") -> str:
        """Plain text: the per-agent table (the paper's Tables 1 and 2), checks, layer patterns."""
        mk = self.market
        lines = [title] if title else []
        m = len(mk.reinsurers)
        lines.append(f"{self.kind} with {len(mk.insurers)} insurers and {m} reinsurer{'s' * (m != 1)} "
                     f"({self.method}); layers on [0, {mk.layer_bound:g}]"
                     + (f" (bound {mk.bound:g} declared: nothing to share above the losses)"
                        if mk.layer_bound < mk.bound else "") + f"; status {self.status.value}")
        cols = ["name", "initial_risk", "premium_paid", "premium_received", "post_transfer_risk",
                "welfare_gain"]
        rows = [{k: (round(v, 6) + 0.0 if isinstance(v, float) else v) for k, v in r.items()}
                for r in self.agents()]
        lines += ["", format_table(rows, cols)]
        lines.append(f"\naggregate risk (sum of post-transfer risks): {self.aggregate_risk:.6f}; "
                     f"individually rational: {self.individually_rational}")
        if self.verification is not None:
            v = self.verification
            lines.append(f"equilibrium check: max reinsurer re-pricing gain "
                         f"{float(np.max(v.reinsurer_gain, initial=0)):.1e}, max insurer best-response gap "
                         f"{float(np.max(v.insurer_gap, initial=0)):.1e}, generous-distribution "
                         f"violations {v.generous_violations}, pointwise order gap "
                         f"{v.total_order_gap:.1e}: {'ok' if v.ok else 'FAILED'}")
        for key, val in self.checks.items():
            lines.append(f"{key}: {_short(val)}")
        for key, label in _PRICE_LINES:
            if self.extra.get(key):
                lines.append(f"{label}: {_short(self.extra[key])}")
        if self.comparison is not None:
            lines += ["", _comparison_table(self.comparison, self)]
        if len(mk.insurers) <= 12:
            lines.append("")
            for i, ins in enumerate(mk.insurers):
                parts = []
                for s in self.segments(i):
                    who = "retained" if s["reinsurer"] is None else f"{s['reinsurer']} at {s['price']}"
                    parts.append(f"[{s['from']:.6f}, {s['to']:.6f}] {who}")
                lines.append(f"layers of {ins.name}: " + "; ".join(parts))
        return "\n".join(lines)

    def plot(self, path: str | Path, title: str = "", *, max_insurers: int = 4) -> Path:
        """Write :meth:`figure` to ``path``."""
        return save_figure(self.figure(title, max_insurers=max_insurers), path)

    def figure(self, title: str = "", *, max_insurers: int = 4) -> Any:
        """Indemnities I_ij(x) per insurer (the paper's Figures 1 and 3) and the curves alpha_i,
        tau_ij, tau-bar_i (Figure 2), as a matplotlib Figure."""
        plt = pyplot()
        mk = self.market
        shown = list(range(min(len(mk.insurers), max_insurers)))
        fig, axes = plt.subplots(2, len(shown), figsize=(4.2 * len(shown), 7.2), squeeze=False)
        z = np.linspace(0.0, mk.layer_bound, 801)
        zc = np.linspace(0.0, mk.layer_bound, 800, endpoint=False)  # the curves live on [0, M)
        m = len(mk.reinsurers)
        for col, i in enumerate(shown):
            ax = axes[0, col]
            ind = self.layers.indemnity(i, z, m)
            for j, re in enumerate(mk.reinsurers):
                ax.plot(z, ind[j], label=f"I from {re.name}")
            ax.plot(z, ind.sum(axis=0), color="black", lw=0.8, ls=":", label="total")
            ax.set_title(f"{mk.insurers[i].name}: indemnities")
            ax.set_xlabel("loss x")
            ax.legend(fontsize=7)
            ax = axes[1, col]
            vals = mk.curve_values(i, zc)
            ax.plot(zc, vals[0], color="black", label="alpha (insurer)")
            for j, re in enumerate(mk.reinsurers):
                ax.plot(zc, vals[j + 1], label=f"tau ({re.name})")
            ax.plot(zc, np.partition(vals, 1, axis=0)[1], ls="--", color="grey", label="tau-bar")
            ax.set_xlabel("layer z")
            ax.set_title("capacities of {X > z}")
            ax.legend(fontsize=7)
        return finish_figure(fig, title)


_PRICE_LINES = (("scarcity_prices", "scarcity prices of capacity (continuum lambda*)"),
                ("scarcity_prices_lp", "scarcity prices of capacity (LP multipliers)"),
                ("layer_values", "layer values sum mu w (LP duals)"),
                ("vcg_surplus", "VCG surpluses V*(-j) - V*"))


def _comparison_table(one: MarketOutcome, two: MarketOutcome) -> str:
    """The paper's Table 2 layout: each agent's risks and gains in two markets side by side."""
    a, b = {r["name"]: r for r in one.agents()}, {r["name"]: r for r in two.agents()}
    rows = []
    for name in b:
        for key, label in (("initial_risk", "initial risk"), ("post_transfer_risk", "post-transfer risk"),
                           ("welfare_gain", "welfare gain")):
            if key == "initial_risk" and b[name]["role"] == "reinsurer":
                continue
            left = a.get(name, {}).get(key)
            rows.append({"agent": name, "quantity": label,
                         one.kind: None if left is None else round(left, 6) + 0.0,
                         two.kind: round(b[name][key], 6) + 0.0})
    head = f"comparison ({one.kind} | {two.kind})\n"
    return head + format_table(rows, ["agent", "quantity", one.kind, two.kind])


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.10g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_short(x)}" for k, x in v.items())
    return str(v)
