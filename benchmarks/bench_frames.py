"""How fast is runs_to_dataframe next to plain pandas?

Generates N realistic JobRun dicts (as ``GET /jobs/{id}/runs`` returns them)
and times, best of 5:

(a) baseline: ``pd.DataFrame.from_records(dicts)``, renaming to snake_case,
    and the same dtype conversions runs_to_dataframe makes;
(b) ``runs_to_dataframe(dicts)``;
(c) ``runs_to_dataframe(job_runs)`` on the same runs as JobRun objects;
(d) ``runs_to_dataframe(handles)``: JobRuns with three params each, against
    (e) the baseline plus the same three ``params.<name>`` string columns;

and, over a ledger file of N runs (written as ``benchmarks/bench_board.py`` writes it),
the median of interleaved trials of:

(f) ``%job_runs --all --table -o df`` in a real IPython shell, the styled table rendered to
    HTML as a notebook would, against
(g) the baseline: ``sqlite3`` reading each run's JSON and params, ``json.loads`` of each,
    then (e) on them (the same columns and dtypes as ``df``).

Usage::

    python benchmarks/bench_frames.py [--n 100000] [--repeat 5] [--quick]

``run(quick)`` returns the rows for ``benchmarks/run_all.py``.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from jobmagic.frames import BASE_COLUMNS, STATUS_ORDER, runs_to_dataframe
from jobmagic.models import JobRun

_CAMEL_TO_SNAKE = {
    "name": "name",
    "applicationName": "application_name",
    "status": "status",
    "createdAt": "created_at",
    "endTime": "end_time",
    "duration": "duration",
    "exitCode": "exit_code",
    "totalRetries": "total_retries",
    "deploymentVersion": "deployment_version",
    "triggeredBy": "triggered_by",
    "command": "command",
    "error": "error",
    "rerun_of": "rerun_of",
    "sweep": "sweep",
}
_TEXT = (
    "name",
    "application_name",
    "deployment_version",
    "triggered_by",
    "command",
    "error",
    "rerun_of",
    "sweep",
)
_STATUSES = ["FINISHED"] * 6 + ["FAILED", "RUNNING", "TERMINATED", "SCHEDULED"]


@dataclass(frozen=True)
class Handle:
    """The shape of a run handle as runs_to_dataframe sees it."""

    run: JobRun
    params: Mapping[str, str]


def make_dicts(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """N JobRun dicts like a real server's: ms times, seconds, optional fields missing."""
    rng = random.Random(seed)
    start = 1_700_000_000_000
    runs = []
    for i in range(n):
        status = rng.choice(_STATUSES)
        created = start + i * 37_000 + rng.randrange(1000)
        run: dict[str, Any] = {
            "id": f"run-{i:08d}",
            "name": f"train-{i:06d}-{rng.randrange(16**5):05x}",
            "applicationName": "train",
            "applicationId": "app-0001",
            "deploymentId": "dep-0001",
            "deploymentVersion": str(rng.randrange(1, 9)),
            "createdAt": created,
            "command": f"python train.py --lr {rng.choice(['0.1', '0.01', '0.001'])}",
            "totalRetries": rng.randrange(3),
            "status": status,
            "triggeredBy": "user-42",
            "triggeredBySubject": {
                "subjectId": "user-42",
                "subjectType": "user",
                "subjectSlug": "ada",
                "subjectDisplayName": "Ada Lovelace",
            },
            "tenantName": "acme",
        }
        if status in ("FINISHED", "FAILED", "TERMINATED"):
            duration = round(rng.uniform(5, 7200), 3)
            run["endTime"] = created + int(duration * 1000)
            run["duration"] = duration
            run["exitCode"] = 0 if status == "FINISHED" else rng.choice([1, 2, 137])
        if status == "FAILED":
            run["error"] = "Process exited with code 1"
        runs.append(run)
    return runs


def baseline(dicts: list[dict[str, Any]]) -> pd.DataFrame:
    """What a user would write with pandas alone, giving the same columns and dtypes."""
    frame = pd.DataFrame.from_records(dicts)
    for camel in _CAMEL_TO_SNAKE:
        if camel not in frame:
            frame[camel] = None
    frame = frame.rename(columns=_CAMEL_TO_SNAKE)[list(BASE_COLUMNS)]
    for column in ("created_at", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True).astype(
            "datetime64[ns, UTC]"
        )
    frame["duration"] = pd.to_timedelta(frame["duration"], unit="s").astype("timedelta64[ns]")
    for column in ("exit_code", "total_retries"):
        frame[column] = frame[column].astype("Int64")
    seen = [s for s in dict.fromkeys(frame["status"]) if s not in STATUS_ORDER]
    frame["status"] = pd.Categorical(frame["status"], categories=[*STATUS_ORDER, *seen])
    for column in _TEXT:
        frame[column] = frame[column].astype("string")
    return frame


def baseline_with_params(
    dicts: list[dict[str, Any]], params: list[Mapping[str, str]]
) -> pd.DataFrame:
    """The baseline, plus one string column per param, as MLflow's ``params.<name>``."""
    frame = baseline(dicts)
    extra = pd.DataFrame.from_records(params).add_prefix("params.").astype("string")
    return pd.concat([frame, extra], axis=1)


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


#: The issue's bound for ``%job_runs --all --table -o df`` against the baseline.
LEDGER_FRAME_TARGET = 1.5


def baseline_from_ledger(path: Path) -> pd.DataFrame:
    """Every run in a ledger file with sqlite3, json and pandas alone, newest first."""
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute(
            "SELECT run_json, params_json FROM attempts ORDER BY created_at DESC, id DESC"
        ).fetchall()
    finally:
        conn.close()
    dicts = [json.loads(run) for run, _ in rows]
    params = [json.loads(sent) for _, sent in rows]
    return baseline_with_params(dicts, params)


