"""How quickly does ``%job_runs --all`` paint its board over a 100,000-run ledger, and how
much does it save into the notebook?

A ledger of N settled runs is written with ``Ledger.import_entries`` (one transaction; the
per-trigger write path commits, with an fsync, twice per run). Then, in a real IPython
``InteractiveShell`` with ``%load_ext jobmagic`` and its display captured, it times:

(a) ``%job_runs --all`` until the board's output is displayed (first paint), against
(b) the baseline: a bare ``sqlite3`` ``SELECT … ORDER BY created_at DESC LIMIT 50``, each
    row's JSON parsed, and ``pd.DataFrame.from_records`` of them;

and measures the saved bundle: the displayed output (widget view, HTML and text snapshots)
plus the widget state of the board, in bytes, against the HTML pandas saves for (b).
Each figure is the median of ``--trials`` interleaved trials.

    python benchmarks/bench_board.py [--n 100000] [--trials 5] [--quick]

Exits non-zero only on an error, never because something is slow.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from jobmagic.ledger import AttemptState, Ledger, LedgerEntry
from jobmagic.models import JobRun, RunStatus

#: The issue's bounds: first paint and the saved bundle, at any ledger size.
FIRST_PAINT_TARGET_S = 0.3
BUNDLE_TARGET_BYTES = 200_000

_STATUSES = [RunStatus.FINISHED] * 6 + [RunStatus.FAILED, RunStatus.TERMINATED]
_APPS = ("train", "eval", "hello")


def ledger_entries(n: int, *, seed: int = 7, session_id: str = "bench") -> Iterator[LedgerEntry]:
    """N settled runs of three jobs, one every 37 s, each with three params (deterministic)."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(n):
        created = start + timedelta(seconds=37 * i)
        status = rng.choice(_STATUSES)
        app = _APPS[i % len(_APPS)]
        run = JobRun(
            name=f"{app}-{i:06d}",
            status=status,
            application_name=app,
            application_id=f"app-{app}",
            deployment_id=f"dep-{app}",
            created_at=created,
            end_time=created + timedelta(seconds=rng.randrange(5, 7200)),
            exit_code=0 if status == RunStatus.FINISHED else rng.choice([1, 2, 137]),
            command=f"python {app}.py",
            error="Process exited with code 1" if status == RunStatus.FAILED else None,
        )
        yield LedgerEntry(
            id=0,
            state=AttemptState.ACKNOWLEDGED,
            created_at=created,
            updated_at=created,
            host="http://127.0.0.1:1",
            target=f"sandbox:demo:{app}",
            application_id=f"app-{app}",
            deployment_id=f"dep-{app}",
            application_fqn=f"sandbox:demo:{app}",
            run_name=run.name,
            params={"lr": str(0.1 / (1 + i % 3)), "epochs": str(i % 7), "seed": str(i)},
            command=run.command,
            session_id=session_id,
            run=run,
        )


def write_ledger(path: Path, n: int, *, seed: int = 7) -> Path:
    """A ledger file at ``path`` holding :func:`ledger_entries` (``n`` of them)."""
    with Ledger(path) as ledger:
        ledger.import_entries(ledger_entries(n, seed=seed))
    return path


def baseline_page(path: Path, size: int = 50) -> pd.DataFrame:
    """The newest ``size`` runs with sqlite3, json and pandas alone."""
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute(
            "SELECT run_json, params_json FROM attempts ORDER BY created_at DESC, id DESC LIMIT ?",
            (size,),
        ).fetchall()
    finally:
        conn.close()
    records = [{**json.loads(run), "params": json.loads(params)} for run, params in rows]
    return pd.DataFrame.from_records(records)


def _shell(ledger: Path) -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jobmagic")
    shell.run_line_magic("config", f"JobMagic.ledger_path = {str(ledger)!r}")
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    return shell


