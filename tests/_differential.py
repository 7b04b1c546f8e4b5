"""Helpers of the differential campaign (tests/test_differential.py).

* :class:`M` and :class:`Inst`: a measure and a sharing instance written as plain data (so that a
  failing draw pins as ``@example(inst=Inst(...))`` and reads as a reproducer);
* strategies drawing instances over measures x allocation sets x restrictions x objectives;
* independent evaluations of every measure (``own_risk``/``own_utility``: sorting and numpy, no
  riskopt code);
* independent reference programs over the same instance: a brute-force LP for
  ``scipy.optimize.linprog`` (concave distortions as the maximum of their marginal vectors -- the
  vertices of the core of ``h o P`` -- distortions on comonotone sets as weights on the sorted
  atoms) and a cvxpy model written from scratch for the conic ones;
* ``check_ok``: what a result whose status is ok must satisfy (finite numbers, the certificate,
  the budget state by state, monotone shares, the restrictions, its objective re-evaluated here).
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import cvxpy as cp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.special import logsumexp, ndtr, ndtri

import riskopt as ro
from riskopt.certificate import ZERO_DATA
from riskopt.mechanisms.pareto import welfare
from riskopt.status import DEFAULT_TOLERANCES

#: the certificate's tight tolerance: a status ok promises every scaled KKT residual below it
TIGHT = DEFAULT_TOLERANCES.tight
#: how many examples: 1 in CI, 10 (``RISKOPT_CAMPAIGN=slow``) or any number (``RISKOPT_CAMPAIGN=25``)
_MODE = os.environ.get("RISKOPT_CAMPAIGN", "")
FACTOR = 10 if _MODE == "slow" else int(_MODE) if _MODE.isdigit() else 1
SLOW = FACTOR > 1
EXPLORE = bool(os.environ.get("RISKOPT_CAMPAIGN_EXPLORE"))
#: examples actually run, by (test, outcome); printed and written to COUNTS_FILE at the end
COUNTS: Counter[tuple[str, str]] = Counter()
COUNTS_FILE = "/tmp/riskopt_differential_counts.json"


def count(test: str, outcome: str) -> None:
    COUNTS[(test, outcome)] += 1


def known(inst: Inst, message: str) -> bool:
    """Explore mode only (``RISKOPT_CAMPAIGN_EXPLORE=1``): a violation of a family already pinned and
    reported (F1-F4 in test_differential.py), so that the search goes on for new ones."""
    _, X = inst.data()
    w = inst.w()
    if "non-finite density" in message:
        return True  # F2 (prices summing to 0) and F4 (zeroed prices)
    if float(w.max()) < 1e-15 and ("outside its interval" in message or "sum to" in message):
        return True  # F4
    if "certified unique price of state" in message and inst.restriction in ("sign", "ll"):
        return bool(np.any(X == 0))  # F3
    return False


def empty_program(inst: Inst) -> bool:
    """F1: an anchored set on X identically 0 leaves no variable at all."""
    _, X = inst.data()
    return inst.anchored and bool(np.all(X == 0))


def write_counts() -> str:
    by_test: dict[str, dict[str, int]] = {}
    for (test, outcome), k in sorted(COUNTS.items()):
        by_test.setdefault(test, {})[outcome] = k
    examples = {t: v.get("example", 0) for t, v in by_test.items()}
    doc = {"factor": FACTOR, "examples": examples, "total_examples": sum(examples.values()),
           "outcomes": by_test}
    with open(COUNTS_FILE, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    lines = [f"differential campaign (factor {FACTOR}): {doc['total_examples']} examples"]
    for t, v in by_test.items():
        lines.append(f"  {t}: " + ", ".join(f"{k} {n}" for k, n in v.items()))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ measures
NATIVE_UTILITY = {"entropic", "cara", "crra", "maxmin_exp", "maxmin_ent"}
DISTORTIONS = {"es", "var", "power", "dual_power", "wang", "ph", "pl"}
CONIC = {"entropic", "cara", "crra", "maxmin_ent"}  # exponential / power cones
MONETARY = {"expectation", "entropic", "maxmin_exp", "maxmin_ent"} | DISTORTIONS
#: smooth distortions: an LP form needs lattice probabilities
SMOOTH_H = {"power", "dual_power", "wang", "ph"}


@dataclass(frozen=True)
class M:
    """A measure as data: ``kind`` and its parameters (``a`` is gamma, a level, an exponent, ...)."""

    kind: str
    a: float = 0.0
    wealth: float = 0.0
    shift: float = 0.0
    law: tuple[float, ...] | None = None
    priors: tuple[tuple[float, ...], ...] = ()
    knots: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def concave_h(self) -> bool:
        """A convex risk measure (usable on budget sets)."""
        k, a = self.kind, self.a
        if k == "var":
            return False
        if k == "power":
            return a <= 1
        if k == "dual_power":
            return a >= 1
        if k == "wang":
            return a >= 0
        if k == "pl":
            t, h = (np.asarray(v) for v in self.knots)
            s = np.diff(h) / np.diff(t)
            return bool(np.all(np.diff(s) <= 0))
        return True

    def ro(self) -> ro.measures.Measure:
        ms = ro.measures
        law = None if self.law is None else list(self.law)
        return {
            "expectation": lambda: ms.Expectation(law=law),
            "entropic": lambda: ms.Entropic(self.a, law=law),
            "cara": lambda: ms.ExpectedUtility("cara", wealth=self.wealth, gamma=self.a, law=law),
            "crra": lambda: ms.ExpectedUtility("crra", wealth=self.wealth, eta=self.a, shift=self.shift,
                                               law=law),
            "es": lambda: ms.ES(self.a),
            "var": lambda: ms.VaR(self.a),
            "power": lambda: ms.Distortion("power", a=self.a),
            "dual_power": lambda: ms.Distortion("dual_power", b=self.a),
            "wang": lambda: ms.Distortion("wang", lam=self.a),
            "ph": lambda: ms.Distortion("ph", r=self.a),
            "pl": lambda: ms.Distortion(t=list(self.knots[0]), h=list(self.knots[1])),
            "maxmin_exp": lambda: ms.MaxMin(ms.Expectation(), [list(q) for q in self.priors]),
            "maxmin_ent": lambda: ms.MaxMin(ms.Entropic(self.a), [list(q) for q in self.priors]),
        }[self.kind]()

    def h(self, t: Any) -> np.ndarray:
        """The distortion function, written here (not riskopt's)."""
        t = np.clip(np.asarray(t, float), 0.0, 1.0)
        k, a = self.kind, self.a
        with np.errstate(divide="ignore", invalid="ignore"):
            if k == "es":
                return np.minimum(t / a, 1.0)
            if k == "var":
                return (t > a).astype(float)
            if k == "power":
                return t ** a
            if k == "dual_power":
                return 1.0 - (1.0 - t) ** a
            if k == "wang":
                return ndtr(ndtri(t) + a)
            if k == "ph":
                return t ** (1.0 / a)
            if k == "pl":
                return np.interp(t, self.knots[0], self.knots[1])
        raise AssertionError(f"{k} is not a distortion")


def _cumulated(p: np.ndarray) -> np.ndarray:
    """``[0, p_0, p_0 + p_1, ..., 1]`` (fsum, normalised, the last exactly 1)."""
    total = math.fsum(p)
    s = np.array([0.0] + [math.fsum(p[:k + 1]) / total for k in range(p.size)])
    s[-1] = 1.0
    return np.minimum(s, 1.0)


def choquet_fn(L: np.ndarray, p: np.ndarray, h: Any) -> float:
    """``sum_k L_(k) [h(S_k) - h(S_{k-1})]`` over the states sorted by decreasing ``L``."""
    L, p = np.asarray(L, float), np.asarray(p, float)
    order = np.argsort(-L, kind="stable")
    w = np.diff(h(_cumulated(p[order])))
    return float(L[order] @ w)


def choquet(L: np.ndarray, p: np.ndarray, m: M) -> float:
    return choquet_fn(L, p, m.h)


def own_utility(m: M, x: Any, p: np.ndarray) -> float:
    """``U(x)`` of a gain ``x`` (``-inf`` outside a utility's domain)."""
    x = np.asarray(x, float)
    if m.kind not in NATIVE_UTILITY:
        return -own_risk(m, -x, p)
    q = np.asarray(p if m.law is None else m.law, float)
    pos = q > 0
    if m.kind == "entropic":
        return float(-logsumexp(np.log(q[pos]) - m.a * x[pos]) / m.a)
    if m.kind == "cara":
        return float(q[pos] @ (-np.expm1(-m.a * (m.wealth + x[pos]))) / m.a)
    if m.kind == "crra":
        y = m.wealth + x[pos] + m.shift
        if np.any(y <= 0):
            return -math.inf
        if m.a == 1:
            return float(q[pos] @ (np.log(y) - math.log(m.shift)))
        return float(q[pos] @ (y ** (1 - m.a) - m.shift ** (1 - m.a)) / (1 - m.a))
    base = M("expectation") if m.kind == "maxmin_exp" else M("entropic", m.a)
    return min(own_utility(replace(base, law=v), x, p) for v in m.priors)


def own_risk(m: M, L: Any, p: np.ndarray) -> float:
    """``rho(L)`` of a loss ``L``."""
    L = np.asarray(L, float)
    if m.kind in NATIVE_UTILITY:
        return -own_utility(m, -L, p)
    if m.kind == "expectation":
        return float(np.asarray(p if m.law is None else m.law, float) @ L)
    return choquet(L, p, m)


def own_value(m: M, x: Any, p: np.ndarray, objective: str) -> float:
    """The agent's value in the program's orientation (gains for welfare, losses for total risk)."""
    return own_utility(m, x, p) if objective == "welfare" else own_risk(m, x, p)


# ------------------------------------------------------------------------------ instances
SETS = ("budget", "comonotone", "anchored", "no_sabotage")


@dataclass(frozen=True)
class Inst:
    """A sharing instance. ``space``: ``"discrete"`` (``Scenarios.discrete``), ``"raw"``
    (``Scenarios(probs, {"X": X})``) or ``"bernoulli"`` (``Scenarios.bernoulli_hits(hits, loss)``,
    ``probs``/``X`` then ignored; ``negate`` passes ``-X`` as the aggregate array)."""

    probs: tuple[float, ...]
    X: tuple[float, ...]
    measures: tuple[M, ...]
    allocation: str = "budget"
    objective: str = "welfare"
    weights: tuple[float, ...] | None = None
    restriction: str | None = None
    caps: tuple[float, ...] | None = None
    endowments: tuple[tuple[float, ...], ...] | None = None
    space: str = "discrete"
    hits: tuple[float, ...] = ()
    loss: float = 1.0
    negate: bool = False
    via_welfare: bool = False

    # -------------------------------------------------------------- data
    def scenarios(self) -> tuple[ro.Scenarios, np.ndarray]:
        """The riskopt space and the aggregate as an array."""
        if self.space == "bernoulli":
            sp = ro.Scenarios.bernoulli_hits(list(self.hits), loss=self.loss)
            return sp, (-sp.X if self.negate else np.array(sp.X))
        if self.space == "raw":
            sp = ro.Scenarios(list(self.probs), {"X": list(self.X), "Y": [1.0] * len(self.X)})
        else:
            sp = ro.Scenarios.discrete(list(self.X), list(self.probs))
        return sp, np.array(sp.X)

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        sp, X = self.scenarios()
        return np.array(sp.p), X

    @property
    def n(self) -> int:
        return len(self.measures)

    def w(self) -> np.ndarray:
        return np.ones(self.n) if self.weights is None else np.asarray(self.weights, float)

    @property
    def sign(self) -> float:
        """Losses are ``sign * allocation``: -1 for welfare (gains), +1 for total risk."""
        return -1.0 if self.objective == "welfare" else 1.0

    @property
    def lp(self) -> bool:
        return not any(m.kind in CONIC for m in self.measures)

    @property
    def comonotone(self) -> bool:
        return self.allocation != "budget"

    @property
    def anchored(self) -> bool:
        return self.allocation in ("anchored", "no_sabotage")

    # -------------------------------------------------------------- riskopt
    def program(self, aggregate: np.ndarray | None = None) -> ro.SharingProgram:
        space, X = self.scenarios()
        agg = X if aggregate is None else aggregate
        agents = [ro.Agent(f"a{i}", m.ro(), None if self.endowments is None else np.array(self.endowments[i]))
                  for i, m in enumerate(self.measures)]
        alloc = {"budget": ro.Budget, "comonotone": ro.Comonotone, "anchored": ro.AnchoredComonotone,
                 "no_sabotage": ro.NoSabotage}[self.allocation]()
        restr = {None: [], "sign": [ro.SignRestriction()], "ir": [ro.IndividualRationality()],
                 "ll": [ro.LimitedLiability(list(self.caps or ()))]}[self.restriction]
        w = None if self.weights is None else list(self.weights)
        if self.objective == "welfare" and self.via_welfare:
            return welfare(space, agents, allocation=alloc, weights=w, restrictions=restr, aggregate=agg)
        return ro.SharingProgram(space, agents, allocation=alloc, aggregate=agg, objective=self.objective,
                                 weights=w, restrictions=restr)

    def must_refuse(self) -> str | None:
        """Why riskopt must raise ModelError whatever the backend (None: it must not for that reason)."""
        _, X = self.data()
        nonconvex = any(m.kind in DISTORTIONS and not m.concave_h for m in self.measures)
        if self.allocation == "budget" and nonconvex:
            return "a non-convex distortion on a budget set"
        if self.allocation == "no_sabotage" and X.min() < 0:
            return "no-sabotage needs a nonnegative loss"
        if self.restriction == "ll":
            loss = self.sign * X
            if loss.min() < 0:
                return "limited liability needs a nonnegative aggregate loss"
            caps = np.broadcast_to(np.asarray(self.caps, float), (self.n,))
            if loss.max() > caps.sum() * (1 + 1e-9) + 1e-12:
                return "limited liability with caps below the aggregate loss"
        if self.restriction == "ir" and self.endowments is None:
            return "individual rationality without endowments"
        return None

    def may_refuse(self) -> str | None:
        """A ModelError riskopt may raise (a documented limit, not a defect)."""
        if self.allocation == "budget" and any(m.kind in SMOOTH_H for m in self.measures):
            return "a smooth concave distortion's LP form needs lattice probabilities"
        if self.restriction == "ll":
            _, X = self.data()
            caps = np.broadcast_to(np.asarray(self.caps, float), (self.n,))
            if abs((self.sign * X).max() - caps.sum()) <= 1e-9 * max(1.0, caps.sum()):
                return "caps equal to the largest loss (to rounding)"
        return None


@dataclass(frozen=True)
class Route:
    backend: str = "cvxpy"
    solver: str | None = "CLARABEL"
    polish: bool | str = "auto"

    @property
    def lp_only(self) -> bool:
        return self.backend in ("highs", "pyomo") or self.solver in ("HIGHS", "OSQP")

    def __str__(self) -> str:
        return f"{self.backend}/{self.solver}" + ("" if self.polish == "auto" else f"/polish={self.polish}")


LP_ROUTES = (Route("cvxpy", "CLARABEL"), Route("cvxpy", "ECOS"), Route("cvxpy", "SCS"),
             Route("cvxpy", "HIGHS"),
             Route("highs", None), Route("pyomo", None), Route("cvxpy", "CLARABEL", False))
CONIC_ROUTES = (Route("cvxpy", "CLARABEL"), Route("cvxpy", "ECOS"), Route("cvxpy", "SCS"),
                Route("cvxpy", "CLARABEL", False))
ALL_ROUTES = (*LP_ROUTES, Route("cvxpy", "OSQP"))  # LP-only routes too: a conic program must be refused


def solve(inst: Inst, route: Route, aggregate: np.ndarray | None = None,
          program: Any = None) -> ro.Solution | Exception:
    """riskopt's answer on a route: a Solution, or the ModelError/SolveError it raised (anything
    else propagates: a crash is a failure of the campaign). ``program``: re-solve that Program object
    (a callable building it) instead of a fresh one."""
    try:
        prog = inst.program(aggregate) if program is None else program() if callable(program) else program
        return prog.solve(backend=route.backend, solver=route.solver, polish=route.polish, check=False)
    except (ro.ModelError, ro.SolveError) as err:
        assert str(err).strip(), "an error without a message"
        if isinstance(err, ro.ModelError):
            assert err.field, f"a ModelError without a field: {err}"
        return err


# ------------------------------------------------------------------------------ strategies
def _simplex(draw: st.DrawFn, k: int, lattice: bool, zeros: bool = False) -> tuple[float, ...]:
    lo = 0 if zeros else 1
    w = draw(st.lists(st.integers(lo, 8), min_size=k, max_size=k))
    if sum(w) == 0:
        w[0] = 1
    if lattice:
        total = sum(w)
        return tuple(x / total for x in w)
    f = draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k))
    v = np.array([wi * fi for wi, fi in zip(w, f, strict=True)])
    return tuple((v / math.fsum(v)).tolist())


