"""``make bench``: every benchmark, one table, ``benchmarks/results.json``.

Each benchmark module (``bench_*.py`` here) exposes ``run(quick) -> list[Row]`` (see
``_common.Row``), and may expose ``unavailable() -> str | None``: why it cannot run on this
machine (no browser), then it is skipped with that reason. Each runs in a fresh
interpreter, so one's memory, threads and IPython shell do not weigh on the next, and a
crash is one failed row, not a lost table. A module that is missing or fails is shown as
FAILED and the command exits non-zero at the end, as it does when a target is not met.

    python benchmarks/run_all.py [--quick] [--only bench_trigger,bench_sweep]
    python benchmarks/run_all.py --readme     # README's table from results.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from _common import (
    Row,
    describe_machine,
    failed_row,
    format_table,
    machine,
    row_problems,
    target_met,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
README_MARKER = "bench-table"
#: In the order of the table: the issue's rows first, then the older benchmarks.
MODULES = (
    "bench_board",
    "bench_board_sweep",
    "bench_sweeps_ledger",
    "bench_scale_sweep",
    "bench_sandbox",
    "bench_trigger",
    "bench_wait",
    "bench_load_ext",
    "bench_sweep",
    "bench_frames",
    "bench_metrics",
    "bench_hostile_bodies",
    "bench_search",
    "bench_serverext",
    "bench_runs_panel",
)


def unavailable(name: str) -> str | None:
    """Why benchmark ``name`` cannot run on this machine (its ``unavailable()``: no browser,
    say), or None."""
    if not (HERE / f"{name}.py").exists():
        return None
    check = getattr(importlib.import_module(name), "unavailable", None)
    return None if check is None else check()


def run_module(name: str, quick: bool) -> list[Row]:
    """``name``'s rows, from a child interpreter; a failed row if it is missing or fails,
    none if it cannot run here (it says why)."""
    if not (HERE / f"{name}.py").exists():
        print(f"!! {name}: benchmarks/{name}.py is missing", flush=True)
        return [failed_row(name, "module missing")]
    reason = unavailable(name)
    if reason:
        print(f"-- {name}: skipped: {reason}", flush=True)
        return []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        argv = [sys.executable, str(HERE / "run_all.py"), "--child", name, "--out", str(out)]
        done = subprocess.run(argv + (["--quick"] if quick else []), check=False)
        if done.returncode != 0 or not out.exists():
            print(f"!! {name}: exited with code {done.returncode}", flush=True)
            return [failed_row(name, f"exited with code {done.returncode}")]
        rows: list[Row] = json.loads(out.read_text(), object_hook=_nan_back)
    bad = {row.get("what", "?"): problems for row in rows if (problems := row_problems(row))}
    if bad or not rows:
        print(f"!! {name}: malformed rows {bad or 'none returned'}", flush=True)
        return [*rows, failed_row(name, f"malformed rows: {bad or 'none returned'}")]
    return rows


def _child(name: str, quick: bool, out: Path) -> int:
    """In the child interpreter: import ``name``, call ``run``, write its rows to ``out``."""
    try:
        module = importlib.import_module(name)
        rows = module.run(quick)
    except Exception:
        traceback.print_exc()
        return 1
    out.write_text(json.dumps(_jsonable(rows)))
    return 0


def _jsonable(value: Any) -> Any:
    """NaN and infinity as ``null`` (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _nan_back(row: dict[str, Any]) -> Any:
    """``null`` figures back to NaN, so a row read from JSON is a :class:`Row` again."""
    figures = ("jobmagic_s", "baseline_s", "ratio")
    return {k: float("nan") if v is None and k in figures else v for k, v in row.items()}


def readme_text(results: dict[str, Any]) -> str:
    """The README's block: the machine, then the table."""
    rows: list[Row] = [_nan_back(row) for row in results["rows"]]
    size = "quick sizes (--quick)" if results.get("quick") else "full sizes"
    return f"{describe_machine(results['machine'])}; {size}\n\n" + format_table(rows)


def fill_readme() -> None:
    sys.path.insert(0, str(HERE.parent / "tools"))
    from readme_figures import fill_readme_block

    fill_readme_block(README_MARKER, readme_text(json.loads(RESULTS.read_text())))
    print(f"README.md's {README_MARKER} block now shows {RESULTS.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--only", help="comma-separated module names (default: all)")
    parser.add_argument("--readme", action="store_true", help="fill README from results.json")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, args.quick, args.out)
    if args.readme:
        fill_readme()
        return 0
    names = args.only.split(",") if args.only else list(MODULES)
    rows: list[Row] = []
    for name in names:
        print(f"== {name}", flush=True)
        rows.extend(run_module(name, args.quick))
    info = machine()
    print()
    print(describe_machine(info))
    print(format_table(rows))
    results = {"machine": info, "quick": args.quick, "modules": names, "rows": rows}
    RESULTS.write_text(json.dumps(_jsonable(results), indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {RESULTS.relative_to(HERE.parent)}")
    failed = [row["what"] for row in rows if "error" in row]
    unmet = [row["what"] for row in rows if "error" not in row and target_met(row) is False]
    if unmet:
        print(f"{len(unmet)} target(s) not met: {', '.join(unmet)}")
    if failed:
        print(f"{len(failed)} benchmark(s) FAILED: {', '.join(failed)}")
    return 1 if failed or (args.strict and unmet) else 0


if __name__ == "__main__":
    sys.exit(main())
