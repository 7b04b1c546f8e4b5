"""Solver discovery, capability matching and failure rows of ``riskopt bench --solvers``
(benchmarks/solvers.py), with fake solvers and one small real run."""

from __future__ import annotations

import ast
import csv
import dataclasses
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import cvxpy as cp
import pytest
from cvxpy.constraints import SOC, ExpCone, NonNeg, Zero
from riskopt.benchmarks import solvers as bench_solvers
from riskopt.benchmarks.harness import REGISTRY
from riskopt.benchmarks.run import main
from riskopt.benchmarks.solvers import (
    CONES,
    DIED,
    EXP,
    KILLED,
    LP,
    NO_DUALS,
    NO_LICENCE,
    NOT_INSTALLED,
    OFF_REFERENCE,
    OVER_LIMIT,
    QP,
    SIZE_LICENCE,
    UNKNOWN,
    capabilities,
    discover,
    licence_line,
    licence_reason,
    run_matrix,
)

import riskopt.backends.cvxpy_backend as cvxpy_backend
from riskopt.status import STATUSES, Status

BENCHMARKS = Path(bench_solvers.__file__).parent


# ------------------------------------------------------------------------------ capability
def test_capabilities_come_from_cvxpys_own_metadata():
    assert capabilities("GLPK") == LP  # an LP solver
    assert capabilities("OSQP") == QP  # a QP interface: linear rows, quadratic objective
    assert capabilities("ECOS") >= EXP and "pow" not in capabilities("ECOS")
    assert {"exp", "pow", "soc", "psd", "quadratic"} <= capabilities("CLARABEL")
    assert capabilities("CPLEX") >= QP | {"soc"}  # conic (SOC) and QP interfaces together
    assert capabilities("NOT_A_SOLVER") == frozenset()


def test_discovery_of_all_lists_cvxpys_solvers_and_riskopts_own_backends(monkeypatch):
    monkeypatch.setattr(cp, "installed_solvers", lambda: ["CLARABEL", "HIGHS"])
    names = [s.name for s in discover("all")]
    assert names[:2] == ["CLARABEL", "HIGHS"] and "highs:HIGHS" in names and "pyomo:HIGHS" in names
    direct = {s.name: s for s in discover("all")}["highs:HIGHS"]
    assert (direct.backend, direct.solver, direct.cones) == ("highs", "HIGHS", QP)
    assert discover("auto") == []


def test_a_list_keeps_names_that_cannot_run_with_their_reason(monkeypatch):
    monkeypatch.setattr(cp, "installed_solvers", lambda: ["CLARABEL"])
    found = {s.name: s for s in discover("clarabel, cvxpy:GUROBI, highs:highs, NOPE, CLARABEL")}
    assert list(found) == ["CLARABEL", "GUROBI", "highs:HIGHS", "NOPE"]  # case-insensitive, no duplicate
    assert found["CLARABEL"].installed and found["highs:HIGHS"].installed
    assert (found["GUROBI"].installed, found["GUROBI"].reason) == (False, NOT_INSTALLED)
    assert (found["NOPE"].installed, found["NOPE"].reason) == (False, UNKNOWN)


def test_licence_messages_are_read_from_the_solvers_own_words():
    size_limited = ["CPLEX Error  1016: Community Edition. Problem size limits exceeded.",
                    "?120 Error: Problem has too many rows and columns. The maximum is 5000",
                    "Model too large for size-limited license"]
    assert [licence_reason(m) for m in size_limited] == [SIZE_LICENCE] * 3
    assert licence_reason("rescode.err_missing_license_file(1008): License cannot be located.") == NO_LICENCE
    assert licence_reason("Solver 'CVXOPT' failed. Try another solver") == ""
    refusal = "No license found. LP size is limited to 10000 variables and 10000 constraints"
    log = ("[WARN] no license files in current working folder: /tmp\n"
           "No license found. Starting COPT with size limitations for non-commercial use\n"
           f"{refusal}\n")
    assert licence_line(log) == refusal  # the refusal, not the banner before it
    assert licence_line("Optimal solution found\n") == ""


# ------------------------------------------------------------------------------ fake solvers
class _FakeInterface:
    """What capabilities() reads from a cvxpy solver class."""

    def __init__(self, *constraints: type) -> None:
        self.SUPPORTED_CONSTRAINTS = list(constraints)

    def supports_quad_obj(self) -> bool:
        return False