VALUES = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0)


@st.composite
def raw_space(draw: st.DrawFn, max_states: int, sign: str, hostile: bool = False) -> dict[str, Any]:
    """Space fields of an Inst: probabilities, values and how the space is built. ``hostile`` adds
    one of: a state of probability 1e-300 (or 0), a value 1e6 times the others, one state, X
    identically 0, all values tied, X of size 1e-9."""
    kinds = ["discrete", "raw"] if hostile else ["discrete", "discrete", "raw", "bernoulli"]
    kind = draw(st.sampled_from(kinds))
    if kind == "bernoulli":
        hits = tuple(draw(st.lists(st.sampled_from([0.05, 0.1, 0.2, 0.3, 0.5]), min_size=1,
                                   max_size=min(4, max_states - 1))))
        loss = draw(st.sampled_from([0.5, 1.0, 2.0]))
        negate = sign == "pos" or (sign == "mixed" and draw(st.booleans()))
        return {"space": "bernoulli", "hits": hits, "loss": loss, "negate": negate, "probs": (), "X": ()}
    S = draw(st.integers(1, max_states))
    lattice = draw(st.booleans())
    probs = list(_simplex(draw, S, lattice))
    mags = draw(st.lists(st.sampled_from(VALUES), min_size=S, max_size=S))
    if hostile:
        feature = draw(st.sampled_from(["tiny", "zero_prob", "spread", "one", "zero", "ties", "small"]))
        if feature in ("tiny", "zero_prob"):
            probs.append(1e-300 if feature == "tiny" else 0.0)
            mags.append(draw(st.sampled_from([0.0, 5.0, 1e6])))
        elif feature == "spread":
            k = draw(st.integers(0, S - 1))
            mags[k] = 1e6 * (mags[k] or 1.0)
        elif feature == "one":
            probs, mags = [1.0], mags[:1]
        elif feature == "zero":
            mags = [0.0] * len(mags)
        elif feature == "ties":
            mags = [mags[0] or 1.0] * len(mags)
        else:
            mags = [1e-9 * v for v in mags]
    if sign == "pos":
        X = mags
    elif sign == "neg":
        X = [-v for v in mags]
    else:
        X = [v * draw(st.sampled_from([-1.0, 1.0])) for v in mags]
    return {"space": kind, "probs": tuple(probs), "X": tuple(float(x) for x in X)}


