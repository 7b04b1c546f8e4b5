"""Instance export (riskopt.export, ``riskopt export``): every bundled card whose program is linear,
quadratic or exponential-conic is written in each format that applies and read back by a reader
that is not the writer (highspy's MPS/LP reader; this file's own CBF reader solved by Clarabel's
Python API, not through cvxpy), re-solved to riskopt's own objective: 1e-8 relative for LPs and
QPs, 1e-6 for conic programs. Bad formats are refused in one line (exit 2); files are written
atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sps
from _cardkit import MODELS, cheap, run_cli, runnable

from riskopt.backends import run
from riskopt.cards import bundled_names, parse_card
from riskopt.errors import ModelError
from riskopt.export import card_problem, export_card, formats_for, standard_data

#: bundled cards whose program has power cones (CRRA): refused
POWER = {"crra_equilibrium", "grw_portfolio"}
#: the 150k-variable taxation QP even in its cheap form: its smaller siblings cover QPs here
SLOW = {"taxation_constrained"}
#: a 4,548-variable QP that HiGHS's QP solver takes minutes over: written and read back, not solved
UNSOLVED = {"niakh_storm212"}
CARDS = [n for n in runnable(bundled_names()) if n not in SLOW | UNSOLVED]


def _card(name: str) -> Any:
    return parse_card(cheap(name), source=str(MODELS / f"{name}.toml"))


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


# ------------------------------------------------------------------------------ readers
def read_cbf(path: Path) -> dict[str, Any]:
    """A minimal CBF reader: sense, c, c0, A, b and the constraint cones (``[(name, dim)]``);
    variables must be one free block (what riskopt writes)."""
    tokens = [line.strip() for line in path.read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    out: dict[str, Any] = {"c0": 0.0}
    i = 0

    def take() -> str:
        nonlocal i
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        key = take()
        if key == "VER":
            assert int(take()) <= 3
        elif key == "OBJSENSE":
            out["sense"] = take()
        elif key == "VAR":
            n, k = map(int, take().split())
            assert k == 1 and take() == f"F {n}"
            out["n"] = n
        elif key == "CON":
            m, k = map(int, take().split())
            out["m"], out["cones"] = m, [(c, int(d)) for c, d in (take().split() for _ in range(k))]
        elif key == "OBJACOORD":
            c = np.zeros(out["n"])
            for _ in range(int(take())):
                j, v = take().split()
                c[int(j)] = float(v)
            out["c"] = c
        elif key == "OBJBCOORD":
            out["c0"] = float(take())
        elif key == "ACOORD":
            rows, cols, vals = [], [], []
            for _ in range(int(take())):
                r, j, v = take().split()
                rows.append(int(r))
                cols.append(int(j))
                vals.append(float(v))
            out["A"] = sps.csc_matrix((vals, (rows, cols)), shape=(out["m"], out["n"]))
        elif key == "BCOORD":
            b = np.zeros(out["m"])
            for _ in range(int(take())):
                r, v = take().split()
                b[int(r)] = float(v)
            out["b"] = b
        else:
            raise AssertionError(f"unexpected CBF keyword {key}")
    out.setdefault("b", np.zeros(out["m"]))
    return out


def solve_cbf(path: Path) -> float:
    """Read a CBF file and solve it with Clarabel directly: ``A x + b in K`` is Clarabel's
    ``b - A' x = s in K`` with ``A' = -A``; CBF's EXP triple (u0, u1, u2) is Clarabel's (u2, u1, u0)."""
    import clarabel

    d = read_cbf(path)
    A, b = -d["A"].tocsr(), d["b"].copy()
    order = np.arange(d["m"])
    cones: list[Any] = []
    row = 0
    for name, dim in d["cones"]:
        if name == "L=":
            cones.append(clarabel.ZeroConeT(dim))
        elif name == "L+":
            cones.append(clarabel.NonnegativeConeT(dim))
        elif name == "Q":
            cones.append(clarabel.SecondOrderConeT(dim))
        elif name == "EXP":
            order[row:row + 3] = (row + 2, row + 1, row)
            cones.append(clarabel.ExponentialConeT())
        else:
            raise AssertionError(name)
        row += dim
    sign = -1.0 if d["sense"] == "MAX" else 1.0
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    P = sps.csc_matrix((d["n"], d["n"]))
    solver = clarabel.DefaultSolver(P, sign * d["c"], sps.csc_matrix(A[order]), b[order], cones, settings)
    sol = solver.solve()
    assert str(sol.status) == "Solved", sol.status
    return float(d["c"] @ np.asarray(sol.x) + d["c0"])


def solve_highs_file(path: Path) -> float:
    """Read an MPS or LP file with highspy and solve it with HiGHS."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for k in ("primal_feasibility_tolerance", "dual_feasibility_tolerance"):
        h.setOptionValue(k, 1e-10)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal, h.getModelStatus()
    return float(h.getInfo().objective_function_value)


