"""Aggregates of a solver benchmark, as Mittelmann's benchmarks and Dolan & Moré (2002) make them.

The input is the rows of :func:`benchmarks.solvers.run_matrix`: one per (instance, solver), with
``instance``, ``runner`` (the solver), ``solved`` (riskopt's status ok, i.e. the KKT certificate
within its tight tolerance, and the time within the limit), ``time_s`` and ``accuracy``.

* :func:`shifted_geometric_mean`: ``exp(mean(log(t_i + s))) - s`` with the shift ``s = 10`` s, an
  unsolved instance counted at the time limit (Mittelmann's convention).
* :func:`performance_profile`: ``rho_s(tau)``, the fraction of instances solver ``s`` solves within
  ``tau`` times the best time any solver needed on that instance (Dolan & Moré); an instance no
  solver solves counts against everyone.
* :func:`accuracy_profile`: the fraction of instances on which a solver's point is accurate to
  ``10^-d`` (its accuracy: the larger of its certificate's largest residual and its objective
  error against the family's reference), for ``d = 0 .. 16`` digits.
* :func:`summary` (a table per solver) and :func:`plot_profiles` (the figure, written atomically).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SHIFT_S = 10.0  # Mittelmann's shift, in seconds
#: the smallest time a ratio is taken of (a timer's resolution: 0 s would make every ratio infinite)
MIN_TIME_S = 1e-6
DIGITS = tuple(range(17))


def shifted_geometric_mean(times: Iterable[float], shift: float = SHIFT_S) -> float:
    """``exp(mean(log(t + shift))) - shift`` (NaN for no times)."""
    t = np.asarray(list(times), float)
    if t.size == 0:
        return math.nan
    return float(np.exp(np.mean(np.log(t + shift))) - shift)


def matrix(rows: Sequence[dict[str, Any]], value: str = "time_s", *,
           solved_only: bool = True) -> tuple[list[str], list[str], np.ndarray]:
    """(instances, solvers, M): ``M[i, s]`` is ``value`` of solver ``s`` on instance ``i``, ``inf``
    where it did not solve it (or, ``solved_only=False``, where the value is missing). Solvers are
    those attempted at least once (a row with a status: not-installed solvers are left out); every
    instance of the rows is kept."""
    instances = list(dict.fromkeys(str(r["instance"]) for r in rows))
    solvers = list(dict.fromkeys(str(r["runner"]) for r in rows if r.get("status") is not None))
    M = np.full((len(instances), len(solvers)), np.inf)
    i_of = {k: i for i, k in enumerate(instances)}
    s_of = {k: j for j, k in enumerate(solvers)}
    for r in rows:
        j = s_of.get(str(r["runner"]))
        v = r.get(value)
        if j is None or (solved_only and not r.get("solved")) or not isinstance(v, (int, float)):
            continue
        if math.isfinite(v):
            M[i_of[str(r["instance"])], j] = float(v)
    return instances, solvers, M


def performance_ratios(T: np.ndarray) -> np.ndarray:
    """``r[i, s] = T[i, s] / min_s T[i, s]`` (times below :data:`MIN_TIME_S` raised to it); ``inf``
    where ``s`` did not solve ``i`` (``T = inf``) and on instances no solver solved."""
    T = np.maximum(np.asarray(T, float), MIN_TIME_S)
    best = T.min(axis=1, keepdims=True) if T.size else np.zeros((T.shape[0], 1))
    with np.errstate(invalid="ignore"):
        R = np.where(np.isfinite(best), T / best, np.inf)
    return np.where(np.isfinite(T), R, np.inf)


def performance_profile(T: np.ndarray, taus: Sequence[float] | np.ndarray) -> np.ndarray:
    """``rho[s, k]``: the fraction of instances solver ``s`` solves within ``taus[k]`` times the best
    time (Dolan & Moré). ``T`` is instances x solvers with ``inf`` for unsolved."""
    R = performance_ratios(T)
    tau = np.asarray(taus, float)
    if R.shape[0] == 0:
        return np.zeros((R.shape[1], tau.size))
    return np.asarray(np.mean(R[:, :, None] <= tau[None, None, :], axis=0), float)


def profile_taus(T: np.ndarray) -> np.ndarray:
    """The breakpoints of the profiles: 1 and every finite ratio, sorted (a step function of tau
    changes only there), plus twice the largest so the last step is seen."""
    R = performance_ratios(T)
    finite = np.unique(R[np.isfinite(R)])
    top = float(finite.max()) if finite.size else 1.0
    return np.unique(np.concatenate([[1.0], finite, [max(2.0, 2 * top)]]))


def accuracy_profile(A: np.ndarray, digits: Sequence[int] = DIGITS) -> np.ndarray:
    """``a[s, k]``: the fraction of instances on which solver ``s``'s accuracy is at most
    ``10^-digits[k]`` (``A`` instances x solvers, ``inf`` where it returned no point)."""
    A = np.asarray(A, float)
    bounds = 10.0 ** -np.asarray(digits, float)
    if A.shape[0] == 0:
        return np.zeros((A.shape[1], bounds.size))
    return np.asarray(np.mean(A[:, :, None] <= bounds[None, None, :], axis=0), float)


def summary(rows: Sequence[dict[str, Any]], time_limit: float,
            shift: float = SHIFT_S) -> list[dict[str, Any]]:
    """One row per solver attempted: instances, attempted, solved, the shifted geometric mean of its
    times over every instance (unsolved ones, skipped included, at ``time_limit``) and that mean
    over the best solver's (``sgm_ratio``), the fraction solved within twice the best time
    (``rho(2)``), and its skips and failures by reason."""
    instances, solvers, T = matrix(rows)
    T_sgm = np.where(np.isfinite(T), np.minimum(T, time_limit), time_limit)
    sgm = [shifted_geometric_mean(T_sgm[:, j], shift) for j in range(len(solvers))]
    best = min(sgm) if sgm else math.nan
    rho2 = performance_profile(T, [2.0])[:, 0] if solvers else np.zeros(0)
    out = []
    for j, s in enumerate(solvers):
        mine = [r for r in rows if r["runner"] == s]
        reasons: dict[str, int] = {}
        for r in mine:
            if not r.get("solved"):
                why = r.get("reason") or r.get("status")  # a skip's reason, else the status it ended with
                key = str(why).split(" (")[0].split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
        first = mine[0]
        out.append({"runner": s, "version": first.get("version", ""), "backend": first.get("backend", ""),
                    "instances": len(instances), "attempted": sum(r.get("status") is not None for r in mine),
                    "solved": int(np.isfinite(T[:, j]).sum()), "sgm_s": sgm[j],
                    "sgm_ratio": sgm[j] / best if best > 0 else math.nan, "rho(2)": float(rho2[j]),
                    "not solved": "; ".join(f"{k} x{n}" for k, n in sorted(reasons.items()))})
    return sorted(out, key=lambda r: (-r["solved"], r["sgm_s"]))


SUMMARY_COLUMNS = ["runner", "version", "instances", "attempted", "solved", "sgm_s", "sgm_ratio", "rho(2)",
                   "not solved"]


def plot_profiles(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Performance profile (``rho_s(tau)``, tau on a log2 axis) and accuracy profile, one step line
    per solver, in the riskopt figure style; written atomically. ``None`` without matplotlib or
    without any attempted solver."""
    from riskopt.errors import ModelError
    from riskopt.plots import pyplot, save_figure, styled

    try:
        plt = pyplot()
    except ModelError:  # matplotlib is not installed
        return None
    _, solvers, T = matrix(rows)
    if not solvers:
        return None
    _, _, A = matrix(rows, "accuracy", solved_only=False)
    taus = profile_taus(T)
    rho = performance_profile(T, taus)
    acc = accuracy_profile(A)
    styles = ["-", "--", ":", "-."]
    with styled():
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 5.2), layout="constrained")
        colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
        for j, s in enumerate(solvers):
            look = {"color": colours[j % len(colours)],
                    "linestyle": styles[(j // len(colours)) % len(styles)]}
            ax.step(taus, rho[j], where="post", label=s, **look)
            bx.step(DIGITS, acc[j], where="post", label=s, **look)
        ax.set_xscale("log", base=2)
        ax.set_xlim(1.0, float(taus[-1]))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(r"$\tau$: time within $\tau$ times the fastest (log$_2$ scale)")
        ax.set_ylabel(r"$\rho_s(\tau)$: fraction of instances solved")
        ax.set_title(f"performance profile{': ' + title if title else ''}")
        bx.set_xlim(0, DIGITS[-1])
        bx.set_ylim(-0.02, 1.02)
        bx.set_xlabel(r"digits $d$: accuracy $\leq 10^{-d}$ (certificate and objective error)")
        bx.set_ylabel("fraction of instances")
        bx.set_title("accuracy profile")
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize="small",
                   ncols=1 if len(solvers) <= 16 else 2)
    return save_figure(fig, path)
