"""The price-and-choose mechanism's input: the pool, the beliefs, the menu, the game checks, the welfare.

:class:`PriceAndChoose` is what :func:`riskopt.mechanisms.price_and_choose.solve` takes and what a
card with ``mechanism = "price_and_choose"`` reads: ``[[agents]]`` or ``[pool]`` (entropic measures)
and ``[space]`` (the farmers' hits: :class:`HitSpace`) make the :class:`~.pools.Pool`;
``[beliefs]`` (:class:`Beliefs`), ``[menu]`` (:class:`MenuSpec`; no ``[menu]``: welfare only),
``[game]`` (:class:`GameSpec`) and ``[welfare]`` (:class:`WelfareSpec`). Every field below is
documented on the generated card reference page; random specs (``{uniform = [lo, hi]}``) are drawn
in the order of the fields (agents, then the space, then the beliefs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ...budget import SHARING_ENTRY_BYTES, Footprint, cells
from ...cardschema import agents_rows, build_agents
from ...checks import real_array
from ...constraints import Constrained, ConstraintSpec, check_constraints, constraints_option
from ...errors import ModelError
from ...measures import Entropic
from ...spec import Checked, Context, Node, Row, number_list, option, read_spec, reference
from .menus import MAX_MENU_ENTRIES, lattice_size
from .pools import PRUNE, Pool, probabilities

__all__ = ["CREDAL_PROGRAMS", "MAX_ATOM_FARMERS", "QUANTITIES", "TAIL_TOL", "Beliefs", "GameSpec", "HitSpace",
           "MenuSpec", "PriceAndChoose", "WelfareSpec"]

#: the atom-level menu K has 2^n states: at most this many farmers
MAX_ATOM_FARMERS = 12
#: peak bytes per farmer x atom of the log-price Newton method: measured 190
NEWTON_ENTRY_BYTES = 300.0
#: the same for the credal epigraph program (two vertices per farmer): measured 7.7 KB at 300 x 85
CREDAL_ENTRY_BYTES = 10e3
#: peak bytes per menu number (point x farmer x atom) of the game: measured 19
MENU_ENTRY_BYTES = 32.0
#: the game's Lipschitz and deviation checks work in chunks of at most this many numbers, with about
#: three arrays of them alive (measured 16 B per number)
PAIR_CHUNK = 20_000_000
PAIR_BYTES = 24.0
#: state-price mass allowed on pruned atoms before the pool is re-solved with more atoms
TAIL_TOL = 1e-12
#: coordinate comparisons (pairs x players x states) for the Lipschitz constants: every pair when
#: they fit, else a seeded sample of pairs (see :mod:`.spne`)
PAIR_WORK = 200_000_000
#: what a price-and-choose constraint may read (``what``; :mod:`riskopt.constraints`): the program's
#: rows are the kept atoms of X, not the 2^n hit states
QUANTITIES = {"allocation": "farmer i's share f_i(x_k) of the aggregate loss on each kept atom x_k of X, "
                            "as a gain (<= 0; X = -hits x loss); the rows are the kept atoms of X (X = 0 "
                            "first), not the 2^n hit states; in expectation under P (the atoms' "
                            "probabilities) or law = \"own\" (the farmer's own prior, his worst-case "
                            "prior on C under credal beliefs, P under the common prior, pushed to the "
                            "atoms); share_of_aggregate: f_i(x_k) >= rhs x_k caps his share at rhs"}
#: how credal sets enter the conic program (see :mod:`.program`)
CREDAL_PROGRAMS = ("auto", "epigraph", "worst_case")
PER_FARMER = "a number, a list with one value per farmer, or a random spec {uniform = [lo, hi]}"


def per_farmer(value: Any, path: str, context: Context, n: int) -> np.ndarray:
    """A number, a list of ``n`` numbers, or a random spec (``n`` draws) as a float array."""
    if isinstance(value, bool) or not isinstance(value, (int, float, list, dict)):
        raise ModelError(path, value, "a number or a list or a table")
    if isinstance(value, (int, float)):
        try:
            return np.atleast_1d(np.asarray(float(value)))
        except OverflowError:  # TOML integers are unbounded
            raise ModelError(path, value, "a number or a list or a table",
                             detail="too large for a float") from None
    resolved = context.draws.resolve(value, path, n)
    return number_list(resolved, path, n)


def _farmers(context: Context) -> int:
    pool = context.values.get("pool")
    return int(pool.n) if isinstance(pool, Pool) else len(context.values.get("agents", ()))


def _per_farmer_reader(value: Any, path: str, context: Context) -> np.ndarray:
    return per_farmer(value, path, context, _farmers(context))


def _unused(kind: str, **fields: Any) -> None:
    """Refuse fields a kind does not read (as an unknown field of that kind)."""
    for name, value in fields.items():
        if value is not None:
            raise ModelError(name, value, f"no {name} for kind = '{kind}'", detail="unknown field")


# ------------------------------------------------------------------------------ [space]
@dataclass(frozen=True)
class HitSpace(Checked):
    """The farmers' hits (``[space]``): independent hits, or a one-factor common shock."""

    kind: Literal["bernoulli_hits", "common_shock_hits"] = option(
        help="independent hits (bernoulli_hits) or a storm regime with independent hits given the regime "
             "(common_shock_hits)", allowed="'bernoulli_hits' or 'common_shock_hits'")
    p: np.ndarray | None = option(None, help="hit probabilities (bernoulli_hits)", allowed=PER_FARMER,
                                  read=_per_farmer_reader, shown_default="required (bernoulli_hits)")
    loss: np.ndarray = option(
        default_factory=lambda: np.ones(1), help="the loss of a hit: one for all farmers or one per farmer "
        "(common_shock_hits: one number)", allowed=PER_FARMER, read=_per_farmer_reader, units="money",
        shown_default="1.0")
    tick: float | None = option(None, help="the lattice step of X when the losses differ (every loss a "
                                "multiple of it)", allowed="a positive number", units="money")
    p_storm: np.ndarray | None = option(None, help="hit probabilities in a storm (common_shock_hits)",
                                        allowed=PER_FARMER, read=_per_farmer_reader)
    p_calm: np.ndarray | None = option(None, help="hit probabilities when calm (common_shock_hits)",
                                       allowed=PER_FARMER, read=_per_farmer_reader)
    storm_prob: float | None = option(None, help="the probability of a storm (common_shock_hits)",
                                      allowed="a probability in [0, 1]")
    prune: float = option(PRUNE, help="atoms of X of smaller mass beyond the last heavier one are dropped "
                          "(the anchor X = 0 always stays; the pruned state-price mass is checked)",
                          allowed="a pruning tolerance in [0, 1)",
                          check=lambda v: math.isfinite(v) and 0 <= v < 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind == "bernoulli_hits":
            _unused(self.kind, p_storm=self.p_storm, p_calm=self.p_calm, storm_prob=self.storm_prob)
            if self.p is None:
                raise ModelError("p", None, "hit probabilities", detail="missing")
        else:
            _unused(self.kind, p=self.p, tick=self.tick)
            for name in ("p_storm", "p_calm", "storm_prob"):
                if getattr(self, name) is None:
                    raise ModelError(name, None, "a value for common_shock_hits", detail="missing")
            if np.size(self.loss) != 1:
                raise ModelError("loss", self.loss.tolist(), "one loss for every farmer (a number)")

    def pool(self, gammas: ArrayLike, names: tuple[str, ...]) -> Pool:
        """The pool of farmers with these risk aversions and names."""
        loss = _scalar(self.loss)
        if self.kind == "bernoulli_hits":
            assert self.p is not None  # __post_init__
            return Pool.independent(gammas, _scalar(self.p), loss, tick=self.tick, names=names,
                                    prune=self.prune)
        assert self.p_storm is not None and self.p_calm is not None and self.storm_prob is not None
        return Pool.common_shock(gammas, _scalar(self.p_storm), _scalar(self.p_calm), self.storm_prob,
                                 float(self.loss[0]), names=names, prune=self.prune)


def _scalar(a: np.ndarray) -> float | np.ndarray:
    """One value for every farmer as a number (it broadcasts), else the array."""
    return float(a[0]) if a.size == 1 else a


def _read_pool(root: Node, path: str, context: Context) -> Pool:
    """``[[agents]]``/``[pool]`` (entropic measures under the reference prior), then ``[space]``."""
    agents = build_agents(root, context.draws, None)
    context.values["agents"] = agents
    where = "pool.measure" if "pool" in root.data else None
    gammas = []
    for i, a in enumerate(agents):
        m = a.measure
        if not isinstance(m, Entropic) or m.law is not None:
            raise ModelError(where or f"agents[{i}].measure", m.describe(), "an entropic utility under the "
                             "reference prior ({name = 'entropic', gamma = ...}); beliefs go in [beliefs]")
        gammas.append(m.gamma)
    node = root.child("space")
    assert node is not None
    space = read_spec(HitSpace, node, context)
    try:
        return space.pool(gammas, tuple(a.name for a in agents))
    except ModelError as err:
        raise err if err.field.startswith("space") else err.with_prefix("space") from None


def _pool_rows(prefix: str) -> list[Row]:
    return [*agents_rows(prefix),
            Row(f"{prefix}space", "table", "required", "", "", "the farmers' hits (the law of X)"),
            *reference(HitSpace, f"{prefix}space.")]


# ------------------------------------------------------------------------------ [beliefs]
@dataclass(frozen=True)
class Beliefs(Checked):
    """Common prior, heterogeneous own-hit priors, or interval credal sets (own-hit / box)."""

    kind: Literal["common", "own_hit_prior", "credal"] = option(
        "common", help="every farmer uses P (common); farmer i believes his own hit probability is q_i "
        "(own_hit_prior); interval credal sets P(H_j) in [low_j, high_j] with max-min utilities (credal)",
        allowed="'common', 'own_hit_prior' or 'credal'")
    reading: Literal["own_hit", "box"] = option(
        "own_hit", help="credal: farmer i doubts only his own hit (own_hit: two vertices) or every hit "
        "(box: the hull of the 2^n product laws)", allowed="'own_hit' or 'box'")
    low: np.ndarray | None = option(None, help="credal: the lower bounds of the hit probabilities",
                                    allowed=PER_FARMER, read=_per_farmer_reader)
    high: np.ndarray | None = option(None, help="credal: the upper bounds of the hit probabilities (< 1)",
                                     allowed=PER_FARMER, read=_per_farmer_reader)
    own: np.ndarray | None = option(None, help="own_hit_prior: each farmer's own hit probability q_i",
                                    allowed=PER_FARMER, read=_per_farmer_reader)
    relative: tuple[float, ...] | None = option(
        None, help="credal: the intervals [a p_j, b p_j] instead of low and high", allowed="factors [a, b] "
        "with 0 <= a <= 1 <= b (the interval [a p_j, b p_j] contains p_j)",
        check=lambda r: len(r) == 2 and 0 <= r[0] <= 1 <= r[1])

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in ("common", "own_hit_prior", "credal"):
            raise ModelError("kind", self.kind, "'common', 'own_hit_prior' or 'credal'")
        if self.reading not in ("own_hit", "box"):
            raise ModelError("reading", self.reading, "'own_hit' or 'box'")
        if self.kind != "credal":
            _unused(self.kind, reading=None if self.reading == "own_hit" else self.reading, low=self.low,
                    high=self.high, relative=self.relative)
        if self.kind != "own_hit_prior":
            _unused(self.kind, own=self.own)
        if self.kind == "own_hit_prior" and self.own is None:
            raise ModelError("own", None, "each farmer's own hit probability", detail="missing")
        if self.kind == "credal":
            if self.relative is not None:
                _unused("credal with relative", low=self.low, high=self.high)
                if not (len(self.relative) == 2 and 0 <= self.relative[0] <= 1 <= self.relative[1]):
                    raise ModelError("relative", list(self.relative), "factors [a, b] with 0 <= a <= 1 <= b "
                                     "(the interval [a p_j, b p_j] contains p_j)")
            else:
                for name in ("low", "high"):
                    if getattr(self, name) is None:
                        raise ModelError(name, None, "interval bounds (or relative = [a, b])",
                                         detail="missing")

    @classmethod
    def common(cls) -> Beliefs:
        return cls("common")

    @classmethod
    def own_hit_prior(cls, q: ArrayLike) -> Beliefs:
        """Farmer ``i`` believes his own hit probability is ``q_i`` (others at the reference)."""
        own = real_array("beliefs.own", q, "hit probabilities in [0, 1]")
        return cls("own_hit_prior", own=np.atleast_1d(own))

    @classmethod
    def credal(cls, low: ArrayLike, high: ArrayLike, reading: str = "own_hit") -> Beliefs:
        """Interval credal sets ``P(H_j) in [low_j, high_j]`` read ``"own_hit"`` or ``"box"``."""
        if reading not in ("own_hit", "box"):
            raise ModelError("beliefs.reading", reading, "'own_hit' or 'box'")
        allowed = "hit probabilities in [0, 1]"
        return cls("credal", reading, np.atleast_1d(real_array("beliefs.low", low, allowed)),  # type: ignore[arg-type]
                   np.atleast_1d(real_array("beliefs.high", high, allowed)))

    @property
    def description(self) -> str:
        if self.kind == "common":
            return "common prior P"
        if self.kind == "own_hit_prior":
            return "heterogeneous single priors (own hit probability q_i)"
        return f"credal intervals, {self.reading.replace('_', '-')} reading"

    @property
    def label(self) -> str:
        """The reading as reported: none for the common prior."""
        return "" if self.kind == "common" else self.reading

    def checked(self, pool: Pool) -> Beliefs:
        """Validate against the pool (sizes, ``0 <= low <= p <= high <= 1``); scalars broadcast and
        ``relative = [a, b]`` becomes ``[a p, b p]``."""
        n = pool.n
        if self.kind == "common":
            return self
        if pool.shock is not None:
            raise ModelError("beliefs.kind", self.kind, "'common' for a common-shock pool (own-hit and "
                             "credal readings perturb independent hit probabilities)")
        if self.kind == "own_hit_prior":
            assert self.own is not None  # __post_init__
            q = probabilities(self.own, n, "beliefs.own")
            if np.any(q >= 1):
                k = int(np.argmax(q >= 1))
                raise ModelError(f"beliefs.own[{k}]", float(q[k]), "a hit probability < 1")
            return Beliefs(self.kind, self.reading, own=q)
        if self.relative is not None:
            a, b = self.relative
            lo_in: ArrayLike = a * pool.p
            hi_in: ArrayLike = b * pool.p
        else:
            assert self.low is not None and self.high is not None  # __post_init__
            lo_in, hi_in = self.low, self.high
        low = probabilities(lo_in, n, "beliefs.low")
        high = probabilities(hi_in, n, "beliefs.high")
        for j in range(n):
            if low[j] > high[j]:
                raise ModelError(f"beliefs.low[{j}]", float(low[j]),
                                 f"a lower bound <= beliefs.high[{j}] = {high[j]:g}")
            if not low[j] <= pool.p[j] <= high[j]:
                raise ModelError(f"beliefs.high[{j}]" if pool.p[j] > high[j] else f"beliefs.low[{j}]",
                                 float(high[j] if pool.p[j] > high[j] else low[j]),
                                 f"an interval containing the reference p[{j}] = {pool.p[j]:g}")
        if np.any(high >= 1):
            k = int(np.argmax(high >= 1))
            raise ModelError(f"beliefs.high[{k}]", float(high[k]), "an upper bound < 1 (X = 0 must stay "
                             "possible under every prior)")
        return Beliefs(self.kind, self.reading, low, high)


# ------------------------------------------------------------------------------ [menu]
@dataclass(frozen=True)
class MenuSpec(Checked):
    """``lattice`` (resolution ``m``) or ``dirichlet`` (``size`` points, ``seed``) on C; the welfare
    optimum is always appended as the last point."""

    kind: Literal["lattice", "dirichlet"] = option(
        "lattice", help="every gap's share column over {a/m : a in Z^n_+, sum a = m} (lattice), or flat "
        "Dirichlet draws (dirichlet, the uniform measure on C); 'none': welfare only",
        allowed="'lattice', 'dirichlet' or 'none'")
    m: int = option(2, help="lattice: the resolution (C(m+n-1, n-1)^K points)",
                    allowed="a positive integer lattice resolution", check=lambda v: v >= 1)
    size: int = option(200, help="dirichlet: the number of menu points (the optimum included)",
                       allowed="an integer number of menu points >= 2", check=lambda v: v >= 2)
    seed: int = option(0, help="dirichlet: the seed of numpy.random.default_rng",
                       allowed="an integer seed >= 0", check=lambda v: v >= 0)

    def __post_init__(self) -> None:
        if self.kind not in ("lattice", "dirichlet"):
            raise ModelError("menu.kind", self.kind, "'lattice' or 'dirichlet'")
        super().__post_init__()
        if self.kind == "lattice":
            _unused(self.kind, size=None if self.size == 200 else self.size,
                    seed=None if self.seed == 0 else self.seed)
        else:
            _unused(self.kind, m=None if self.m == 2 else self.m)


def _read_menu(value: Any, path: str, context: Context) -> MenuSpec | None:
    node = Node(value, path)
    if node.data.get("kind") == "none":
        node.take("kind", str)
        node.finish()
        return None
    return read_spec(MenuSpec, node, context)


def _menu_rows(prefix: str) -> list[Row]:
    return [Row(f"{prefix}menu", "table", "none (welfare only)", "", "",
                "the finite menu of allocations on C the game is played on"),
            *reference(MenuSpec, f"{prefix}menu.")]


# ------------------------------------------------------------------------------ [game]
@dataclass(frozen=True)
class GameSpec(Checked):
    """SPNE-check parameters: Lipschitz cap ``L_cap`` (under d_sup), ``iota`` of the perturbation
    ``psi``, the perturbation sizes, the number of random deviations per stage and their seed.
    ``iota`` and ``epsilons`` are in units of the menu's loss unit (L for a common loss)."""

    l_cap: float = option(1.5, help="the cap (n-1) L_cap on the Lipschitz constants of price schedules "
                          "under d_sup", allowed="a Lipschitz cap > 1 (metric d_sup)",
                          check=lambda v: math.isfinite(v) and v > 0)
    iota: float = option(0.5, help="iota of the perturbation psi = iota / (iota + d_sup(xi, xi*))",
                         allowed="a number in (0, 1)", units="loss units",
                         check=lambda v: math.isfinite(v) and 0 < v < 1)
    epsilons: tuple[float, ...] = option((1e-2, 1e-4, 1e-6), help="the sizes of the perturbed leader "
                                         "schedules", allowed="positive perturbation sizes",
                                         units="loss units",
                                         check=lambda e: len(e) > 0 and all(x > 0 for x in e))
    deviations: int = option(2000, help="random admissible deviations per stage (a sanity test)",
                             allowed="an integer in [0, 1000000]", check=lambda v: 0 <= v <= 1_000_000)
    seed: int = option(0, help="the seed of the deviations and of sampled Lipschitz pairs",
                       allowed="an integer seed >= 0", check=lambda v: v >= 0)
    pair_work: int = option(PAIR_WORK, card=False, help="coordinate comparisons for exhaustive Lipschitz "
                            "constants (beyond: a seeded sample of pairs)")


# ------------------------------------------------------------------------------ [welfare]
@dataclass(frozen=True)
class WelfareSpec(Checked):
    """The welfare optimum's tolerances and cross-checks (``[welfare]``)."""

    tail_tol: float = option(TAIL_TOL, help="state-price mass allowed on the pruned atoms (beyond it the "
                             "pool is re-solved with more atoms)", allowed="a positive tolerance",
                             check=lambda v: math.isfinite(v) and v > 0)
    cross_check: Literal["none", "conic"] = option(
        "none", help="also solve the other route (the conic program over C, or the log-price Newton "
        "method under method = 'program') and compare", allowed="'none' or 'conic'")
    compare_atoms: bool = option(False, help="also solve the atom-level menu K (2^n states, at most "
                                 f"{MAX_ATOM_FARMERS} farmers) and compare W_K with W_C")
    credal_program: Literal["auto", "epigraph", "worst_case"] = option(
        "auto", help="how credal sets enter the conic program: max-min epigraphs over each farmer's "
        "vertices (epigraph), or the entropic utility under his worst-case law on C, the all-high "
        "vertex (worst_case: the same optimum on C, far fewer cones); auto: epigraph without user "
        "constraints, worst_case with them", allowed="'auto', 'epigraph' or 'worst_case'")


# ------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class PriceAndChoose(Constrained):
    """What to solve: the pool, its beliefs, the menu (``None``: welfare only), the game checks, the
    welfare optimum's tolerances and cross-checks and the modeler's own constraints (the
    price_and_choose mechanism)."""

    pool: Pool = option(help="the farmers ([[agents]] or [pool], entropic measures) and their hits ([space])",
                        whole=True, read=_read_pool, rows=_pool_rows)
    beliefs: Beliefs = option(default_factory=Beliefs, help="how each farmer weighs the atoms of X",
                              shown_default="common prior")
    menu: MenuSpec | None = option(None, help="the menu of the game (none: the welfare optimum only)",
                                   read=_read_menu, rows=_menu_rows)
    game: GameSpec = option(default_factory=GameSpec, help="the SPNE checks",
                            shown_default="the defaults below")
    welfare: WelfareSpec = option(default_factory=WelfareSpec, help="the welfare optimum's checks",
                                  shown_default="no cross-checks")
    constraints: tuple[ConstraintSpec, ...] = constraints_option(QUANTITIES)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "beliefs", self.beliefs.checked(self.pool))
        check_constraints(self.constraints, {"agent": list(self.pool.names)}, QUANTITIES)
        if self.constraints and self.welfare.cross_check != "none":
            raise ModelError("welfare.cross_check", self.welfare.cross_check, "'none' with [[constraints]] "
                             "(the other route, the log-price Newton method, has no user constraints)")
        if self.constraints and self.welfare.compare_atoms:
            raise ModelError("welfare.compare_atoms", True, "false with [[constraints]] (the atom-level "
                             "menu K is solved without them)")
        if self.welfare.compare_atoms and self.pool.n > MAX_ATOM_FARMERS:
            raise ModelError("welfare.compare_atoms", True, f"at most {MAX_ATOM_FARMERS} farmers for the "
                             "atom-level menu K (2^n states)")

    def footprint(self) -> Footprint:
        """Estimated peak memory (:mod:`riskopt.budget`): the welfare optimum's farmers x atoms
        entries (the log-price Newton method's arrays; the conic program's when it runs: with
        constraints or the conic cross-check), and the menu's points x farmers x atoms numbers with
        the game's work arrays."""
        n, atoms = self.pool.n, self.pool.atoms().size
        conic = bool(self.constraints) or self.welfare.cross_check == "conic"
        per_entry = (0.0 if not conic else CREDAL_ENTRY_BYTES if self.beliefs.kind == "credal"
                     else SHARING_ENTRY_BYTES)
        found = cells(NEWTON_ENTRY_BYTES + per_entry, ("pool", "space"), farmers=n, atoms=atoms)
        if self.menu is None or self.constraints:  # no game is played
            return found
        points = (self.menu.size if self.menu.kind == "dirichlet"
                  else lattice_size(n, self.menu.m, max(atoms - 1, 1)))
        entries = min(points * n * atoms, MAX_MENU_ENTRIES)  # a larger menu is refused when it is built
        shares = n * atoms  # the Lipschitz and deviation checks' chunks (exhaustive pairs or samples)
        pairs = (min(PAIR_CHUNK, (max(500, 10_000_000 // shares) + points) * shares)
                 if points * (points - 1) // 2 * shares > PAIR_WORK else min(4_000_000, points * points))
        return found + Footprint(MENU_ENTRY_BYTES * entries + PAIR_BYTES * pairs, ("menu",),
                                 f"{entries} menu numbers (points x farmers x atoms)")
