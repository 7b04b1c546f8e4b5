"""Price-and-choose risk sharing for hurricane pools (Ogaku 2025, Sections 2-5): the mechanism.

``solve(PriceAndChoose(...), method=...)`` does what the paper's mechanism needs, each step in its
own module:

1. the pool and its beliefs (:mod:`.pools`, :mod:`.priors`): the law of X and its kept atoms (a
   :class:`~riskopt.space.Scenarios`), tail pruning, the players' priors (common, heterogeneous
   own-hit priors, interval credal sets read own-hit or box);
2. the welfare optimum over the anchored comonotone menu C (:mod:`.optimum`), by one of two
   routes: ``"fast"`` (the default, ``"auto"``) closed forms and a Newton method in the log state
   prices (:mod:`.fast`); ``"program"`` the conic welfare program over C (:mod:`.program`); either
   can cross-check the other (``[welfare] cross_check = "conic"``), and the atom-level menu K can be
   compared for small pools (:mod:`.atom_level`);
3. a finite menu containing the optimum (:mod:`.menus`), the game's tables, equalising prices and
   payoffs (:mod:`.game`), the SPNE checks and Lipschitz constants (:mod:`.spne`);
4. the first-mover auction (:mod:`.auction`).

A modeler's own constraints (``[[constraints]]``, ``spec.add_constraint``; :data:`.spec.QUANTITIES`)
are rows of the conic program on the kept atoms of X: ``method="auto"`` then runs ``"program"``
(``"fast"`` refuses them) and ``Result.constraints`` prices each by its dual ``dW*/d rhs``. The game,
its SPNE checks and the auction are then not run (:data:`GAME_SKIPPED`).

With credal beliefs every utility is the max-min utility: W*_mm, Avg-underbar, eta_mm.

Example (Ogaku 2025, Example 1)::

    from riskopt.mechanisms import price_and_choose as pc
    pool = pc.Pool.independent([1, 2, 4], 0.1)
    res = pc.solve(pc.PriceAndChoose(pool, menu=pc.MenuSpec("lattice", m=2)))
    res.welfare, res.eta, res.auction.bid      # -0.38982934, 0.22342122, 0.14894748

The model card (``mechanism = "price_and_choose"``) is read by :func:`riskopt.spec.read_spec` on
:class:`PriceAndChoose` (see :mod:`.spec` and docs/mechanisms/price_and_choose.md).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...cardschema import CardMechanism
from ...constraints import require_no_constraints
from ...errors import ModelError
from .. import Mechanism, register_mechanism
from .atom_level import KOptimum, MenuComparison, atom_priors, atom_space, compare_menus, welfare_atoms
from .auction import Auction, expected_payoffs, first_mover_auction
from .fast import (
    WelfareOptimum,
    geometric_mean_closed_form,
    log_mean_exp,
    solve_comonotone,
    welfare_optimum,
)
from .game import Game, choose, play, utility_table
from .menus import Menu, custom_menu, dirichlet_atoms, dirichlet_menu, lattice_menu
from .optimum import ClosedFormCheck, PoolOptimum, pool_optimum
from .plots import result_figure, simplex_xy
from .pools import Pool, atom_gaps, keep_atoms, lattice_steps, leave_one_out_laws
from .priors import PlayerLaws, player_laws
from .program import ConicCheck, conic_comonotone, conic_route
from .result import AtomPrices, PriceAndChooseResult
from .spec import (
    MAX_ATOM_FARMERS,
    QUANTITIES,
    Beliefs,
    GameSpec,
    HitSpace,
    MenuSpec,
    PriceAndChoose,
    WelfareSpec,
)
from .spne import Lipschitz, SPNEVerification, lipschitz, verify

__all__ = ["CARD", "GAME_SKIPPED", "MAX_ATOM_FARMERS", "MECHANISM", "QUANTITIES", "AtomPrices", "Auction",
           "Beliefs", "ClosedFormCheck", "ConicCheck", "Game", "GameSpec", "HitSpace", "KOptimum",
           "Lipschitz", "Menu", "MenuComparison", "MenuSpec", "PlayerLaws", "Pool", "PoolOptimum",
           "PriceAndChoose", "PriceAndChooseResult", "SPNEVerification", "WelfareOptimum", "WelfareSpec",
           "atom_gaps", "atom_priors", "atom_space", "choose", "compare_menus", "conic_comonotone",
           "conic_route", "custom_menu", "dirichlet_atoms", "dirichlet_menu", "expected_payoffs",
           "first_mover_auction", "geometric_mean_closed_form", "keep_atoms", "lattice_menu",
           "lattice_steps", "leave_one_out_laws", "lipschitz", "log_mean_exp", "play", "player_laws",
           "pool_optimum", "result_figure", "simplex_xy", "solve", "solve_comonotone", "utility_table",
           "verify", "welfare_atoms", "welfare_optimum"]

METHODS = ("fast", "program")
#: why a constrained spec's menu is not played (the result's ``game_skipped``)
GAME_SKIPPED = ("user constraints: the P^{n-1}&C game, its SPNE checks and the first-mover auction are "
                "not run. Ogaku's equilibrium is established for a menu on the whole anchored comonotone "
                "set C (lattice or Dirichlet points of C around the optimum); with constraints the menu "
                "would hold allocations the constraints forbid, and no SPNE result is proved for a menu "
                "cut down to C intersected with them, so no eta, bid or payoffs are reported next to the "
                "constrained welfare.")


def solve(spec: PriceAndChoose, *, method: str = "auto", backend: str = "cvxpy", solver: str | None = None,
          **options: Any) -> PriceAndChooseResult:
    """Solve the welfare optimum, build the menu, play the game, verify it and run the auction.

    ``method``: ``"fast"`` (closed forms and the log-price Newton method), or ``"program"`` (the
    conic welfare program over C on ``backend``/``solver`` with ``options``; the welfare optimum and
    the game are then the program's); ``"auto"`` is ``"fast"`` without user constraints, else
    ``"program"`` (with them the game is skipped: :data:`GAME_SKIPPED`). ``backend``, ``solver``
    and ``options`` also drive the conic cross-check of the fast route (``[welfare] cross_check =
    "conic"``).
    """
    if not isinstance(spec, PriceAndChoose):
        raise ModelError("spec", type(spec).__name__, "a PriceAndChoose spec")
    if method not in ("auto", *METHODS):
        raise ModelError("method", method, f"one of {['auto', *METHODS]}")
    if method == "fast":
        require_no_constraints(spec.constraints, method, "the log-price Newton method solves the "
                               "program over C without them")
    program = method == "program" or bool(spec.constraints)
    credal = spec.welfare.credal_program
    if credal == "auto":
        credal = "worst_case" if spec.constraints else "epigraph"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    route = conic_route(backend=backend, solver=solver, constraints=spec.constraints, credal=credal,
                        **options) if program else None
    po = pool_optimum(spec.pool, spec.beliefs, tail_tol=spec.welfare.tail_tol, route=route,
                      constrained=bool(spec.constraints))
    solution = po.optimum.solution
    constraints = dict(solution.constraints) if solution is not None else {}
    timings["welfare_s"] = time.perf_counter() - t0
    conic = atoms_check = None
    if spec.welfare.cross_check == "conic":
        t = time.perf_counter()
        if program:  # the program's point against the log-price Newton optimum on the same atoms
            newton = solve_comonotone(po.atoms.X, po.laws.worst, spec.pool.gammas, po.atoms.p)
            conic = conic_comonotone(po, solution=po.optimum.solution, optimum=newton)
        else:
            conic = conic_comonotone(po, backend=backend, solver=solver, **options)
        timings["conic_s"] = time.perf_counter() - t
    if spec.welfare.compare_atoms:
        t = time.perf_counter()
        atoms_check = compare_menus(spec.pool, spec.beliefs, optimum=po)
        timings["menu_K_s"] = time.perf_counter() - t
    menu = game = verification = auction = None
    reference_avg = None
    skipped = GAME_SKIPPED if spec.menu is not None and spec.constraints else None
    if spec.menu is not None and not spec.constraints:
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
            ref = np.broadcast_to(po.atoms.p, (spec.pool.n, 1, po.atoms.size))
            reference_avg = menu.mu @ utility_table(menu.allocations, spec.pool.gammas, ref)
        timings["game_s"] = time.perf_counter() - t
        t = time.perf_counter()
        g = spec.game
        verification = verify(menu, game, po.atoms.p, l_cap=g.l_cap, iota=g.iota, epsilons=tuple(g.epsilons),
                              deviations=g.deviations, seed=g.seed, pair_work=g.pair_work)
        timings["verification_s"] = time.perf_counter() - t
        auction = first_mover_auction(game.avg, game.eta)
    timings["total_s"] = time.perf_counter() - t0
    return PriceAndChooseResult(spec, po, conic, atoms_check, menu, game, reference_avg, verification,
                                auction, timings, "program" if program else "fast", constraints, skipped)


SUMMARY = ("Price-and-choose for hurricane pools (Ogaku 2025): the welfare optimum over the anchored "
           "comonotone menu C with entropic or credal max-min utilities, the P^{n-1}&C game on a finite "
           "menu with its SPNE verification, and the first-mover auction.")
#: ``riskopt run``: the card's ``[solver]`` drives the conic program (cross-check)
CARD = CardMechanism.of("price_and_choose", PriceAndChoose, solve, SUMMARY)
MECHANISM = register_mechanism(Mechanism("price_and_choose", PriceAndChoose, solve, METHODS, SUMMARY))