def _law(draw: st.DrawFn, S: int) -> tuple[float, ...] | None:
    if not draw(st.booleans()):
        return None
    return _simplex(draw, S, draw(st.booleans()), zeros=S > 1)


@st.composite
def measures(draw: st.DrawFn, S: int, budget: bool, lp: bool, wealth: float,
             only: tuple[str, ...] | None = None, common_prior: bool = False) -> M:
    """One measure for an instance on ``S`` states (``budget``: convex ones only; ``lp``: no cones;
    ``only``: among these kinds; ``common_prior``: no subjective law)."""
    kinds = ["expectation", "es", "pl", "maxmin_exp", "power", "dual_power", "wang", "ph"]
    if not budget:
        kinds += ["var", "var"]
    if not lp:
        kinds += ["entropic", "entropic", "entropic", "cara", "crra", "maxmin_ent"]
    if only is not None:
        kinds = [k for k in kinds if k in only]
    kind = draw(st.sampled_from(kinds))
    if common_prior and kind in ("expectation", "entropic", "cara"):
        return M(kind, draw(st.sampled_from([0.1, 0.5, 1.0, 2.0, 5.0])) if kind != "expectation" else 0.0,
                 wealth=draw(st.sampled_from([0.0, 1.0])) if kind == "cara" else 0.0)
    if kind == "expectation":
        return M(kind, law=_law(draw, S))
    if kind == "es":
        return M(kind, draw(st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.7, 0.9])))
    if kind == "var":
        return M(kind, draw(st.floats(0.05, 0.95)))
    if kind == "power":
        return M(kind, draw(st.sampled_from([0.5, 0.8] if budget else [0.5, 0.8, 1.5, 2.0, 3.0])))
    if kind == "dual_power":
        return M(kind, draw(st.sampled_from([1.5, 2.0, 3.0] if budget else [0.5, 1.5, 2.0, 3.0])))
    if kind == "wang":
        return M(kind, draw(st.sampled_from([0.25, 0.5, 1.0] if budget else [-0.5, 0.25, 0.5, 1.0])))
    if kind == "ph":
        return M(kind, draw(st.sampled_from([1.5, 2.0, 3.0])))
    if kind == "pl":
        t1 = draw(st.sampled_from([0.2, 0.4, 0.5, 0.7]))
        h1 = draw(st.sampled_from([0.3, 0.5, 0.6, 0.8, 0.9]).filter(lambda v: v != t1))
        if budget and h1 < t1:  # concave: the first slope is the larger
            t1, h1 = h1, t1
        return M(kind, knots=((0.0, t1, 1.0), (0.0, h1, 1.0)))
    if kind == "maxmin_exp":
        return M(kind, priors=tuple(_simplex(draw, S, True, zeros=S > 1) for _ in range(2)))
    gamma = draw(st.sampled_from([0.1, 0.5, 1.0, 2.0]))
    if kind == "entropic":
        return M(kind, gamma, law=_law(draw, S))
    if kind == "maxmin_ent":
        return M(kind, gamma, priors=tuple(_simplex(draw, S, True, zeros=False) for _ in range(2)))
    if kind == "cara":
        return M(kind, gamma, wealth=draw(st.sampled_from([0.0, 1.0, 5.0])), law=_law(draw, S))
    return M("crra", draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
             wealth=wealth + draw(st.sampled_from([0.0, 2.0])),
             shift=draw(st.sampled_from([0.5, 1.0, 2.0])))


