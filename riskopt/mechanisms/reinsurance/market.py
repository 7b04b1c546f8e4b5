"""Reinsurance market with many insurers and many reinsurers (Andraos, Ghossoub, Zhu 2025).

Insurer i carries a loss ``X_i`` in ``[0, M]`` and a Choquet risk measure ``rho_i = int . d alpha_i``
(a distortion of P: ES, mixtures of ES, Wang, dual power, power, VaR, or a general capacity on a
finite space). Reinsurer j has a loading ``theta_j > 0`` and a Choquet risk measure ``tau_j``: a
probability (risk-neutral, subjective beliefs about each X_i) or, when the losses are comonotone, a
distortion of P or a capacity. Reinsurers post Choquet prices ``nu_ij``; insurers then buy
indemnities ``I_ij(x) = int_0^x gamma_ij``, ``gamma_ij >= 0``, ``sum_j gamma_ij <= 1``.

Everything is read layer by layer on ``z in [0, M]`` (see :mod:`.layers`), with
``alpha_i(z) = alpha_i(X_i > z)``, ``tau_ij(z) = (1 + theta_j) tau_j(X_i > z)`` and ``tau_i0 = alpha_i``:

* **insurer best response** (Prop. 3.2) to prices ``nu_ij``: cede layer z to a cheapest reinsurer
  when its price is below ``alpha_i(z)``; ties broken by generous distribution (Def. 3.3: among
  equally cheap options the lowest true preference, retention counting as ``alpha_i``);
* **SPNE** (Def. 3.5-3.6, Thm 3.7/3.8): the canonical prices are ``nu_ij = tau-bar_i``, the second
  lowest of ``{alpha_i, tau_i1, ..., tau_im}``; layer z is ceded iff ``alpha_i(z) > min_j tau_ij(z)``,
  wholly to the lowest, at the second-lowest price: a second-price procurement auction per layer.
  With one reinsurer this is the Stackelberg equilibrium (price ``alpha_i`` on the ceded set);
* **Pareto optima** (Prop. 3.11): minimal aggregate risk ``V* = sum_i rho_i(X_i) - sum_i
  int (alpha_i - min_j tau_ij)^+``; the LP, its duals and the VCG identities are in
  :mod:`.program`.

**The bound M.** ``alpha_i`` is 0 above insurer i's largest loss: layers beyond the support of the
losses are retained at no cost, whatever the reinsurers believe. The layer grid therefore spans
``[0, min(M, largest support end)]`` (:attr:`Market.layer_bound`, the bound used), plus one dead cell
up to ``M`` (:attr:`Market.bound`, the bound declared): the answer does not depend on a declared
``M`` beyond the support (on a grid over ``[0, 1e15]`` a loss capped at 5 would not even be
resolved). An unbounded law has no support end: its ``M`` is a truncation, refused when it leaves
mass above it or lies more than ``MAX_SPAN`` times beyond the law's ``1 - TAIL_TOL`` quantile
(edges closer than ``1e-13 M`` merge: the grid could not resolve the loss).

The layer-by-layer decomposition needs each reinsurer's risk to be additive over insurers: true when
``tau_j`` is a probability (Thm 3.7) or the losses are comonotone (Thm 3.8). A market with a
non-additive reinsurer and losses not declared comonotone is refused with a message saying so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ModelError
from ...laws import Discrete, Law
from ...measures import Capacity, Choquet, Distortion, Expectation
from ...probability import validate_probabilities
from ...space import Scenarios
from .fast import Pointwise, best_response_cells, spne_cells
from .layers import ChainCurve, CurveBank, DistortedSurvival, LayerCurve, Lowest
from .result import GridInfo, MarketOutcome, MarketPrices
from .spec import CELLS, NODES, InsurerSpec, ReinsuranceSpec, ReinsurerSpec
from .verification import MarketVerification

__all__ = ["MAX_SPAN", "TAIL_TOL", "Market"]

#: P(X > M) below this counts as 0 (a discrete law's survival is 1 - cumsum: 1e-16 off)
TAIL_TOL = 1e-12
#: the bound of an unbounded loss may be at most this many times its 1 - TAIL_TOL quantile: edges
#: closer than EDGE_TOL * M (1e-13 M) are merged, which must stay far below the loss's own scale
MAX_SPAN = 1e6


class Market:
    """``n`` insurers and ``m`` reinsurers; ``bound`` is ``M``, an upper bound of every loss (default:
    the largest upper end of the losses' supports; a larger one is clipped to it, see the module
    docstring). ``space`` is a finite probability space for losses given as values per state;
    ``comonotone=True`` declares the losses comonotone (Thm 3.8: reinsurers may then be
    non-additive)."""

    def __init__(self, insurers: Sequence[InsurerSpec], reinsurers: Sequence[ReinsurerSpec], *,
                 bound: float | None = None, space: Scenarios | None = None, comonotone: bool = False):
        self.insurers = list(insurers)
        self.reinsurers = list(reinsurers)
        if not self.insurers:
            raise ModelError("insurers", [], "at least one insurer")
        if not self.reinsurers:
            raise ModelError("reinsurers", [], "at least one reinsurer")
        if space is not None and not isinstance(space, Scenarios):
            raise ModelError("space", space, "a riskopt.Scenarios (for losses given per state)")
        self.space = space
        names: list[Any] = [a.name for a in self.insurers] + [a.name for a in self.reinsurers]
        for k, name in enumerate(names):
            path = f"insurers[{k}]" if k < len(self.insurers) else f"reinsurers[{k - len(self.insurers)}]"
            if not isinstance(name, str) or not name.strip():
                raise ModelError(f"{path}.name", name, "a non-empty name")
            if name in names[:k]:
                raise ModelError(f"{path}.name", name, "distinct agent names")
        self.losses = [self._loss(i, ins) for i, ins in enumerate(self.insurers)]
        #: M (declared, or the supports' largest end); the layer grid's span (the bound used); the
        #: scale of the layer values (where the losses' mass ends) for tolerances
        self.bound, self.layer_bound, self.scale = self._bound(bound)
        self.comonotone = bool(comonotone)
        if self.space is not None and all(isinstance(x, np.ndarray) for x in self.losses) and comonotone:
            self._check_comonotone()
        self.alpha = [self._alpha(i, ins) for i, ins in enumerate(self.insurers)]
        self.tau = [[self._tau(i, j, re) for j, re in enumerate(self.reinsurers)]
                    for i in range(len(self.insurers))]
        self.capacities = np.array([self._capacity(j, re) for j, re in enumerate(self.reinsurers)])
        self.bank = CurveBank([[self.alpha[i], *self.tau[i]] for i in range(self.n)])

    @classmethod
    def of(cls, spec: ReinsuranceSpec) -> Market:
        """The market a spec declares (its checks name the card's paths: ``market.bound``)."""
        try:
            return cls(spec.insurers, spec.reinsurers, bound=spec.market.bound, space=spec.market.states,
                       comonotone=spec.market.comonotone)
        except ModelError as err:
            if err.field in ("bound", "comonotone"):
                raise err.with_prefix("market") from None
            raise

    # ------------------------------------------------------------------ declaration
    @property
    def n(self) -> int:
        return len(self.insurers)

    @property
    def m(self) -> int:
        return len(self.reinsurers)

    def _loss(self, i: int, ins: InsurerSpec) -> Law | np.ndarray:
        path = f"insurers[{i}].loss"
        if isinstance(ins.loss, Law):
            lo = ins.loss.support()[0]
            if lo < 0:
                raise ModelError(path, ins.loss, "a nonnegative loss (support in [0, M])")
            return ins.loss
        if self.space is None:
            raise ModelError(path, ins.loss, "a law (riskopt.laws), or loss values per state with "
                             "Market(space=...)")
        try:
            x = np.asarray(ins.loss, float)
        except (TypeError, ValueError):
            raise ModelError(path, ins.loss, "loss values, one per state") from None
        if x.shape != (self.space.size,) or not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ModelError(path, x, f"finite nonnegative losses, one per state ({self.space.size})")
        return x

    def _bound(self, bound: float | None) -> tuple[float, float, float]:
        """``(M, layer bound, scale)``: the layer bound is ``min(M, largest support end)`` (bounded
        losses) or ``M`` itself (some loss unbounded: a truncation, refused beyond MAX_SPAN times the
        ``1 - TAIL_TOL`` quantiles, where the scale ends)."""
        tops = []
        for i, x in enumerate(self.losses):
            if isinstance(x, np.ndarray):
                tops.append(float(x.max()))
                continue
            hi = float(x.support()[1])
            if bound is None and not np.isfinite(hi):
                raise ModelError("bound", None, "a finite upper bound M of every loss",
                                 detail=f"insurers[{i}].loss is unbounded; censor it (censored_exponential)")
            tops.append(hi)
        if bound is None:
            top = float(max(max(tops), 1e-300))
            return top, top, top
        if isinstance(bound, bool):
            raise ModelError("bound", bound, "a finite number M > 0")
        try:
            M = float(bound)
        except (TypeError, ValueError):
            raise ModelError("bound", bound, "a finite number M > 0") from None
        if not (np.isfinite(M) and M > 0):
            raise ModelError("bound", bound, "a finite number M > 0")
        for i, x in enumerate(self.losses):
            tail = float(np.max(x) > M) if isinstance(x, np.ndarray) else float(x.sf(M))
            if tail > TAIL_TOL:
                raise ModelError("bound", M, "an upper bound of every loss",
                                 detail=f"P({self.insurers[i].name}'s loss > {M:g}) = {tail:.3g} > 0")
        top = max(tops)
        if np.isfinite(top):
            used = float(max(min(M, top), 1e-300))
            return M, used, used
        # an unbounded law: M truncates it; the grid on [0, M] must still resolve where its mass is
        reach = [t if np.isfinite(t) or isinstance(x, np.ndarray) else float(x.ppf(1.0 - TAIL_TOL))
                 for t, x in zip(tops, self.losses, strict=True)]
        limit = MAX_SPAN * max(reach)
        if limit < M:
            i = int(np.argmax([not np.isfinite(t) for t in tops]))
            raise ModelError("bound", M, f"a bound of at most {limit:.6g} ({MAX_SPAN:g} times the largest "
                             f"loss's 1 - {TAIL_TOL:g} quantile, {max(reach):.6g})",
                             detail=f"{self.insurers[i].name}'s loss is unbounded, so M truncates it and is "
                                    "not clipped: a layer grid on [0, M] this far beyond the loss's mass "
                                    "cannot resolve it in double precision; give a bound nearer the loss, "
                                    "or censor the law (censored_exponential)")
        return M, M, float(min(M, max(reach)))

    def _state_law(self, x: np.ndarray) -> Scenarios:
        """The law of a loss given per state (the one finite law: a Scenarios)."""
        assert self.space is not None  # losses per state need the space (checked in _loss)
        return Discrete(x, self.space.p)

    def loss_law(self, i: int) -> Law:
        """The law of insurer i's loss under P."""
        x = self.losses[i]
        return self._state_law(x) if isinstance(x, np.ndarray) else x

    def _alpha(self, i: int, ins: InsurerSpec) -> LayerCurve:
        path = f"insurers[{i}].measure"
        m, x = ins.measure, self.losses[i]
        if isinstance(m, Distortion):
            if not m.monetary:
                raise ModelError(path, m.describe(), "a normalised distortion, h(1) = 1 (premiums "
                                 "are cash: rho(Y + c) = rho(Y) + c)")
            law = self._state_law(x) if isinstance(x, np.ndarray) else x
            return DistortedSurvival(law, m.h)
        if isinstance(m, Expectation):
            return self._probability_curve(x, m.law, path, 1.0)
        if isinstance(m, Choquet):
            return self._capacity_curve(x, m.capacity, path, 1.0)
        raise ModelError(path, getattr(m, "describe", lambda: m)(),
                         "a Choquet risk measure: a distortion of P (es, distortion, var, expectation) "
                         "or a choquet capacity")

    def _probability_curve(self, x: Law | np.ndarray, law: Any, path: str, scale: float) -> LayerCurve:
        """``scale * Q(X > z)`` for ``law`` None (P), a Law, or a probability vector over states."""
        if law is None:
            return DistortedSurvival(self._state_law(x) if isinstance(x, np.ndarray) else x, None, scale)
        if isinstance(law, Law):
            if float(law.sf(self.bound)) > TAIL_TOL:
                raise ModelError(path, law, f"a law of the loss bounded by M = {self.bound:g}",
                                 detail="every X_i <= M, so every belief must give P(X_i > M) = 0")
            return DistortedSurvival(law, None, scale)
        if not isinstance(x, np.ndarray):
            raise ModelError(path, law, "a law (riskopt.laws) for a loss given by its law; a "
                             "probability vector over the states needs losses per state")
        q = validate_probabilities(law, field=path)
        if q.size != x.size:
            raise ModelError(path, f"{q.size} probabilities", f"one per state ({x.size})")
        return DistortedSurvival(Discrete(x, q), None, scale)

    def _capacity_curve(self, x: Law | np.ndarray, cap: Capacity, path: str, scale: float) -> LayerCurve:
        if not isinstance(x, np.ndarray):
            raise ModelError(path, "choquet", "losses given per state of the market's space (a "
                             "capacity is a set function on the states)")
        if cap.n_states != x.size:
            raise ModelError(path, f"capacity on {cap.n_states} states", f"one on the {x.size} states")
        if not cap.normalised:
            raise ModelError(path, "capacity", "a normalised capacity, c(Omega) = 1")
        curve = ChainCurve.from_capacity(x, cap, scale)
        if np.any(np.diff(curve.levels) > 1e-12):
            raise ModelError(path, "capacity", "a monotone capacity (c({X > z}) nonincreasing in z)")
        return curve

    def _tau(self, i: int, j: int, re: ReinsurerSpec) -> LayerCurve:
        path = f"reinsurers[{j}]"
        theta = re.loading
        if isinstance(theta, bool) or not isinstance(theta, (int, float, np.floating)) or not (
                np.isfinite(theta) and theta > 0):
            raise ModelError(f"{path}.loading", theta, "a loading theta > 0")
        scale = 1.0 + float(theta)
        x = self.losses[i]
        if re.beliefs is not None and re.measure is not None:
            raise ModelError(path, re.name, "either beliefs (risk-neutral) or a measure, not both")
        if re.measure is None:
            law = re.beliefs
            if isinstance(law, (list, tuple)):
                if len(law) != self.n:
                    raise ModelError(f"{path}.beliefs", f"{len(law)} laws", f"one law per insurer ({self.n})")
                law = law[i]
                return self._probability_curve(x, law, f"{path}.beliefs[{i}]", scale)
            return self._probability_curve(x, law, f"{path}.beliefs", scale)
        m = re.measure
        mpath = f"{path}.measure"
        if isinstance(m, Expectation):
            return self._probability_curve(x, m.law, mpath, scale)
        if isinstance(m, Distortion):
            if not m.monetary:
                raise ModelError(mpath, m.describe(), "a normalised distortion, h(1) = 1")
            if not _is_identity(m.h):
                self._need_comonotone(mpath, m.describe())
            law = self._state_law(x) if isinstance(x, np.ndarray) else x
            return DistortedSurvival(law, None if _is_identity(m.h) else m.h, scale)
        if isinstance(m, Choquet):
            curve = self._capacity_curve(x, m.capacity, mpath, scale)
            if not m.capacity.additive:
                self._need_comonotone(mpath, m.describe())
            return curve
        raise ModelError(mpath, getattr(m, "describe", lambda: m)(),
                         "a Choquet risk measure: expectation, a distortion of P, or a choquet capacity")

    def _need_comonotone(self, path: str, what: str) -> None:
        if self.comonotone or self.n == 1:
            return
        raise ModelError(path, what, "a risk-neutral reinsurer (beliefs: a probability) or comonotone "
                         "losses (Market(comonotone=True))",
                         detail="a non-additive reinsurer's risk of its whole book is the sum over "
                                "insurers only for comonotone losses (Thm 3.8; Thm 3.7 covers "
                                "probabilities): with independent losses the layer-by-layer SPNE and "
                                "Pareto characterisation do not apply")

    def _check_comonotone(self) -> None:
        X = np.vstack([x for x in self.losses if isinstance(x, np.ndarray)])  # all of them
        order = np.lexsort(X[::-1])
        steps = np.diff(X[:, order], axis=1)
        if np.any(steps < -1e-12):
            i = int(np.argmax((steps < -1e-12).any(axis=1)))
            raise ModelError("comonotone", True, "comonotone losses (every X_i a nondecreasing function "
                             "of a common variable)", detail=f"{self.insurers[i].name}'s loss is not "
                             "ordered like the others across the states")

    def _capacity(self, j: int, re: ReinsurerSpec) -> float:
        if re.capacity is None:
            return np.inf
        K = re.capacity
        if isinstance(K, bool) or not isinstance(K, (int, float, np.floating)) or not (
                np.isfinite(K) and K >= 0):
            raise ModelError(f"reinsurers[{j}].capacity", K, "a finite capacity K >= 0 (or none)")
        return float(K)

    # ------------------------------------------------------------------ curves
    def curve_values(self, i: int, z: np.ndarray) -> np.ndarray:
        """``alpha_i(z), tau_i1(z), ..., tau_im(z)`` (``(m + 1, len(z))``)."""
        z = np.asarray(z, float)
        return np.vstack([np.asarray(self.alpha[i](z), float)] +
                         [np.asarray(t(z), float) for t in self.tau[i]])

    def second_lowest(self, i: int) -> LayerCurve:
        """tau-bar_i: the pointwise second lowest of ``alpha_i, tau_i1, ..., tau_im`` (Def. 3.5)."""
        return Lowest((self.alpha[i], *self.tau[i]), 1)

    def canonical_prices(self) -> list[list[LayerCurve]]:
        """The canonical SPNE strategy: every reinsurer charges ``nu_ij = tau-bar_i``."""
        return [[self.second_lowest(i)] * self.m for i in range(self.n)]

    def monopoly(self, name: str) -> Market:
        """The same insurers facing reinsurer ``name`` alone (the Stackelberg market)."""
        keep = [r for r in self.reinsurers if r.name == name]
        if not keep:
            raise ModelError("monopoly", name, f"one of {[r.name for r in self.reinsurers]}")
        return Market(self.insurers, keep, bound=self.bound, space=self.space, comonotone=self.comonotone)

    @property
    def tolerance(self) -> float:
        """Verification tolerance: 1e-9 of the largest value a layer integral can take, ``(1 + theta) M``
        per insurer, with M where the losses' mass ends (relative to the market's own scale, not to 1)."""
        loading = max(float(re.loading) for re in self.reinsurers)
        return 1e-9 * self.scale * (1.0 + loading) * self.n

    # ------------------------------------------------------------------ equilibria
    def spne(self, *, cells: int = CELLS, nodes: int = NODES, verify: bool = True) -> MarketOutcome:
        """The canonical SPNE by the pointwise second-price rule on every layer cell (exact
        breakpoints), with the equilibrium check. With one reinsurer: the Stackelberg equilibrium."""
        t0 = time.perf_counter()
        out = spne_cells(self.bank, self.n, self.m, cells=cells, nodes=nodes, verify=verify,
                         bound=self.layer_bound, span=self.bound)
        return self._outcome("stackelberg" if self.m == 1 else "spne", out, cells, nodes, t0)

    def stackelberg(self, *, cells: int = CELLS, nodes: int = NODES, verify: bool = True) -> MarketOutcome:
        """The Stackelberg equilibrium of a one-reinsurer market (Sec. 4.1)."""
        if self.m != 1:
            raise ModelError("reinsurers", f"{self.m} reinsurers", "exactly one reinsurer (or use "
                             "monopoly(name) first)")
        return self.spne(cells=cells, nodes=nodes, verify=verify)

    def best_response(self, prices: Sequence[Sequence[LayerCurve]], *, cells: int = CELLS,
                      nodes: int = NODES, verify: bool = True) -> MarketOutcome:
        """Every insurer's generous best response to posted prices ``prices[i][j]`` (Prop. 3.2,
        Def. 3.3), premiums at those prices, and (``verify``) whether the prices and responses form
        an equilibrium (can a reinsurer gain by re-pricing a layer?)."""
        posted = self.check_prices(prices)
        t0 = time.perf_counter()
        bank = CurveBank([[self.alpha[i], *posted[i], *self.tau[i]] for i in range(self.n)])
        out = best_response_cells(bank, self.n, self.m, cells=cells, nodes=nodes, verify=verify,
                                  bound=self.layer_bound, span=self.bound)
        return self._outcome("best response", out, cells, nodes, t0)

    def _outcome(self, kind: str, out: Pointwise, cells: int, nodes: int, t0: float) -> MarketOutcome:
        ver = None
        if out.gain is not None and out.gap is not None:
            ver = MarketVerification(out.gain, out.gap, out.bad, self.tolerance, out.order_gap)
        grid = GridInfo(cells, nodes, out.breakpoints, max_cells_per_insurer=out.layers.edges.shape[1] - 1)
        return MarketOutcome(self, kind, "pointwise", out.initial, out.premium, out.ceded, out.cost,
                             out.layers, MarketPrices(out.layers.price), "fast", ver, grid=grid,
                             seconds=time.perf_counter() - t0)

    def check_prices(self, prices: Any) -> list[list[LayerCurve]]:
        """Posted prices as a table ``prices[i][j]`` of layer curves (``n x m``), or a ModelError."""
        ok = (isinstance(prices, (list, tuple)) and len(prices) == self.n
              and all(isinstance(r, (list, tuple)) and len(r) == self.m for r in prices)
              and all(isinstance(c, LayerCurve) for r in prices for c in r))
        if not ok:
            raise ModelError("prices", prices, f"a table of layer curves prices[i][j], {self.n} x {self.m}")
        return [list(r) for r in prices]

    def __repr__(self) -> str:
        return f"Market({self.insurers!r}, {self.reinsurers!r}, bound={self.bound!r})"


def _is_identity(h: Any) -> bool:
    t = np.linspace(0.0, 1.0, 1001)
    return bool(np.max(np.abs(np.asarray(h(t), float) - t)) < 1e-12)
