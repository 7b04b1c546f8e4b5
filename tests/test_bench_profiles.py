"""The aggregates of a solver benchmark (benchmarks/profiles.py) against a hand-computed example."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from riskopt.benchmarks.profiles import (
    accuracy_profile,
    matrix,
    performance_profile,
    performance_ratios,
    plot_profiles,
    profile_taus,
    shifted_geometric_mean,
    summary,
)

from riskopt.status import Status

INF = math.inf
# Four instances, two solvers; time in seconds, INF = not solved.
#            A     B
# i1         1     2      best 1: ratios A 1, B 2
# i2         4     2      best 2: ratios A 2, B 1
# i3       INF     8      best 8: ratios A INF, B 1
# i4       INF   INF      nobody: ratios INF, INF (it still counts in the denominator)
T = np.array([[1.0, 2.0], [4.0, 2.0], [INF, 8.0], [INF, INF]])


def test_performance_ratios_by_hand():
    R = performance_ratios(T)
    assert R.tolist() == [[1.0, 2.0], [2.0, 1.0], [INF, 1.0], [INF, INF]]


def test_performance_profile_by_hand():
    # rho_A(1) = #{i1} / 4, rho_A(2) = #{i1, i2} / 4, rho_A(100) = 2 / 4 (i3, i4 never)
    # rho_B(1) = #{i2, i3} / 4, rho_B(2) = #{i1, i2, i3} / 4, rho_B(100) = 3 / 4
    rho = performance_profile(T, [1.0, 1.5, 2.0, 100.0])
    assert rho.tolist() == [[0.25, 0.25, 0.5, 0.5], [0.5, 0.5, 0.75, 0.75]]
    # the profile's breakpoints: 1, the finite ratios (1, 2) and twice the largest (4)
    assert profile_taus(T).tolist() == [1.0, 2.0, 4.0]


def test_shifted_geometric_mean_by_hand():
    # unsolved at the time limit 100 s, shift 10 s:
    # A: ((1 + 10)(4 + 10)(100 + 10)(100 + 10))^(1/4) - 10 = 1,863,400^(1/4) - 10 = 36.946... - 10 = 26.946...
    # B: ((2 + 10)(2 + 10)(8 + 10)(100 + 10))^(1/4) - 10 = 285,120^(1/4) - 10 = 23.107... - 10 = 13.107...
    a = shifted_geometric_mean([1, 4, 100, 100])
    b = shifted_geometric_mean([2, 2, 8, 100])
    assert a == pytest.approx(1_863_400 ** 0.25 - 10, rel=1e-14) and a == pytest.approx(26.946, abs=1e-3)
    assert b == pytest.approx(285_120 ** 0.25 - 10, rel=1e-14) and b == pytest.approx(13.107, abs=1e-3)
    # shift 0 is the plain geometric mean: (1 * 4 * 16)^(1/3) = 4
    assert shifted_geometric_mean([1, 4, 16], shift=0.0) == pytest.approx(4.0, rel=1e-14)
    assert math.isnan(shifted_geometric_mean([]))


def test_accuracy_profile_by_hand():
    # accuracies (instances x solvers); INF: no point returned
    A = np.array([[5e-10, 2e-4], [3e-13, INF]])
    # digits 0, 3, 9, 12: the fraction of instances with accuracy <= 10^-d
    # A: 5e-10 and 3e-13 are <= 1, <= 1e-3, <= 1e-9; only 3e-13 <= 1e-12 -> 1, 1, 1, 0.5
    # B: 2e-4 <= 1 and <= 1e-3, not <= 1e-9; INF never -> 0.5, 0.5, 0, 0
    assert accuracy_profile(A, [0, 3, 9, 12]).tolist() == [[1.0, 1.0, 1.0, 0.5], [0.5, 0.5, 0.0, 0.0]]


def _rows() -> list[dict]:
    """The example T as benchmark rows (plus a solver C that was never attempted: not installed)."""
    rows = []
    for i, inst in enumerate(["i1", "i2", "i3", "i4"]):
        for j, s in enumerate("AB"):
            t = T[i, j]
            solved = math.isfinite(t)
            rows.append({"instance": inst, "runner": s, "solved": solved,
                         "status": Status.OPTIMAL if solved else Status.TIME_LIMIT,
                         "time_s": t if solved else 100.0, "accuracy": 1e-9 if solved else INF,
                         "reason": "" if solved else "over the time limit"})
        rows.append({"instance": inst, "runner": "C", "solved": False, "status": None,
                     "reason": "not installed"})
    return rows


def test_rows_make_the_same_matrix_and_summary():
    instances, solvers, M = matrix(_rows())
    assert instances == ["i1", "i2", "i3", "i4"] and solvers == ["A", "B"]  # C never attempted
    assert M.tolist() == T.tolist()
    table = {r["runner"]: r for r in summary(_rows(), time_limit=100.0)}
    assert set(table) == {"A", "B"}
    assert table["A"]["solved"] == 2 and table["B"]["solved"] == 3
    assert table["A"]["sgm_s"] == pytest.approx(1_863_400 ** 0.25 - 10, rel=1e-14)
    assert table["B"]["sgm_s"] == pytest.approx(285_120 ** 0.25 - 10, rel=1e-14)
    assert table["B"]["sgm_ratio"] == 1.0
    assert table["A"]["sgm_ratio"] == pytest.approx((1_863_400 ** 0.25 - 10) / (285_120 ** 0.25 - 10))
    assert table["A"]["rho(2)"] == 0.5 and table["B"]["rho(2)"] == 0.75
    assert table["A"]["not solved"] == "over the time limit x2"
    assert [r["runner"] for r in summary(_rows(), time_limit=100.0)] == ["B", "A"]  # most solved first


def test_a_solved_time_above_the_limit_counts_at_the_limit():
    rows = [{"instance": "i", "runner": "A", "solved": True, "status": Status.OPTIMAL, "time_s": 50.0}]
    assert summary(rows, time_limit=20.0)[0]["sgm_s"] == pytest.approx(20.0)


def test_the_profile_figure_is_written_atomically(tmp_path: Path):
    pytest.importorskip("matplotlib")
    path = plot_profiles(_rows(), tmp_path / "profiles.png", title="example")
    assert path == tmp_path / "profiles.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["profiles.png"]  # no temporary file left
    assert plot_profiles([], tmp_path / "none.png") is None