def var_levels_clear(inst: Inst) -> bool:
    """No cumulated probability (a sum over any set of states) within 1e-9 of a VaR level: VaR is
    discontinuous there, and the conventions at the level (riskopt forgives the rounding of the
    inputs) are not what the campaign tests."""
    levels = [m.a for m in inst.measures if m.kind == "var"]
    if not levels:
        return True
    p, _ = inst.data()
    if p.size > 12:
        return False
    sums = {0.0}
    for q in p:
        sums |= {s + q for s in sums}
    return all(abs(s - a) > 1e-9 for s in sums for a in levels)


@st.composite
def instances(draw: st.DrawFn, *, lp: bool | None = None, sets: tuple[str, ...] = SETS,
              restrictions: tuple[str | None, ...] = (None, None, "sign", "ll", "ir"),
              max_states: int = 6, max_agents: int = 3,
              objectives: tuple[str, ...] = ("welfare", "total_risk"),
              kinds: tuple[str, ...] | None = None, common_prior: bool = False, hostile: bool = False,
              weight_modes: tuple[str, ...] = ("none", "none", "common", "unequal")) -> Inst:
    allocation = draw(st.sampled_from(sets))
    objective = draw(st.sampled_from(objectives))
    restriction = draw(st.sampled_from(restrictions))
    if lp is None:
        lp = draw(st.booleans())
    # the sign of X that makes the set and the restriction meaningful (sometimes the other one: a refusal)
    sign = "mixed"
    if allocation == "no_sabotage":
        sign = "pos"
    if restriction == "ll":
        sign = "neg" if objective == "welfare" else "pos"
        if allocation == "no_sabotage":
            sign = "pos"
    if draw(st.integers(0, 9)) == 0:
        sign = "mixed"
    fields = draw(raw_space(max_states if allocation != "budget" else min(max_states, 6), sign, hostile))
    stub = Inst(measures=(), **fields)
    p, X = stub.data()
    S = p.size
    n = draw(st.integers(1, max_agents))
    wealth = float(np.max(np.abs(X), initial=0.0)) * n + 1.0  # CRRA: every share stays in the domain
    ms = [draw(measures(S, allocation == "budget", lp, wealth, kinds, common_prior)) for _ in range(n)]
    weights = None
    wmode = draw(st.sampled_from(weight_modes))
    if wmode == "common":
        weights = (draw(st.sampled_from([0.5, 2.0])),) * n
    elif wmode == "unequal":
        weights = tuple(draw(st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0]), min_size=n, max_size=n)))
    if hostile and draw(st.integers(0, 3)) == 0:  # the same program with its objective scaled
        scale = draw(st.sampled_from([1e-20, 1e-8, 1e12]))
        weights = tuple(scale * v for v in (weights or (1.0,) * n))
    caps = endow = None
    if restriction == "ll":
        top = float(np.max((-X if objective == "welfare" else X), initial=0.0))
        u = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), float)
        slack = draw(st.sampled_from([1e-3, 0.5, 2.0, -0.2]))
        caps = tuple((top * u / u.sum() * (1 + slack)).tolist())
    if restriction == "ir" and draw(st.integers(0, 39)) > 0:  # rarely without endowments: a refusal
        u = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), float)
        u /= u.sum()
        t = np.array(draw(st.lists(st.sampled_from([-0.5, 0.0, 0.5, 1.0]), min_size=n, max_size=n)))
        t -= t.mean()
        endow = tuple(tuple((u[i] * X + t[i]).tolist()) for i in range(n))
    inst = Inst(measures=tuple(ms), allocation=allocation, objective=objective, weights=weights,
                restriction=restriction, caps=caps, endowments=endow, via_welfare=draw(st.booleans()),
                **fields)
    assume(var_levels_clear(inst))
    assume(lattice_small(inst))
    if EXPLORE:
        assume(not empty_program(inst))
    return inst


