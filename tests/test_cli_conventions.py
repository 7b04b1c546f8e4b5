"""Command-line conventions and tidy data out: ``--version``, a closed pipe, "did you mean",
card paths outside the repository, ``--format csv``, ``--output``, ``bench --out`` and warnings,
``allocation_frame()`` and the results' HTML display.

Every bundled card is solved once (a module fixture running ``riskopt run CARD --format csv
--output FILE``, which also keeps the result object), and the per-card tests read that run.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _cardkit import run_cli, runnable

import riskopt.cards
from riskopt.cards import bundled_names
from riskopt.cli import main

REPO = Path(__file__).resolve().parents[1]
BUNDLED = runnable(bundled_names())
TIMEOUT_S = 120


def _script() -> str:
    found = shutil.which("riskopt", path=str(Path(sys.executable).parent)) or shutil.which("riskopt")
    if found is None:
        pytest.skip("the riskopt console script is not installed")
    return found


def one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "", (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("riskopt: error: "), err
    return lines[0]


# --------------------------------------------------------------------------- --version
def test_version_prints_the_installed_version_and_exits_0():
    proc = subprocess.run([_script(), "--version"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == f"riskopt {metadata.version('riskopt')}\n"


# --------------------------------------------------------------------------- closed pipe
def test_demo_into_head_prints_the_first_line_and_no_error():
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{_script()}' demo | head -1"],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.stdout == "riskopt demo: a hurricane pool of 50 farmers\n"
    assert proc.stderr == ""  # no traceback, no "internal error", no "Exception ignored"
    assert proc.returncode in (0, 141)  # 0 when the whole table fit in the pipe before head left


def test_stdout_closed_before_the_result_exits_141_quietly():
    proc = subprocess.Popen([_script(), "demo", "--format", "json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before riskopt writes anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=TIMEOUT_S) == 141
    assert err == ""


# --------------------------------------------------------------------------- did you mean
def test_misspelt_bundled_card_suggests_the_name(capfd):
    line = one_error_line(*run_cli(capfd, "run", "hurricane_pol"))
    assert "card = 'hurricane_pol'" in line and "did you mean 'hurricane_pool'" in line


def test_unrelated_card_name_suggests_nothing(capfd):
    line = one_error_line(*run_cli(capfd, "run", "qqqqqqqq"))
    assert "file not found" in line and "did you mean" not in line


def test_misspelt_file_suggests_the_toml_file_beside_it(capfd, tmp_path):
    (tmp_path / "my_pool.toml").write_text((REPO / "models" / "ogaku_example1.toml").read_text())
    line = one_error_line(*run_cli(capfd, "run", tmp_path / "my_pol.toml"))
    assert f"did you mean '{tmp_path / 'my_pool.toml'}'" in line


def test_misspelt_card_field_suggests_the_known_one(capfd, tmp_path):
    text = (REPO / "models" / "hurricane_pool.toml").read_text().replace("\nseed =", "\nsed =")
    card = tmp_path / "typo.toml"
    card.write_text(text)
    line = one_error_line(*run_cli(capfd, "run", card))
    assert "model.sed = 2505" in line and "unknown field" in line and "did you mean 'seed'" in line


# --------------------------------------------------------------------------- card paths
def test_repository_path_works_from_another_folder_and_says_it_used_the_bundled_card(
        capfd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capfd, "run", "models/ogaku_example1.toml", "--format", "json",
                             "--reproducible")
    assert code == 0
    assert err.startswith("riskopt: note: models/ogaku_example1.toml is not in the current directory")
    assert "bundled card 'ogaku_example1'" in err
    code, by_name, err_by_name = run_cli(capfd, "run", "ogaku_example1", "--format", "json",
                                         "--reproducible")
    assert code == 0 and err_by_name == "" and by_name == out


def test_local_file_wins_over_the_bundled_card_of_the_same_name_and_says_so(capfd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (REPO / "models" / "ogaku_example1.toml").read_text()
    Path("ogaku_example1.toml").write_text(text.replace('name = "', 'name = "LOCAL ', 1))
    code, out, err = run_cli(capfd, "run", "ogaku_example1.toml", "--format", "json")
    assert code == 0 and '"name": "LOCAL ' in out
    assert "riskopt: note: using ogaku_example1.toml from the current directory" in err
    code, out, err = run_cli(capfd, "run", "ogaku_example1", "--format", "json")  # a name: bundled
    assert code == 0 and '"name": "LOCAL ' not in out
    assert "riskopt: note: using the bundled card 'ogaku_example1'" in err


# --------------------------------------------------------------------------- --output, --plot
def test_output_writes_the_json_atomically_and_nothing_on_stdout(capfd, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    code, out, err = run_cli(capfd, "run", "ogaku_example1", "--format", "json", "--output", target)
    assert code == 0 and out == ""
    assert err == f"riskopt: wrote {target}\n"
    assert target.read_text().startswith('{"mechanism": "price_and_choose"')
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left


def test_output_holds_what_stdout_would(capfd, tmp_path):
    target = tmp_path / "out.csv"
    code, out, _ = run_cli(capfd, "run", "ogaku_example1", "--format", "csv")
    assert code == 0 and out.count("\n") == 4  # a header and three farmers
    code, nothing, _ = run_cli(capfd, "run", "ogaku_example1", "--format", "csv", "--output", target)
    assert code == 0 and nothing == "" and target.read_text() == out
    code, nothing, _ = run_cli(capfd, "run", "ogaku_example1", "--output", target)  # the table
    assert code == 0 and nothing == "" and target.read_text().startswith("Ogaku")


def test_output_in_a_missing_folder_is_refused_before_the_solve(capfd, tmp_path, monkeypatch):
    monkeypatch.setattr(riskopt.cards, "run_card", lambda *a, **k: pytest.fail("solved anyway"))
    line = one_error_line(*run_cli(capfd, "run", "ogaku_example1", "--output", tmp_path / "no" / "x.csv"))
    assert "--output" in line and "an existing directory" in line


def test_plot_says_where_it_wrote(capfd, tmp_path):
    target = tmp_path / "figure.png"
    code, _, err = run_cli(capfd, "run", "ogaku_example1", "--plot", target)
    assert code == 0 and target.stat().st_size > 1000
    assert f"riskopt: wrote {target}\n" in err


# --------------------------------------------------------------------------- every bundled card
@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> dict[str, tuple[Any, Path, int, str]]:
    """Every bundled card through ``riskopt run CARD --format csv --output FILE``: (result, csv file,
    exit code, stderr)."""
    folder = tmp_path_factory.mktemp("csv")
    results: dict[str, Any] = {}
    original = riskopt.cards.run_card

    def keep(card: Any, **kw: Any) -> Any:
        results[card.source] = original(card, **kw)
        return results[card.source]

    out: dict[str, tuple[Any, Path, int, str]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(riskopt.cards, "run_card", keep)
        for name in BUNDLED:
            target = folder / f"{name}.csv"
            err = io.StringIO()
            mp.setattr(sys, "stderr", err)
            code = main(["run", name, "--format", "csv", "--output", str(target)])
            (result,) = [r for src, r in results.items() if Path(src).stem == name]
            out[name] = (result, target, code, err.getvalue())
    return out


@pytest.mark.parametrize("name", BUNDLED)
def test_csv_of_every_bundled_card_loads_with_pandas_as_the_per_agent_table(solved, name):
    result, target, code, err = solved[name]
    assert code == 0 and err == f"riskopt: wrote {target}\n"
    table = pd.read_csv(target)
    expected = result.to_frame().reset_index()
    assert list(table.columns) == list(expected.columns) and table.columns[0] == "name"
    assert list(table["name"]) == [r["name"] for r in result.agent_rows()]
    for column in expected.columns:
        if pd.api.types.is_float_dtype(expected[column]):  # full precision, not the table's digits
            np.testing.assert_allclose(table[column].to_numpy(float), expected[column].to_numpy(float),
                                       rtol=1e-15, atol=0, err_msg=column)
        else:
            assert list(table[column].astype(str)) == list(expected[column].astype(str)), column


@pytest.mark.parametrize("name", BUNDLED)
def test_allocation_frame_of_every_bundled_card_is_long_and_matches_the_allocation(solved, name):
    result = solved[name][0]
    frame = result.allocation_frame()
    assert list(frame.columns[:1]) == ["agent"] and "allocation" in frame.columns
    assert "state" in frame.columns
    allocation = result.allocation
    assert len(frame) == sum(np.size(v) for v in allocation.values())
    assert list(dict.fromkeys(frame["agent"])) == list(allocation)
    index = [c for c in frame.columns if c not in ("agent", "allocation", "probability")]
    for agent, values in allocation.items():
        rows = frame[frame["agent"] == agent]
        a = np.asarray(values, dtype=float)
        positions = tuple(rows[c].to_numpy() for c in index[-a.ndim:])
        np.testing.assert_array_equal(rows["allocation"].to_numpy(), a[positions])
        if "probability" in frame.columns:  # a law of the states: sums to 1 for each agent
            assert rows["probability"].sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", ["hurricane_pool", "grw_table2_row1", "grw_portfolio"])
def test_allocation_frame_carries_the_state_probabilities_where_the_result_has_them(solved, name):
    assert "probability" in solved[name][0].allocation_frame().columns


@pytest.mark.parametrize("name", ["hurricane_pool", "andraos2025_two_reinsurers", "niakh_two_region"])
def test_html_display_shows_status_objective_and_every_agent(solved, name, monkeypatch):
    result = solved[name][0]
    page = result._repr_html_()
    assert f"status <b>{result.status}</b>" in page and f"{result.objective:.6g}" in page
    assert "<table" in page and all(f">{r['name']}<" in page for r in result.agent_rows())
    monkeypatch.setitem(sys.modules, "pandas", None)  # without pandas: the plain table
    plain = result._repr_html_()
    assert "<table" not in plain and "<pre>" in plain and f"status <b>{result.status}</b>" in plain


# --------------------------------------------------------------------------- bench
def test_bench_default_folder_is_the_repository_results_only_in_the_repository(tmp_path):
    from riskopt.benchmarks.harness import RESULTS
    from riskopt.benchmarks.run import default_out

    assert default_out(REPO) == RESULTS
    assert default_out(tmp_path) == Path("riskopt-bench")


def test_bench_writes_to_out_and_says_so(capfd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["bench", "--quick", "--family", "reinsurance_spne", "--out", "here"])
    out, err = capfd.readouterr()
    assert code == 0 and "== reinsurance_spne" in out
    assert err.splitlines()[0] == "riskopt bench: writing results to here/"
    assert sorted(p.name for p in (tmp_path / "here").iterdir()) == [
        "reinsurance_spne_quick.csv", "reinsurance_spne_quick.md", "reinsurance_spne_quick.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["here"]
    assert "Warning" not in err and "warning" not in err


def test_bench_turns_library_warnings_into_the_rows_note():
    from riskopt.benchmarks.harness import Family, Runner, run

    def noisy(inputs: dict[str, Any]) -> dict[str, Any]:
        warnings.warn("Solution may be inaccurate. Try another solver, or verbose=True.", UserWarning,
                      stacklevel=1)
        return {"status": "optimal_inaccurate"}

    family = Family("noisy", case=lambda size: {}, sizes=[1], quick_sizes=[1, 2],
                    runners=[Runner("cvxpy", noisy), Runner("quiet", lambda inputs: {"status": "optimal"})])
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        rows = run(family, quick=True)
    assert escaped == []
    assert [r.get("note") for r in rows] == ["warning: Solution may be inaccurate", None] * 2


# --------------------------------------------------------------------------- units
def _card_with_units(tmp_path: Path, units: str) -> Path:
    text = (REPO / "models" / "ogaku_example1.toml").read_text()
    card = tmp_path / "units.toml"
    card.write_text(text.replace("[model]\n", f"[model]\nunits = {units!r}\n", 1).replace("'", '"'))
    return card


def test_units_of_the_card_head_the_report_and_stay_in_the_json(capfd, tmp_path):
    import json

    card = _card_with_units(tmp_path, "EUR m")
    code, out, _ = run_cli(capfd, "run", card)
    assert code == 0 and out.splitlines()[1] == "amounts (losses, allocations, premiums, taxes) in EUR m"
    code, out, _ = run_cli(capfd, "run", card, "--format", "json")
    assert code == 0 and json.loads(out)["model"]["units"] == "EUR m"
    code, out, _ = run_cli(capfd, "run", "ogaku_example1", "--format", "json")
    assert code == 0 and "units" not in json.loads(out)["model"]  # unsaid: the JSON is unchanged


def test_an_unprintable_or_long_unit_is_refused(capfd, tmp_path):
    line = one_error_line(*run_cli(capfd, "run", _card_with_units(tmp_path, "x" * 41)))
    assert "model.units" in line and "at most 40 characters" in line
