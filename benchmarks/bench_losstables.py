"""Modelled losses (riskopt.losstables): reading year loss tables, simulating event loss tables.

Size ``N``: a year loss table of ``N`` years x 212 regions, and an event loss table of ``N / 10``
events x 212 regions simulated to ``N / 10`` years. The issue's bars, at ``N = 1,000,000``: the
Parquet YLT read into Scenarios in <= 5 s and <= 3 GB peak; the 100,000-event ELT simulated to
100,000 years in <= 10 s.

Instances (``rng = default_rng(2024)``, cached as Parquet in the temporary folder):

* YLT: each region loses in a year with probability 0.15, a lognormal loss (log-mean 0, log-sd 1.5)
  times the region's size (uniform on [0.5, 2]); written with pyarrow (snappy, row groups of 65,536
  years), a ``year`` column then ``r001`` ... ``r212``. CSV runs (pandas) stop at 100,000 years.
* ELT: each event hits a band of 1 to 40 neighbouring regions around a uniform centre, with a mean
  loss lognormal(0, 1) x its severity (Pareto, index 1.5) decaying away from the centre; rates
  lognormal(0, 1) scaled to a total of 20 events a year. ``beta`` rows give each event a
  secondary uncertainty on its total loss: sd = 0.8 x mean, max_loss = 5 x mean.

Memory first touched: this machine is a virtual machine whose host backs guest memory lazily, so the
first touch of memory that no process used before costs about 4 s per GiB here (0.26 GiB/s measured;
a 1.7 GB array: about 7 s), whatever the code, and varies with what ran before; memory used once is
fast. Each runner therefore makes its call twice in its fresh process (the first result freed
before the second): ``cold_s`` is the first call, ``total_s`` the second, which reuses the memory the
first one touched and so times riskopt rather than the hypervisor.

Runners run in a fresh interpreter (pandas, pyarrow and riskopt imported before the clock starts):
``total_s`` is the call alone (its second time, above), ``peak_MB`` the process's peak resident
memory (``ru_maxrss``, interpreter and libraries included: about 200 MB). ``year_loss_scenarios``
reads one region at a time into the space (one copy of the losses); ``year_loss_table`` builds the
regions x years array; ``LossTable.scenarios`` copies it into a space (two copies: a Scenarios owns
copies of its variables).
``check``: YLT, the largest |sum of the losses read - sum written| relative to the sum; ELT, the
largest |simulated mean annual loss - sum_e rate_e L_e,r| in standard errors of the simulated mean
(computed from the sample), over the regions.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from riskopt.data import atomic_path, write_atomic

from .harness import Family, Runner, fresh_process, register

REGIONS = 212
TOTAL_RATE = 20.0
CACHE = Path(tempfile.gettempdir()) / "riskopt-bench-losstables"
VERSION = 1  # of the instances: bump when the generators change
CSV_MAX = 100_000


def _ylt_parquet(years: int) -> tuple[Path, float]:
    """The synthetic YLT as Parquet (made once, then cached) and the sum of its losses."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = CACHE / f"ylt-v{VERSION}-{years}x{REGIONS}.parquet"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        return path, float(json.loads(meta.read_text())["sum"])
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    size = rng.uniform(0.5, 2.0, REGIONS)
    names = [f"r{r + 1:03d}" for r in range(REGIONS)]
    schema = pa.schema([("year", pa.int64()), *((n, pa.float64()) for n in names)])
    total = 0.0
    with atomic_path(path) as part, pq.ParquetWriter(part, schema, compression="snappy") as writer:
        for y0 in range(0, years, 65_536):
            n = min(65_536, years - y0)
            hit = rng.random((n, REGIONS)) < 0.15
            loss = np.where(hit, rng.lognormal(0.0, 1.5, (n, REGIONS)) * size, 0.0)
            total += float(loss.sum())
            cols = [pa.array(np.arange(y0 + 1, y0 + n + 1))] + [pa.array(loss[:, r]) for r in range(REGIONS)]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))
    write_atomic(meta, json.dumps({"sum": total}))
    return path, total


def _ylt_csv(years: int) -> Path:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = CACHE / f"ylt-v{VERSION}-{years}x{REGIONS}.csv"
    if not path.is_file():
        source, _ = _ylt_parquet(years)
        with atomic_path(path) as part:
            pacsv.write_csv(pq.read_table(source), part)
    return path


