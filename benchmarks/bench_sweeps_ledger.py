"""How quickly does the ledger list every sweep, and give back a large one?

A ledger of N settled runs (100,000) in S named sweeps (1,000: one of 10,000 runs, the rest
sharing what is left), each run with two cached metrics, is written with
``Ledger.import_entries``, ``add_sweep`` and ``set_metrics``. Then it times, on a ledger
opened afresh each trial:

(a) ``jobmagic.sweeps()`` — every sweep, its runs per status and the best cached value of its
    objective, as a DataFrame (``Ledger.sweep_summaries`` underneath) — against a plain
    ``sqlite3`` + pandas baseline doing the same aggregation (the sweeps, each attempt's
    sweep and status, the objective metrics' values read into DataFrames, grouped and joined
    by pandas);
(b) ``jobmagic.load_sweep(name)`` of the 10,000-run sweep (its entries read, its handles
    made, ranked by the metric cache; its runs ended, so nothing is asked of a server)
    against ``sqlite3`` reading the same rows and parsing their JSON.

Each trial uses a new session (its own ledger connection, no handles made before).

Each figure is the median of ``--trials`` interleaved trials.

    python benchmarks/bench_sweeps_ledger.py [--n 100000] [--sweeps 1000] [--trials 5] [--quick]

Exits non-zero only on an error, never because something is slow.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from _common import Row, interleaved, make_row, median
from bench_board import ledger_entries

import jobmagic
from jobmagic.config import Settings
from jobmagic.domain.session import JobSession
from jobmagic.ledger import Ledger, LedgerEntry, SweepRecord

#: The issue's bounds: ``jobmagic.sweeps()`` over the whole ledger, ``load_sweep`` of one.
SUMMARIES_TARGET_S = 0.3
ENTRIES_TARGET_S = 1.0
_OBJECTIVES = ("loss:min", "accuracy:max", None)


def sweep_of(index: int, n: int, sweeps: int, big: int) -> str | None:
    """The sweep of run ``index``: the first ``big`` runs are sweep 0's, the others are dealt
    to sweeps 1.. in turn; a few runs at the end belong to none."""
    if index < big:
        return "sweep-0000"
    per = max(1, (n - big) // max(1, sweeps - 1))
    number = 1 + (index - big) // per
    return f"sweep-{number:04d}" if number < sweeps else None


def swept_entries(n: int, sweeps: int, big: int) -> Iterator[LedgerEntry]:
    for index, entry in enumerate(ledger_entries(n)):
        yield dataclasses.replace(entry, sweep=sweep_of(index, n, sweeps, big))


def write_ledger(path: Path, n: int, sweeps: int, big: int) -> None:
    """The benchmark's ledger: ``n`` runs in ``sweeps`` sweeps, two metrics per run."""
    with Ledger(path) as ledger:
        start = next(ledger_entries(1)).created_at
        with ledger.batch():
            for number in range(sweeps):
                ledger.add_sweep(
                    SweepRecord(
                        name=f"sweep-{number:04d}",
                        kind="grid",
                        target="sandbox:demo:train",
                        objective=_OBJECTIVES[number % len(_OBJECTIVES)],
                        space={"lr": [0.1, 0.05, 0.033], "epochs": list(range(7))},
                        created_at=start + timedelta(minutes=number),
                    )
                )
        ledger.import_entries(swept_entries(n, sweeps, big))
        ledger.set_metrics(
            (entry.application_id or "", entry.run_name or "", name, value, 10)
            for index, entry in enumerate(ledger_entries(n))
            for name, value in (("loss", 1.0 / (1 + index % 97)), ("accuracy", index % 89 / 89))
        )


def baseline_summaries(path: Path) -> pd.DataFrame:
    """Every sweep's runs per status and best objective value, with sqlite3 and pandas."""
    conn = sqlite3.connect(str(path))
    try:
        sweeps = pd.read_sql_query(
            "SELECT name, kind, target, objective, space_json, created_at FROM sweeps", conn
        )
        attempts = pd.read_sql_query(
            "SELECT sweep, COALESCE(run_status, UPPER(state)) AS status, application_id, "
            "run_name FROM attempts WHERE sweep IS NOT NULL",
            conn,
        )
        metrics = pd.read_sql_query(
            "SELECT application_id, run_name, name, value FROM run_metrics "
            "WHERE name IN ('loss', 'accuracy')",
            conn,
        )
    finally:
        conn.close()
    counts = attempts.groupby(["sweep", "status"]).size().unstack(fill_value=0)
    split = sweeps["objective"].str.rpartition(":")
    sweeps["metric"], sweeps["goal"] = split[0], split[2]
    values = attempts.merge(sweeps[["name", "metric", "goal"]], left_on="sweep", right_on="name")
    values = values.merge(
        metrics,
        left_on=["application_id", "run_name", "metric"],
        right_on=["application_id", "run_name", "name"],
    )
    low = values.groupby("sweep")["value"].min()
    high = values.groupby("sweep")["value"].max()
    frame = sweeps.set_index("name").join(counts)
    frame["best"] = low.where(frame["goal"] == "min", high).reindex(frame.index)
    return frame.sort_values("created_at", ascending=False)


