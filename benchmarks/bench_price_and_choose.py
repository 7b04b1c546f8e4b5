"""Price-and-choose (Ogaku 2025): welfare over C for large pools, and P&C with full SPNE verification.

**pandc_welfare** (n = 3, 50, 500; seed 2505: gamma_i ~ U[0.5, 5], p_i ~ U[0.02, 0.2]; n = 3 is
Example 1): the welfare optimum over C with the common prior and with credal own-hit intervals
[0.5 p_i, 1.5 p_i] (max-min utilities; the worst case on C is each farmer's high vertex).

* *log-price Newton*: riskopt's fast path (``price_and_choose.pool_optimum``, ``method="fast"``):
  leave-one-out laws, one-sided pruning at 1e-16 with the state-price check of the dropped atoms,
  the tilted geometric mean as start, Newton in the log state prices with the KKT certificate.
  Target: W* and the state-price density within 1e-8 of the closed form in <= 1 s at n = 500.
* *conic (riskopt general path, ``method="program"``)*: the same program through
  ``pareto.welfare`` over AnchoredComonotone (entropic / MaxMin epigraphs, Clarabel at riskopt's
  defaults) on the same kept atoms; ``ratio`` = its total time over the Newton path's on the same
  instance. At n = 500 the credal program took 153 s in a one-off run (compile 72 s: 500 MaxMin
  agents are built one ``log_sum_exp`` per vertex; solve 79 s) and is not repeated here (max size 50).
* *conic + Newton polish*: the conic point polished by the Newton method warm-started at its prices.

Errors are against the closed forms over the *unpruned* support (common prior: the product formula
``-(1/lam) sum log1p(p expm1(lam L))`` and the Esscher density; credal: the tilted geometric mean of
the high-vertex laws, exact because no monotonicity row binds): ``W_rel_err`` relative,
``density_maxrel_err`` the largest relative error over the kept atoms, ``alloc_err_mod_const`` the
allocation error modulo constants on atoms of mass >= 1e-8 (spec §2.6).

**pandc_game** (n = 3: lattice m = 2, 217 points; n = 5: lattice m = 1, 3126 points; n = 50:
Dirichlet menu of 10,000 points, seed 20250504): welfare, menu, tables, equalising prices, the
full SPNE verification (indifference, chooser's rule, epsilon-perturbations for every stage and
eps in {1e-2, 1e-4, 1e-6}, 2000 random deviations per stage, Lipschitz constants) and the auction.
Targets: <= 5 s (n = 5) and <= 30 s (n = 50). ``status`` says whether every check passed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from riskopt.mechanisms.price_and_choose import (
    Beliefs,
    GameSpec,
    MenuSpec,
    Pool,
    PriceAndChoose,
    conic_comonotone,
    geometric_mean_closed_form,
    leave_one_out_laws,
    pool_optimum,
    solve,
)

from .harness import Family, Runner, register

SEED = 20250504


def _pool(n: int) -> Pool:
    if n == 3:
        return Pool.independent([1.0, 2.0, 4.0], 0.1)
    if n == 5:
        return Pool.independent([1, 1.5, 2, 3, 4], [0.05, 0.08, 0.10, 0.12, 0.15])
    rng = np.random.default_rng(2505)
    g = rng.uniform(0.5, 5, n)
    return Pool.independent(g, rng.uniform(0.02, 0.2, n))


def welfare_case(n: int) -> dict[str, Any]:
    pool = _pool(n)
    p = pool.p
    lam = 1.0 / np.sum(1.0 / pool.gammas)
    full = pool.law()
    common_w = float(-np.sum(np.log1p(p * np.expm1(lam * pool.losses))) / lam)
    z = -lam * full.X
    common_density = np.exp(z - np.log(full.p @ np.exp(z - z.max())) - z.max())
    credal = Beliefs.credal(0.5 * p, np.minimum(1.5 * p, 0.99))
    size = full.size
    loo = leave_one_out_laws(p, pool.loss_steps, size)
    high = credal.high
    law = loo * (1 - high[:, None])
    law[:, 1:] += high[:, None] * loo[:, :-1]
    keep = np.all(law > 0, axis=0)
    gm = geometric_mean_closed_form(full.X[keep], law[:, keep], pool.gammas)
    return {"n": n, "pool": pool, "credal": credal, "lam": lam,
            "oracle": {"common": (common_w, common_density, (lam / pool.gammas)),
                       "credal": (gm["welfare"], gm["log_prices"], gm["F"])}}


def _errors(inp: dict[str, Any], kind: str, W: float, prices: np.ndarray, F: np.ndarray,
            po: Any) -> dict[str, Any]:
    atoms = po.atoms
    S = atoms.size
    W_ref, dens_or_logp, alloc = inp["oracle"][kind]
    out: dict[str, Any] = {"W_rel_err": abs(W - W_ref) / abs(W_ref)}
    if kind == "common":
        density = prices / atoms.p
        out["density_maxrel_err"] = float(np.max(np.abs(density / dens_or_logp[:S] - 1)))
        ref_F = alloc[:, None] * atoms.X[None, :]
    else:
        nu = np.exp(dens_or_logp[:S])
        out["density_maxrel_err"] = float(np.max(np.abs(prices / (nu / nu.sum()) - 1)))
        ref_F = alloc[:, :S]
    diff = F - ref_F
    material = atoms.p >= 1e-8
    w = atoms.p[material] / atoms.p[material].sum()
    centred = diff[:, material] - (diff[:, material] @ w)[:, None]
    out["alloc_err_mod_const"] = float(np.abs(centred).max())
    return out


def _beliefs(inp: dict[str, Any], kind: str) -> Beliefs:
    return Beliefs.common() if kind == "common" else inp["credal"]


def newton(kind: str):
    def runner(inp: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        po = pool_optimum(inp["pool"], _beliefs(inp, kind))
        total = time.perf_counter() - t0
        opt = po.optimum
        return {"total_s": total, "solve_s": opt.seconds, "iterations": opt.iterations,
                "status": f"{opt.method} ({po.atoms.size} atoms)",
                **_errors(inp, kind, opt.welfare, opt.prices, opt.F, po)}

    return runner


def conic(kind: str, polish: bool = False):
    def runner(inp: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        po = pool_optimum(inp["pool"], _beliefs(inp, kind))
        fast = time.perf_counter() - t0
        t1 = time.perf_counter()
        check = conic_comonotone(po, polish=polish)
        total = time.perf_counter() - t1
        rep = check.solution.solver
        out = {"total_s": total, "compile_s": rep.compile_s, "solve_s": rep.solve_s,
               "iterations": rep.iterations, "status": check.status, "ratio": total / fast}
        if polish:
            pol = check.polished
            out["polish_s"] = pol.seconds
            out["status"] = f"{check.status} -> polished in {pol.iterations} Newton steps"
            out.update(_errors(inp, kind, pol.welfare, pol.prices, pol.F, po))
        else:
            out.update(_errors(inp, kind, check.welfare, check.prices, check.F, po))
        return out

    return runner


WELFARE = register(Family(
    name="pandc_welfare",
    case=welfare_case,
    sizes=[3, 50, 500],
    quick_sizes=[3, 50],
    description="price-and-choose welfare over C: log-price Newton vs the general conic program "
                "(ratio = conic time / Newton time on the same instance)",
    notes=__doc__,
    columns=["size", "runner", "status", "total_s", "compile_s", "solve_s", "polish_s", "iterations",
             "W_rel_err", "density_maxrel_err", "alloc_err_mod_const", "ratio"],
    accuracy="W_rel_err",
    runners=[
        Runner("log-price Newton, common prior", newton("common")),
        Runner("conic (riskopt general path), common prior", conic("common")),
        Runner("log-price Newton, credal own-hit", newton("credal")),
        Runner("conic (riskopt general path), credal own-hit", conic("credal"), max_size=50,
               note="153 s at n = 500 (one-off)"),
        Runner("conic + Newton polish, credal own-hit", conic("credal", polish=True), max_size=50),
    ],
))


def game_case(n: int) -> dict[str, Any]:
    menu = {3: MenuSpec("lattice", m=2), 5: MenuSpec("lattice", m=1),
            50: MenuSpec("dirichlet", size=10_000, seed=SEED)}[n]
    return {"n": n, "pool": _pool(n), "menu": menu}


def pc(kind: str):
    def runner(inp: dict[str, Any]) -> dict[str, Any]:
        pool = inp["pool"]
        beliefs = Beliefs.common() if kind == "common" else Beliefs.credal(0.5 * pool.p, 1.5 * pool.p)
        t0 = time.perf_counter()
        res = solve(PriceAndChoose(pool, beliefs, inp["menu"], GameSpec(seed=SEED)))
        total = time.perf_counter() - t0
        v = res.spne
        return {"total_s": total, "welfare_s": res.timings["welfare_s"], "menu_s": res.timings["menu_s"],
                "game_s": res.timings["game_s"], "verification_s": res.timings["verification_s"],
                "status": res.status, "points": res.menu.size, "eta": res.eta,
                "max_deviation_gain": v.deviations["max_gain"], "lipschitz_pairs": v.lipschitz.pairs}

    return runner


GAME = register(Family(
    name="pandc_game",
    case=game_case,
    sizes=[3, 5, 50],
    quick_sizes=[3],
    description="P&C with full SPNE verification",
    notes=__doc__,
    columns=["size", "runner", "status", "total_s", "welfare_s", "menu_s", "game_s", "verification_s",
             "points", "eta", "max_deviation_gain", "lipschitz_pairs"],
    runners=[Runner("P&C + SPNE checks, common prior", pc("common")),
             Runner("P&C + SPNE checks, credal own-hit", pc("credal"), max_size=50)],
))
