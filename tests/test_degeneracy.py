"""Price intervals and primal uniqueness of LP programs (riskopt.degeneracy), against routes it does not
use: finite differences of the optimal value by whole re-solves on scipy's ``linprog`` (HiGHS behind
scipy's own interface, on the plain matrices, no cvxpy), brute-force min/max of every coordinate over
the optimal face, closed forms, and the duals Clarabel and HiGHS return through riskopt's backends."""

import json

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import riskopt as ro
from riskopt.degeneracy import allocation_unique, price_intervals, primal_uniqueness
from riskopt.errors import ModelError
from riskopt.measures.distortion import DualPower, ESDistortion, Power
from riskopt.mechanisms.distortion import comonotone_inf_convolution, layer_program, layers_of
from riskopt.mechanisms.pareto import welfare
from riskopt.program import Program

# finite-difference step of the brute force: with integer data in [-2, 2] and at most 5 columns, a
# breakpoint of the piecewise-linear value function sits at a ratio (adj(B) b)_i / (adj(B) e)_i, at
# least 1 / 384 away from b when it is not at b itself; h = 1e-4 is below it, so the one-sided
# difference quotients are the exact one-sided derivatives up to round-off
H = 1e-4
# linprog's optimal values carry ~1e-12 round-off; divided by H that is ~1e-8 on a slope
SLOPE_TOL = 1e-6


# ------------------------------------------------------------------------------ random LPs
@st.composite
def lp_data(draw):
    """Small feasible, bounded LPs ``min/max c'x  s.t.  A_E x = b_E, A_I x <= b_I, x >= 0`` with
    integer data: ties in the costs, vertices with zero coordinates, zero slacks and duplicated rows
    make many of them degenerate on purpose."""
    n = draw(st.integers(2, 5))
    me = draw(st.integers(1, 3))
    mi = draw(st.integers(0, 2))
    ints = st.integers(-2, 2)

    def matrix(rows):
        return np.array(draw(st.lists(st.lists(ints, min_size=n, max_size=n), min_size=rows,
                                      max_size=rows)), float).reshape(rows, n)

    AE, AI = matrix(me), matrix(mi)
    if draw(st.booleans()):  # a duplicated equality row: the two prices only have a fixed sum
        AE = np.vstack([AE, AE[:1]])
    nonneg_attr = draw(st.booleans())
    free = np.zeros(n, bool) if nonneg_attr else np.array(draw(st.lists(st.booleans(), min_size=n,
                                                                        max_size=n)))
    x0 = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), float)
    x0[free] -= 1  # free columns may sit below 0
    bE = AE @ x0
    bI = AI @ x0 + np.array(draw(st.lists(st.integers(0, 1), min_size=mi, max_size=mi)), float)
    # c = A_E'u - A_I'v + r with v, r >= 0 makes (u, v) dual feasible: the LP is bounded
    u = np.array(draw(st.lists(st.integers(-1, 1), min_size=AE.shape[0], max_size=AE.shape[0])), float)
    v = np.array(draw(st.lists(st.integers(0, 1), min_size=mi, max_size=mi)), float)
    r = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), float)
    r[free] = 0.0  # a free column's reduced cost must vanish
    c = AE.T @ u - AI.T @ v + r
    sense = draw(st.sampled_from(["min", "max"]))
    return {"c": c, "AE": AE, "bE": bE, "AI": AI, "bI": bI, "sense": sense, "nonneg_attr": nonneg_attr,
            "free": free}


def build(d):
    """The LP as a riskopt Program (a maximisation maximises ``-c'x``: same optimal set)."""
    prog = Program("random lp", d["sense"])
    n = d["c"].size
    x = prog.variable("x", n, nonneg=True) if d["nonneg_attr"] else prog.variable("x", n)
    if not d["nonneg_attr"] and not d["free"].all():
        prog.constrain("sign", [x[np.flatnonzero(~d["free"])] >= 0])
    prog.constrain("eq", [d["AE"] @ x == d["bE"]])
    if d["AI"].shape[0]:
        prog.constrain("ineq", [d["AI"] @ x <= d["bI"]])
    prog.set_objective(d["c"] @ x if d["sense"] == "min" else -d["c"] @ x)
    return prog


def bounds(d):
    return [(None, None) if f else (0, None) for f in d["free"]]