def lattice_small(inst: Inst, budget: int = 20_000) -> bool:
    """A smooth concave distortion on a budget set is an LP on the lattice ``k/D`` of the
    probabilities (riskopt accepts ``D * S`` up to 2,000,000): keep ``D * S`` small, or the campaign
    spends minutes (Bernoulli spaces reach D = 160,000; reported separately)."""
    if inst.allocation != "budget" or not any(m.kind in SMOOTH_H for m in inst.measures):
        return True
    from fractions import Fraction

    p, _ = inst.data()
    D = 1
    for v in np.unique(p[p > 0]):
        f = Fraction(float(v)).limit_denominator(10**6)
        if abs(float(f) - v) > 1e-13:
            return True  # not a lattice: riskopt refuses it (a ModelError), quickly
        D = D * f.denominator // math.gcd(D, f.denominator)
        if D * p.size > budget:
            return False
    return True


# ------------------------------------------------------------------------------ reference programs
@dataclass(frozen=True)
class Cells:
    """Where the reference's allocation lives: the states (budget) or the sorted atoms of X."""

    x: np.ndarray
    p: np.ndarray
    index: np.ndarray        # state -> cell
    anchor: int | None
    comonotone: bool

    def push(self, q: Any) -> np.ndarray:
        return np.bincount(self.index, weights=np.asarray(q, float), minlength=self.x.size)


def cells_of(inst: Inst, p: np.ndarray, X: np.ndarray) -> Cells:
    if not inst.comonotone:
        return Cells(X.astype(float), p, np.arange(X.size), None, False)
    vals, idx = np.unique(X, return_inverse=True)
    probs = np.bincount(idx, weights=p, minlength=vals.size)
    anchor = None
    if inst.anchored:
        pos = int(np.searchsorted(vals, 0.0))
        if pos == vals.size or vals[pos] != 0:
            vals, probs = np.insert(vals, pos, 0.0), np.insert(probs, pos, 0.0)
            idx = idx + (idx >= pos)
        anchor = pos
    return Cells(vals, probs, idx.ravel(), anchor, True)


def pieces(m: M, cells: Cells, sign: float) -> np.ndarray | None:
    """Rows ``a`` with ``rho(L) = max_a a @ L`` for the loss ``L = sign * F`` on the cells, or None
    (not piecewise linear). On comonotone cells ``F`` is nondecreasing in X."""
    if m.kind == "expectation":
        return _law_on(m.law, cells)[None, :]
    if m.kind == "maxmin_exp":
        return np.vstack([_law_on(q, cells) for q in m.priors])
    if m.kind not in DISTORTIONS:
        return None
    pc = cells.p
    total = math.fsum(pc)
    if cells.comonotone:
        if sign > 0:  # L nondecreasing in X: weights h(P(X >= x_k)) - h(P(X > x_k))
            ge = np.array([math.fsum(pc[k:]) / total for k in range(pc.size)] + [0.0])
            ge[0] = 1.0
            w = m.h(ge[:-1]) - m.h(ge[1:])
        else:  # L nonincreasing in X: weights h(P(X <= x_k)) - h(P(X < x_k))
            le = np.array([0.0] + [math.fsum(pc[:k + 1]) / total for k in range(pc.size)])
            le[-1] = 1.0
            w = m.h(le[1:]) - m.h(le[:-1])
        return w[None, :]
    assert pc.size <= 6 and m.concave_h, "marginal vectors: concave h on at most 6 states"
    rows = []
    for perm in itertools.permutations(range(pc.size)):
        a = np.zeros(pc.size)
        a[list(perm)] = np.diff(m.h(_cumulated(pc[list(perm)])))
        rows.append(a)
    return np.unique(np.round(np.array(rows), 15), axis=0)


def _law_on(q: Any, cells: Cells) -> np.ndarray:
    """A law over the states seen on the cells (P itself when ``q`` is None)."""
    if q is None:
        return cells.p.copy()
    return cells.push(q)


@dataclass(frozen=True)
class Ref:
    status: str          # optimal | infeasible | unbounded | unknown
    value: float | None = None
    how: str = ""


