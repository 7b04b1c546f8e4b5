"""Price-and-choose risk sharing for hurricane pools (seed 000, Sections 2-5): the mechanism.

One call, :func:`run`, does what the paper's mechanism needs, each step in its own module:

1. the pool and its beliefs (:mod:`.pandc_pools`): the law of X, tail pruning, the players' priors
   (common, heterogeneous own-hit priors, interval credal sets read own-hit or box);
2. the welfare optimum over the anchored comonotone menu C (:mod:`.pandc_welfare`): closed forms as
   fast path and oracle, a Newton method in the log state prices otherwise; the general conic
   program as cross-check on request (:mod:`.pandc_conic`); the atom-level menu K for small pools
   (:mod:`.pandc_atoms`);
3. a finite menu containing the optimum (:mod:`.pandc_menus`), the game's tables, equalising prices
   and payoffs (:mod:`.pandc_game`), the SPNE checks and Lipschitz constants (:mod:`.pandc_spne`);
4. the first-mover auction (:mod:`.pandc_auction`).

With credal beliefs every utility is the max-min utility (spec §5): W*_mm, Avg-underbar, eta_mm.

Example (seed 000, Example 1 and spec §3.6)::

    from riskopt.mechanisms import price_and_choose as pc
    pool = pc.Pool.independent([1, 2, 4], 0.1)
    res = pc.run(pc.PriceAndChoose(pool, menu=pc.MenuSpec("lattice", m=2)))
    res.welfare, res.eta, res.auction.bid      # -0.38982934, 0.22342122, 0.14894748

The model card format (``mechanism = "price_and_choose"``): ``[[agents]]`` or ``[pool]`` with entropic
measures, ``[space]`` (``kind = "bernoulli_hits"`` with ``p``, ``loss``, ``tick``, ``prune``, or
``"common_shock_hits"``), ``[beliefs]`` (``kind = "common" | "own_hit_prior" | "credal"``; ``own``;
``reading``, ``low``/``high`` or ``relative = [a, b]``), ``[menu]`` (``kind = "lattice"`` with ``m``,
or ``"dirichlet"`` with ``size``, ``seed``; no ``[menu]``: welfare only), ``[game]`` (``l_cap``,
``iota``, ``epsilons``, ``deviations``, ``seed``) and ``[welfare]`` (``tail_tol``, ``cross_check``,
``compare_atoms``). See docs/mechanisms/price_and_choose.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..data import jsonable
from ..errors import ModelError
from ..status import Status, from_certificate, from_verification
from .pandc_atoms import MAX_ATOM_FARMERS, compare_menus
from .pandc_auction import Auction, first_mover_auction
from .pandc_conic import ConicCheck, conic_comonotone
from .pandc_game import Game, play, utility_table
from .pandc_menus import Menu, dirichlet_menu, lattice_menu
from .pandc_pools import Beliefs, Pool
from .pandc_spne import PAIR_WORK, Verification, verify
from .pandc_welfare import PoolOptimum, pool_optimum

__all__ = ["CARD", "Beliefs", "GameSpec", "MenuSpec", "Pool", "PriceAndChoose", "PriceAndChooseResult", "run"]


@dataclass(frozen=True)
class MenuSpec:
    """``lattice`` (resolution ``m``) or ``dirichlet`` (``size`` points, ``seed``) on C."""

    kind: Literal["lattice", "dirichlet"] = "lattice"
    m: int = 2
    size: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("lattice", "dirichlet"):
            raise ModelError("menu.kind", self.kind, "'lattice' or 'dirichlet'")


@dataclass(frozen=True)
class GameSpec:
    """SPNE-check parameters: Lipschitz cap ``L_cap`` (under d_sup), ``iota`` of the perturbation
    ``psi``, the perturbation sizes, the number of random deviations per stage and their seed.
    ``iota`` and ``epsilons`` are in units of the menu's loss unit (L for a common loss)."""

    l_cap: float = 1.5
    iota: float = 0.5
    epsilons: tuple[float, ...] = (1e-2, 1e-4, 1e-6)
    deviations: int = 2000
    seed: int = 0
    pair_work: int = PAIR_WORK