def baseline_entries(path: Path, name: str) -> list[dict[str, Any]]:
    """The attempts of sweep ``name`` in creation order, with sqlite3 and json."""
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT * FROM attempts WHERE sweep = ? ORDER BY created_at, id", (name,)
        ).fetchall()
    finally:
        conn.close()
    return [
        {**dict(row), "run": json.loads(row["run_json"]), "params": json.loads(row["params_json"])}
        for row in rows
    ]


def _session(path: Path) -> JobSession:
    # The runs' host: nothing listens there, and nothing is asked of it (every run ended).
    return JobSession(Settings(host="http://127.0.0.1:1", api_key="bench", ledger_path=str(path)))


def _timed_summaries(path: Path, expected: int) -> float:
    session = _session(path)
    started = time.perf_counter()
    frame = jobmagic.sweeps(session=session)
    seconds = time.perf_counter() - started
    session.close()
    assert len(frame) == expected, len(frame)
    return seconds


def _timed_entries(path: Path, expected: int) -> float:
    session = _session(path)
    started = time.perf_counter()
    loaded = jobmagic.load_sweep("sweep-0000", session=session)
    seconds = time.perf_counter() - started
    session.close()
    assert len(loaded.handles) + len(loaded.failures) == expected, len(loaded.handles)
    return seconds


def _timed(work: Any, *args: Any) -> float:
    started = time.perf_counter()
    work(*args)
    return time.perf_counter() - started


def run(
    quick: bool = False,
    *,
    n: int | None = None,
    sweeps: int | None = None,
    trials: int | None = None,
) -> list[Row]:
    """The benchmark's rows: every sweep summed up, and one large sweep's entries."""
    n = n if n is not None else (2_000 if quick else 100_000)
    sweeps = sweeps if sweeps is not None else (20 if quick else 1_000)
    trials = trials if trials is not None else (1 if quick else 5)
    big = n // 10
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.sqlite3"
        write_ledger(path, n, sweeps, big)
        summaries = interleaved(
            {
                "jobmagic": lambda: _timed_summaries(path, sweeps),
                "baseline": lambda: _timed(baseline_summaries, path),
            },
            trials,
        )
        entries = interleaved(
            {
                "jobmagic": lambda: _timed_entries(path, big),
                "baseline": lambda: _timed(baseline_entries, path, "sweep-0000"),
            },
            trials,
        )
    ours, base = median(summaries["jobmagic"]), median(summaries["baseline"])
    ours_e, base_e = median(entries["jobmagic"]), median(entries["baseline"])
    return [
        make_row(
            f"jobmagic.sweeps(), {n:,} runs in {sweeps:,} sweeps (vs sqlite3 + pandas groupby)",
            ours,
            base,
            f"≤ {SUMMARIES_TARGET_S * 1000:g} ms",
        ),
        make_row(
            f"jobmagic.load_sweep of a {big:,}-run sweep (vs sqlite3 + json of its rows)",
            ours_e,
            base_e,
            f"≤ {ENTRIES_TARGET_S:g} s",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="runs in the ledger (100,000)")
    parser.add_argument("--sweeps", type=int, default=None, help="sweeps (1,000)")
    parser.add_argument("--trials", type=int, default=None, help="interleaved trials (5)")
    parser.add_argument("--quick", action="store_true", help="a tiny ledger, one trial")
    args = parser.parse_args(argv)
    for row in run(args.quick, n=args.n, sweeps=args.sweeps, trials=args.trials):
        print(
            f"{row['what']}\n    jobmagic {row['jobmagic_s'] * 1000:.1f} ms  baseline "
            f"{row['baseline_s'] * 1000:.1f} ms  ratio {row['ratio']:.2f}x  "
            f"target {row['target']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
