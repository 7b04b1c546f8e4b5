"""SPNE verification of price-and-choose on a finite menu, and Lipschitz constants with their metric.

The paper's metric ``d_w*`` (2^-m-weighted countable family of L1 test functions) underflows double
precision once ``n (K + 1) > 1074`` and every norm gives the same topology on a finite space, so the
library uses

    d_sup(xi, eta) = max_i max_{s: P(s) > 0} |xi_is - eta_is|,

under which ``Lip(U_i) <= 1`` (monotone, cash-invariant) and ``Lip(p^{i+1}) = Lip(W_{i+1}) <= n - i``,
so the cap ``(n - 1) L_cap`` holds for any ``L_cap > 1``. The cap is meaningful only with its metric:
under ``d_L1(xi, eta) = sum_i E_P|xi_i - eta_i|`` the same utilities have constants bounded only by the
largest tilt density. Both are reported.

Checks, for every leader ``i = 1..n-1``:

1. *follower indifference*: ``W_{i+1} - p^{i+1}`` constant over the menu (its spread is reported);
2. *the chooser's rule* returns the welfare optimum under equalising prices;
3. *epsilon-perturbed leader schedules* ``p^eps = p^{i+1} - eps psi + eps beta`` with
   ``psi = iota / (iota + d_sup(xi, xi*))``, ``beta = sum mu psi``: admissible for
   ``eps <= iota ((n-1) L_cap - Lip(p^{i+1}))``; the followers' choice is then *unique* and equal to
   ``xi*``, and the leader gets exactly ``bound - eps (1 - beta)`` with ``bound = W_i(xi*) - p^i(xi*) -
   W-bar_{i+1}`` (``g_1`` for ``i = 1``, ``Avg_i`` otherwise);
4. *random admissible deviations* (a sanity test, not a proof): ``p' = p^{i+1} + s (c.F - mu(c.F))``
   with ``c`` Gaussian normalised to ``||c||_1 = 1`` (so ``Lip_sup(c.F) <= 1``) and
   ``s ~ U(0, 1] ((n-1) L_cap - Lip(p^{i+1}))``: the followers take ``argmax (W_{i+1} - p')`` (the
   chooser's rule reduces to it because the later entries of its lexicographic vector are constant,
   check 1) and the leader's gain over the bound must never be positive. The same ``R`` functionals
   serve every stage (one matrix product), with independent scales per stage.

And, before all of them, that the tables are numbers and the welfare optimum the menu holds is a
point of its space (anchored, feasible, monotone on C): the checks above compare the game with
itself, so a nonsensical optimum (e.g. shares of 1e283 from a cancellation) passes them as long as
the game built on it is consistent.

Sizes are in the menu's loss unit (:attr:`.menus.Menu.unit`): ``iota`` and ``epsilons`` are
multiples of it, as are the same-point and tie tolerances, so that the checks do not change with the
currency the losses are written in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ModelError
from ...progress import bar
from ...status import Check
from .game import Game, choose
from .menus import SAME_POINT, Menu
from .spec import PAIR_WORK

__all__ = ["PAIR_WORK", "Lipschitz", "SPNEVerification", "lipschitz", "verify"]

#: Lipschitz pairs: every pair when pairs x players x states fit PAIR_WORK (a vectorised pass over
#: coordinates), else a seeded random sample of pairs that fits PAIR_SAMPLE_WORK (gathered pair by
#: pair), plus every pair with the optimum
PAIR_SAMPLE_WORK = 10_000_000
#: numbers handled per chunk of the pairwise computations
PAIR_CHUNK = 20_000_000
#: pairs per block of the exhaustive pass
PAIR_BLOCK = 4_000_000


@dataclass(frozen=True)
class Lipschitz:
    """Empirical Lipschitz constants over menu pairs, with the metric and the analytic bounds."""

    metric: str
    utilities: np.ndarray
    prices: np.ndarray
    utility_bounds: np.ndarray
    price_bounds: np.ndarray
    cap: float
    l_cap: float
    pairs: int
    exhaustive: bool
    utilities_l1: np.ndarray
    prices_l1: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "utilities": self.utilities, "prices": self.prices,
                "utility_bounds": self.utility_bounds, "price_bounds": self.price_bounds,
                "cap": self.cap, "l_cap": self.l_cap, "pairs": self.pairs, "exhaustive": self.exhaustive,
                "l1_metric": "d_L1(xi, eta) = sum_i E_P|xi_i - eta_i|",
                "utilities_l1": self.utilities_l1, "prices_l1": self.prices_l1}

    def admissible_slack(self) -> np.ndarray:
        """``(n-1) L_cap - Lip(p^{i+1})`` per stage, with the exhaustive constants when every pair was
        examined, else with the analytic bounds ``n - i`` (a sample only bounds from below)."""
        used = self.prices if self.exhaustive else self.price_bounds
        return self.cap - used


def lipschitz(menu: Menu, game: Game, probs: np.ndarray, l_cap: float, *, seed: int = 0,
              pair_work: int = PAIR_WORK) -> Lipschitz:
    """Largest ``|f(a) - f(b)| / d(a, b)`` over menu pairs for ``f = U_i`` and ``f = p^{i+1}``,
    under ``d_sup`` and ``d_L1(P)``: all pairs when ``pairs x coordinates <= pair_work``, else a
    seeded sample of ``pair_work / coordinates`` pairs plus every pair with the optimum."""
    M, n = game.U.shape
    flat = menu.flat()
    weights = np.broadcast_to(probs[menu.support], (n, int(menu.support.sum()))).ravel()
    F = np.concatenate([game.U, game.prices[:, 1:n]], axis=1)   # U_1..U_n, p^2..p^n
    total = M * (M - 1) // 2
    exhaustive = total * flat.shape[1] <= pair_work
    sample = max(500, min(pair_work, PAIR_SAMPLE_WORK) // flat.shape[1])
    best_sup = np.zeros(F.shape[1])
    best_l1 = np.zeros(F.shape[1])

    same = 1e-15 * menu.unit                                 # identical allocations (in loss units)

    def update(d_sup: np.ndarray, d_l1: np.ndarray, dv: np.ndarray) -> None:
        ok = d_sup > same                                    # identical allocations have equal values
        if ok.any():
            best_sup[:] = np.maximum(best_sup, (dv[ok] / d_sup[ok, None]).max(axis=0))
            best_l1[:] = np.maximum(best_l1, (dv[ok] / d_l1[ok, None]).max(axis=0))

    if exhaustive:  # blocks of rows against every later row, one coordinate at a time (no gathers)
        flat_t = np.ascontiguousarray(flat.T)
        rows = max(1, PAIR_BLOCK // M)
        meter = bar(M - 1, "SPNE: Lipschitz pairs", unit="point")
        for a0 in range(0, M - 1, rows):
            a1 = min(M - 1, a0 + rows)
            meter.update(a1 - a0)
            d_sup = np.zeros((a1 - a0, M - a0 - 1))
            d_l1 = np.zeros_like(d_sup)
            for c in range(flat_t.shape[0]):
                t = np.abs(flat_t[c, a0:a1, None] - flat_t[c, None, a0 + 1:])
                np.maximum(d_sup, t, out=d_sup)
                d_l1 += weights[c] * t
            earlier = np.arange(a0 + 1, M)[None, :] <= np.arange(a0, a1)[:, None]
            flat_pair = earlier | (d_sup <= same)            # not a pair, or identical allocations
            d_sup[flat_pair] = np.inf
            d_l1[flat_pair] = np.inf
            for j in range(F.shape[1]):
                dv = np.abs(F[a0:a1, j, None] - F[None, a0 + 1:, j])
                best_sup[j] = max(best_sup[j], float((dv / d_sup).max()))
                best_l1[j] = max(best_l1[j], float((dv / d_l1).max()))
        meter.close()
        pairs = total
    else:
        rng = np.random.default_rng(seed)
        a_idx = np.concatenate([rng.integers(0, M, size=sample), np.full(M, menu.optimum)])
        b_idx = np.concatenate([rng.integers(0, M, size=sample), np.arange(M)])
        keep = a_idx != b_idx
        a_idx, b_idx = a_idx[keep], b_idx[keep]
        step = max(1, PAIR_CHUNK // max(1, flat.shape[1]))
        meter = bar(a_idx.size, "SPNE: Lipschitz pairs", unit="pair")
        for s in range(0, a_idx.size, step):
            a, b = a_idx[s:s + step], b_idx[s:s + step]
            meter.update(a.size)
            diff = np.abs(flat[a] - flat[b])
            update(diff.max(axis=1), diff @ weights, np.abs(F[a] - F[b]))
        meter.close()
        pairs = int(a_idx.size)
    metric = "d_sup(xi, eta) = max_i max_{s: P(s) > 0} |xi_is - eta_is|"
    return Lipschitz(metric, best_sup[:n], best_sup[n:], np.ones(n), np.arange(n - 1, 0, -1, dtype=float),
                     (n - 1) * l_cap, l_cap, pairs, exhaustive, best_l1[:n], best_l1[n:])


@dataclass(frozen=True)
class SPNEVerification:
    """The outcome of the four checks (module docstring); ``passed`` summarises them."""

    indifference_spread: np.ndarray
    chooser_index: int
    chooser_is_optimum: bool
    chooser_rule: str
    iota: float
    beta: float
    perturbations: list[dict[str, Any]]
    deviations: dict[str, Any]
    lipschitz: Lipschitz
    notes: list[str] = field(default_factory=list)
    #: the tables are finite and the menu's optimum lies in its space (anchor, budget, monotone)
    sound: dict[str, Any] = field(default_factory=dict)
    unit: float = 1.0
    #: the checks ``passed`` summarises (the result's verification)
    checks: tuple[Check, ...] = ()

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "sound": self.sound, "unit": self.unit,
                "indifference_spread": self.indifference_spread,
                "chooser": {"index": self.chooser_index, "is_optimum": self.chooser_is_optimum,
                            "rule": self.chooser_rule},
                "perturbation": {"iota": self.iota, "beta": self.beta, "cases": self.perturbations},
                "deviations": self.deviations, "lipschitz": self.lipschitz.to_dict(), "notes": self.notes}


CHOOSER_RULE = ("lexicographic max of (W_n - p^n, ..., W_2 - p^2, W_1) within the tie tolerance, "
                "then the lowest menu index")


def verify(menu: Menu, game: Game, probs: np.ndarray, *, l_cap: float = 1.5, iota: float = 0.5,
           epsilons: tuple[float, ...] = (1e-2, 1e-4, 1e-6), deviations: int = 2000, seed: int = 0,
           pair_work: int = PAIR_WORK) -> SPNEVerification:
    """Run the SPNE checks on ``game`` (equalising prices on ``menu``)."""
    n = game.n
    if not (np.isfinite(iota) and 0 < iota < 1):
        raise ModelError("game.iota", iota, "a number in (0, 1)")
    if not (np.isfinite(l_cap) and l_cap > 0):
        raise ModelError("game.l_cap", l_cap, "a positive Lipschitz cap (> 1 under d_sup)")
    eps_arr = np.asarray(epsilons, float)
    if eps_arr.ndim != 1 or np.any(~np.isfinite(eps_arr)) or np.any(eps_arr <= 0):
        raise ModelError("game.epsilons", list(epsilons), "positive perturbation sizes")
    if isinstance(deviations, bool) or not isinstance(deviations, (int, np.integer)) or deviations < 0:
        raise ModelError("game.deviations", deviations, "an integer number of random deviations >= 0")
    lip = lipschitz(menu, game, probs, l_cap, seed=seed, pair_work=pair_work)
    slack = lip.admissible_slack()
    if np.any(slack <= 0):
        i = int(np.argmin(slack))
        need = (lip.prices if lip.exhaustive else lip.price_bounds)[i] / (n - 1)
        raise ModelError("game.l_cap", l_cap, f"a cap above {need:.6g}: the equalising price p^{i + 2} has "
                         f"Lipschitz constant {need * (n - 1):.6g} under d_sup, which must stay strictly "
                         f"below (n - 1) L_cap = {(n - 1) * l_cap:.6g}")
    W, P, U, tol = game.W, game.prices, game.U, game.tol
    unit = menu.unit
    notes: list[str] = []
    # 0. numbers, and an optimum in the menu's space
    sound = _soundness(menu, game)
    # 1. follower indifference
    cont = W[:, 1:] - P[:, 1:n]
    spread = cont.max(axis=0) - cont.min(axis=0)
    # 2. the chooser's rule
    same = menu.distance_to_optimum <= SAME_POINT * unit
    chosen = choose(W, P, tol)
    # 3. epsilon-perturbed leader schedules (iota and eps in loss units)
    iota_u = iota * unit
    eps_arr = eps_arr * unit
    d_opt = menu.distance_to_optimum
    psi = iota_u / (iota_u + d_opt)
    beta = float(menu.mu @ psi)
    cases = []
    for i in range(1, n):                                   # leader i posts p^{i+1} (column i of P)
        bound = W[menu.optimum, i - 1] - P[menu.optimum, i - 1] - game.wbar[i]
        eps_max = iota_u * slack[i - 1]
        for eps in eps_arr:
            if eps > eps_max:
                notes.append(f"stage {i}: eps = {eps:g} exceeds the admissible {eps_max:.3g}; skipped")
                continue
            Pe = P.copy()
            Pe[:, i] = P[:, i] - eps * psi + eps * beta
            pick = choose(W, Pe, tol)
            follow = W[:, i] - Pe[:, i]
            top = follow >= follow.max() - tol
            unique = bool(np.all(same[top]))
            payoff = U[pick, i - 1] - Pe[pick, i - 1] + Pe[pick, i]
            gap = float(bound - payoff)
            cases.append({"stage": i, "eps": float(eps), "eps_max": float(eps_max), "unique": unique,
                          "chosen_is_optimum": bool(same[pick]), "gap": gap,
                          "expected_gap": float(eps * (1 - beta)),
                          "gap_error": abs(gap - float(eps * (1 - beta)))})
    # 4. random admissible deviations
    dev = _deviations(menu, game, slack, deviations, seed)
    limit = 1e3 * tol
    checks = (
        Check("spne.sound", bool(sound["ok"]), note="finite tables; the optimum anchored, feasible and "
              "monotone"),
        Check("spne.follower_indifference", float(np.max(spread)), limit),
        Check("spne.chooser_picks_optimum", bool(same[chosen])),
        Check("spne.perturbed_choice_unique_optimum",
              all(c["unique"] and c["chosen_is_optimum"] for c in cases)),
        Check("spne.perturbation_gap", float(np.max([c["gap_error"] for c in cases], initial=0.0)), limit),
        Check("spne.deviation_gain", 0.0 if dev["count"] == 0 else max(dev["max_gain"], 0.0), limit),
    )
    return SPNEVerification(spread, chosen, bool(same[chosen]), CHOOSER_RULE, iota, beta, cases, dev, lip,
                            notes, sound, unit, checks)


#: relative (to the loss unit) tolerance of the optimum's anchor, budget and monotonicity
SOUND_TOL = 1e-9


def _soundness(menu: Menu, game: Game) -> dict[str, Any]:
    """The tables are finite, and the menu's optimum lies in the menu's space: anchored (``f_i(0) =
    0``), feasible (its columns sum like every other point's: the same X) and, on C, monotone. The
    game's checks compare the game with itself; these compare the optimum with the menu."""
    A = menu.allocations
    opt = A[menu.optimum]
    unit = menu.unit
    out: dict[str, Any] = {"finite": bool(np.all(np.isfinite(game.U)) and np.all(np.isfinite(A)))}
    ref = A[0] if menu.optimum != 0 else A[-1]
    sup = menu.support
    out["budget_error"] = float(np.max(np.abs(opt.sum(axis=0) - ref.sum(axis=0))[sup], initial=0.0)) / unit
    if menu.space == "C":
        out["anchor_error"] = float(np.max(np.abs(opt[:, 0]), initial=0.0)) / unit
        out["monotonicity_error"] = max(float(np.max(np.diff(opt, axis=1), initial=0.0)), 0.0) / unit
    errors = [v for k, v in out.items() if k.endswith("_error")]
    out["ok"] = bool(out["finite"] and all(e <= SOUND_TOL for e in errors))   # NaN fails too
    return out


def _deviations(menu: Menu, game: Game, slack: np.ndarray, count: int, seed: int) -> dict[str, Any]:
    """Random admissible deviations (check 4 of the module docstring).

    The followers' value ``(W_{i+1} - p^{i+1}) - s G[:, r]`` is maximised exactly, without an
    ``M x R`` pass per stage: ``W_{i+1} - p^{i+1}`` varies over the menu by its spread ``delta_i``
    (check 1), so the maximiser is among the ``k`` smallest ``G[:, r]`` whenever ``s (G_(k+1) -
    G_(1)) > delta_i``; columns where that certificate fails are evaluated in full.
    """
    n, M = game.n, menu.size
    if count == 0:
        return {"count": 0, "max_gain": None, "max_gain_per_stage": []}
    W, P, U = game.W, game.prices, game.U
    rng = np.random.default_rng(seed + 1)
    flat = menu.flat()
    chunk = max(1, min(count, PAIR_CHUNK // (M + flat.shape[1])))
    gains = np.full((n - 1, count), -np.inf)
    scales = 1.0 - rng.uniform(0.0, 1.0, size=(n - 1, count))        # in (0, 1]
    follow_base = W[:, 1:] - P[:, 1:n]                                # (M, n - 1), constant columns
    spread = follow_base.max(axis=0) - follow_base.min(axis=0)
    bound = W[menu.optimum, :n - 1] - P[menu.optimum, :n - 1] - game.wbar[1:n]
    k = min(8, M - 1)
    full_evaluations = 0
    meter = bar(count, "SPNE: deviations", unit="deviation")
    for r0 in range(0, count, chunk):
        r1 = min(count, r0 + chunk)
        meter.update(r1 - r0)
        C = rng.standard_normal((flat.shape[1], r1 - r0))
        C /= np.abs(C).sum(axis=0, keepdims=True)
        G = flat @ C                                                  # (M, R): c.F at every point
        G -= menu.mu @ G                                              # mu-mean 0
        Gt = np.ascontiguousarray(G.T)                                # (R, M)
        part = np.argpartition(Gt, k, axis=1)
        cand = part[:, :k]                                            # the k smallest per column
        rows = np.arange(r1 - r0)[:, None]
        g_cand = Gt[rows, cand]
        margin = Gt[rows[:, 0], part[:, k]] - g_cand.min(axis=1)      # G_(k+1) - G_(1)
        for i in range(1, n):
            s = scales[i - 1, r0:r1] * slack[i - 1]
            vals = follow_base[cand, i - 1] - s[:, None] * g_cand
            pick = cand[np.arange(r1 - r0), np.argmax(vals, axis=1)]
            unsure = np.flatnonzero(s * margin <= spread[i - 1])
            if unsure.size:                                           # certificate failed: full pass
                full_evaluations += unsure.size
                full = follow_base[None, :, i - 1] - s[unsure, None] * Gt[unsure]
                pick[unsure] = np.argmax(full, axis=1)
            g_pick = Gt[np.arange(r1 - r0), pick]
            payoff = U[pick, i - 1] - P[pick, i - 1] + P[pick, i] + s * g_pick
            gains[i - 1, r0:r1] = payoff - bound[i - 1]
    meter.close()
    per_stage = gains.max(axis=1)
    return {"count": int(count), "per_stage": int(count), "max_gain": float(per_stage.max()),
            "max_gain_per_stage": per_stage, "full_evaluations": full_evaluations,
            "functional": "c.F with c ~ N(0, I), ||c||_1 = 1; scale U(0, 1] x ((n-1) L_cap - Lip(p^{i+1}))",
            "seed": seed + 1}