def lp_reference(inst: Inst) -> Ref:
    """The instance as a brute-force LP for scipy's linprog (HiGHS): ``min sum_i w_i r_i`` with
    ``r_i >= a @ (sign F_i)`` for every piece ``a`` of agent ``i`` (F on the cells).

    Solved in units: the LP's value is linear in the weights and positively homogeneous in the data
    (X, caps, endowments: every piece is linear), so HiGHS sees weights and data of size 1 (its
    absolute tolerances would otherwise read costs of 1e-30 as zero) and the value is scaled back."""
    size, wmax = data_size(inst, inst.data()[1]), float(inst.w().max())
    if size > 0 and (size != 1.0 or wmax != 1.0):
        unit = replace(inst, space="raw" if inst.space == "bernoulli" else inst.space,
                       probs=tuple(inst.data()[0].tolist()), X=tuple((inst.data()[1] / size).tolist()),
                       hits=(), negate=False, weights=tuple((inst.w() / wmax).tolist()),
                       caps=None if inst.caps is None else tuple(v / size for v in inst.caps),
                       endowments=None if inst.endowments is None else
                       tuple(tuple(v / size for v in e) for e in inst.endowments))
        ref = lp_reference(unit)
        return Ref(ref.status, None if ref.value is None else ref.value * size * wmax, ref.how)
    p, X = inst.data()
    cells = cells_of(inst, p, X)
    n, C = inst.n, cells.x.size
    s = inst.sign
    P = [pieces(m, cells, s) for m in inst.measures]
    assert all(a is not None for a in P), "not an LP instance"
    nv = n * C + n
    lo, hi = np.full(nv, -np.inf), np.full(nv, np.inf)
    A_ub, b_ub, A_eq, b_eq = [], [], [], []

    def var(i: int, c: int) -> int:
        return i * C + c

    for c in range(C):
        if c == cells.anchor:
            for i in range(n):
                lo[var(i, c)] = hi[var(i, c)] = 0.0
            continue
        row = np.zeros(nv)
        row[[var(i, c) for i in range(n)]] = 1.0
        A_eq.append(row)
        b_eq.append(cells.x[c])
    if cells.comonotone:
        for i in range(n):
            for c in range(C - 1):
                row = np.zeros(nv)
                row[var(i, c)], row[var(i, c + 1)] = 1.0, -1.0
                A_ub.append(row)
                b_ub.append(0.0)
    for i, rows in enumerate(P):
        for a in rows:
            row = np.zeros(nv)
            row[i * C:(i + 1) * C] = s * a
            row[n * C + i] = -1.0
            A_ub.append(row)
            b_ub.append(0.0)
    _restrict_bounds(inst, cells, lo, hi, lambda i, c: var(i, c))
    if inst.restriction == "ir":
        for i, (m, rows) in enumerate(zip(inst.measures, P, strict=True)):
            bound = own_risk(m, s * np.asarray(inst.endowments[i]), p)
            for a in rows:
                row = np.zeros(nv)
                row[i * C:(i + 1) * C] = s * a
                A_ub.append(row)
                b_ub.append(bound)
    cost = np.zeros(nv)
    cost[n * C:] = inst.w()
    res = linprog(cost, A_ub=np.array(A_ub) if A_ub else None, b_ub=np.array(b_ub) if b_ub else None,
                  A_eq=np.array(A_eq) if A_eq else None, b_eq=np.array(b_eq) if b_eq else None,
                  bounds=list(zip(lo, hi, strict=True)), method="highs")
    status = {0: "optimal", 2: "infeasible", 3: "unbounded"}.get(res.status, "unknown")
    return Ref(status, s * res.fun if status == "optimal" else None, "linprog")


def _restrict_bounds(inst: Inst, cells: Cells, lo: np.ndarray, hi: np.ndarray, var: Any) -> None:
    """Sign and limited-liability restrictions as bounds on the cells' shares."""
    n, C = inst.n, cells.x.size
    for c in range(C):
        for i in range(n):
            j = var(i, c)
            if inst.restriction == "sign":
                if cells.x[c] > 0:
                    lo[j] = max(lo[j], 0.0)
                elif cells.x[c] < 0:
                    hi[j] = min(hi[j], 0.0)
                else:
                    lo[j], hi[j] = max(lo[j], 0.0), min(hi[j], 0.0)
            if inst.restriction == "ll":
                cap = float(np.broadcast_to(np.asarray(inst.caps, float), (n,))[i])
                if inst.sign > 0:  # loss = F in [0, cap]
                    lo[j], hi[j] = max(lo[j], 0.0), min(hi[j], cap)
                else:              # loss = -F in [0, cap]
                    lo[j], hi[j] = max(lo[j], -cap), min(hi[j], 0.0)


def _cvx_risk(m: M, L: cp.Expression, cells: Cells, sign: float) -> cp.Expression:
    """``rho(L)`` of a loss expression over the cells, convex (written from the definitions)."""
    rows = pieces(m, cells, sign)
    if rows is not None:
        return rows[0] @ L if rows.shape[0] == 1 else cp.max(rows @ L)
    q = _law_on(m.law, cells)
    pos = q > 0
    Lp, lq = L[np.flatnonzero(pos)], np.log(q[pos])
    if m.kind == "entropic":      # rho(L) = (1/g) log E_q exp(g L)
        return cp.log_sum_exp(lq + m.a * Lp) / m.a
    if m.kind == "cara":          # rho(L) = E_q[exp(-g (w - L)) - 1] / g
        return (cp.sum(cp.exp(lq + m.a * (Lp - m.wealth))) - 1.0) / m.a
    if m.kind == "crra":          # rho(L) = -E_q u(w - L)
        y = m.wealth - Lp + m.shift
        qp = q[pos]
        if m.a == 1:
            return -(qp @ (cp.log(y) - math.log(m.shift)))
        return -(qp @ (cp.power(y, 1 - m.a) - m.shift ** (1 - m.a))) / (1 - m.a)
    if m.kind == "maxmin_ent":    # rho(L) = max_v (1/g) log E_v exp(g L)
        parts = []
        for v in m.priors:
            qv = _law_on(v, cells)
            k = np.flatnonzero(qv > 0)
            parts.append(cp.log_sum_exp(np.log(qv[k]) + m.a * L[k]) / m.a)
        return cp.max(cp.hstack(parts))
    raise AssertionError(m.kind)


def cvx_reference(inst: Inst, solver: str = "CLARABEL") -> Ref:
    """The instance as a cvxpy model written from scratch (same cells as the LP reference)."""
    p, X = inst.data()
    cells = cells_of(inst, p, X)
    n, C = inst.n, cells.x.size
    s = inst.sign
    F = cp.Variable((n, C))
    cons = []
    free = [c for c in range(C) if c != cells.anchor]
    cons.append(cp.sum(F[:, free], axis=0) == cells.x[free])
    if cells.anchor is not None:
        cons.append(F[:, cells.anchor] == 0)
    if cells.comonotone and C > 1:
        cons.append(F[:, 1:] - F[:, :-1] >= 0)
    lo, hi = np.full(n * C, -np.inf), np.full(n * C, np.inf)
    _restrict_bounds(inst, cells, lo, hi, lambda i, c: i * C + c)
    LO, HI = lo.reshape(n, C), hi.reshape(n, C)
    if np.isfinite(LO).any():
        k = np.isfinite(LO)
        cons.append(F[k] >= LO[k])
    if np.isfinite(HI).any():
        k = np.isfinite(HI)
        cons.append(F[k] <= HI[k])
    risks = [_cvx_risk(m, s * F[i], cells, s) for i, m in enumerate(inst.measures)]
    if inst.restriction == "ir":
        for i, m in enumerate(inst.measures):
            cons.append(risks[i] <= own_risk(m, s * np.asarray(inst.endowments[i]), p))
    # weights normalised to a largest weight of 1 (the argmin does not change; the value is scaled
    # back): at weights 1e-20 every objective is below the solver's absolute tolerances otherwise
    w = inst.w()
    wmax = float(np.max(np.abs(w))) or 1.0
    prob = cp.Problem(cp.Minimize(sum((w[i] / wmax) * risks[i] for i in range(n))), cons)
    try:
        prob.solve(solver=solver)
    except cp.error.SolverError:
        return Ref("unknown", None, f"cvxpy/{solver}")
    status = {cp.OPTIMAL: "optimal", cp.INFEASIBLE: "infeasible", cp.UNBOUNDED: "unbounded"}.get(
        prob.status, "unknown")
    return Ref(status, s * prob.value * wmax if status == "optimal" else None, f"cvxpy/{solver}")