def value(d, bE, bI):
    """Optimal value of the program's objective by a whole re-solve on scipy's linprog (None if
    infeasible)."""
    res = linprog(d["c"], A_ub=d["AI"] if d["AI"].shape[0] else None, b_ub=bI if d["AI"].shape[0] else None,
                  A_eq=d["AE"], b_eq=bE, bounds=bounds(d), method="highs")
    if res.status == 2:
        return None
    assert res.status == 0, res.message
    return res.fun if d["sense"] == "min" else -res.fun


def brute_intervals(d, group):
    """``[lower, upper]`` of the dual in cvxpy's convention from one-sided difference quotients:
    min: ``y = -dp/d rhs`` so ``[-p'(+), -p'(-)]``; max: ``y = dW/d rhs`` so ``[W'(+), W'(-)]``."""
    bE, bI = d["bE"], d["bI"]
    base = value(d, bE, bI)
    rhs = bE if group == "eq" else bI
    bad = np.inf if d["sense"] == "min" else -np.inf  # the value where the LP is infeasible
    lower, upper = [], []
    for r in range(rhs.size):
        moved = []
        for step in (H, -H):
            b = rhs.copy()
            b[r] += step
            v = value(d, b, bI) if group == "eq" else value(d, bE, b)
            moved.append(bad if v is None else v)
        right = (moved[0] - base) / H
        left = (base - moved[1]) / H
        if d["sense"] == "min":
            lower.append(-right)
            upper.append(-left)
        else:
            lower.append(right)
            upper.append(left)
    return np.array(lower), np.array(upper)


def same_endpoints(a, b, tol):
    """Equal where finite (to ``tol``) and infinite on the same side."""
    both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    with np.errstate(invalid="ignore"):
        return bool(np.all(both_inf | (np.abs(a - b) <= tol)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lp_data())
@example({"c": np.array([1.0, 1.0]), "AE": np.array([[1.0, 1.0], [1.0, 1.0]]), "bE": np.array([1.0, 1.0]),
          "AI": np.zeros((0, 2)), "bI": np.zeros(0), "sense": "min", "nonneg_attr": False,
          "free": np.zeros(2, bool)})
@example({"c": np.array([1.0, 2.0]), "AE": np.array([[1.0, 0.0]]), "bE": np.array([0.0]),
          "AI": np.array([[0.0, 1.0]]), "bI": np.array([0.0]), "sense": "max", "nonneg_attr": True,
          "free": np.zeros(2, bool)})
def test_intervals_are_the_one_sided_derivatives(d):
    """(a) Brute force: on degenerate and non-degenerate LPs alike, every interval equals the pair of
    one-sided derivatives of the optimal value (infinite where moving the right-hand side is
    infeasible), in cvxpy's dual sign convention."""
    prog = build(d)
    for group in ("eq", "ineq"):
        if group not in prog.groups:
            continue
        got = price_intervals(prog, group)
        lo, up = brute_intervals(d, group)
        assert same_endpoints(got.lower, lo, SLOPE_TOL), (group, got.lower, lo)
        assert same_endpoints(got.upper, up, SLOPE_TOL), (group, got.upper, up)
        assert np.array_equal(got.unique, np.isfinite(up - lo) & (up - lo <= SLOPE_TOL))
        # the vertex dual HiGHS returned is one point of each interval
        assert np.all(got.contains(got.point, 0.0))


def brute_face_spread(d):
    """max_k (max - min of x_k over the optimal face), by 2n linprog solves with the objective
    constrained to the optimum (+1e-10: linprog's round-off, which lets x_k move by at most
    1e-10 / 384 per unit of the smallest nonzero reduced cost, ~1e-8)."""
    base = value(d, d["bE"], d["bI"])
    c_min = d["c"]
    opt = base if d["sense"] == "min" else -base
    A_ub = np.vstack([d["AI"], c_min[None, :]])
    b_ub = np.append(d["bI"], opt + 1e-10)
    spread = 0.0
    for k in range(c_min.size):
        e = np.zeros(c_min.size)
        e[k] = 1.0
        lo = linprog(e, A_ub=A_ub, b_ub=b_ub, A_eq=d["AE"], b_eq=d["bE"], bounds=bounds(d), method="highs")
        hi = linprog(-e, A_ub=A_ub, b_ub=b_ub, A_eq=d["AE"], b_eq=d["bE"], bounds=bounds(d), method="highs")
        if 3 in (lo.status, hi.status):  # unbounded along the face
            return np.inf
        assert lo.status == 0 and hi.status == 0
        spread = max(spread, -hi.fun - lo.fun)
    return spread


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lp_data())
def test_primal_uniqueness_against_brute_force(d):
    """A unique optimum has a face of zero spread in every coordinate; an alternative optimum is two
    feasible points with the optimal objective, a positive distance apart."""
    prog = build(d)
    res = primal_uniqueness(prog)
    spread = brute_face_spread(d)
    # 1e-6: the brute force's own slack (docstring of brute_face_spread) with two orders of margin;
    # spreads of genuine alternative optima are >= 1/384 with this integer data
    if res.unique:
        assert spread <= 1e-6
        return
    assert res.unique is False
    assert spread > 1e-6
    base = value(d, d["bE"], d["bI"])
    for point, objective in zip(res.points, res.objectives, strict=True):
        x = point["x"]
        # feasibility to HiGHS's 1e-9 tolerances
        assert np.all(x[~d["free"]] >= -1e-9) and np.allclose(d["AE"] @ x, d["bE"], atol=1e-9)
        assert np.all(d["AI"] @ x <= d["bI"] + 1e-9)
        assert objective == pytest.approx(base, abs=1e-9)
        assert (d["c"] @ x if d["sense"] == "min" else -d["c"] @ x) == pytest.approx(base, abs=1e-9)
    assert res.distance > 1e-6