def elt_instance(events: int, seed: int = 2024) -> Any:
    """The synthetic ELT (module docstring); ``beta``: per-event secondary uncertainty."""
    from riskopt.losstables import EventLossTable

    rng = np.random.default_rng(seed)
    centre = rng.uniform(0, REGIONS, events)
    width = rng.integers(1, 41, events)
    severity = (1.0 - rng.random(events)) ** (-1 / 1.5) * rng.lognormal(0.0, 1.0, events)
    r = np.arange(REGIONS)
    distance = np.abs(r[None, :] + 0.5 - centre[:, None])
    losses = np.where(distance <= width[:, None] / 2, severity[:, None] * np.exp(-distance / 10.0), 0.0)
    rates = rng.lognormal(0.0, 1.0, events)
    rates *= TOTAL_RATE / rates.sum()
    total = losses.sum(axis=1)
    names = tuple(f"r{k + 1:03d}" for k in range(REGIONS))
    return EventLossTable(np.arange(1, events + 1), rates, losses, names,
                          loss_sd=0.8 * total, max_loss=5.0 * total)


#: what every runner's fresh interpreter imports before its clock starts
SETUP = ("import numpy as np, pandas, pyarrow.parquet\n"
         "import riskopt.losstables as lt\n"
         "from riskopt.benchmarks.bench_losstables import elt_instance\n")


def case(n: int) -> dict[str, Any]:
    path, total = _ylt_parquet(n)
    return {"years": n, "parquet": str(path), "sum": total, "events": max(n // 10, 100),
            "sim_years": max(n // 10, 100)}


def _twice(call: str, keep: str) -> str:
    """Code that makes ``call`` twice (the first result freed first): ``cold_s`` and ``total_s``."""
    return (f"t1 = time.perf_counter()\n{call}\ncold_s = time.perf_counter() - t1\n"
            f"del {keep}\n"
            f"t1 = time.perf_counter()\n{call}\nwarm_s = time.perf_counter() - t1\n")


def _ylt(call: str, source: str = "parquet"):
    def run(inp: dict[str, Any]) -> dict[str, Any]:
        path = inp["parquet"] if source == "parquet" else str(_ylt_csv(inp["years"]))
        read = {"scenarios": ("s = lt.year_loss_scenarios(path)", "s", "s['loss']"),
                "table": ("t = lt.year_loss_table(path)", "t", "t.losses"),
                "table.scenarios": ("t = lt.year_loss_table(path); s = t.scenarios", "t, s",
                                    "s['loss']")}[call]
        out = fresh_process(f"path = {path!r}\n{_twice(read[0], read[1])}"
                            f"out = {{'sum': float({read[2]}.sum()), 'cold_s': cold_s, 'warm_s': warm_s}}\n",
                            SETUP)
        if "sum" not in out:
            return out
        return {"total_s": out["warm_s"], "cold_s": out["cold_s"], "peak_MB": out["peak_MB"], "status": "ok",
                "check": abs(out["sum"] - inp["sum"]) / inp["sum"]}

    return run


def _elt(view: str, secondary: bool = False):
    def run(inp: dict[str, Any]) -> dict[str, Any]:
        simulate = f"y = elt.simulate({inp['sim_years']}, seed=7, view={view!r}, secondary={secondary})"
        code = (f"elt = elt_instance({inp['events']})\n" + _twice(simulate, "y") +
                "m = y.losses.mean(axis=1)\n"
                "se = y.losses.std(axis=1, ddof=1) / np.sqrt(y.losses.shape[1])\n"
                "ok = se > 0\n"
                "err = float(np.max(np.abs(m - elt.mean_annual_loss())[ok] / se[ok]))\n"
                "out = {'cold_s': cold_s, 'warm_s': warm_s, 'err': err,\n"
                "       'events_per_year': float(y.event_counts.mean())}\n")
        out = fresh_process(code, SETUP)
        if "warm_s" not in out:
            return out
        row = {"total_s": out["warm_s"], "cold_s": out["cold_s"], "peak_MB": out["peak_MB"],
               "status": f"{out['events_per_year']:.2f} events a year"}
        if view == "aggregate":
            row["check"] = out["err"]
        return row

    return run


LOSSTABLES = register(Family(
    name="losstables",
    case=case,
    sizes=[100_000, 1_000_000],
    quick_sizes=[5_000],
    description="YLT Parquet/CSV of N years x 212 regions read; ELT of N/10 events simulated to N/10 years",
    notes=__doc__ or "",
    columns=["size", "runner", "status", "total_s", "cold_s", "peak_MB", "check"],
    repeat=1,
    runners=[
        Runner("ylt parquet -> year_loss_scenarios", _ylt("scenarios")),
        Runner("ylt parquet -> year_loss_table", _ylt("table")),
        Runner("ylt parquet -> year_loss_table().scenarios", _ylt("table.scenarios")),
        Runner("ylt csv -> year_loss_table", _ylt("table", "csv"), max_size=CSV_MAX),
        Runner("elt simulate aggregate", _elt("aggregate")),
        Runner("elt simulate occurrence", _elt("occurrence")),
        Runner("elt simulate aggregate, beta secondary per event", _elt("aggregate", True)),
    ],
))