def reference(inst: Inst) -> Ref:
    """linprog for LP instances, the cvxpy model otherwise (none for an instance riskopt must refuse)."""
    if inst.must_refuse():
        return Ref("unknown", None, "none: riskopt must refuse the instance")
    return lp_reference(inst) if inst.lp else cvx_reference(inst)


# ------------------------------------------------------------------------------ checks
def finite(v: Any) -> bool:
    return v is not None and bool(np.all(np.isfinite(np.asarray(v, float))))


def data_size(inst: Inst, X: np.ndarray) -> float:
    """The largest number in the data: X, endowments, caps (0 when all are 0)."""
    parts = [float(np.max(np.abs(X), initial=0.0))]
    if inst.endowments is not None:
        parts.append(float(np.max(np.abs(np.asarray(inst.endowments, float)), initial=0.0)))
    if inst.caps is not None:
        parts.append(float(np.max(np.abs(np.asarray(inst.caps, float)), initial=0.0)))
    return max(parts)


def value_scale(inst: Inst, X: np.ndarray, value: float | None = 0.0) -> float:
    """The size of an optimal value's terms: ``|value| + sum_i w_i max|data|`` (the Lagrangian's size
    when the prices are at most a probability times the weights: the duality gap the certificate
    bounds is relative to it); data that are all zero are judged absolutely (ZERO_DATA)."""
    return abs(value or 0.0) + float(inst.w().sum()) * (data_size(inst, X) or ZERO_DATA)


def allocation_matrix(inst: Inst, sol: ro.Solution) -> np.ndarray:
    return np.vstack([np.asarray(sol.allocation[f"a{i}"], float) for i in range(inst.n)])


def check_ok(inst: Inst, sol: ro.Solution, where: str = "") -> list[str]:
    """What a solution whose status is ok must satisfy, recomputed here. Returns the violations."""
    bad: list[str] = []
    p, X = inst.data()
    tag = f"[{where}] " if where else ""
    cert = sol.certificate
    if cert is None or not cert.passed:
        bad.append(f"{tag}status {sol.status} but the certificate does not hold: {cert}")
    if not finite(sol.objective):
        bad.append(f"{tag}status {sol.status} with objective {sol.objective}")
        return bad
    xi = allocation_matrix(inst, sol)
    if not finite(xi):
        bad.append(f"{tag}status {sol.status} with a non-finite allocation")
        return bad
    for name, v in sol.values.items():
        if not finite(v):
            bad.append(f"{tag}value of {name} is {v}")
    pr = sol.prices
    if pr.state_prices is not None and pr.determined is not None:
        if not finite(pr.state_prices[pr.determined]):
            bad.append(f"{tag}non-finite determined state prices {pr.state_prices}")
        if pr.state_density is not None and not finite(pr.state_density[pr.determined]):
            bad.append(f"{tag}non-finite density {pr.state_density}")
    n = inst.n
    big = float(np.max(np.abs(xi), initial=0.0))
    xmax = float(np.max(np.abs(X), initial=0.0))
    # the budget rows' data scale as the certificate defines it (n shares at their largest plus X;
    # rows whose data are all zero are judged absolutely, ZERO_DATA); twice for the rounding of this sum
    budget_tol = 2 * TIGHT * (n * big + xmax if xmax > 0 else max(n * big, ZERO_DATA))
    gap = float(np.max(np.abs(xi.sum(axis=0) - X), initial=0.0))
    if gap > budget_tol:
        bad.append(f"{tag}allocations miss the aggregate by {gap:.3g} (tolerance {budget_tol:.3g})")
    # rows with zero constant terms (monotonicity F_k+1 - F_k >= 0, signs xi_i X >= 0, losses >= 0) are
    # judged by the certificate at max(their variables' size, ZERO_DATA = 1): absolutely for tiny data.
    # That is the tolerance asserted; a violation beyond 1e-6 of the data's own size is counted as an
    # observation ("beyond_data_scale") for the report
    data = max(xmax, data_size(inst, X))
    if inst.comonotone:
        order = np.argsort(X, kind="stable")
        steps = np.diff(xi[:, order], axis=1)
        steps = steps[:, np.diff(X[order]) > 0] if steps.size else steps
        mono_tol = 2 * TIGHT * max(2 * big, ZERO_DATA)
        if steps.size and steps.min() < -mono_tol:
            bad.append(f"{tag}comonotone shares decrease by {-steps.min():.3g} (tolerance {mono_tol:.3g})")
        elif steps.size and steps.min() < -1e-6 * data:
            count("observations", "monotone_beyond_data_scale")
        ties = [np.ptp(xi[:, v == X], axis=1).max() for v in np.unique(X)]
        if max(ties) > 0:
            bad.append(f"{tag}a comonotone share differs on states with the same X: {max(ties):.3g}")
        if inst.anchored and np.any(X == 0) and np.abs(xi[:, X == 0]).max() > 0:
            bad.append(f"{tag}anchored shares are not 0 at X = 0")
    losses = inst.sign * xi
    if inst.restriction == "sign":
        sgn_tol = 2 * TIGHT * max(big, ZERO_DATA)
        viol = max(float(np.max(-(xi * np.sign(X)), initial=0.0)),
                   float(np.max(np.abs(xi[:, X == 0]), initial=0.0)) if np.any(X == 0) else 0.0)
        if viol > sgn_tol:
            bad.append(f"{tag}sign restriction violated by {viol:.3g}")
        elif viol > 1e-6 * data:
            count("observations", "sign_beyond_data_scale")
    if inst.restriction == "ll":
        caps = np.broadcast_to(np.asarray(inst.caps, float), (n,))
        # the group's data are the caps (absolutely when all caps are 0)
        ll_tol = 2 * TIGHT * max(big, float(caps.max(initial=0.0)) or ZERO_DATA)
        viol = max(float(np.max(-losses, initial=0.0)), float(np.max(losses - caps[:, None], initial=0.0)))
        if viol > ll_tol:
            bad.append(f"{tag}limited liability violated by {viol:.3g}")
        elif viol > 1e-6 * data:
            count("observations", "ll_beyond_data_scale")
    own = np.array([own_value(m, xi[i], p, inst.objective) for i, m in enumerate(inst.measures)])
    if inst.restriction == "ir":
        for i, m in enumerate(inst.measures):
            b = own_value(m, np.asarray(inst.endowments[i]), p, inst.objective)
            # IR rows U_i >= b_i, scaled by |U_i| + |b_i|; 10x the tight tolerance (values are
            # convex forms solved to it, re-evaluated exactly here; all-zero data: absolutely)
            tol = 10 * TIGHT * max(abs(own[i]) + abs(b) + xmax, ZERO_DATA)
            short = (b - own[i]) if inst.objective == "welfare" else (own[i] - b)
            if short > tol:
                bad.append(f"{tag}agent a{i} is worse off than with its endowment by {short:.3g}")
    w = inst.w()
    mine = float(w @ own)
    # riskopt re-evaluates the objective exactly at its allocation; so does this file: only the
    # rounding of two evaluations (and the 1e-9-level non-monotonicity a tight certificate allows
    # on comonotone shares) separates them
    tol = 1e-9 * (float(np.abs(w) @ np.abs(own)) + float(w.sum()) * (data or ZERO_DATA))
    if not abs(mine - sol.objective) <= tol:
        bad.append(f"{tag}objective {sol.objective!r} but the allocation's value computed here is {mine!r}")
    for i in range(n):
        v = sol.values.get(f"a{i}")
        if v is not None and not abs(v - own[i]) <= tol + 1e-9 * abs(own[i]):
            bad.append(f"{tag}value of a{i}: riskopt {v!r}, here {own[i]!r}")
    return bad


