"""Read a CBF file with MOSEK (``Task.readdata``: no licence needed to read) and solve the data MOSEK
holds with Clarabel's Python API; print the objective. Run by tests/test_export.py in a separate
interpreter (``RISKOPT_MOSEK_PYTHON``: a virtual environment with Mosek, numpy, scipy and clarabel;
not riskopt's, where an installed Mosek would become cvxpy's default solver without a licence).

    python _mosek_cbf.py FILE.cbf
"""

from __future__ import annotations

import sys

import clarabel
import mosek
import numpy as np
import scipy.sparse as sps


def main(path: str) -> float:
    task = mosek.Env().Task()
    task.readdata(path)
    n = task.getnumvar()
    c = np.array(task.getc(), float)
    c0 = task.getcfix()
    sign = -1.0 if task.getobjsense() == mosek.objsense.maximize else 1.0
    rows: list[sps.csr_matrix] = []  # blocks of (A, b) with b - A x in the cone
    rhs: list[np.ndarray] = []
    cones: list[object] = []

    def linear(a: sps.csr_matrix, keys: list[object], lo: list[float], up: list[float]) -> None:
        for i, (k, lb, ub) in enumerate(zip(keys, lo, up, strict=True)):
            row = a[i]
            if k == mosek.boundkey.fx:
                rows.append(row), rhs.append(np.array([lb])), cones.append(clarabel.ZeroConeT(1))
                continue
            if k in (mosek.boundkey.lo, mosek.boundkey.ra):  # a x >= lb: lb - ... -> -a x <= -lb
                rows.append(-row), rhs.append(np.array([-lb])), cones.append(clarabel.NonnegativeConeT(1))
            if k in (mosek.boundkey.up, mosek.boundkey.ra):
                rows.append(row), rhs.append(np.array([ub])), cones.append(clarabel.NonnegativeConeT(1))

    m = task.getnumcon()
    if m:
        ptrb, ptre, sub, val = task.getarowslice(0, m)
        ptr = np.append(np.asarray(ptrb), ptre[-1] if m else 0)
        A = sps.csr_matrix((np.asarray(val, float), np.asarray(sub), ptr), shape=(m, n))
        linear(A, *task.getconboundslice(0, m))
    linear(sps.csr_matrix(sps.eye(n)), *task.getvarboundslice(0, n))
    numafe = task.getnumafe()
    if numafe:
        frow, fcol, fval = task.getafeftrip()
        F = sps.csr_matrix((fval, (frow, fcol)), shape=(numafe, n))
        g = np.array(task.getafegslice(0, numafe), float)
        for k in range(task.getnumacc()):
            dom = task.getaccdomain(k)
            kind = task.getdomaintype(dom)
            idx = np.asarray(task.getaccafeidxlist(k))
            b = np.asarray(task.getaccb(k), float)
            block, shift = F[idx], g[idx] - b  # F x + g - b in D  ->  (g - b) - (-F) x in D
            if kind == mosek.domaintype.r:
                continue
            cone: object
            if kind == mosek.domaintype.rzero:
                cone = clarabel.ZeroConeT(idx.size)
            elif kind == mosek.domaintype.rplus:
                cone = clarabel.NonnegativeConeT(idx.size)
            elif kind == mosek.domaintype.rminus:
                block, shift, cone = -block, -shift, clarabel.NonnegativeConeT(idx.size)
            elif kind == mosek.domaintype.quadratic_cone:
                cone = clarabel.SecondOrderConeT(idx.size)
            elif kind == mosek.domaintype.primal_exp_cone:  # (u0, u1, u2) -> Clarabel's (u2, u1, u0)
                block, shift, cone = block[[2, 1, 0]], shift[[2, 1, 0]], clarabel.ExponentialConeT()
            else:
                raise SystemExit(f"unsupported MOSEK domain {kind}")
            rows.append(-block), rhs.append(shift), cones.append(cone)
    A = sps.csc_matrix(sps.vstack(rows)) if rows else sps.csc_matrix((0, n))
    b = np.concatenate(rhs) if rhs else np.zeros(0)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    sol = clarabel.DefaultSolver(sps.csc_matrix((n, n)), sign * c, A, b, cones, settings).solve()
    if str(sol.status) != "Solved":
        raise SystemExit(f"Clarabel: {sol.status}")
    return float(c @ np.asarray(sol.x) + c0)


if __name__ == "__main__":
    print(repr(main(sys.argv[1])))