@dataclass(frozen=True)
class PriceAndChoose:
    """What to run: the pool, its beliefs, the menu (``None``: welfare only), the game checks,
    the pruning tolerances, and the optional cross-checks (conic path, menu K)."""

    pool: Pool
    beliefs: Beliefs = field(default_factory=Beliefs.common)
    menu: MenuSpec | None = field(default_factory=MenuSpec)
    game: GameSpec = field(default_factory=GameSpec)
    prune: float = 1e-16
    tail_tol: float = 1e-12
    cross_check: bool = False
    compare_atoms: bool = False


@dataclass(frozen=True)
class PriceAndChooseResult:
    """Everything a run produced; ``to_dict()`` (JSON-safe), ``table()`` and ``plot()``."""

    spec: PriceAndChoose
    optimum: PoolOptimum
    conic: ConicCheck | None
    atoms_check: dict[str, Any] | None
    menu: Menu | None
    game: Game | None
    reference_avg: np.ndarray | None
    verification: Verification | None
    auction: Auction | None
    timings: dict[str, float]

    # ----------------------------------------------------------------- headline numbers
    @property
    def welfare(self) -> float:
        """W* over C (W*_mm under credal beliefs)."""
        return self.optimum.optimum.welfare

    @property
    def eta(self) -> float | None:
        return None if self.game is None else self.game.eta

    @property
    def residual(self) -> float:
        """The welfare optimum's KKT certificate in the problem's own units
        (:attr:`.pandc_welfare.WelfareOptimum.residual`), and its distance to the closed form when
        that is exact (common or common worst-case law, or a slack geometric mean)."""
        res = self.optimum.optimum.residual
        cf = self.optimum.closed_form
        if cf.get("exact"):
            res = max(res, float(cf.get("max_relative_error", 0.0)))
        return res if np.isfinite(res) else float("inf")

    @property
    def status(self) -> Status:
        """The welfare optimum's certificate (:attr:`residual`) gated by the SPNE verification."""
        base = from_certificate(Status.OPTIMAL, self.residual)
        return from_verification(base, None if self.verification is None else self.verification.passed)

    def agents(self) -> list[dict[str, Any]]:
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

    def density_by_atom(self) -> tuple[list[Any], np.ndarray]:
        """The state-price density over every atom of the (unpruned) law of X, in the order of
        the number of hits (``None`` where an atom was pruned), and the atoms' labels."""
        atoms = self.optimum.atoms
        full = atoms.full
        dens: list[Any] = [None] * full.size
        pos = {int(s): j for j, s in enumerate(atoms.full_steps)}
        for k, s in enumerate(atoms.steps):
            dens[pos[int(s)]] = float(self.optimum.optimum.density[k])
        return dens, atoms.full_steps

    def to_dict(self) -> dict[str, Any]:
        po, opt = self.optimum, self.optimum.optimum
        dens, steps = self.density_by_atom()
        label = "hits" if self.spec.pool.tick is None else "loss_in_ticks"
        prices = {"state_density": dens, label: steps, "kept_atoms": int(po.atoms.size),
                  "state_prices_kept": opt.prices, "esscher_density_kept": po.esscher_density,
                  "note": "density nu_k / P_k over the atoms of X (0 hits first); null where an atom "
                          "was pruned; atom 0's price completed by cash invariance (prices sum to 1)"}
        out: dict[str, Any] = {
            "mechanism": "price_and_choose", "status": self.status.value, "objective": self.welfare,
            "welfare": self.welfare,
            "solver": {"backend": "riskopt", "solver": f"welfare fast path ({opt.method})", "compile_s": 0.0,
                       "solve_s": opt.seconds, "iterations": opt.iterations,
                       "cross_check": None if self.conic is None else "cvxpy conic program (see 'conic')"},
            "eta": self.eta, "bid": None if self.auction is None else self.auction.bid,
            "agents": self.agents(), "prices": prices,
            "beliefs": {"kind": po.beliefs.kind, "reading": po.beliefs.reading,
                        "description": po.beliefs.description, "priors": po.laws.note,
                        "vertices": list(po.laws.labels)},
            "welfare_optimum": {
                "method": opt.method, "iterations": opt.iterations, "seconds": opt.seconds,
                "certificate": opt.certificate, "relative_residual": self.residual, "scale": opt.scale,
                "binding_monotonicity": [list(b) for b in opt.pooled],
                "identifiability": opt.identifiability.to_dict(), "closed_form": po.closed_form,
                "pruning": {"tolerance": po.prune, "kept_atoms": int(po.atoms.size),
                            "pruned_mass": po.atoms.pruned_mass, "state_price_mass_pruned": po.tail_mass,
                            "notes": list(po.notes)}},
            "conic": None if self.conic is None else self.conic.to_dict(),
            "menus_K_vs_C": None if self.atoms_check is None else {
                k: v for k, v in self.atoms_check.items() if k not in ("K", "C")},
            "menu": None if self.menu is None else self.menu.describe(),
            "game": None if self.game is None else self.game.to_dict(),
            "spne": None if self.verification is None else self.verification.to_dict(),
            "auction": None if self.auction is None else self.auction.to_dict(),
            "timings": self.timings,
        }
        return jsonable(out)

    def table(self, title: str = "") -> str:
        from .pandc_report import result_table

        return result_table(self, title)

    def plot(self, path: Any, title: str = "") -> Any:
        from .pandc_plots import plot_result

        return plot_result(self, path, title)