def _magic_frame(shell: Any) -> pd.DataFrame:
    """``%job_runs --all --table -o df``, and the table's HTML as a notebook shows it."""
    styled = shell.run_line_magic("job_runs", "--all --table -o df")
    styled.to_html()
    frame: pd.DataFrame = shell.user_ns["df"]
    return frame


def ledger_rows(n: int, trials: int) -> list[dict[str, Any]]:
    """The -o df row: the magic over an N-run ledger against the sqlite3 + json baseline."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_board import write_ledger
    from IPython.core.interactiveshell import InteractiveShell

    with tempfile.TemporaryDirectory() as folder:
        overrides = {
            "JOBMAGIC_HOME": str(Path(folder) / "home"),
            # Every run in the ledger has ended: nothing is asked of this host.
            "TFY_HOST": "http://127.0.0.1:9",
            "TFY_API_KEY": "bench-not-a-token",
        }
        saved = {name: os.environ.get(name) for name in overrides}
        os.environ.update(overrides)
        shell = InteractiveShell.instance()
        try:
            path = write_ledger(Path(folder) / "ledger.sqlite3", n)
            shell.run_line_magic("load_ext", "jobmagic")
            shell.run_line_magic("config", f"JobMagic.ledger_path = {str(path)!r}")
            ours, theirs = _magic_frame(shell), baseline_from_ledger(path)
            if list(ours.columns) != list(theirs.columns) or list(ours.dtypes) != list(
                theirs.dtypes
            ):
                raise AssertionError("the -o df frame and the baseline differ in columns/dtypes")
            del ours, theirs
            mine: list[float] = []
            base: list[float] = []
            for index in range(trials):  # interleaved, the order alternating
                pair = [
                    (mine, lambda: _magic_frame(shell)),
                    (base, lambda: baseline_from_ledger(path)),
                ]
                for into, work in pair if index % 2 else reversed(pair):
                    started = time.perf_counter()
                    work()
                    into.append(time.perf_counter() - started)
        finally:
            shell.run_line_magic("unload_ext", "jobmagic")
            InteractiveShell.clear_instance()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    ours_s, base_s = statistics.median(mine), statistics.median(base)
    ratio = ours_s / base_s if base_s else float("inf")
    return [
        {
            "what": f"%job_runs --all --table -o df, {n:,} runs (vs sqlite3 + json + from_records)",
            "jobmagic_s": ours_s,
            "baseline_s": base_s,
            "ratio": ratio,
            "target": f"≤ {LEDGER_FRAME_TARGET:g}x",
            "met": ratio <= LEDGER_FRAME_TARGET,
        }
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The rows for ``benchmarks/run_all.py``: the ledger -o df path, medians of trials."""
    return ledger_rows(2_000 if quick else 100_000, 1 if quick else 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="runs to convert")
    parser.add_argument("--repeat", type=int, default=5, help="timings to take the best of")
    parser.add_argument("--quick", action="store_true", help="2,000 runs, one timing each")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 2_000, 1
    dicts = make_dicts(args.n)
    job_runs = [JobRun.from_api(d) for d in dicts]
    handles = [
        Handle(run, {"lr": str(0.1 / (1 + i % 3)), "epochs": str(i % 7), "seed": str(i)})
        for i, run in enumerate(job_runs)
    ]

    params = [handle.params for handle in handles]

    # Same columns and dtypes, or the comparison means nothing.
    for ours, theirs in (
        (runs_to_dataframe(dicts), baseline(dicts)),
        (runs_to_dataframe(handles), baseline_with_params(dicts, params)),
    ):
        if list(ours.columns) != list(theirs.columns) or list(ours.dtypes) != list(theirs.dtypes):
            print("baseline and runs_to_dataframe disagree on columns/dtypes", file=sys.stderr)
            return 1

    t_base = best_of(args.repeat, lambda: baseline(dicts))
    t_base_params = best_of(args.repeat, lambda: baseline_with_params(dicts, params))
    t_dicts = best_of(args.repeat, lambda: runs_to_dataframe(dicts))
    t_runs = best_of(args.repeat, lambda: runs_to_dataframe(job_runs))
    t_handles = best_of(args.repeat, lambda: runs_to_dataframe(handles))

    print(f"n = {args.n:,} runs, best of {args.repeat}, pandas {pd.__version__}")
    print(f"baseline (from_records + dtypes)     {t_base * 1000:8.1f} ms")
    print(f"runs_to_dataframe(dicts)             {t_dicts * 1000:8.1f} ms")
    print(f"runs_to_dataframe(JobRuns)           {t_runs * 1000:8.1f} ms")
    print(f"baseline + 3 params columns          {t_base_params * 1000:8.1f} ms")
    print(f"runs_to_dataframe(handles, 3 params) {t_handles * 1000:8.1f} ms")
    print(f"runs_to_dataframe(dicts) / baseline = {t_dicts / t_base:.2f}x")
    print(f"runs_to_dataframe(JobRuns) / baseline = {t_runs / t_base:.2f}x")
    print(f"runs_to_dataframe(handles) / baseline with params = {t_handles / t_base_params:.2f}x")
    for row in ledger_rows(args.n, args.repeat):
        print(
            f"{row['what']}\n    {row['jobmagic_s'] * 1000:8.1f} ms vs "
            f"{row['baseline_s'] * 1000:8.1f} ms = {row['ratio']:.2f}x (target {row['target']}: "
            f"{'met' if row['met'] else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