# ------------------------------------------------------------------ two expectation agents
Q1 = np.array([0.1, 0.2, 0.3, 0.4])
Q2 = np.array([0.4, 0.3, 0.2, 0.1])


def two_agents(caps=(2.0, 2.0), q2=Q2):
    """Losses 0, 1, 2, 3 shared by two risk-neutral agents with their own laws and liability caps 2:
    in state 2 the cheap agent (q2 = 0.2 < 0.3) holds exactly its cap, so a unit less loss there is
    worth q2 and a unit more costs q1: every price in [0.2, 0.3] supports the optimum; at X = 0 no
    gain can be shared (losses >= 0), so the price there is anything <= the cheaper agent's 0.1."""
    space = ro.Scenarios.discrete(-np.array([0.0, 1.0, 2.0, 3.0]), np.full(4, 0.25))
    agents = [ro.Agent("a", ro.measures.Expectation(law=Q1)), ro.Agent("b", ro.measures.Expectation(law=q2))]
    return welfare(space, agents, allocation=ro.Budget(), restrictions=[ro.LimitedLiability(list(caps))])


def test_two_expectation_agents_prices_are_intervals():
    """(b) The interval contains Clarabel's and HiGHS's state prices, which differ: the example really
    is degenerate. Closed form: state 0 (-inf, 0.1], state 1 {0.2}, state 2 [0.2, 0.3], state 3 {0.4}."""
    prog = two_agents()
    got = price_intervals(prog, "budget")
    # every finite endpoint is a ratio of the integer-tenths data: exact to HiGHS's 1e-9 tolerances
    assert got.lower[0] == -np.inf
    assert np.allclose(got.lower[1:], [0.2, 0.2, 0.4], atol=1e-9, rtol=0)
    assert np.allclose(got.upper, [0.1, 0.2, 0.3, 0.4], atol=1e-9, rtol=0)
    assert got.unique.tolist() == [False, True, False, True]
    clarabel = prog.solve(backend="cvxpy", solver="CLARABEL", polish=False)
    highs = prog.solve(backend="highs", polish=False)
    y_c, y_h = clarabel.duals["budget"], highs.duals["budget"]
    # Clarabel stops at a 1e-8 duality gap: its duals sit within ~1e-8 of the face
    assert np.all(got.contains(y_c, 1e-7))
    assert np.all(got.contains(y_h, 1e-9))
    assert np.max(np.abs(y_c - y_h)) > 0.01          # the two solvers report different "prices"
    assert clarabel.prices.state_prices[0] < 0        # the negative price at X = 0, inside (-inf, 0.1]
    # Clarabel's 1e-8 duality gap on a welfare of size ~1, with a decade of margin
    assert clarabel.objective == pytest.approx(highs.objective, abs=1e-7)


def test_rows_subset_and_json():
    prog = two_agents()
    full = price_intervals(prog, "budget")
    part = price_intervals(prog, "budget", rows=[2, -1])
    assert part.rows.tolist() == [2, 3]
    assert np.array_equal(part.lower, full.lower[[2, 3]]) and np.array_equal(part.upper, full.upper[[2, 3]])
    d = json.loads(json.dumps(full.to_dict()))
    # None: -inf on the lower side; 0.1 from HiGHS at 1e-9, so approx's default rel=1e-6 is ample
    assert d["lower"][0] is None and d["upper"][0] == pytest.approx(0.1)
    assert d["unique"] == [False, True, False, True]
    with pytest.raises(ModelError, match="rows"):
        price_intervals(prog, "budget", rows=[4])


