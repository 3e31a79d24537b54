"""Sweeps at scale, against the sandbox in its own process (a no-op job).

(a) A 2,000-run sweep, 32 in flight, 20 ms injected latency: ``jobmagic.sweep`` in a real
    shell against raw httpx with the same semaphore, alternating, median of ``--rounds``.
(b) A 10,000-run sweep (concurrency 32) in a fresh interpreter standing for the kernel:
    its peak memory growth (``VmHWM`` after the sweep less ``VmRSS`` before; the baseline
    is that kernel's RSS), and a redraw of its runs board against a board of the first 50
    of its runs (what a redraw would cost if it depended on the page alone).
(c) The same kernel's ``%unload_ext jobmagic`` right after, which stops the tracker as the
    kernel's exit does, against the same in a kernel that triggered one run; jobmagic's
    "did not stop in time" warning counts as missing the target.

    python benchmarks/bench_scale_sweep.py [--quick] [--runs 2000] [--big 10000]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    Row,
    jobmagic_shell,
    make_row,
    median,
    print_rows,
    reset_peak_rss,
    rss_mb,
    sandbox_process,
)
from bench_sweep import sweep_times

from jobmagic.sandbox import Fault, SandboxProcess

FQN = "bench:scale:noop"
CONCURRENCY = 32
LEDGER_ENV = "JOBMAGIC_BENCH_LEDGER"
_RESULT = "BENCH-RESULT "


class _Caught(logging.Handler):
    """Keeps the messages jobmagic logs, to find its warning that the tracker hung."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _kernel(runs: int) -> dict[str, Any]:
    """In the child: a shell with jobmagic, a sweep of ``runs``, its memory, its board's
    redraw and the unload that follows."""
    import jobmagic
    from jobmagic.widgets import RunsBoard

    caught = _Caught()
    logging.getLogger("jobmagic").addHandler(caught)
    # Settings from the environment, as a kernel started with TFY_HOST/TFY_API_KEY has.
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jobmagic")
    shell.run_line_magic("config", f"JobMagic.ledger_path = {os.environ[LEDGER_ENV]!r}")
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    # A first small sweep: imports and the ledger's tables are the kernel's, not the sweep's.
    jobmagic.sweep(FQN, runs=[{"xi": "w"}], concurrency=CONCURRENCY)
    gc.collect()
    kernel = rss_mb()
    reset_peak_rss()
    result = jobmagic.sweep(
        FQN, runs=[{"xi": str(i)} for i in range(runs)], concurrency=CONCURRENCY
    )
    growth = rss_mb("VmHWM") - kernel
    if not result.handles:
        raise RuntimeError(result.summary())
    figures: dict[str, Any] = {"kernel_mb": kernel, "growth_mb": growth, "failed": ""}
    if result.failures:  # the sandbox's to fix; the figures still describe the sweep
        figures["failed"] = (
            f"{len(result.failures)} of {runs} triggers failed: "
            + result.failures[0].describe()[:200]
        )
    if runs > 1:
        figures["redraw"] = _redraw(RunsBoard, result.handles)
        figures["redraw_page"] = _redraw(RunsBoard, result.handles[:50])
    started = time.perf_counter()
    shell.run_line_magic("unload_ext", "jobmagic")
    figures["unload"] = time.perf_counter() - started
    figures["hung"] = [m for m in caught.messages if "did not stop" in m]
    return figures


def _redraw(board_type: Any, handles: list[Any], trials: int = 5) -> float:
    """Median seconds of ``render()`` on a board already built over ``handles``."""
    board = board_type(handles)
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        board.render()
        times.append(time.perf_counter() - started)
    board.close()
    return median(times)


def kernel_figures(sandbox: SandboxProcess, ledger: Path, runs: int) -> dict[str, Any]:
    """:func:`_kernel`'s figures, from a fresh interpreter."""
    env = {**os.environ, "TFY_HOST": sandbox.host, "TFY_API_KEY": sandbox.token}
    env[LEDGER_ENV] = str(ledger)
    done = subprocess.run(
        [sys.executable, __file__, "--kernel", str(runs)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(_RESULT):
            figures: dict[str, Any] = json.loads(line[len(_RESULT) :])
            return figures
    raise RuntimeError(f"the {runs}-run kernel failed:\n{done.stderr[-3000:]}")


def run(
    quick: bool = False,
    runs: int | None = None,
    big: int | None = None,
    rounds: int | None = None,
) -> list[Row]:
    """Five rows: (a) the sweep against raw httpx, (b) memory and redraw, (c) unload."""
    runs = runs or (16 if quick else 2000)
    big = big or (40 if quick else 10_000)
    rounds = rounds or (1 if quick else 3)
    with sandbox_process("scale") as (sandbox, tmp):
        sandbox.set_faults(Fault.latency(20, "trigger"))
        with jobmagic_shell(sandbox, tmp / "ledger-a.db"):
            times, failed = sweep_times(sandbox, FQN, runs, CONCURRENCY, rounds)
        sandbox.set_faults()
        large = kernel_figures(sandbox, tmp / "ledger-b.db", big)
        small = kernel_figures(sandbox, tmp / "ledger-c.db", 1)
    exit_row = make_row(
        f"kernel exit (%unload_ext) after a {big:,}-run sweep vs after one run",
        large["unload"],
        small["unload"],
        "≤ 1 s",
    )
    if large["hung"]:
        exit_row["met"] = False
        exit_row["note"] = large["hung"][0]
    return [
        make_row(
            f"{runs:,}-run sweep, {CONCURRENCY} in flight, 20 ms latency: "
            "jobmagic.sweep vs raw httpx",
            median(times["sweep"]),
            median(times["raw"]),
            "≤ 1.1x",
            note="; ".join(failed),
        ),
        make_row(
            f"{big:,}-run sweep: peak memory growth vs the kernel's RSS",
            large["growth_mb"],
            large["kernel_mb"],
            "≤ 100 MB",
            unit="MB",
            note=large["failed"],
        ),
        make_row(
            f"{big:,}-run sweep: board redraw vs a board of 50 of its runs",
            large["redraw"],
            large["redraw_page"],
            "≤ 50 ms",
        ),
        exit_row,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--big", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--kernel", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kernel:
        print(_RESULT + json.dumps(_kernel(args.kernel)), flush=True)
        return
    print_rows(run(args.quick, args.runs, args.big, args.rounds))


if __name__ == "__main__":
    main()