def first_paint(shell: Any, line: str = "--all") -> tuple[float, int]:
    """Seconds from running ``%job_runs <line>`` as a cell to its output being displayed,
    and the bytes that output saves into a notebook (bundle plus the board's widget state)."""
    from IPython.utils.capture import capture_output
    from ipywidgets.embed import dependency_state

    started = time.perf_counter()
    with capture_output(stdout=True, stderr=True, display=True) as captured:
        result = shell.run_cell(f"%job_runs {line}", store_history=False)
    seconds = time.perf_counter() - started
    result.raise_error()
    board = result.result
    saved = sum(len(json.dumps(output.data)) for output in captured.outputs)
    saved += len(json.dumps(dependency_state(board.widget)))
    board.close()
    return seconds, saved


def _median_pair(
    ours: Callable[[], float], theirs: Callable[[], float], trials: int
) -> tuple[float, float]:
    mine: list[float] = []
    base: list[float] = []
    for index in range(trials + 1):  # the first round warms caches and is dropped
        pair = [(mine, ours), (base, theirs)]
        for into, work in pair if index % 2 else reversed(pair):
            seconds = work()
            if index:
                into.append(seconds)
    return statistics.median(mine), statistics.median(base)


def _row(what: str, ours: float, base: float, target: str, **extra: Any) -> dict[str, Any]:
    return {
        "what": what,
        "jobmagic_s": ours,
        "baseline_s": base,
        "ratio": ours / base if base else float("inf"),
        "target": target,
        **extra,
    }


def run(quick: bool = False, *, n: int | None = None, trials: int | None = None) -> list[dict]:
    """The benchmark's rows: first paint (seconds) and the saved bundle (bytes)."""
    n = n if n is not None else (500 if quick else 100_000)
    trials = trials if trials is not None else (1 if quick else 5)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        # No ~/.jobmagic touched, and a host nobody answers on: every run in the ledger has
        # ended, so the board asks the server nothing.
        overrides = {
            "JOBMAGIC_HOME": str(home / "home"),
            "TFY_HOST": "http://127.0.0.1:9",
            "TFY_API_KEY": "bench-not-a-token",
        }
        saved = {name: os.environ.get(name) for name in overrides}
        os.environ.update(overrides)
        try:
            path = write_ledger(home / "ledger.sqlite3", n)
            shell = _shell(path)
            try:
                sizes: list[int] = []

                def ours() -> float:
                    seconds, saved = first_paint(shell)
                    sizes.append(saved)
                    return seconds

                def theirs() -> float:
                    started = time.perf_counter()
                    baseline_page(path)
                    return time.perf_counter() - started

                paint, base = _median_pair(ours, theirs, trials)
                base_html = len(baseline_page(path).to_html().encode())
            finally:
                from IPython.core.interactiveshell import InteractiveShell

                shell.run_line_magic("unload_ext", "jobmagic")
                InteractiveShell.clear_instance()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    bundle = max(sizes)
    return [
        _row(
            f"%job_runs --all first paint, {n:,}-run ledger (vs sqlite3 LIMIT 50 + DataFrame)",
            paint,
            base,
            f"≤ {FIRST_PAINT_TARGET_S:g} s",
            met=paint <= FIRST_PAINT_TARGET_S,
        ),
        _row(
            f"%job_runs --all saved bundle, {n:,}-run ledger (vs pandas HTML of 50 rows)",
            bundle / 1000,
            base_html / 1000,
            f"≤ {BUNDLE_TARGET_BYTES // 1000} KB",
            unit="KB",
            met=bundle <= BUNDLE_TARGET_BYTES,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="runs in the ledger (100,000)")
    parser.add_argument("--trials", type=int, default=None, help="interleaved trials (5)")
    parser.add_argument("--quick", action="store_true", help="a tiny ledger, one trial")
    args = parser.parse_args(argv)
    for row in run(args.quick, n=args.n, trials=args.trials):
        unit = row.get("unit", "s")
        print(
            f"{row['what']}\n    jobmagic {row['jobmagic_s']:.3f} {unit}  baseline "
            f"{row['baseline_s']:.3f} {unit}  ratio {row['ratio']:.2f}x  target {row['target']}"
            f"  {'met' if row['met'] else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
