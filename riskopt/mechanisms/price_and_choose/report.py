"""Plain-text report of a price-and-choose run (what ``riskopt run`` prints by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..report import format_table

if TYPE_CHECKING:
    from .price_and_choose import PriceAndChooseResult

__all__ = ["result_table"]

MAX_ATOM_ROWS = 12


def _g(v: float | None, digits: int = 10) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def result_table(res: PriceAndChooseResult, title: str = "") -> str:
    """Summary lines, the per-agent table, state prices (small pools) and the checks."""
    po, opt = res.optimum, res.optimum.optimum
    pool = res.spec.pool
    out = [title] if title else []
    out.append(f"price-and-choose: {pool.n} farmers, {po.beliefs.description}; status {res.status}")
    cf = po.closed_form
    exact = "closed form" if cf.get("exact") else "closed-form bound"
    out.append(f"W* over C    {_g(opt.welfare)}  ({opt.method}, {opt.iterations} iterations, "
               f"{opt.seconds * 1e3:.1f} ms; {exact} {_g(cf['welfare'])}, |diff| {cf['welfare_error']:.1e})")
    cert = opt.certificate
    out.append(f"KKT          budget {cert['budget']:.1e}  stationarity {cert['stationarity']:.1e}  "
               f"dual {cert['dual']:.1e}  binding monotonicity rows {len(opt.pooled)}")
    out.append(f"atoms        {po.atoms.size} kept of {po.atoms.full.size} (pruned P-mass "
               f"{po.atoms.pruned_mass:.1e}, state-price mass {po.tail_mass:.1e}); "
               f"{opt.identifiability.unidentified.size} of {opt.gaps.size} gaps not identifiable")
    if res.conic is not None:
        c = res.conic
        out.append(f"conic path   {c.status} W {_g(c.welfare)} (|diff| {c.welfare_error:.1e}), prices rel. "
                   f"{c.price_max_rel_error:.1e}, {c.seconds:.2f} s")
    if res.atoms_check is not None:
        a = res.atoms_check
        out.append(f"menu K       W_K {_g(a['W_K'])} vs W_C {_g(a['W_C'])} (K-optimum "
                   f"{'' if a['K_x_measurable'] else 'not '}X-measurable)")
    if res.menu is not None and res.game is not None:
        g = res.game
        out.append(f"menu         {res.menu.family}: {res.menu.size} points, uniform mu; best other point "
                   f"{g.welfare - g.best_other:.4g} below W*")
        out.append(f"surplus      eta = {_g(g.eta)}   first-mover bid b* = {_g(res.auction.bid)}   "
                   f"each loser receives {_g(res.auction.loser_receives)}")
    if res.verification is not None:
        v = res.verification
        gap = max((c["gap_error"] for c in v.perturbations), default=0.0)
        lip = v.lipschitz
        out.append(f"SPNE         {'passed' if v.passed else 'FAILED'}: indifference spread "
                   f"{v.indifference_spread.max(initial=0.0):.1e}, chooser picks the optimum "
                   f"{v.chooser_is_optimum}, eps-gap error {gap:.1e} (beta {v.beta:.6g}), "
                   f"max deviation gain {_g(v.deviations.get('max_gain'), 3)}")
        out.append(f"Lipschitz    under {lip.metric}: U_i <= {lip.utilities.max():.4g}, "
                   f"p^(i+1) <= {lip.prices.max(initial=0.0):.4g}, cap (n-1) L_cap = {lip.cap:.4g} "
                   f"({'all' if lip.exhaustive else 'sampled'} {lip.pairs} pairs)")
    agents = res.agents()
    cols = [c for c in ("name", "gamma", "share", "utility", "avg", "avg_reference", "pc_payoff", "payoff")
            if c in agents[0]]
    shown = agents if len(agents) <= 20 else agents[:10] + agents[-5:]
    out.append("")
    out.append(format_table(shown, cols))
    if len(shown) < len(agents):
        out.append(f"... {len(agents) - len(shown)} more farmers (--format json for all)")
    if po.atoms.size <= MAX_ATOM_ROWS:
        rows = [{"atom": int(s), "x": float(x), "P": float(p), "price": float(q), "density": float(d),
                 "esscher": float(e)}
                for s, x, p, q, d, e in zip(po.atoms.steps, po.atoms.x, po.atoms.probs, opt.prices,
                                            opt.density, po.esscher_density, strict=True)]
        out.append("")
        out.append(format_table(rows, ["atom", "x", "P", "price", "density", "esscher"]))
    else:
        out.append(f"\nstate-price density over {po.atoms.size} kept atoms: min {opt.density.min():.6g}, "
                   f"max {opt.density.max():.6g}")
    return "\n".join(out)
