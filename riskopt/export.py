"""Writing a card's declarative program in standard formats, so that its instances leave riskopt.

:func:`card_problem` builds the cvxpy Problem a card's ``method="program"`` route would solve
(without solving it), :func:`standard_data` canonicalises it to cvxpy's conic standard form
(``problem.get_problem_data(CLARABEL)``)

    minimise  (1/2) x'Px + c'x + offset   subject to   b - A x = s,  s in K,

and the writers put that data in a file:

* **MPS** and **LP** (linear programs, and convex QPs: MPS ``QUADOBJ``, LP ``[ ... ]/2``) through
  HiGHS's own writer (``highspy.Highs.writeModel``; formats: https://ergo-code.github.io/HiGHS/ and
  the free-MPS description in the CPLEX/IBM manual). Single-entry inequality rows become column
  bounds, as riskopt's ``highs`` backend passes them.
* **CBF** (Conic Benchmark Format, version 3, https://cblib.zib.de/format.html and the MOSEK manual
  "The CBF Format"): ``OBJSENSE``, ``VAR`` (one free block), ``CON`` with the cones ``L=`` (equalities),
  ``L+`` (inequalities), ``Q`` (second-order) and ``EXP``, ``OBJACOORD``/``OBJBCOORD``,
  ``ACOORD``/``BCOORD``. A CBF row is ``g = A_cbf x + b_cbf`` in its cone, so ``A_cbf = -A`` and
  ``b_cbf = b``. CBF's exponential cone is ``{(u0, u1, u2): u0 >= u1 exp(u2 / u1), u1 > 0}`` (the bound
  first); cvxpy's (and SCS's, Clarabel's) is ``{(x, y, z): z >= y exp(x / y), y > 0}`` (the bound
  last): each triple is written reversed.

Every file keeps the program's own sense and constant: its optimal objective is the cvxpy Problem's
value (``problem.value`` after a solve). The reported objective of some mechanisms is that value
times the program's ``objective_unit`` (programs that solve in scaled units).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cvxpy as cp
import numpy as np
import scipy.sparse as sps

from .errors import ModelError

__all__ = ["FORMATS", "Exported", "StandardData", "card_problem", "export_card", "formats_for",
           "standard_data", "write_cbf", "write_highs"]

Format = Literal["mps", "lp", "cbf"]
#: the formats ``riskopt export --format`` takes
FORMATS: tuple[str, ...] = ("mps", "lp", "cbf")
#: the formats each kind of program can be written in
_KIND_FORMATS: dict[str, tuple[str, ...]] = {"lp": ("mps", "lp", "cbf"), "qp": ("mps", "lp"),
                                              "conic": ("cbf",)}
_KIND_WORDS = {"lp": "a linear program", "qp": "a quadratic program (CBF has no quadratic objective)",
               "conic": "a conic program (exponential cones)"}


@dataclass(frozen=True)
class StandardData:
    """cvxpy's conic standard form of a Problem (see the module docstring), in the Problem's own
    sense: its objective is ``sign * ((1/2) x'Px + c'x + offset)`` with ``sign = -1`` when the
    Problem maximises (cvxpy minimises the negated objective)."""

    c: np.ndarray
    offset: float
    A: sps.csc_matrix
    b: np.ndarray
    P: sps.csc_matrix | None
    zero: int
    nonneg: int
    soc: tuple[int, ...]
    exp: int
    other: tuple[str, ...]  # cones no writer takes (power, semidefinite)
    maximise: bool

    @property
    def kind(self) -> str:
        """``"lp"``, ``"qp"`` or ``"conic"`` (second-order and exponential cones); ``"other"`` for
        power or semidefinite cones, or a quadratic objective with cones."""
        if self.other or (self.P is not None and (self.soc or self.exp)):
            return "other"
        if self.soc or self.exp:
            return "conic"
        return "qp" if self.P is not None else "lp"

    @property
    def n_vars(self) -> int:
        return int(self.c.size)

    @property
    def n_rows(self) -> int:
        return int(self.b.size)


@dataclass(frozen=True)
class Exported:
    """What :func:`export_card` wrote: the file, its format, the kind of program and its size (cvxpy's
    standard form: variables and conic rows, before single-entry rows become bounds in MPS/LP)."""

    path: Path
    format: str
    kind: str
    variables: int
    rows: int


class _CapturedError(BaseException):
    """Raised by the capturing backend: carries the Problem a route asked to solve (a
    ``BaseException``, so that no route's ``except Exception`` turns it into a failed solve)."""

    def __init__(self, problem: cp.Problem):
        super().__init__("captured")
        self.problem = problem


def _capturing() -> contextlib.AbstractContextManager[None]:
    """Every :func:`riskopt.backends.run` in the block stops at the backend with :class:`_CapturedError`
    (nothing is solved)."""
    from .backends import base

    class _Capture(base.Backend):
        name = "capture"
        cones = frozenset()
        default_solver = "CAPTURE"

        def available(self) -> bool:
            return True

        def solvers(self) -> list[str]:
            return ["CAPTURE"]

        def check_solver(self, solver: str | None) -> str:
            return "CAPTURE"

        def solve(self, problem: cp.Problem, solver: str, options: dict[str, Any], *,
                  dpp: bool = False) -> Any:
            raise _CapturedError(problem)

    return base.substituted(_Capture())


def card_problem(card: Any) -> cp.Problem:
    """The cvxpy Problem of ``card``'s declarative program, built and not solved: the first program
    the mechanism's ``method="program"`` route hands to a backend (for a reinsurance market the
    Pareto layer LP, for price-and-choose the welfare program over C, for an equilibrium the
    Negishi/monetary welfare program). The card's estimated memory must fit the budget."""
    from .budget import require
    from .cards import card_footprint
    from .mechanisms import mechanisms

    mech = mechanisms().get(card.mechanism)
    if mech is None or "program" not in mech.methods:
        raise ModelError("card", card.name, "a card whose mechanism has a declarative program")
    require(card_footprint(card), what=f"the card '{card.name}'")
    try:
        with _capturing():
            mech.solve(card.spec, method="program", backend="cvxpy", solver=None)
    except _CapturedError as captured:
        return captured.problem
    raise ModelError("card", card.name, "a card whose program route builds a cvxpy program",
                     detail="the route finished without one")


def standard_data(problem: cp.Problem) -> StandardData:
    """cvxpy's conic standard form of ``problem`` (parameters at their values)."""
    from cvxpy.settings import OFFSET

    from .backends.base import canon_backend

    data, _, inverse = problem.get_problem_data(cp.CLARABEL, ignore_dpp=True,
                                                canon_backend=canon_backend(problem))
    dims = data["dims"]
    P = data.get("P")
    if P is not None and P.nnz > 0:
        P = sps.csc_matrix(P)
        if sps.tril(P, k=-1).nnz == 0:  # upper triangle stored: symmetrise
            P = sps.csc_matrix(P + sps.triu(P, k=1).T)
    else:
        P = None
    other = []
    if dims.psd:
        other.append("semidefinite")
    if dims.p3d or getattr(dims, "pnd", None):
        other.append("power (CRRA)")
    offset = 0.0
    for item in inverse:  # the solver's own inverse data (wrapped in cvxpy >= 1.6) holds the constant
        found = getattr(item, "inverse_data", item)
        if isinstance(found, dict) and OFFSET in found:
            offset = float(np.asarray(found[OFFSET]).item())
    return StandardData(c=np.asarray(data["c"], float), offset=offset, A=sps.csc_matrix(data["A"]),
                        b=np.asarray(data["b"], float), P=P, zero=int(dims.zero), nonneg=int(dims.nonneg),
                        soc=tuple(int(d) for d in dims.soc), exp=int(dims.exp), other=tuple(other),
                        maximise=isinstance(problem.objective, cp.Maximize))


def formats_for(kind: str) -> tuple[str, ...]:
    """The formats a program of ``kind`` (:attr:`StandardData.kind`) can be written in."""
    return _KIND_FORMATS.get(kind, ())


def write_highs(data: StandardData, path: str | Path) -> Path:
    """Write a linear program or convex QP as MPS or LP (by ``path``'s suffix) with HiGHS's writer,
    atomically. Objective sense and constant are kept."""
    import highspy

    from .backends.highs_backend import pass_lp, single_entry_rows
    from .backends.quiet import new_highs, quiet_stdout
    from .data import atomic_path

    if data.kind not in ("lp", "qp"):
        raise ModelError("format", Path(path).suffix, "cbf for a conic program")
    n = data.n_vars
    form = _Form(data.A, data.b, data.zero, np.full(n, -np.inf), np.full(n, np.inf))
    bounds = single_entry_rows(form)
    sign = -1.0 if data.maximise else 1.0
    is_eq = np.arange(bounds.b.size) < data.zero
    h = new_highs()
    h.setOptionValue("output_flag", False)
    pass_lp(h, sign * data.c, bounds.A, np.where(is_eq, bounds.b, -np.inf), bounds.b, bounds.lower,
            bounds.upper)
    if data.maximise:
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.changeObjectiveOffset(sign * data.offset)
    if data.P is not None:
        low = sps.csc_matrix(sps.tril(sign * data.P))
        h.passHessian(n, low.nnz, highspy.HessianFormat.kTriangular, low.indptr, low.indices, low.data)
    target = Path(path)
    with atomic_path(target) as tmp, quiet_stdout():
        status = h.writeModel(str(tmp))
        if status == highspy.HighsStatus.kError:
            raise OSError(f"HiGHS could not write {target}")
    return target


@dataclass
class _Form:
    """The fields :func:`riskopt.backends.highs_backend.single_entry_rows` reads."""

    A: sps.csc_matrix
    b: np.ndarray
    n_eq: int
    lower: np.ndarray
    upper: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.b.size)


