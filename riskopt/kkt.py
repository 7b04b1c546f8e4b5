"""The KKT system of a solved sharing program, in its own variables and units.

For a :class:`~riskopt.program.SharingProgram` whose constraints are all affine and whose agents
are either linear on the atoms (comonotone-additive measures on comonotone allocations) or smooth
(a measure with a gradient and a structured :class:`~riskopt.measures.base.Curvature`), the
optimality conditions in the stacked variables ``z`` are

    grad Phi(z) = M' y,     g(z) = M z + m  (= 0 on equalities, <= 0 with y >= 0 and y g = 0 on
                                             inequalities),

with ``Phi`` the welfare (minus the total risk for a minimisation), ``M, m`` the affine maps of the
constraint rows from cvxpy's gradients and ``y`` their multipliers in the convention of
:mod:`riskopt.duals`. Gradients come from the measures themselves (log-domain, exact), not from
cvxpy's canonical forms. :class:`KKTSystem` evaluates the residuals two ways:

* **normwise** (:meth:`KKTSystem.certificate`), each residual over the magnitude of the terms it
  compares: what decides a status;
* **entry by entry** (:meth:`KKTSystem.local`): ``|r_j|`` per variable relative to the smaller of
  the terms it balances (``|grad_j Phi|`` against ``(|M'| |y|)_j``), rows over their group's data
  scale. A rare atom's gradient and price are ~``P(atom)``, so this is the residual that says
  whether its price is right to 1e-6 *relatively*; the Newton polish (:mod:`riskopt.polish`) drives
  it down and :meth:`KKTSystem.price_accuracy` reports it per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps
from cvxpy.constraints import Equality, Inequality, Zero

from .certificate import TINY, ZERO_DATA, Certificate, relative
from .errors import ModelError
from .measures.base import Curvature
from .protocols import SharingModel
from .status import DEFAULT_TOLERANCES, Tolerances

__all__ = ["KKTSystem", "Local", "Residuals"]

#: an inequality row within this fraction of its group's data scale of binding is active (for the
#: multiplier intervals; the solvers' feasibility tolerances are 1e-8 to 1e-9)
ACTIVE_RTOL = 1e-9
#: a multiplier interval's end beyond this many times its component's dual scale is infinite
MULTIPLIER_BOX = 1e6


def vec(x: Any) -> np.ndarray:
    """Column-major flattening (cvxpy's vectorisation)."""
    return np.ravel(np.asarray(x, float), order="F")


def affine_map(expr: cp.Expression, offsets: dict[int, int], nz: int,
               z: np.ndarray) -> tuple[sps.csr_matrix, np.ndarray]:
    """``vec(expr) = M z + m`` for an affine expression, from cvxpy's gradients."""
    blocks = []
    for var, g in expr.grad.items():
        G = sps.csr_matrix(g).T.tocoo()  # expr.size x var.size
        blocks.append(sps.csr_matrix((G.data, (G.row, G.col + offsets[var.id])), shape=(expr.size, nz)))
    M = sum(blocks[1:], blocks[0]) if blocks else sps.csr_matrix((expr.size, nz))
    return sps.csr_matrix(M), vec(expr.value) - M @ z


@dataclass
class Residuals:
    """Every KKT term at a point ``(z, y)`` (see the module docstring)."""

    gradient: np.ndarray     # grad Phi
    stationarity: np.ndarray  # grad Phi - M'y
    stat_scale: np.ndarray   # |grad Phi| + |M'| |y|
    rows: np.ndarray         # g = M z + m
    row_scale: np.ndarray    # |M| mag(z) + |m|, mag: each variable's largest |value|
    violation: np.ndarray    # |g| on equalities, g+ on inequalities
    slack_gap: np.ndarray    # |y| g- on inequalities
    negative_dual: np.ndarray  # y- on inequalities


@dataclass
class Local:
    """Entry-by-entry relative residuals: per variable and per row."""

    stationarity: np.ndarray
    primal: np.ndarray

    def worst(self) -> float:
        return float(max(np.max(self.stationarity, initial=0.0), np.max(self.primal, initial=0.0)))


class KKTSystem:
    """The affine rows, objective gradient and curvature of a solved :class:`SharingProgram`.

    Build with :meth:`of`, which returns a reason (``str``) instead when the program is not a smooth
    program with affine rows (a nonsmooth measure, a credal epigraph, a conic user constraint).
    """

    def __init__(self, program: SharingModel, variables: list[cp.Variable], offsets: dict[int, int],
                 nz: int, M: sps.csr_matrix, m: np.ndarray, eq: np.ndarray, group: np.ndarray,
                 slots: list[tuple[cp.Constraint, int, int]], T: sps.csr_matrix, t0: np.ndarray,
                 TF: sps.csr_matrix | None, f0: np.ndarray | None):
        self.program = program
        self.variables = variables
        self.offsets = offsets
        self.nz = nz
        self.M = M
        self.M_abs = abs(M).tocsr()
        self.m = m
        self.eq = eq
        self.group = group
        self.group_names = list(program.groups)
        self.slots = slots
        self.T, self.t0 = T, t0
        self.TF, self.f0 = TF, f0
        n, S = program.block.xi.shape
        self.n, self.S = n, S
        self.sign = 1.0 if program.sense == "max" else -1.0
        # in the units the program is solved in (the cvxpy duals'): weights / objective_unit
        unit = float(getattr(program, "objective_unit", 1.0))
        self.weights = np.asarray(program.weights.value, float) / unit
        self.linear = program.linear_rows
        self.smooth = [i for i in range(n) if i not in self.linear]
        # flip: the measure's native orientation differs from the program's (U(xi) = -rho(-xi))
        utility = program.orientation == "utility"
        self.flip = [(program.agents[i].measure.orientation == "utility") != utility for i in range(n)]

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(cls, program: SharingModel) -> KKTSystem | str:
        """The KKT system of ``program`` at its current cvxpy values, or why there is none."""
        n = len(program.agents)
        for i, a in enumerate(program.agents):
            if i not in program.linear_rows and not a.measure.differentiable:
                return f"agent '{a.name}' has a measure without gradient ({a.measure.name})"
        variables = list(program.problem.variables())
        offsets, nz = {}, 0
        for v in variables:
            offsets[v.id] = nz
            nz += v.size
        if any(v.value is None for v in variables):
            return "no primal values"
        z = np.concatenate([vec(v.value) for v in variables])
        Ms, ms, eqs, groups = [], [], [], []
        slots: list[tuple[cp.Constraint, int, int]] = []
        start = 0
        for g_index, grp in enumerate(program.groups.values()):
            for c in grp.constraints:
                if not isinstance(c, (Equality, Zero, Inequality)) or not c.expr.is_affine():
                    return f"constraint group '{grp.name}' is not affine"
                if c.dual_value is None:
                    return f"no dual for constraint group '{grp.name}'"
                M, m = affine_map(c.expr, offsets, nz, z)
                Ms.append(M)
                ms.append(m)
                eqs.append(np.full(m.size, isinstance(c, (Equality, Zero))))
                groups.append(np.full(m.size, g_index))
                slots.append((c, start, start + m.size))
                start += m.size
        if not Ms:
            return "no constraint rows"
        T, t0 = affine_map(program.block.xi, offsets, nz, z)
        TF = f0 = None
        if program.linear_rows and program.block.F is not None:
            TF, f0 = affine_map(program.block.F, offsets, nz, z)
        del n
        return cls(program, variables, offsets, nz, sps.vstack(Ms).tocsr(), np.concatenate(ms),
                   np.concatenate(eqs), np.concatenate(groups), slots, T, t0, TF, f0)

    # ------------------------------------------------------------------ point
    def point(self) -> tuple[np.ndarray, np.ndarray]:
        """The current cvxpy primal values and duals."""
        z = np.concatenate([vec(v.value) for v in self.variables])
        y = np.concatenate([vec(c.dual_value) for c, _, _ in self.slots])
        return z, y

    def write(self, z: np.ndarray, y: np.ndarray) -> None:
        """Put ``(z, y)`` back into the cvxpy variables and constraints."""
        for v in self.variables:
            a = self.offsets[v.id]
            v.value = z[a:a + v.size].reshape(v.shape, order="F")
        for c, a, b in self.slots:
            c.save_dual_value(y[a:b].reshape(c.shape, order="F") if c.shape else y[a])

    def magnitude(self, z: np.ndarray) -> np.ndarray:
        """Per entry: the largest ``|value|`` of its variable (a row ``xi(s) = 0`` is judged at the
        allocation's scale, not at the zero it compares)."""
        out = np.empty_like(z)
        for v in self.variables:
            a = self.offsets[v.id]
            out[a:a + v.size] = float(np.max(np.abs(z[a:a + v.size]), initial=0.0))
        return out

    def _xi(self, z: np.ndarray) -> np.ndarray:
        xi: np.ndarray = (self.T @ z + self.t0).reshape((self.n, self.S), order="F")
        return xi

    # ------------------------------------------------------------------ derivatives
    def _factor(self, i: int) -> float:
        """``d Phi / d value_i`` (sign of the sense times the weight)."""
        return float(self.sign * self.weights[i])

    def gradient(self, z: np.ndarray) -> np.ndarray:
        """``grad Phi(z)``: measures' own gradients on the states, monotone weights on the atoms."""
        space = self.program.space
        g = np.zeros(self.nz)
        if self.smooth:
            xi = self._xi(z)
            grad_xi = np.zeros((self.n, self.S))
            for i in self.smooth:
                m = self.program.agents[i].measure
                arg = -xi[i] if self.flip[i] else xi[i]
                grad_xi[i] = self._factor(i) * m.gradient(arg, space)
            g += self.T.T @ vec(grad_xi)
        if self.linear and self.TF is not None:
            K = self.TF.shape[0] // self.n
            grad_F = np.zeros((self.n, K))
            for i, row in self.linear.items():
                grad_F[i] = self._factor(i) * row
            g += self.TF.T @ vec(grad_F)
        return g

    def curvature(self, z: np.ndarray) -> tuple[sps.csr_matrix, sps.csr_matrix, np.ndarray]:
        """``Hess Phi(z) = D + U diag(c) U'`` in ``z`` (``D`` sparse, ``U`` sparse ``nz x r``)."""
        space = self.program.space
        xi = self._xi(z)
        idx = np.arange(self.S) * self.n
        d_xi = np.zeros(self.n * self.S)
        u_rows, u_cols, u_vals, weights = [], [], [], []
        col = 0
        for i in self.smooth:
            m = self.program.agents[i].measure
            arg = -xi[i] if self.flip[i] else xi[i]
            a = self._factor(i) * (-1.0 if self.flip[i] else 1.0)
            curv: Curvature = m.curvature(arg, space).scaled(a)
            d_xi[i + idx] = curv.diagonal
            if curv.factors is not None and curv.weights is not None:
                for k in range(curv.rank):
                    nzr = np.flatnonzero(curv.factors[:, k])
                    u_rows.append(i + idx[nzr])
                    u_cols.append(np.full(nzr.size, col))
                    u_vals.append(curv.factors[nzr, k])
                    weights.append(curv.weights[k])
                    col += 1
        T = self.T
        D = (T.T @ sps.diags(d_xi) @ T).tocsr()
        if col:
            U_xi = sps.csr_matrix((np.concatenate(u_vals), (np.concatenate(u_rows), np.concatenate(u_cols))),
                                  shape=(self.n * self.S, col))
            U = (T.T @ U_xi).tocsr()
        else:
            U = sps.csr_matrix((self.nz, 0))
        return D, U, np.asarray(weights, float)

    def value(self, z: np.ndarray) -> float:
        """``Phi(z)``: the welfare (minus the total risk) from the measures' exact values."""
        xi = self._xi(z)
        return float(self.sign * sum(self.weights[i] * self.program.evaluate(a, xi[i])
                                     for i, a in enumerate(self.program.agents)))

    # ------------------------------------------------------------------ residuals
    def residuals(self, z: np.ndarray, y: np.ndarray) -> Residuals:
        g = self.gradient(z)
        rows = self.M @ z + self.m
        stat = g - self.M.T @ y
        stat_scale = np.abs(g) + self.M_abs.T @ np.abs(y)
        row_scale = self.M_abs @ self.magnitude(z) + np.abs(self.m)
        ineq = ~self.eq
        violation = np.where(self.eq, np.abs(rows), np.maximum(rows, 0.0))
        slack_gap = np.where(ineq, np.abs(y) * np.maximum(-rows, 0.0), 0.0)
        negative = np.where(ineq, np.maximum(-y, 0.0), 0.0)
        return Residuals(g, stat, stat_scale, rows, row_scale, violation, slack_gap, negative)

    def certificate(self, z: np.ndarray, y: np.ndarray,
                    tolerances: Tolerances = DEFAULT_TOLERANCES) -> Certificate:
        """Normwise scaled residuals (the rows of each constraint group share one data scale)."""
        r = self.residuals(z, y)
        primal = float(np.max(r.violation / self.data_scale(r), initial=0.0))
        dual = relative(float(np.max(r.negative_dual, initial=0.0)), float(np.max(np.abs(y), initial=0.0)))
        try:
            size = abs(self.value(z))
        except ModelError:  # a point outside a utility's domain: the rows' size alone
            size = 0.0
        comp = relative(float(np.sum(r.slack_gap)), float(np.abs(y) @ r.row_scale) + size)
        stat = relative(float(np.max(np.abs(r.stationarity), initial=0.0)),
                        float(np.max(r.stat_scale, initial=0.0)))
        return Certificate(primal, dual, comp, stat, None,
                           "stationarity from the measures' exact gradients", tolerances)

    def data_scale(self, r: Residuals) -> np.ndarray:
        """Per row: the largest ``|M| |z| + |m|`` over its constraint group (rows of one group share
        their units: a monotonicity row between two zeros is judged at the allocations' scale)."""
        group_scale = np.zeros(len(self.group_names))
        np.maximum.at(group_scale, self.group, r.row_scale)
        data = np.zeros(len(self.group_names))
        np.maximum.at(data, self.group, np.abs(self.m))
        floor = np.where(data == 0, ZERO_DATA, TINY)  # a group whose data are all zero: absolute
        scale: np.ndarray = np.maximum(group_scale, floor)[self.group]
        return scale

    def local(self, r: Residuals) -> Local:
        """Entry-by-entry relative residuals: stationarity per variable relative to the smaller of
        the terms it balances; rows over their group's data scale (allocations are O(data) at every
        atom, while gradients and prices of an atom scale with its probability)."""
        # |a - b| / min(|a|, |b|) for two terms a, b of one sign: a factor-of-10 error reads 9, not 0.8
        rd = np.abs(r.stationarity)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = np.where(rd == 0, 0.0, rd / np.maximum(0.5 * (r.stat_scale - rd), TINY))
        return Local(stat, r.violation / self.data_scale(r))

    def group_rows(self, name: str) -> np.ndarray:
        """Row indices (into ``M``) of a named constraint group."""
        return np.flatnonzero(self.group == self.group_names.index(name))

    def active(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per row: an equality, or an inequality within ``ACTIVE_RTOL`` of its group's data scale
        of binding (counting a barely slack row as active can only widen a multiplier interval)."""
        r = self.residuals(z, y)
        out: np.ndarray = self.eq | (r.rows >= -ACTIVE_RTOL * self.data_scale(r))
        return out

    def multiplier_intervals(self, name: str, z: np.ndarray,
                             y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row of group ``name``: ``[lower, upper]`` of its multiplier over every ``y'`` that
        satisfies the KKT conditions at ``z`` (stationarity ``M_A' y' = grad Phi`` on the active
        rows ``A``, ``y' >= 0`` on active inequalities, ``0`` on slack ones), and whether the row is
        *coupled* (other active rows touch every one of its variables).

        An uncoupled row's multiplier is fixed by the stationarity of a variable only it touches
        (``grad_j Phi = M_rj y_r``): the interval is the point ``y``. A coupled row may be free:
        where active restriction or bound rows span it (LICQ fails: ``xi_i(s) = 0`` rows of a sign
        restriction at ``X(s) = 0``, losses ``>= 0`` at ``X(s) = 0`` under limited liability) it
        moves along an interval, possibly unbounded. The
        multiplier set at an optimal ``z`` is the whole optimal dual set (complementary slackness
        holds between any optimal primal and any optimal dual), so it is computed by two LPs over
        the multipliers per batch of coupled rows (one target row per connected component of the
        active rows and their variables, each component in units of its own dual scale; endpoints
        beyond :data:`MULTIPLIER_BOX` times that scale are infinite). Endpoints that HiGHS cannot
        settle are NaN."""
        from scipy.optimize import linprog
        from scipy.sparse.csgraph import connected_components

        rows = self.group_rows(name)
        lower = y[rows].astype(float).copy()
        upper = lower.copy()
        act = self.active(z, y)
        Ma = self.M.multiply(act[:, None]).tocsr()  # inactive rows zeroed: their multipliers are 0
        Ma.eliminate_zeros()  # multiply keeps the zeroed entries stored: they would count as touching
        Mc = Ma.tocsc()
        yc = np.where(act, y, 0.0)
        yc = np.where(~self.eq, np.maximum(yc, 0.0), yc)
        # coupled: a target row every variable of which another active row touches too. A variable
        # only the target row touches fixes its multiplier by its own stationarity equation
        # (grad_j Phi = M_rj y_r), so such a row is unique without an LP
        lone = (np.diff(Mc.indptr) <= 1).astype(float)  # per variable: no other active row touches it
        pattern = Ma[rows]
        pattern.data = np.ones_like(pattern.data)
        coupled = (np.diff(pattern.indptr) > 0) & (pattern @ lone == 0)
        if not coupled.any():
            return lower, upper, coupled
        # connected components of the bipartite graph (active rows, variables); a component's rows
        # and variables in increasing order
        n_rows = self.M.shape[0]
        graph = sps.bmat([[None, Ma], [Ma.T, None]], format="csr")
        _, labels = connected_components(graph, directed=False)
        row_label, var_label = labels[:n_rows], labels[n_rows:]
        row_order = np.argsort(row_label, kind="stable")
        var_order = np.argsort(var_label, kind="stable")
        row_sorted, var_sorted = row_label[row_order], var_label[var_order]

        def members(c: int) -> tuple[np.ndarray, np.ndarray]:
            r0, r1 = np.searchsorted(row_sorted, [c, c + 1])
            v0, v1 = np.searchsorted(var_sorted, [c, c + 1])
            return row_order[r0:r1], var_order[v0:v1]

        # batches: at most one target row per component in each (the LPs separate by component)
        targets: dict[int, list[int]] = {}
        for t in np.flatnonzero(coupled):
            targets.setdefault(int(row_label[rows[t]]), []).append(int(t))
        comps = {c: members(c) for c in targets}
        depth = max(len(t) for t in targets.values())
        for level in range(depth):
            batch = [(c, t[level]) for c, t in targets.items() if level < len(t)]
            blocks, rhs, bounds, cost_pos, scales = [], [], [], [], []
            offset = 0
            for c, k in batch:
                R, V = comps[c]
                A = Ma[R][:, V].T.tocsr()  # |V| x |R|: stationarity of the component's variables
                scale = max(float(np.max(np.abs(yc[R]), initial=0.0)), TINY)
                blocks.append(A)
                rhs.append(A @ (yc[R] / scale))
                bounds += [(None if self.eq[q] else 0.0, None) for q in R]
                cost_pos.append(offset + int(np.searchsorted(R, rows[k])))
                scales.append(scale)
                offset += R.size
            A_eq = sps.block_diag(blocks, format="csr")
            b_eq = np.concatenate(rhs)
            box = [(MULTIPLIER_BOX * -1.0 if lo is None else lo, MULTIPLIER_BOX) for lo, _ in bounds]
            c_vec = np.zeros(offset)
            c_vec[cost_pos] = 1.0
            ends = []
            for sense in (1.0, -1.0):
                res = linprog(sense * c_vec, A_eq=A_eq, b_eq=b_eq, bounds=box, method="highs")
                ends.append(np.asarray(res.x, float)[cost_pos] if res.status == 0
                            else np.full(len(batch), np.nan))
            for j, (_, k) in enumerate(batch):
                lo, hi = ends[0][j], ends[1][j]
                lower[k] = -np.inf if lo <= -MULTIPLIER_BOX / 2 else lo * scales[j]
                upper[k] = np.inf if hi >= MULTIPLIER_BOX / 2 else hi * scales[j]
        return lower, upper, coupled

    def price_accuracy(self, name: str, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per row of group ``name``: the worst relative residual among the row itself and the
        stationarity of every variable the row touches (an estimate of the relative error of that
        row's price; a row whose price is ~``P(atom)`` is judged at that scale).

        Multipliers of inequality rows with slack are set to zero first: an interior-point solver
        leaves ~1e-10 on them, which at an atom of probability 1e-13 would otherwise "balance" a
        wrong gradient and hide a price that is off by a factor."""
        r = self.residuals(z, y)
        slack = ~self.eq & (r.rows < -1e-9 * self.data_scale(r))
        loc = self.local(self.residuals(z, np.where(slack, 0.0, y)))
        rows = self.group_rows(name)
        touched = self.M_abs[rows].tocsr()
        touched.data = loc.stationarity[touched.indices]
        worst = np.asarray(touched.max(axis=1).todense(), float).ravel() if rows.size else np.zeros(0)
        accuracy: np.ndarray = np.maximum(worst, loc.primal[rows])
        return accuracy
