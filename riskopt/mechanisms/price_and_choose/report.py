"""Plain-text report of a price-and-choose run (what ``riskopt run`` prints by default)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from ...constraints import ConstraintDual
from ...report import fit, format_table, number, plural
from ...status import Status
from .atom_level import MenuComparison
from .auction import Auction
from .game import Game
from .menus import Menu
from .optimum import PoolOptimum
from .pools import lattice_steps
from .program import ConicCheck
from .spec import PriceAndChoose
from .spne import SPNEVerification

__all__ = ["PriceAndChooseView", "result_table"]


class PriceAndChooseView(Protocol):
    """What the table and the figure read of a run (a
    :class:`~riskopt.mechanisms.price_and_choose.PriceAndChooseResult` is one)."""

    @property
    def status(self) -> Status: ...

    @property
    def method(self) -> str: ...

    @property
    def spec(self) -> PriceAndChoose: ...

    @property
    def optimum(self) -> PoolOptimum: ...

    @property
    def conic(self) -> ConicCheck | None: ...

    @property
    def atoms_check(self) -> MenuComparison | None: ...

    @property
    def menu(self) -> Menu | None: ...

    @property
    def game(self) -> Game | None: ...

    @property
    def auction(self) -> Auction | None: ...

    @property
    def spne(self) -> SPNEVerification | None: ...

    @property
    def constraints(self) -> Mapping[str, ConstraintDual]: ...

    @property
    def game_skipped(self) -> str | None: ...

    def agent_rows(self) -> list[dict[str, Any]]: ...

MAX_ATOM_ROWS = 12


def _g(v: float | None, digits: int | None = None) -> str:
    return number(v, digits)


def result_table(res: PriceAndChooseView, title: str = "") -> str:
    """Summary lines, the per-agent table, state prices (small pools) and the checks."""
    po, opt = res.optimum, res.optimum.optimum
    pool = res.spec.pool
    out = [title] if title else []
    out.append(f"price-and-choose: {plural(pool.n, 'farmer')}, {po.beliefs.description}; status {res.status}")
    cf = po.closed_form
    exact = "closed form" if cf.exact else "closed-form bound"
    out.append(f"W* over C    {_g(opt.welfare)}  ({opt.method}, {plural(opt.iterations, 'iteration')}, "
               f"{opt.seconds * 1e3:.1f} ms; {exact} {_g(cf.welfare)}, |diff| {cf.welfare_error:.1e})")
    cert = opt.certificate
    out.append(f"KKT          budget {cert['budget']:.1e}  stationarity {cert['stationarity']:.1e}  "
               f"dual {cert['dual']:.1e}  binding monotonicity rows {len(opt.pooled)}")
    out.append(f"atoms        {po.atoms.size} kept of {po.law.size} (pruned P-mass "
               f"{po.atoms.pruned_mass:.1e}, state-price mass {po.tail_mass:.1e}); "
               f"{opt.identifiability.unidentified.size} of {opt.gaps.size} gaps not identifiable")
    if res.conic is not None:
        c = res.conic
        other = "Newton path " if res.method == "program" else "conic path  "
        out.append(f"{other} {c.status} W {_g(c.welfare)} (|diff| {c.welfare_error:.1e}), prices rel. "
                   f"{c.price_max_rel_error:.1e}, {c.seconds:.2f} s")
    if res.atoms_check is not None:
        a = res.atoms_check
        out.append(f"menu K       W_K {_g(a.welfare_k)} vs W_C {_g(a.welfare_c)} (K-optimum "
                   f"{'' if a.x_measurable else 'not '}X-measurable)")
    if res.menu is not None and res.game is not None and res.auction is not None:
        g = res.game
        out.append(f"menu         {res.menu.family}: {plural(res.menu.size, 'point')}, uniform mu; "
                   f"best other point {_g(g.welfare - g.best_other, 4)} below W*")
        out.append(f"surplus      eta = {_g(g.eta)}   first-mover bid b* = {_g(res.auction.bid)}   "
                   f"each loser receives {_g(res.auction.loser_receives)}")
    for name, d in res.constraints.items():
        top = int(np.argmax(np.abs(d.dual)))
        out.append(f"constraint   {name}: {d.meaning}; binds on {plural(int(np.sum(d.binding)), 'row')}, "
                   f"dual dW*/d rhs {_g(float(d.dual[top]))}" + (f" (largest, atom {top})" if d.dual.size > 1
                                                                  else ""))
    if res.game_skipped is not None:
        out.append("game         not played: user constraints (see game_skipped in the JSON)")
    if res.spne is not None:
        v = res.spne
        gap = max((c["gap_error"] for c in v.perturbations), default=0.0)
        lip = v.lipschitz
        out.append(f"SPNE         {'passed' if v.passed else 'FAILED'}: indifference spread "
                   f"{v.indifference_spread.max(initial=0.0):.1e}, chooser picks the optimum "
                   f"{v.chooser_is_optimum}, eps-gap error {gap:.1e} (beta {_g(v.beta)}), "
                   f"max deviation gain {_g(v.deviations.get('max_gain'), 3)}")
        out.append(f"Lipschitz    under {lip.metric}: U_i <= {_g(lip.utilities.max(), 4)}, "
                   f"p^(i+1) <= {_g(lip.prices.max(initial=0.0), 4)}, cap (n-1) L_cap = {_g(lip.cap, 4)} "
                   f"({'all' if lip.exhaustive else 'sampled'} {plural(lip.pairs, 'pair')})")
    agents = res.agent_rows()
    cols = [c for c in ("name", "gamma", "share", "utility", "avg", "avg_reference", "pc_payoff", "payoff")
            if c in agents[0]]
    out.append("")
    out.append(format_table(agents, cols, noun="farmers"))
    if po.atoms.size <= MAX_ATOM_ROWS:
        rows = [{"atom": int(s), "x": float(x), "P": float(p), "price": float(q), "density": float(d),
                 "esscher": float(e)}
                for s, x, p, q, d, e in zip(lattice_steps(po.atoms), po.atoms.X, po.atoms.p, opt.prices,
                                            opt.density, po.esscher_density, strict=True)]
        out.append("")
        out.append(format_table(rows, ["atom", "x", "P", "price", "density", "esscher"], noun="atoms"))
    else:
        out.append(f"\nstate-price density over {plural(po.atoms.size, 'kept atom')}: min "
                   f"{_g(opt.density.min())}, max {_g(opt.density.max())}")
    return fit("\n".join(out))