def cbf_text(data: StandardData) -> str:
    """The CBF (version 3) text of a linear or conic program (see the module docstring)."""
    if data.kind not in ("lp", "conic"):
        raise ModelError("format", "cbf", f"mps or lp for {_KIND_WORDS['qp']}")
    sign = -1.0 if data.maximise else 1.0
    m = data.n_rows
    order = np.arange(m)
    start = data.zero + data.nonneg + sum(data.soc)
    for k in range(data.exp):  # cvxpy (x, y, z) -> CBF (z, y, x)
        i = start + 3 * k
        order[i:i + 3] = (i + 2, i + 1, i)
    A = sps.coo_matrix(-data.A.tocsr()[order])
    b = data.b[order]
    cones: list[tuple[str, int]] = []
    if data.zero:
        cones.append(("L=", data.zero))
    if data.nonneg:
        cones.append(("L+", data.nonneg))
    cones += [("Q", d) for d in data.soc]
    cones += [("EXP", 3)] * data.exp
    c = sign * data.c
    lines = ["# riskopt export: cvxpy's conic standard form (riskopt.export)", "VER", "3", "",
             "OBJSENSE", "MAX" if data.maximise else "MIN", "", "VAR", f"{data.n_vars} 1",
             f"F {data.n_vars}", "", "CON", f"{m} {len(cones)}", *(f"{k} {d}" for k, d in cones), ""]
    nz = np.flatnonzero(c)
    lines += ["OBJACOORD", str(nz.size), *(f"{j} {_num(c[j])}" for j in nz), ""]
    if data.offset:
        lines += ["OBJBCOORD", _num(sign * data.offset), ""]
    keep = A.data != 0
    lines += ["ACOORD", str(int(keep.sum())),
              *(f"{i} {j} {_num(v)}" for i, j, v in zip(A.row[keep], A.col[keep], A.data[keep], strict=True)),
              ""]
    nzb = np.flatnonzero(b)
    lines += ["BCOORD", str(nzb.size), *(f"{i} {_num(b[i])}" for i in nzb), ""]
    return "\n".join(lines)