def test_tied_agents_have_alternative_allocations():
    """Equal laws in state 1 (both 0.2), caps slack: any split of that loss is optimal. The two
    optima exhibited are allocations (budget and caps hold) with the same welfare."""
    q2 = np.array([0.5, 0.2, 0.2, 0.1])  # = Q1 in state 1
    prog = two_agents(q2=q2)
    res = primal_uniqueness(prog)
    assert res.unique is False and allocation_unique(prog) is False
    assert res.distance > 0.5  # the split of a loss of 1 moves by a fraction of 1 (random direction)
    X = -np.array([0.0, 1.0, 2.0, 3.0])
    for point, objective in zip(res.points, res.objectives, strict=True):
        xi = point["xi"]
        assert np.allclose(xi.sum(axis=0), X, atol=1e-9) and np.all(-xi >= -1e-9) and np.all(-xi <= 2 + 1e-9)
        # state 1: 0.2 x 1 (either agent); 2: b takes 2 at 0.2; 3: b takes its cap 2 at 0.1, a 1 at 0.4
        assert objective == pytest.approx(-(0.2 * 1 + 0.2 * 2 + 0.1 * 2 + 0.4 * 1), abs=1e-9)
    assert abs(res.points[0]["xi"][0, 1] - res.points[1]["xi"][0, 1]) > 0.5
    # without the tie the allocation is unique (every state has a strictly cheaper agent)
    assert allocation_unique(two_agents()) is True


# ----------------------------------------------------------------------- non-degenerate LP
def test_nondegenerate_lp_gives_points_equal_to_the_solvers_duals():
    """(c) Generic continuous data: a nondegenerate vertex, unique duals, and every backend's dual
    is that point."""
    rng = np.random.default_rng(7)
    m, n = 4, 9
    A = rng.normal(size=(m, n))
    b = A @ rng.uniform(0.5, 1.5, n)
    c = rng.uniform(0.5, 2.0, n) + A.T @ rng.normal(size=m) * 0.1
    prog = Program("generic", "min")
    x = prog.variable("x", n, nonneg=True)
    prog.constrain("rows", [A @ x == b])
    prog.set_objective(c @ x)
    got = price_intervals(prog, "rows")
    assert got.all_unique and np.array_equal(got.lower, got.upper)
    assert got.stats["primal_degenerate"] is False and got.solves == 1
    for backend, solver, tol in (("cvxpy", "CLARABEL", 1e-7), ("highs", None, 1e-9), ("cvxpy", "ECOS", 1e-6)):
        # tolerances: Clarabel's 1e-8 gap, HiGHS's 1e-9 dual tolerance, ECOS's 1e-8 defaults x scale
        y = prog.solve(backend=backend, solver=solver).duals["rows"]
        assert np.allclose(y, got.lower, atol=tol, rtol=0), backend
    assert allocation_unique(prog) is True


# ----------------------------------------------------------------------- distortion layers
def test_zero_width_layer_price_is_unbounded_below():
    """(d) The comonotone layer LP with an atom at X = 0: its layer has width 0, the shares must all
    be 0 and cannot go negative, so its price is anything <= min_i W_i0 (here -0.64); every other
    layer's price is unique and equal to the closed form min_i W_ik. Clarabel and HiGHS report
    different points of (-inf, -0.64]."""
    x = np.array([0.0, 0.0, 1.0, 2.5, -1.0, 4.0])
    space = ro.Scenarios.discrete(x, np.array([0.2, 0.1, 0.2, 0.2, 0.1, 0.2]))
    hs = [ESDistortion(0.25), Power(2.0), DualPower(1.5)]
    lay = layers_of(space, hs)
    zero = int(np.flatnonzero(lay.atoms == 0.0)[0])
    assert lay.width[zero] == 0.0
    got = price_intervals(layer_program(lay), "budget")
    # a minimisation's == row has y = -d cost/d width (riskopt.duals): the layer price is -y
    price_lo, price_hi = -got.upper, -got.lower
    closed = lay.prices()
    # 1e-12, tighter than the 1e-9 granted below: the finite end is a simplex vertex on exact binary
    # fractions (measured error 0); the other layers keep HiGHS's 1e-9
    assert price_lo[zero] == -np.inf and price_hi[zero] == pytest.approx(closed[zero], abs=1e-12)
    others = np.arange(lay.size) != zero
    assert got.unique.tolist() == others.tolist()
    # the data are exact binary fractions of the distortions: HiGHS's 1e-9 tolerance bounds the error
    assert np.allclose(price_lo[others], closed[others], atol=1e-9, rtol=0)
    assert np.allclose(price_hi[others], closed[others], atol=1e-9, rtol=0)
    reported = {}
    for backend, solver in (("cvxpy", "CLARABEL"), ("highs", None)):
        res = comonotone_inf_convolution(space, hs, method="program", backend=backend, solver=solver)
        reported[backend] = res.layer_prices
        assert np.all(got.contains(-res.layer_prices, 1e-7))  # Clarabel's 1e-8 gap, with margin
    assert abs(reported["cvxpy"][zero] - reported["highs"][zero]) > 0.1


