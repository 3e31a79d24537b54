"""Does a big board on screen slow a sweep down? A 1,000-run sweep while ``%job_runs --all``
over a 100,000-run ledger is displayed and live, against the same sweep with no board.

Against the sandbox in its own process (a no-op job, 20 ms injected latency on triggers),
in a real ``InteractiveShell`` with ``%load_ext jobmagic`` whose ledger holds N imported,
settled runs (``Ledger.import_entries``, as ``bench_board.py`` writes them). Each round
first starts a page of runs that stay live (the same job, ``sleep`` as its command): the
ledger's newest runs. Then, with the shell's display captured throughout (as a kernel
sends it, so the board's live updates are sent and not printed), it times:

(a) ``jobmagic.sweep`` of ``--runs`` no-op runs, ``32`` in flight, while the board of
    ``%job_runs --all`` is displayed: its first page is those live runs, listened to, so
    the tracker polls them and the board redraws while the sweep runs; against
(b) the same sweep with no board displayed (nothing listens to those runs, and cards are
    off, as in ``bench_sweep.py``: the tracker has nothing to do).

The tracker polls every 0.25 s (the default is 2 s), so a sweep spans several of its ticks.
Before timing (a) it checks that the board is shown as a widget, that its page is the live
runs and that it listens to every one of them; after, that it still does and, for a sweep
longer than two poll intervals, that the tracker ticked meanwhile, else the round fails
rather than measure an idle board. The note says how often the tracker ticked, the CPU its
thread spent and how often the board redrew. The live runs are then terminated and waited
for, so no round inherits another's tracking. Both
variants add the same rows to the one ledger each round, and they alternate (the order
rotating), so the ledger's growth weighs on both alike. Each figure is the median of
``--rounds`` rounds.

    python benchmarks/bench_board_sweep.py [--quick] [--n 100000] [--runs 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from _common import (
    Row,
    interleaved,
    jobmagic_shell,
    make_row,
    median,
    print_rows,
    sandbox_process,
)
from bench_board import write_ledger

import jobmagic
from jobmagic.public import current_session
from jobmagic.sandbox import Fault
from jobmagic.widgets.pages import PAGE_SIZE

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from jobmagic.api import JobsClient
    from jobmagic.domain.sweeps import SweepResult
    from jobmagic.domain.tracker import Tracker

FQN = "bench:boardsweep:noop"
CONCURRENCY = 32
LATENCY_MS = 20
#: Longer than any sweep measured here: the board's page stays live until it is closed.
LIVE_COMMAND = "sleep 600"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class _Rounds:
    """One shell on one ledger; each call of :meth:`with_board` or :meth:`without_board`
    is one round of that variant, answering the sweep's seconds."""

    def __init__(self, shell: InteractiveShell, runs: int, live: int) -> None:
        self.shell = shell
        self.runs = runs
        self.live = live
        self.round = 0
        #: Per round of (a), while the sweep ran: tracker ticks, the CPU seconds its thread
        #: spent in them (the board's redraws after a tick included) and board redraws.
        self.ticks: list[int] = []
        self.tick_cpu: list[float] = []
        self.redraws: list[int] = []

    def _sweep(self) -> float:
        self.round += 1
        param_sets = [{"xi": f"r{self.round}-{i}"} for i in range(self.runs)]
        started = time.perf_counter()
        result = jobmagic.sweep(FQN, runs=param_sets, concurrency=CONCURRENCY)
        seconds = time.perf_counter() - started
        if result.failures:
            # Failed triggers make a shorter sweep: the figure would flatter that variant.
            raise RuntimeError(result.summary()[:2000])
        return seconds

    def _start_live(self) -> SweepResult:
        result = jobmagic.sweep(
            FQN,
            # A command override takes no params: each run is told apart by its name alone.
            runs=[{} for _ in range(self.live)],
            concurrency=CONCURRENCY,
            command=LIVE_COMMAND,
        )
        if result.failures or len(result.handles) != self.live:
            raise RuntimeError(result.summary()[:2000])
        return result

    def _stop_live(self, result: SweepResult) -> None:
        result.terminate()
        result.wait(timeout=120, progress=False)
        _wait_idle(_tracker())

    def with_board(self) -> float:
        from IPython.utils.capture import capture_output

        live = self._start_live()
        tracker = _tracker()
        with capture_output(stdout=True, stderr=True, display=True) as captured:
            shown = self.shell.run_cell("%job_runs --all", store_history=False)
            shown.raise_error()
            board = shown.result
            try:
                _check_live(board, captured.outputs, live, tracker)
                ticks, renders = tracker.ticks, board.renders
                with _tick_cpu(tracker) as spent:
                    seconds = self._sweep()
                self.ticks.append(tracker.ticks - ticks)
                self.tick_cpu.append(sum(spent))
                self.redraws.append(board.renders - renders)
                # A tick is due every poll interval; a tiny (--quick) sweep may fall between.
                due = seconds > 2 * _poll_interval()
                watched = {handle.name for handle in tracker.watched}
                listening = board.subscriptions == self.live and _names(live) <= watched
                if not listening or (due and self.ticks[-1] < 1):
                    raise RuntimeError(
                        f"the board was not live during the sweep: it listened to "
                        f"{board.subscriptions} of {self.live} live runs at the end, the "
                        f"tracker watched {len(_names(live) & watched)} of them; it ticked "
                        f"{self.ticks[-1]} times, the board redrew {self.redraws[-1]} times"
                    )
            finally:
                board.close()
        self._stop_live(live)
        return seconds

    def without_board(self) -> float:
        from IPython.utils.capture import capture_output

        live = self._start_live()
        with capture_output(stdout=True, stderr=True, display=True):
            seconds = self._sweep()
        self._stop_live(live)
        return seconds


