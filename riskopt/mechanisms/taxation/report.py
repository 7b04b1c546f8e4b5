"""Plain-text tables of the disaster-taxation results (``riskopt run CARD``): the AFPO rule on a law
(weights, tax table) and the storm study (scheme comparison, regions, one event).

The functions read the results through their public attributes, so this module imports no result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...report import fit, format_table, number, plural
from .law import describe

__all__ = ["constraint_lines", "law_table", "storm_table"]

#: regions whose taxes the tax table of a law result shows (one column each)
TAX_COLUMNS = 4


def constraint_lines(res: Any) -> list[str]:
    """The path that ran, the objective and each user constraint: rows binding, dV/d rhs summed over
    the rows (the derivative for a right-hand side the same in every row)."""
    lines = [f"method     {res.method}; objective E[sum_i Psi_i(T_i)] = {number(res.objective)} (min)"]
    lines += [f"constraint {name}: {c.meaning}; binds in {int(c.binding.sum())} of {c.dual.size} rows, "
              f"d objective / d rhs summed over them {number(float(c.dual.sum()))}"
              for name, c in res.constraints.items()]
    return lines


def law_table(res: Any, title: str = "") -> str:
    """The AFPO run, the per-region table, the tax table ``T_i(s)`` and the checks."""
    r = res.afpo
    lines = [title] if title else []
    lines.append(f"law        {describe(r.law)}")
    lines.append(f"convention {r.family.convention} (alpha sums to 1)")
    lines.append(f"AFPO       {r.method}: {plural(r.iterations, 'iteration')}, relative fairness residual "
                 f"{res.verified_residual:.1e} ({'converged' if r.converged else 'NOT converged'}), "
                 f"{r.seconds:.3f} s")
    rows = [{k: v for k, v in a.items() if k != "zero_target"} for a in res.agent_rows()]
    lines += ["", format_table(rows, list(rows[0]), noun="regions")]
    grid = res._grid()
    shown = res.names[:TAX_COLUMNS]
    trows = [{"s": float(s), "Lambda(s)": float(lam), **{f"T[{nm}]": float(grid["T"][i, j])
                                                          for i, nm in enumerate(shown)}}
             for j, (s, lam) in enumerate(zip(grid["s"], grid["Lambda"], strict=True))]
    more = len(res.names) - len(shown)
    lines += ["", "tax table: T[region] = the region's tax when the taxed total is s"
              + (f" ({plural(more, 'more region')} in --format json)" if more else ""),
              format_table(trows, list(trows[0]), noun="levels")]
    if res.closed_form is not None and res.closed_form.alpha1 is not None:
        cf = res.closed_form
        lines.append(f"\nclosed form (Proposition 4): case {cf.case}, zeta = {number(cf.zeta)}, "
                     f"alpha1 = {number(cf.alpha1)} (|diff| {abs(cf.alpha1 - r.alpha[0]):.1e})")
    if res.program is not None:
        p = res.program
        lines.append(f"declarative program ({p.backend}/{p.solver}, {plural(p.atoms, 'atom')}): "
                     f"{p.status}, max |alpha - fast path| {p.alpha_max_error:.1e}, fairness "
                     f"residual {p.fairness_residual:.1e}")
    lines += ["", *constraint_lines(res)]
    return fit("\n".join(lines))


def storm_table(res: Any, title: str = "") -> str:
    """The storm economy, the AFPO runs, the scheme comparison, the regions (largest expected
    residual claims first) and one event (largest losses first)."""
    e = res.economy
    h, p = res.hybrid, res.pure
    comparison, ev = e.comparison, e.event
    out = [title] if title else []
    out.append(f"{plural(len(e.names), 'region')}, {plural(res.scenarios, 'scenario')}, premium income "
               f"k = {number(e.k)}, capital K = {number(e.K)}, E[S] = {number(e.probs @ e.S)}, "
               f"E[S_eps] = {number(e.expected_residual)}")
    prob = comparison.probability
    out.append(f"P(Omega_+) = {number(prob[0], 4)}, P(Omega_=) = {number(prob[1], 4)}, "
               f"P(Omega_-) = {number(prob[2], 4)}")
    out.append(f"hybrid AFPO: {plural(h.iterations, 'Newton iteration')}, residual "
               f"{res.verified.get('hybrid', h.residual):.1e}; alpha from {number(h.alpha.min(), 3)} to "
               f"{number(h.alpha.max(), 3)} ({h.family.convention})")
    out.append(f"pure sharing AFPO: {plural(p.iterations, 'iteration')}, residual "
               f"{res.verified.get('pure', p.residual):.1e}")
    out += constraint_lines(res)
    if res.comparison_note:
        out.append(f"note: {res.comparison_note}")
    out.append("")
    out.append("scheme comparison: E[v(l_i) | set], mean over regions, share of regions better off")
    srows = [{"set": r["set"], "difference": r["difference"], "mean": r["mean_over_regions"],
              "better_off": f"{100 * r['share_better_off']:.0f} %"} for r in comparison.summary()]
    out.append(format_table(srows, ["set", "difference", "mean", "better_off"]))
    agents = res.agent_rows()
    order = np.argsort(-e.expected_residual_claim, kind="stable")
    cols = ["name", "wealth", "premium", "cap", "alpha", "expected_residual_claim", "expected_tax",
            "layer_start"]
    out += ["", "regions, largest expected residual claim first",
            format_table([{c: agents[i][c] for c in cols} for i in order], cols, noun="regions")]
    erows = ev.rows(e.names)
    top = np.argsort([-r["loss"] for r in erows], kind="stable")
    out += ["", f"single event #{ev.index}: S = {number(ev.S)}, S_eps = {number(ev.S_eps)} "
                f"({ev.scenario_set}); largest loss first"]
    ecols = ["name", "loss", "insurer_pays", "residual_claim", "tax_hybrid", "net_transfer_hybrid",
             "tax_pure", "v_hybrid_minus_insurance"]
    out.append(format_table([{c: erows[i][c] for c in ecols} for i in top], ecols, noun="regions"))
    return fit("\n".join(out))
