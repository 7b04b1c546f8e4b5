"""What a price-and-choose run produced (:class:`PriceAndChooseResult`, on the one result contract).

The welfare optimum over C with its context (:class:`~.optimum.PoolOptimum`), the optional
cross-checks (the other route over C, the atom-level menu K), the menu, the game, the SPNE
verification and the first-mover auction; typed state prices over the atoms of X
(:class:`AtomPrices`). The status is computed: the optimum's KKT certificate in the problem's own
units (and its distance to the closed form when that is exact) gated by the SPNE checks.
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
from ...status import Check, Status, from_certificate, from_checks
from .atom_level import MenuComparison
from .auction import Auction
from .game import Game
from .menus import Menu
from .optimum import PoolOptimum
from .pools import lattice_steps
from .program import ConicCheck
from .spec import PriceAndChoose
from .spne import SPNEVerification

__all__ = ["AtomPrices", "PriceAndChooseResult"]


@dataclass(frozen=True)
class AtomPrices:
    """State prices over the atoms of X (X = 0 first; read from the Newton optimum's log prices, or
    from the conic program's budget duals through :mod:`riskopt.duals`).

    ``density[k]`` is ``nu_k / P_k`` over every atom of the unpruned law (``None`` where an atom was
    pruned), ``steps[k]`` its lattice index (``label``: ``"hits"`` for a common loss, else
    ``"loss_in_ticks"``); ``state_prices`` and ``esscher_density`` are over the kept atoms.
    """

    density: tuple[float | None, ...]
    steps: np.ndarray
    label: str
    state_prices: np.ndarray
    esscher_density: np.ndarray
    note: str = ("density nu_k / P_k over the atoms of X (0 hits first); null where an atom was pruned; "
                 "atom 0's price completed by cash invariance (prices sum to 1)")

    @property
    def kept_atoms(self) -> int:
        return int(self.state_prices.size)

    def to_dict(self) -> dict[str, Any]:
        return {"state_density": list(self.density), self.label: self.steps, "kept_atoms": self.kept_atoms,
                "state_prices_kept": self.state_prices, "esscher_density_kept": self.esscher_density,
                "note": self.note}


@dataclass(frozen=True)
class PriceAndChooseResult(ResultBase):
    """Everything a run produced; ``to_dict()`` (JSON-safe), ``table()`` and ``plot()``.

    ``method`` is the route of the welfare optimum (``"fast"``: closed forms and the log-price
    Newton method; ``"program"``: the conic program over C); ``spne`` the SPNE verification of the
    game (``None`` without a menu), whose checks are the result's :attr:`verification`;
    ``constraints`` the user constraints' duals ``dW*/d rhs`` by name (per kept atom of X, or one in
    expectation); ``game_skipped`` why the menu was not played (user constraints), else ``None``.
    """

    mechanism_name = "price_and_choose"

    spec: PriceAndChoose
    optimum: PoolOptimum
    conic: ConicCheck | None
    atoms_check: MenuComparison | None
    menu: Menu | None
    game: Game | None
    reference_avg: np.ndarray | None
    spne: SPNEVerification | None
    auction: Auction | None
    timings: Mapping[str, float]
    method: str = "fast"
    constraints: Mapping[str, ConstraintDual] = field(default_factory=dict)
    game_skipped: str | None = None

    @property
    def objective_sense(self) -> str:
        """The welfare W* is maximised."""
        return "max"

    # ----------------------------------------------------------------- headline numbers
    @property
    def welfare(self) -> float:
        """W* over C (W*_mm under credal beliefs)."""
        return self.optimum.optimum.welfare

    @property
    def objective(self) -> float:
        return self.welfare

    @property
    def eta(self) -> float | None:
        return None if self.game is None else self.game.eta

    @property
    def allocation(self) -> dict[str, np.ndarray]:
        """Each farmer's allocation ``f_i(x_k)`` on the kept atoms of X (X = 0 first)."""
        return dict(zip(self.spec.pool.names, self.optimum.optimum.F, strict=True))

    @property
    def residual(self) -> float:
        """The welfare optimum's KKT certificate in the problem's own units
        (:attr:`.fast.WelfareOptimum.residual`), and its distance to the closed form when that is
        exact (common or common worst-case law, or a slack geometric mean)."""
        res = self.optimum.optimum.residual
        cf = self.optimum.closed_form
        if cf.exact:
            res = max(res, cf.max_relative_error)
        return res if np.isfinite(res) else float("inf")

    @property
    def verification(self) -> tuple[Check, ...]:
        """The SPNE checks of the game (none without a menu)."""
        return () if self.spne is None else self.spne.checks

    @property
    def status(self) -> Status:
        """The welfare optimum's certificate (:attr:`residual`; for the program route on top of the
        solver's status) gated by the SPNE verification."""
        solution = self.optimum.optimum.solution
        solver = Status.OPTIMAL if solution is None else Status(solution.status)
        return from_checks(from_certificate(solver, self.residual), self.verification)

    @property
    def prices(self) -> AtomPrices:
        po, opt = self.optimum, self.optimum.optimum
        full, kept = lattice_steps(po.law), lattice_steps(po.atoms)
        density: list[float | None] = [None] * po.law.size
        pos = {int(s): j for j, s in enumerate(full)}
        for k, s in enumerate(kept):
            density[pos[int(s)]] = float(opt.density[k])
        label = "hits" if self.spec.pool.tick is None else "loss_in_ticks"
        return AtomPrices(tuple(density), full, label, opt.prices, po.esscher_density)

    def agent_rows(self) -> list[dict[str, Any]]:
        opt = self.optimum.optimum
        shares = opt.average_shares
        rows = []
        for i, name in enumerate(self.spec.pool.names):
            row: dict[str, Any] = {"name": name, "gamma": float(self.spec.pool.gammas[i]),
                                   "share": float(shares[i]), "utility": float(opt.utilities[i])}
            if self.game is not None:
                row["avg"] = float(self.game.avg[i])
                if self.reference_avg is not None:
                    row["avg_reference"] = float(self.reference_avg[i])
                row["pc_payoff"] = float(self.game.outcome_payoffs[i])
            if self.auction is not None:
                row["payoff"] = float(self.auction.payoffs[i])
            rows.append(row)
        return rows

    def _solver(self) -> dict[str, Any]:
        opt = self.optimum.optimum
        sol = opt.solution
        if sol is None:
            return {"backend": "riskopt", "solver": f"welfare fast path ({opt.method})", "compile_s": 0.0,
                    "solve_s": opt.seconds, "iterations": opt.iterations,
                    "cross_check": None if self.conic is None else "cvxpy conic program (see 'conic')"}
        rep = sol.solver
        return {"backend": rep.backend, "solver": rep.solver, "compile_s": rep.compile_s,
                "solve_s": rep.solve_s, "iterations": rep.iterations,
                "cross_check": None if self.conic is None else "log-price Newton method (see 'conic')"}

    def to_dict(self) -> dict[str, Any]:
        po, opt = self.optimum, self.optimum.optimum
        beliefs = po.beliefs
        out: dict[str, Any] = {
            "mechanism": self.mechanism_name, "status": self.status.value, "objective": self.welfare,
            "welfare": self.welfare, "solver": self._solver(),
            "eta": self.eta, "bid": None if self.auction is None else self.auction.bid,
            "agents": self.agent_rows(), "prices": self.prices.to_dict(),
            "beliefs": {"kind": beliefs.kind, "reading": beliefs.label, "description": beliefs.description,
                        "priors": po.laws.note, "vertices": list(po.laws.labels)},
            "welfare_optimum": {
                "method": opt.method, "iterations": opt.iterations, "seconds": opt.seconds,
                "certificate": opt.certificate, "relative_residual": self.residual, "scale": opt.scale,
                "binding_monotonicity": [list(b) for b in opt.pooled],
                "identifiability": opt.identifiability.to_dict(), "closed_form": po.closed_form.to_dict(),
                "pruning": {"tolerance": po.prune, "kept_atoms": int(po.atoms.size),
                            "pruned_mass": po.atoms.pruned_mass, "state_price_mass_pruned": po.tail_mass,
                            "notes": list(po.notes)}},
            "conic": None if self.conic is None else self.conic.to_dict(),
            "menus_K_vs_C": None if self.atoms_check is None else self.atoms_check.to_dict(),
            "menu": None if self.menu is None else self.menu.describe(),
            "game": None if self.game is None else self.game.to_dict(),
            "spne": None if self.spne is None else self.spne.to_dict(),
            "auction": None if self.auction is None else self.auction.to_dict(),
            "game_skipped": self.game_skipped,
            "timings": dict(self.timings),
            **self.contract_json(),
            "verification": [c.to_dict() for c in self.verification],
        }
        return jsonable(out)  # type: ignore[no-any-return]

    def table(self, title: str = "") -> str:
        from .report import result_table

        return result_table(self, title)

    def plot(self, path: str | Path, title: str = "") -> Path:
        from .plots import plot_result

        return plot_result(self, path, title)