# ------------------------------------------------------------------------------- errors, io
def test_non_lp_and_unknown_group_are_model_errors():
    space = ro.Scenarios.bernoulli_hits([0.1, 0.1])
    agents = [ro.Agent("a", ro.measures.Entropic(1.0)), ro.Agent("b", ro.measures.Entropic(2.0))]
    prog = welfare(space, agents)
    with pytest.raises(ModelError, match="an LP"):
        price_intervals(prog, "budget")
    with pytest.raises(ModelError, match="an LP"):
        allocation_unique(prog)
    qp = Program("qp", "min")
    T = qp.variable("T", 3)
    qp.set_objective(cp.sum_squares(T))
    qp.constrain("budget", [cp.sum(T) == 1])
    with pytest.raises(ModelError, match="quadratic objective"):
        price_intervals(qp, "budget")
    with pytest.raises(ModelError, match="group"):
        price_intervals(two_agents(), "nope")


def test_nothing_reaches_stdout(capfd):
    """highspy prints its banner on fd 1 when constructed: the module sends it to stderr."""
    prog = two_agents()
    price_intervals(prog, "budget")
    primal_uniqueness(prog)
    assert capfd.readouterr().out == ""


def test_program_state_untouched():
    """Intervals are computed on a copy of the compiled problem: the program's solution stays."""
    prog = two_agents()
    sol = prog.solve(backend="cvxpy", solver="CLARABEL", polish=False)
    before = np.array(prog.groups["budget"].constraints[0].dual_value)
    price_intervals(prog, "budget")
    primal_uniqueness(prog)
    assert np.array_equal(prog.groups["budget"].constraints[0].dual_value, before)
    assert np.array_equal(prog.variables["xi"].value, sol.variables["xi"])


# --------------------------------------------------------------- at scale, against closed forms
def test_many_states_closed_form_intervals():
    """Three risk-neutral agents with their own laws and caps (2, 2, 3), integer losses 0..7 on 400
    states (hundreds of independent blocks, batched). In each state the loss fills the agents in
    increasing order of q_i(s) up to their caps; the price (dW/dX) is the marginal agent's q. Where
    the loss equals a cumulated cap exactly it is [q_(k), q_(k+1)]; at loss 0, (-inf, q_(1)]; at the
    total capacity 7, [q_(3), +inf)."""
    rng = np.random.default_rng(11)
    S = 400
    L = rng.integers(0, 8, S).astype(float)
    space = ro.Scenarios.discrete(-L, rng.dirichlet(np.ones(S)))
    laws = [rng.dirichlet(np.ones(S)) for _ in range(3)]
    caps = np.array([2.0, 2.0, 3.0])
    agents = [ro.Agent(f"a{i}", ro.measures.Expectation(law=q)) for i, q in enumerate(laws)]
    prog = welfare(space, agents, allocation=ro.Budget(), restrictions=[ro.LimitedLiability(caps)])
    Q = np.vstack(laws)
    lower, upper = np.empty(S), np.empty(S)
    for s in range(S):
        order = np.argsort(Q[:, s])
        q, cum = Q[order, s], np.cumsum(caps[order])
        k = int(np.searchsorted(cum, L[s]))  # the marginal agent (position in the order)
        if L[s] == 0:
            lower[s], upper[s] = -np.inf, q[0]
        elif L[s] == cum[-1]:
            lower[s], upper[s] = q[-1], np.inf
        elif L[s] == cum[k]:
            lower[s], upper[s] = q[k], q[k + 1]
        else:
            lower[s] = upper[s] = q[k]
    got = price_intervals(prog, "budget")
    # HiGHS works on c / max|c| at 1e-9 tolerances: errors of ~1e-9 max|q|; 1e-9 absolute covers it
    assert same_endpoints(got.lower, lower, 1e-9) and same_endpoints(got.upper, upper, 1e-9)
    assert (~got.unique).sum() == np.sum(lower < upper) > 100
    for backend, solver, tol in (("cvxpy", "CLARABEL", 1e-7), ("highs", None, 1e-9)):
        y = prog.solve(backend=backend, solver=solver, polish=False).duals["budget"]
        assert np.all(got.contains(y, tol)), backend
    assert got.solves < 10  # the blocks are batched: a handful of HiGHS runs, not one per row