def _num(value: float) -> str:
    """The shortest text that reads back to the same double."""
    return repr(float(value))


def write_cbf(data: StandardData, path: str | Path) -> Path:
    """Write a linear or conic program as CBF, atomically."""
    from .data import write_atomic

    return write_atomic(path, cbf_text(data))


def export_card(card: Any, fmt: str, out_dir: str | Path = ".") -> Exported:
    """Write ``card``'s program as ``<out_dir>/<card stem>.<fmt>`` (``fmt``: one of
    :data:`FORMATS`); a format that does not fit the program (an LP format for a conic program, CBF
    for a QP) is a :class:`~riskopt.errors.ModelError` on ``--format``."""
    if fmt not in FORMATS:
        raise ModelError("--format", fmt, f"one of {list(FORMATS)}")
    folder = Path(out_dir)
    if not folder.is_dir():
        raise ModelError("--out", str(out_dir), "an existing directory")
    stem = Path(card.source).stem if card.source else card.name
    data = standard_data(card_problem(card))
    kind = data.kind
    allowed = formats_for(kind)
    if not allowed:
        has = ", ".join(data.other) or "a quadratic objective with"
        raise ModelError("card", stem, "a card whose program is linear, quadratic or conic with "
                         "second-order and exponential cones",
                         detail=f"its program has {has} cones, which riskopt does not export")
    if fmt not in allowed:
        raise ModelError("--format", fmt, f"{' or '.join(allowed)} for {_KIND_WORDS[kind]}")
    path = folder / f"{stem}.{fmt}"
    if fmt == "cbf":
        write_cbf(data, path)
    else:
        write_highs(data, path)
    return Exported(path, fmt, kind, data.n_vars, data.n_rows)