def reference(card: Any, kind: str) -> float:
    """riskopt's own solve of the card's program: its highs backend for LPs and QPs (tight
    tolerances), Clarabel through cvxpy for conic programs."""
    problem = card_problem(card)
    if kind in ("lp", "qp"):
        report = run(problem, backend="highs", options={"primal_feasibility_tolerance": 1e-10,
                                                        "dual_feasibility_tolerance": 1e-10})
    else:
        report = run(problem, backend="cvxpy", solver="CLARABEL")
    assert report.status.usable, report.status
    return float(problem.value)


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("name", CARDS)
def test_round_trip(name: str, tmp_path: Path) -> None:
    card = _card(name)
    if name in POWER:
        with pytest.raises(ModelError, match="power"):
            export_card(card, "cbf", tmp_path)
        return
    kind = standard_data(card_problem(card)).kind
    formats = formats_for(kind)
    assert formats, kind
    ref = reference(card, kind)
    for fmt in formats:
        done = export_card(card, fmt, tmp_path)
        assert done.path == tmp_path / f"{name}.{fmt}" and done.path.is_file()
        value = solve_cbf(done.path) if fmt == "cbf" else solve_highs_file(done.path)
        tol = 1e-6 if fmt == "cbf" and kind == "conic" else 1e-8
        assert _rel(value, ref) <= tol, (name, fmt, value, ref)


@pytest.mark.parametrize("name", sorted(UNSOLVED))
def test_large_qp_reads_back(name: str, tmp_path: Path) -> None:
    """The storm QP: both files read back by highspy with the exported size."""
    import highspy

    card = _card(name)
    for fmt in ("mps", "lp"):
        done = export_card(card, fmt, tmp_path)
        assert done.kind == "qp"
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        assert h.readModel(str(done.path)) == highspy.HighsStatus.kOk
        assert h.getNumCol() == done.variables and h.getHessianNumNz() > 0


def test_every_bundled_card_is_classified() -> None:
    """Each bundled card is exportable except the power-cone (CRRA) ones, refused by name."""
    exportable = {n for n in CARDS if n not in POWER}
    assert {"hurricane_pool", "andraos2025_two_reinsurers", "grw_table2_row1",
            "niakh_two_region"} <= exportable


#: a Python with Mosek, numpy, scipy and clarabel (not riskopt's environment: an installed Mosek
#: becomes cvxpy's default solver and fails without a licence)
MOSEK_PYTHON = os.environ.get("RISKOPT_MOSEK_PYTHON", "")


@pytest.mark.skipif(not MOSEK_PYTHON, reason="RISKOPT_MOSEK_PYTHON not set (a Python with Mosek installed)")
@pytest.mark.parametrize("name", ["hurricane_pool", "ogaku_credal", "buhlmann_equilibrium",
                                  "reinsurance_constrained"])
def test_cbf_read_by_mosek(name: str, tmp_path: Path) -> None:
    """An independent CBF reader: MOSEK's ``Task.readdata`` (no licence needed to read); the data it
    holds are solved by Clarabel (tests/_mosek_cbf.py) in a separate interpreter."""
    import subprocess
    import sys

    card = _card(name)
    kind = standard_data(card_problem(card)).kind
    path = export_card(card, "cbf", tmp_path).path
    script = Path(__file__).with_name("_mosek_cbf.py")
    done = subprocess.run([MOSEK_PYTHON, str(script), str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr or sys.executable
    assert _rel(float(done.stdout.strip()), reference(card, kind)) <= 1e-6


def test_cbf_exp_cone_orientation(tmp_path: Path) -> None:
    """A one-cone program whose answer needs the right EXP orientation: max t s.t. (t, 1, e) in
    cvxpy's cone (e >= exp(t)) has t = 1; a reversed triple would give another value."""
    import cvxpy as cp

    from riskopt.export import write_cbf

    t = cp.Variable()
    problem = cp.Problem(cp.Maximize(t), [cp.constraints.ExpCone(t, cp.Constant(1.0), cp.Constant(np.e))])
    write_cbf(standard_data(problem), tmp_path / "one.cbf")
    assert abs(solve_cbf(tmp_path / "one.cbf") - 1.0) <= 1e-7


# ------------------------------------------------------------------------------ command line
def test_cli_writes_and_says_so(capfd: Any, tmp_path: Path) -> None:
    code, out, err = run_cli(capfd, "export", "grw_table2_row1", "--format", "mps", "--out", tmp_path)
    assert code == 0, err
    assert out == ""
    assert (tmp_path / "grw_table2_row1.mps").is_file()
    assert "wrote" in err and "grw_table2_row1.mps" in err


def test_cli_refuses_lp_format_for_conic_card(capfd: Any, tmp_path: Path) -> None:
    code, out, err = run_cli(capfd, "export", "ogaku_example1", "--format", "lp", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("riskopt: error: --format")
    assert "expected cbf for a conic program (exponential cones)" in err
    assert not list(tmp_path.iterdir())


def test_cli_refuses_missing_folder_and_unknown_format(capfd: Any, tmp_path: Path) -> None:
    code, _, err = run_cli(capfd, "export", "grw_table2_row1", "--format", "mps", "--out", tmp_path / "no")
    assert code == 2 and "--out" in err and err.count("\n") == 1
    code, _, err = run_cli(capfd, "export", "grw_table2_row1", "--format", "gms")
    assert code == 2 and err.count("\n") == 1


@pytest.mark.parametrize("fmt", ["mps", "cbf"])
def test_write_is_atomic(fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write leaves the previous file intact and no temporary file behind."""
    card = _card("grw_table2_row1")
    first = export_card(card, fmt, tmp_path).path
    before = first.read_bytes()

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        export_card(card, fmt, tmp_path)
    assert first.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]
