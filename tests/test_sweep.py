"""Sweeps: grids, chunk tasks (pointwise and compiled), runners (serial, processes, dask) giving the
same rows, failures recorded per point, card sweeps through the CLI."""

import csv

import numpy as np
import pytest

import riskopt as ro
from riskopt.cards import CardPoint, read_card_data, set_path
from riskopt.cli import main
from riskopt.mechanisms.pareto import welfare
from riskopt.sweep import Compiled, Dask, Processes, grid, pointwise, runner_from, sweep


def square(p):
    if p["x"] < 0:
        raise ValueError("negative x")
    return {"y": p["x"] ** 2}


def test_grid_is_a_cartesian_product():
    pts = grid(a=[1, 2], b=["u", "v", "w"])
    assert len(pts) == 6 and pts[0] == {"a": 1, "b": "u"} and pts[-1] == {"a": 2, "b": "w"}
    with pytest.raises(ro.ModelError, match=r"grid\.b"):
        grid(a=[1], b=[])


def test_failures_are_recorded_and_order_is_kept():
    res = sweep(square, [{"x": 2}, {"x": -1}, {"x": 3}], chunks=2, progress=False)
    assert [r["x"] for r in res.rows] == [2, -1, 3]
    assert res.rows[0]["y"] == 4 and res.rows[2]["y"] == 9
    assert res.rows[1]["status"] == "error"
    assert res.rows[1]["message"].startswith("ValueError: negative x")
    assert len(res.failed) == 1


@pytest.fixture(scope="module")
def cluster():
    """One dask LocalCluster (2 worker processes) for the module: starting one costs seconds."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c.scheduler_address


def test_processes_and_dask_equal_serial(cluster):
    pts = [{"x": float(x)} for x in range(-2, 9)]
    ref = sweep(pointwise(square), pts, progress=False).rows
    for runner in (Processes(2), Dask(address=cluster)):
        rows = sweep(pointwise(square), pts, runner=runner, chunks=3, progress=False).rows
        strip = [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
        assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in ref]


class CountingBuild:
    """Build a welfare program once per chunk (DPP weights) and count the builds."""

    def __init__(self):
        self.builds = 0

    def __call__(self, point):
        self.builds += 1
        space = ro.Scenarios.discrete([-2.0, -1.0, 0.0, 1.0], [0.1, 0.2, 0.4, 0.3])
        agents = [ro.Agent("a", ro.measures.ExpectedUtility("cara", gamma=1.0, wealth=2.0)),
                  ro.Agent("b", ro.measures.ExpectedUtility("cara", gamma=3.0, wealth=2.0))]
        return welfare(space, agents, allocation=ro.Budget())


def solve_at(prog, point):
    prog.set(weights=[point["t"], 1 - point["t"]])
    sol = prog.solve()
    return {"U_a": sol.values["a"], "U_b": sol.values["b"]}


def test_compiled_task_builds_once_per_chunk_and_matches_fresh_solves():
    build = CountingBuild()
    pts = [{"t": t} for t in np.linspace(0.1, 0.9, 6)]
    res = sweep(Compiled(build, solve_at), pts, chunks=2, progress=False)
    assert build.builds == 2
    for row in res.rows:
        fresh = solve_at(CountingBuild()(row), row)
        assert row["U_a"] == pytest.approx(fresh["U_a"], abs=1e-7)
        assert row["U_b"] == pytest.approx(fresh["U_b"], abs=1e-7)


def test_compiled_sweep_on_a_dask_local_cluster_equals_serial(cluster):
    pts = [{"t": t} for t in (0.2, 0.5, 0.8)]
    serial_rows = sweep(Compiled(CountingBuild(), solve_at), pts, progress=False).rows
    dask_rows = sweep(Compiled(CountingBuild(), solve_at), pts, runner=cluster, chunks=2,
                      progress=False).rows
    for a, b in zip(serial_rows, dask_rows, strict=True):
        assert a["U_a"] == pytest.approx(b["U_a"], abs=1e-9)
        assert "status" not in a and "status" not in b  # the task reports none: none is invented


def test_runner_specs():
    assert runner_from(None).__name__ == "serial"
    assert isinstance(runner_from("processes:3"), Processes) and runner_from("processes:3").workers == 3
    assert runner_from("tcp://127.0.0.1:8786").address == "tcp://127.0.0.1:8786"
    with pytest.raises(ro.ModelError, match="runner"):
        runner_from("gpu")


def test_set_path():
    data = {"pool": {"measure": {"gamma": 1.0}}, "agents": [{"name": "a"}]}
    set_path(data, "pool.measure.gamma", 2.0)
    set_path(data, "agents[0].name", "b")
    assert data["pool"]["measure"]["gamma"] == 2.0 and data["agents"][0]["name"] == "b"
    for bad in ("pool..gamma", "agents[3].name", "pool.nothing.x", "1abc"):
        with pytest.raises(ro.ModelError, match="sweep path"):
            set_path(data, bad, 0)


def test_card_sweep_rows_and_failures():
    data, source = read_card_data("hurricane_pool")
    task = CardPoint(data, source)
    res = sweep(task, [{"pool.measure.gamma": 1.0}, {"pool.measure.gamma": -1.0}], progress=False)
    assert res.rows[0]["status"] == "optimal" and res.rows[0]["objective"] < 0
    assert res.rows[1]["status"] == "error" and "pool.measure.gamma" in res.rows[1]["message"]
    assert res.failed == [res.rows[1]] and res.not_ok == [res.rows[1]]


def test_cli_sweep_writes_csv(tmp_path, capsys):
    out = tmp_path / "rows.csv"
    code = main(["sweep", "hurricane_pool", "--grid", "pool.measure.gamma=0.5,2",
                 "--grid", "space.loss=1:2:2", "--out", str(out)])
    assert code == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"optimal"}
    # larger risk aversion, larger losses: lower welfare
    w = {(float(r["pool.measure.gamma"]), float(r["space.loss"])): float(r["objective"]) for r in rows}
    assert w[(2.0, 2.0)] < w[(0.5, 2.0)] and w[(0.5, 2.0)] < w[(0.5, 1.0)]
    captured = capsys.readouterr()
    assert "4 points" in captured.err and "0 not ok" in captured.err  # the summary is not the result


@pytest.mark.parametrize("grid_arg", ["nonsense", "x=1:2", "pool.measure.gamma=[1,",
                                      "pool.measure.gamma=1:2:0", "pool.measure.gamma=-1,-2"])
def test_cli_sweep_bad_grid(grid_arg, capsys):
    assert main(["sweep", "hurricane_pool", "--grid", grid_arg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("riskopt: error:")


def test_cli_bench_arguments(capsys):
    """The quick pass itself runs in .ci/run (python -m benchmarks.run --quick); here the options."""
    assert main(["bench", "--family", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]
    assert main(["bench", "--help"]) == 0
    assert "--quick" in capsys.readouterr().out