def test_coupled_es_sharing_against_finite_differences():
    """Two ES agents and a risk-neutral one, total risk, Budget allocation, caps: the VaR variables
    couple the states, so the batched jobs are verified by basis (not separated). Each state's
    interval is checked against one-sided finite differences of whole re-solves through cvxpy's
    own HiGHS interface with the aggregate moved in that state (riskopt refuses an aggregate outside
    [0, total capacity]: that side is infeasible, an infinite endpoint)."""
    S = 16
    L = np.array([0, 1, 2, 2, 3, 4, 4, 4, 5, 5, 6, 6, 7, 3, 1, 0], float)
    space = ro.Scenarios.discrete(L, np.full(S, 1.0 / S))
    agents = [ro.Agent("a", ro.measures.ES(0.125)), ro.Agent("b", ro.measures.ES(0.25)),
              ro.Agent("c", ro.measures.Expectation())]
    caps = ro.LimitedLiability([2.0, 2.0, 3.0])

    def risk(aggregate):
        try:
            prog = ro.SharingProgram(space, agents, allocation=ro.Budget(), objective="total_risk",
                                     aggregate=aggregate, restrictions=[caps])
        except ModelError:
            return np.inf
        return prog.solve(backend="cvxpy", solver="HIGHS", polish=False).objective

    prog = ro.SharingProgram(space, agents, allocation=ro.Budget(), objective="total_risk",
                             restrictions=[caps])
    got = price_intervals(prog, "budget")
    base = risk(L)
    # losses are integers and probabilities 1/16: breakpoints of the value function sit at multiples
    # of 1/16 or more away, so h = 1e-4 gives the exact one-sided slopes up to ~1e-12 / 1e-4 round-off
    h = 1e-4
    for s in range(S):
        up, dn = L.copy(), L.copy()
        up[s] += h
        dn[s] -= h
        right, left = (risk(up) - base) / h, (base - risk(dn)) / h
        # a minimisation's == row: y = -d rho / d X(s), so [lower, upper] = [-right, -left]
        assert same_endpoints(got.lower[s:s + 1], np.array([-right]), SLOPE_TOL), s
        assert same_endpoints(got.upper[s:s + 1], np.array([-left]), SLOPE_TOL), s
    assert not got.all_unique


def test_comonotone_backends_disagree_on_a_non_unique_allocation():
    """The same two agents on the default (anchored comonotone) set: Clarabel and HiGHS return
    different optimal allocations; primal_uniqueness says so and exhibits two optimal share
    functions F (nondecreasing on the atoms, summing to the atom values)."""
    space = ro.Scenarios.discrete(-np.array([0.0, 1.0, 2.0, 3.0]), np.full(4, 0.25))
    agents = [ro.Agent("a", ro.measures.Expectation(law=Q1)), ro.Agent("b", ro.measures.Expectation(law=Q2))]
    prog = welfare(space, agents, restrictions=[ro.LimitedLiability([2.0, 2.0])])
    xi_c = prog.solve(backend="cvxpy", solver="CLARABEL", polish=False).allocation["a"]
    xi_h = prog.solve(backend="highs", polish=False).allocation["a"]
    assert np.max(np.abs(xi_c - xi_h)) > 0.1  # two backends, two allocations, same welfare
    res = primal_uniqueness(prog)
    assert res.unique is False and res.distance > 0.1
    atoms = np.unique(space.X)
    atoms = atoms[atoms != 0]  # the anchor X = 0 is substituted, not a variable
    for point, objective in zip(res.points, res.objectives, strict=True):
        F = point["F"]
        full = np.hstack([F, np.zeros((2, 1))])               # the anchor column f_i(0) = 0
        # feasibility to HiGHS's 1e-9 tolerance; -1.3: the welfare both backends report
        assert np.allclose(F.sum(axis=0), atoms, atol=1e-9) and np.all(np.diff(full, axis=1) >= -1e-9)
        assert objective == pytest.approx(-1.3, abs=1e-9)