FAKES = {
    "FAKE_CRASH": _FakeInterface(Zero, NonNeg, SOC, ExpCone),
    "FAKE_LICENCE": _FakeInterface(Zero, NonNeg, SOC, ExpCone),
    "FAKE_SEGV": _FakeInterface(Zero, NonNeg, SOC, ExpCone),
    "FAKE_HANG": _FakeInterface(Zero, NonNeg, SOC, ExpCone),
    "FAKE_NOEXP": _FakeInterface(Zero, NonNeg, SOC),
}


@pytest.fixture
def fake_solvers(monkeypatch):
    """cvxpy sees CLARABEL and five fake solvers: one raises inside its interface, one refuses the
    instance for its size-limited licence (in its own words), one crashes the interpreter, one never
    returns, one has no exponential cone."""
    from cvxpy.reductions.solvers import defines

    names = ["CLARABEL", *FAKES]
    monkeypatch.setattr(cp, "installed_solvers", lambda: list(names))
    monkeypatch.setattr(cvxpy_backend, "_installed", lambda: sorted(names))
    for name, interface in FAKES.items():
        monkeypatch.setitem(defines.SOLVER_MAP_CONIC, name, interface)
    original = cp.Problem.solve

    def solve(self: cp.Problem, *args: Any, solver: str | None = None, **kwargs: Any) -> Any:
        if solver == "FAKE_CRASH":
            raise RuntimeError("boom inside the solver's interface")
        if solver == "FAKE_LICENCE":
            raise cp.error.SolverError("Model too large for size-limited license")
        if solver == "FAKE_SEGV":
            os.kill(os.getpid(), signal.SIGSEGV)
        if solver == "FAKE_HANG":
            time.sleep(60)
        return original(self, *args, solver=solver, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", solve)
    monkeypatch.setattr(bench_solvers, "GRACE_S", 1.0)  # the hanging solver is ended after 1.2 * 0.5 + 1 s
    return names


@pytest.mark.skipif(not bench_solvers.can_fork(), reason="crash isolation needs fork")
def test_fake_solvers_give_result_skip_and_error_rows(fake_solvers):
    family = dataclasses.replace(REGISTRY["hurricane_pool"], quick_sizes=[3, 50])  # exponential cones
    solvers = discover("all")
    assert {s.name for s in solvers} >= set(fake_solvers)
    rows = run_matrix(family, [s for s in solvers if s.name in fake_solvers], quick=True, time_limit=0.5)
    by = {(r["size"], r["runner"]): r for r in rows}
    assert len(rows) == 2 * len(fake_solvers)  # a row for every (instance, solver)

    ok = by[3, "CLARABEL"]
    assert ok["status"] in (Status.OPTIMAL, Status.OPTIMAL_INACCURATE) and ok["duals"]
    assert ok["objective_error"] < 1e-6 and ok["time_s"] == ok["compile_s"] + ok["solve_s"]
    assert ok["solved"] is ok["status"].ok

    crash = by[3, "FAKE_CRASH"]
    assert crash["status"] is Status.SOLVER_ERROR and not crash["solved"]
    assert "boom inside the solver's interface" in crash["message"]

    licence = by[3, "FAKE_LICENCE"]
    assert licence["status"] is Status.SOLVER_ERROR and licence["reason"] == SIZE_LICENCE
    assert "size-limited license" in licence["message"]
    # refused at n = 3: the larger instance is not tried again
    assert by[50, "FAKE_LICENCE"]["status"] is None
    assert by[50, "FAKE_LICENCE"]["reason"] == f"{SIZE_LICENCE} (at size 3)"

    segv = by[3, "FAKE_SEGV"]
    assert segv["status"] is Status.SOLVER_ERROR and segv["reason"] == DIED and "SIGSEGV" in segv["message"]

    hang = by[3, "FAKE_HANG"]
    assert hang["status"] is Status.TIME_LIMIT and hang["reason"] == KILLED and not hang["solved"]
    assert by[50, "FAKE_HANG"]["reason"] == f"{OVER_LIMIT} (at size 3)"

    for size in (3, 50):
        noexp = by[size, "FAKE_NOEXP"]
        assert noexp["status"] is None and noexp["reason"] == f"{CONES}: EXP"


def test_a_point_without_duals_is_not_solved(monkeypatch):
    """cvxpy's CBC and GLPK_MI return a primal point and no duals: riskopt's status may say optimal,
    but there is no dual certificate, so the benchmark does not count it solved."""
    family = dataclasses.replace(REGISTRY["distortion_lp"], quick_sizes=[100])
    matrix = family.solvers
    assert matrix is not None

    def without_duals(inputs: dict[str, Any]) -> Any:
        prog = matrix.program(inputs)
        solve = prog.solve

        def solve_and_forget(*args: Any, **kwargs: Any) -> Any:
            sol = solve(*args, **kwargs)
            return dataclasses.replace(sol, duals={name: None for name in sol.duals})

        prog.solve = solve_and_forget
        return prog

    family = dataclasses.replace(family, solvers=dataclasses.replace(matrix, program=without_duals))
    monkeypatch.setattr(cp, "installed_solvers", lambda: ["CLARABEL"])
    [row] = [r for r in run_matrix(family, discover("CLARABEL"), quick=True) if r["runner"] == "CLARABEL"]
    assert row["status"].has_point and row["duals"] is False and not row["solved"]
    if row["status"].ok:  # riskopt's status alone would have said solved
        assert row["reason"] == NO_DUALS



def test_a_certified_point_off_the_reference_is_not_solved(monkeypatch):
    """A certificate passing in scaled units does not make an objective right: a solve whose value is
    1e-4 off the family's reference (a reference moved by 1e-4 relative, far above the 1e-6 allowed
    and far below anything the certificate sees) is a row with its status, not a solved instance."""
    family = dataclasses.replace(REGISTRY["distortion_lp"], quick_sizes=[100])
    matrix = family.solvers
    assert matrix is not None
    moved = dataclasses.replace(matrix, reference=lambda inputs: matrix.reference(inputs) * (1 + 1e-4))
    monkeypatch.setattr(cp, "installed_solvers", lambda: ["HIGHS"])
    [row] = [r for r in run_matrix(dataclasses.replace(family, solvers=moved), discover("HIGHS"), quick=True)
             if r["runner"] == "HIGHS"]
    assert row["status"].ok and row["duals"]  # the solver's point is certified ...
    assert row["objective_error"] == pytest.approx(1e-4, rel=1e-3)  # ... and 1e-4 off the moved reference
    assert not row["solved"] and row["reason"].startswith(OFF_REFERENCE)

# ------------------------------------------------------------------------------ a real run
@pytest.mark.skipif(not bench_solvers.can_fork(), reason="crash isolation needs fork")
def test_a_quick_run_on_all_solvers_gives_every_solver_a_row(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(REGISTRY["distortion_lp"], "quick_sizes", [100])
    code = main(["--quick", "--solvers", "all", "--family", "distortion_lp", "--time-limit", "5",
                 "--out", str(tmp_path)])
    out, err = capfd.readouterr()
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "distortion_lp_solvers_quick.csv").open()))
    names = [s.name for s in discover("all")]
    assert sorted(r["runner"] for r in rows) == sorted(names)  # one row per solver on the one instance
    for r in rows:  # a result (a status) or a reason, never neither
        assert r["status"] in STATUSES or r["reason"], r
    assert {r["runner"] for r in rows if r["solved"] == "True"} >= {"CLARABEL", "highs:HIGHS"}
    assert (tmp_path / "solvers_quick.md").is_file() and (tmp_path / "solvers_quick.csv").is_file()
    lines = (tmp_path / "solvers_quick.jsonl").read_text().splitlines()  # every row, for re-analysis
    assert sorted(json.loads(line)["runner"] for line in lines) == sorted(names)
    report = (tmp_path / "solvers_quick.md").read_text()
    assert "Environment: Python" in report and "Licence size limits hit" in report
    if "matplotlib" in err or (tmp_path / "solvers_quick_profiles.png").exists():
        assert (tmp_path / "solvers_quick_profiles.png").read_bytes()[:4] == b"\x89PNG"
    assert "== solvers: shifted geometric mean" in out and "CLARABEL" in out
    assert "distortion_lp x solvers" in out


def test_bench_refuses_an_empty_solver_list_and_a_bad_time_limit(capfd):
    with pytest.raises(SystemExit):
        main(["--solvers", " ", "--out", "/nonexistent-riskopt-bench"])
    with pytest.raises(SystemExit):
        main(["--solvers", "all", "--time-limit", "0"])
    err = capfd.readouterr().err
    assert "--solvers" in err and "--time-limit" in err


# ------------------------------------------------------------------------------ house rules
def test_no_status_literal_in_the_benchmarks():
    """Statuses are riskopt's Status members, never their spellings (as tests/test_trustworthy.py asks
    of the package)."""
    values = {s.value for s in Status}
    found = []
    for path in sorted(BENCHMARKS.rglob("*.py")):
        name = path.relative_to(BENCHMARKS).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # a solver's option names (Clarabel's "time_limit") are the arguments of _seconds / _nested
        options = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                   and getattr(node.func, "id", "") in ("_seconds", "_nested") for arg in node.args}
        found += [f"{name}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in values and id(node) not in options]
    assert not found, found