def run(spec: PriceAndChoose, *, backend: str = "cvxpy", solver: str | None = None,
        options: dict[str, Any] | None = None) -> PriceAndChooseResult:
    """Solve the welfare optimum, build the menu, play the game, verify it and run the auction."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    po = pool_optimum(spec.pool, spec.beliefs, prune=spec.prune, tail_tol=spec.tail_tol)
    timings["welfare_s"] = time.perf_counter() - t0
    conic = atoms_check = None
    if spec.cross_check:
        t = time.perf_counter()
        conic = conic_comonotone(po, backend=backend, solver=solver, **(options or {}))
        timings["conic_s"] = time.perf_counter() - t
    if spec.compare_atoms:
        if spec.pool.n > MAX_ATOM_FARMERS:
            raise ModelError("welfare.compare_atoms", True, f"at most {MAX_ATOM_FARMERS} farmers for the "
                             "atom-level menu K")
        t = time.perf_counter()
        atoms_check = compare_menus(spec.pool, spec.beliefs, optimum=po)
        timings["menu_K_s"] = time.perf_counter() - t
    menu = game = verification = auction = None
    reference_avg = None
    if spec.menu is not None:
        t = time.perf_counter()
        opt = po.optimum
        if spec.menu.kind == "lattice":
            menu = lattice_menu(opt.F, opt.gaps, spec.menu.m)
        else:
            menu = dirichlet_menu(opt.F, opt.gaps, spec.menu.size, spec.menu.seed)
        timings["menu_s"] = time.perf_counter() - t
        t = time.perf_counter()
        U = utility_table(menu.allocations, spec.pool.gammas, po.laws.vertices)
        game = play(menu, U)
        if po.beliefs.kind != "common":
            ref = np.broadcast_to(po.atoms.probs, (spec.pool.n, 1, po.atoms.size))
            reference_avg = menu.mu @ utility_table(menu.allocations, spec.pool.gammas, ref)
        timings["game_s"] = time.perf_counter() - t
        t = time.perf_counter()
        g = spec.game
        verification = verify(menu, game, po.atoms.probs, l_cap=g.l_cap, iota=g.iota,
                              epsilons=tuple(g.epsilons), deviations=g.deviations, seed=g.seed,
                              pair_work=g.pair_work)
        timings["verification_s"] = time.perf_counter() - t
        auction = first_mover_auction(game.avg, game.eta)
    timings["total_s"] = time.perf_counter() - t0
    return PriceAndChooseResult(spec, po, conic, atoms_check, menu, game, reference_avg, verification,
                                auction, timings)


# ------------------------------------------------------------------------- model cards
def _number_or_list(node: Any, key: str, draws: Any, n: int, default: Any = None) -> Any:
    """A number, a list of n numbers, or a random spec ``{uniform = [lo, hi]}`` (n draws)."""
    from ..cardschema import number_list

    raw = node.take(key, (float, list, dict), default=default)
    if raw is None or isinstance(raw, float):
        return raw
    value = draws.resolve(raw, node.at(key), n)
    return number_list(value, node.at(key), n)


def card_spec(root: Any, draws: Any) -> PriceAndChoose:
    """Read ``[[agents]]``/``[pool]``, ``[space]``, ``[beliefs]``, ``[menu]``, ``[game]``, ``[welfare]``."""
    from ..cardschema import Node, build_agents
    from ..measures import Entropic

    agents = build_agents(root, draws, None)
    where = "pool.measure" if "pool" in root.data else None
    gammas = []
    for i, a in enumerate(agents):
        m = a.measure
        if not isinstance(m, Entropic) or m.law is not None:
            raise ModelError(where or f"agents[{i}].measure", m.describe(), "an entropic utility under the "
                             "reference prior ({name = 'entropic', gamma = ...}); beliefs go in [beliefs]")
        gammas.append(m.gamma)
    n = len(agents)
    names = [a.name for a in agents]
    space = root.child("space")
    kind = space.take("kind", str, allowed="'bernoulli_hits' or 'common_shock_hits'")
    try:
        if kind == "bernoulli_hits":
            p = _number_or_list(space, "p", draws, n)
            loss = _number_or_list(space, "loss", draws, n, default=1.0)
            tick = space.take("tick", float, default=None)
            pool = Pool.independent(gammas, p, loss, tick=tick, names=names)
        elif kind == "common_shock_hits":
            ps = _number_or_list(space, "p_storm", draws, n)
            pc = _number_or_list(space, "p_calm", draws, n)
            s = space.take("storm_prob", float, allowed="a probability in [0, 1]")
            loss = space.take("loss", float, default=1.0)
            pool = Pool.common_shock(gammas, ps, pc, s, loss, names=names)
        else:
            raise ModelError(space.at("kind"), kind, "'bernoulli_hits' or 'common_shock_hits'")
    except ModelError as err:
        raise err if err.field.startswith("space") else err.with_prefix("space") from None
    prune = space.take("prune", float, default=1e-16, allowed="a pruning tolerance in [0, 1)")
    if not (np.isfinite(prune) and 0 <= prune < 1):
        raise ModelError(space.at("prune"), prune, "a pruning tolerance in [0, 1)")
    space.finish()
    beliefs = _read_beliefs(root.child("beliefs", default=None), pool, draws)
    menu = _read_menu(root.child("menu", default=None))
    game = _read_game(root.child("game", default=None) or Node({}, "game"))
    wnode = root.child("welfare", default=None) or Node({}, "welfare")
    tail_tol = wnode.take("tail_tol", float, default=1e-12, allowed="a positive tolerance")
    if not (np.isfinite(tail_tol) and tail_tol > 0):
        raise ModelError(wnode.at("tail_tol"), tail_tol, "a positive tolerance")
    cross = wnode.take("cross_check", str, default="none", allowed="'none' or 'conic'")
    if cross not in ("none", "conic"):
        raise ModelError(wnode.at("cross_check"), cross, "'none' or 'conic'")
    atoms_k = wnode.take("compare_atoms", bool, default=False)
    if atoms_k and n > MAX_ATOM_FARMERS:
        raise ModelError(wnode.at("compare_atoms"), True, f"at most {MAX_ATOM_FARMERS} farmers for the "
                         "atom-level menu K (2^n states)")
    wnode.finish()
    return PriceAndChoose(pool, beliefs, menu, game, prune, tail_tol, cross == "conic", atoms_k)


def _read_beliefs(node: Any, pool: Pool, draws: Any) -> Beliefs:
    if node is None:
        return Beliefs.common()
    kind = node.take("kind", str, default="common", allowed="'common', 'own_hit_prior' or 'credal'")
    try:
        if kind == "common":
            beliefs = Beliefs.common()
        elif kind == "own_hit_prior":
            beliefs = Beliefs.own_hit_prior(_number_or_list(node, "own", draws, pool.n))
        elif kind == "credal":
            reading = node.take("reading", str, default="own_hit", allowed="'own_hit' or 'box'")
            rel = node.take("relative", list, default=None)
            if rel is not None:
                from ..cardschema import number_list

                lo, hi = number_list(rel, node.at("relative"), 2)
                if not 0 <= lo <= 1 <= hi:
                    raise ModelError(node.at("relative"), [lo, hi], "factors [a, b] with 0 <= a <= 1 <= b "
                                     "(the interval [a p_j, b p_j] contains p_j)")
                low, high = lo * pool.p, hi * pool.p
            else:
                low = _number_or_list(node, "low", draws, pool.n)
                high = _number_or_list(node, "high", draws, pool.n)
                if low is None or high is None:
                    raise ModelError(node.at("low" if low is None else "high"), None,
                                     "interval bounds (or relative = [a, b])", detail="missing")
            beliefs = Beliefs.credal(low, high, reading)
        else:
            raise ModelError(node.at("kind"), kind, "'common', 'own_hit_prior' or 'credal'")
        beliefs = beliefs.checked(pool)
    except ModelError as err:
        raise err if err.field.startswith("beliefs") else err.with_prefix("beliefs") from None
    node.finish()
    return beliefs


def _read_menu(node: Any) -> MenuSpec | None:
    if node is None:
        return None
    kind = node.take("kind", str, allowed="'lattice', 'dirichlet' or 'none'")
    if kind == "none":
        node.finish()
        return None
    if kind == "lattice":
        m = node.take("m", int, default=2, allowed="a positive integer lattice resolution")
        if m < 1:
            raise ModelError(node.at("m"), m, "a positive integer lattice resolution")
        node.finish()
        return MenuSpec("lattice", m=m)
    if kind == "dirichlet":
        size = node.take("size", int, default=200, allowed="an integer number of menu points >= 2")
        seed = node.take("seed", int, default=0, allowed="an integer seed >= 0")
        if size < 2:
            raise ModelError(node.at("size"), size, "an integer number of menu points >= 2")
        if seed < 0:
            raise ModelError(node.at("seed"), seed, "an integer seed >= 0")
        node.finish()
        return MenuSpec("dirichlet", size=size, seed=seed)
    raise ModelError(node.at("kind"), kind, "'lattice', 'dirichlet' or 'none'")


def _read_game(node: Any) -> GameSpec:
    from ..cardschema import number_list

    l_cap = node.take("l_cap", float, default=1.5, allowed="a Lipschitz cap > 1 (metric d_sup)")
    iota = node.take("iota", float, default=0.5, allowed="a number in (0, 1)")
    eps = node.take("epsilons", list, default=[1e-2, 1e-4, 1e-6])
    eps_arr = number_list(eps, node.at("epsilons"))
    deviations = node.take("deviations", int, default=2000, allowed="an integer >= 0")
    seed = node.take("seed", int, default=0, allowed="an integer seed >= 0")
    node.finish()
    if not (np.isfinite(l_cap) and l_cap > 0):
        raise ModelError(node.at("l_cap"), l_cap, "a Lipschitz cap > 1 (metric d_sup)")
    if not (np.isfinite(iota) and 0 < iota < 1):
        raise ModelError(node.at("iota"), iota, "a number in (0, 1)")
    if eps_arr.size == 0 or np.any(eps_arr <= 0):
        raise ModelError(node.at("epsilons"), eps, "positive perturbation sizes")
    if deviations < 0 or deviations > 1_000_000:
        raise ModelError(node.at("deviations"), deviations, "an integer in [0, 1000000]")
    if seed < 0:
        raise ModelError(node.at("seed"), seed, "an integer seed >= 0")
    return GameSpec(l_cap, iota, tuple(float(e) for e in eps_arr), deviations, seed)


def card_run(spec: PriceAndChoose, backend: str, solver: str | None,
             options: dict[str, Any]) -> PriceAndChooseResult:
    """Runner of ``riskopt run``: the card's ``[solver]`` drives the conic cross-check."""
    return run(spec, backend=backend, solver=solver, options=options)


def _card() -> Any:
    from ..cardschema import CardMechanism

    return CardMechanism("price_and_choose", card_spec, card_run)


CARD = _card()