def _tracker() -> Tracker:
    # The extension's session's one tracker: the sweeps' and the board's handles are its.
    return current_session().tracker


#: The tracker's poll interval during the rounds (the default is 2 s).
POLL_INTERVAL_S = 0.25


def _poll_interval() -> float:
    return float(current_session().settings.poll_interval)


def _names(result: SweepResult) -> set[str]:
    return {handle.name for handle in result.handles}


@contextmanager
def _tick_cpu(tracker: Tracker) -> Iterator[list[float]]:
    """The CPU seconds of each of ``tracker``'s ticks that start in the block: what its
    thread takes from the sweep's (the sandbox's answers to it are not counted)."""
    spent: list[float] = []
    tick = tracker.tick

    def timed(client: JobsClient) -> None:
        started = time.thread_time()
        try:
            tick(client)
        finally:
            spent.append(time.thread_time() - started)

    tracker.tick = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        del tracker.tick  # the class's method again


def _wait_idle(tracker: Tracker, timeout: float = 30.0) -> None:
    """Until the tracker watches nothing (what it still polls would weigh on the next round)."""
    deadline = time.monotonic() + timeout
    while tracker.watched:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the tracker still watches {len(tracker.watched)} runs")
        time.sleep(0.05)


def _check_live(board: Any, outputs: list[Any], live: SweepResult, tracker: Tracker) -> None:
    """Raise unless ``board`` is displayed as a widget, its page is ``live``'s runs (the
    ledger's newest) and it listens to each, so the tracker keeps them current."""
    problems: list[str] = []
    if not any(WIDGET_VIEW in output.data for output in outputs):
        problems.append(f"no widget view among {[sorted(o.data) for o in outputs]}")
    if board.widget.model_id is None:
        problems.append("the board's widget has no model")
    names = _names(live)
    shown = [source.name for source in board.sources]
    if not names <= set(shown):
        problems.append(f"its page {shown[:5]}… lacks the live runs {sorted(names)[:5]}…")
    if board.subscriptions != len(names):
        problems.append(f"it listens to {board.subscriptions} of {len(names)} live runs")
    watched = {handle.name for handle in tracker.watched}
    if not names <= watched:
        problems.append(f"the tracker watches {len(names & watched)} of its {len(names)} runs")
    if board.total < len(names):
        problems.append(f"it counts {board.total} runs")
    if problems:
        raise RuntimeError("the board is not live: " + "; ".join(problems))


def run(
    quick: bool = False,
    *,
    n: int | None = None,
    runs: int | None = None,
    rounds: int | None = None,
) -> list[Row]:
    """One row: the sweep with the big board displayed against the same sweep without it."""
    n = n or (2000 if quick else 100_000)
    runs = runs or (16 if quick else 1000)
    rounds = rounds or (1 if quick else 5)
    live = 8 if quick else PAGE_SIZE
    with sandbox_process("boardsweep") as (sandbox, tmp):
        ledger = write_ledger(tmp / "ledger.db", n)
        sandbox.set_faults(Fault.latency(LATENCY_MS, "trigger"))
        with jobmagic_shell(sandbox, ledger) as shell:
            # A tick every quarter second, not every 2 s: a sweep of 1.4 s would see one
            # tick, and the board's cost per tick is what this row is about.
            shell.run_line_magic("config", f"JobMagic.poll_interval = {POLL_INTERVAL_S}")
            bench = _Rounds(shell, runs, live)
            # Not timed: imports, the target's lookup, the connection pools and the board's
            # first paint are a first sweep's and a first board's cost, not a round's.
            _warm_up(bench)
            variants: dict[str, Callable[[], float]] = {
                "board": bench.with_board,
                "none": bench.without_board,
            }
            times = interleaved(variants, rounds, warmup=0)
    note = (
        f"with the board, its page of {live} live runs listened to throughout; per sweep "
        f"(medians) the tracker ticked {median([float(t) for t in bench.ticks]):g}x, "
        f"its thread taking {median(bench.tick_cpu) * 1000:.0f} ms of CPU, and the board "
        f"redrew {median([float(r) for r in bench.redraws]):g}x; rounds: with "
        f"{_seconds(times['board'])}, without {_seconds(times['none'])}; the ledger grows "
        f"by {runs + live:,} rows a round, both variants alike"
    )
    return [
        make_row(
            f"{runs:,}-run sweep, {CONCURRENCY} in flight, {LATENCY_MS} ms latency, under a live "
            f"%job_runs --all of {n:,} runs vs none",
            median(times["board"]),
            median(times["none"]),
            "≤ 1.1x",
            note=note,
        )
    ]


def _seconds(values: list[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values) + " s"


def _warm_up(bench: _Rounds) -> None:
    from IPython.utils.capture import capture_output

    with capture_output(stdout=True, stderr=True, display=True):
        jobmagic.sweep(FQN, runs=[{"xi": "w"}] * CONCURRENCY, concurrency=CONCURRENCY)
        shown = bench.shell.run_cell("%job_runs --all", store_history=False)
        shown.raise_error()
        shown.result.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--n", type=int, default=None, help="runs in the ledger (100,000)")
    parser.add_argument("--runs", type=int, default=None, help="runs in the sweep (1,000)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (5)")
    args = parser.parse_args()
    print_rows(run(args.quick, n=args.n, runs=args.runs, rounds=args.rounds))


if __name__ == "__main__":
    main()