def check_prices(inst: Inst, sol: ro.Solution, where: str = "") -> list[str]:
    """Prices of an ok solution: nonnegative (monotone measures, no restriction) and summing to the
    common weight (monetary measures, equal weights, no restriction: cash invariance); an interval
    [lower, upper], where reported, contains the price."""
    bad: list[str] = []
    tag = f"[{where}] " if where else ""
    pr = sol.prices
    if pr.state_prices is None or pr.determined is None:
        return [f"{tag}no prices on a program with budget rows"] if "budget" in sol.duals else []
    w = inst.w()
    psi = np.asarray(pr.state_prices, float)
    det = np.asarray(pr.determined, bool)
    S = psi.size
    # duals carry the certificate's relative accuracy per row (10x the tight tolerance for margin),
    # at the scale of the weights they sum to; one such error per state in a sum
    ptol = 10 * TIGHT * float(w.max()) * max(1, S)
    if inst.restriction is None:
        if psi[det].size and psi[det].min() < -ptol:
            bad.append(f"{tag}negative state price {psi[det].min():.3g} on an unrestricted program")
        monetary = all(m.kind in MONETARY for m in inst.measures)
        if monetary and np.allclose(w, w[0]) and det.all() and not abs(psi.sum() - w[0]) <= ptol:
            bad.append(f"{tag}state prices sum to {psi.sum()!r}, not the common weight {w[0]}")
    if pr.lower is not None and pr.upper is not None:
        bad += interval_violations(pr, psi, w, where)
    acc = pr.accuracy
    if acc is not None:
        acc = np.asarray(acc, float)
        if np.any(acc[det] < 0):
            bad.append(f"{tag}negative price accuracy {acc}")
    return bad


def price_slack(pr: Any, psi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """How far a reported price may be from the true (set of) optimal price(s), per state, by the
    solution's own claim: ``PRICE_TOLERANCE`` relative for certified prices (the claim is exactly
    that), ten times the stated ``accuracy`` where it is finite but above it (an estimate), and the
    certificate's loose tolerance 1e-4 of the duals' scale (the weights, or the largest determined
    price: the certificate's dual residuals are relative to it) where the accuracy is unknown
    (NaN/None: an interior-point dual of a nonsmooth program is not checked by any stationarity
    residual)."""
    from riskopt.duals import PRICE_TOLERANCE

    scale = np.abs(psi) + 1e-15 * float(w.max())
    acc = np.full(psi.size, np.nan) if pr.accuracy is None else np.asarray(pr.accuracy, float)
    det = np.asarray(pr.determined, bool) if pr.determined is not None else np.ones(psi.size, bool)
    dual_scale = max(float(w.max()), float(np.max(np.abs(psi[det]), initial=0.0)))
    out = np.where(np.isfinite(acc), np.where(acc <= PRICE_TOLERANCE, PRICE_TOLERANCE, 10 * acc) * scale,
                   DEFAULT_TOLERANCES.loose * dual_scale)
    return out


def interval_violations(pr: Any, psi: np.ndarray, w: np.ndarray, where: str = "",
                        own: Any = None) -> list[str]:
    """``psi`` (prices, by default the solution's own) inside the reported intervals [lower, upper]
    of ``pr``, within the slack its own accuracy allows (``own``: the Prices that carry psi)."""
    lo, up = np.asarray(pr.lower, float), np.asarray(pr.upper, float)
    det = np.asarray(pr.determined, bool)
    slack = price_slack(own if own is not None else pr, psi, w)
    out = []
    for s in np.flatnonzero(det):
        if not (lo[s] - slack[s] <= psi[s] <= up[s] + slack[s]):
            out.append(f"[{where}] price of state {s} is {psi[s]!r}, outside its interval "
                       f"[{lo[s]!r}, {up[s]!r}] "
                       f"(slack {slack[s]:.3g})")
    return out


def objective_tol(inst: Inst, X: np.ndarray, ref: float | None) -> float:
    """Two optimal values agree within 1e-6 of :func:`value_scale` (10x the certificate's 1e-7,
    which bounds each answer's duality gap relative to that scale)."""
    return 10 * TIGHT * value_scale(inst, X, ref)
