"""What does the Runs panel cost the Jupyter server, with a 100,000-run ledger?

The server extension's own work, in this process (no tornado: its handlers only run these
in an executor): a ledger of N settled runs (``bench_board.ledger_entries``, two cached
metrics each, in sweeps with objectives) plus ``LIVE`` live runs of the demo ``sleep`` job,
triggered at a sandbox in its own process. Each figure is the CPU time of this process
(``time.process_time``: the sandbox's work is not in it), the median of ``--trials``
interleaved trials:

(a) the panel's listing (``RunsService.listing``: a page of 50, newest first, the counts
    per status over the whole ledger, the page's cached metrics and its sweeps' objectives);
(b) the same with a text filter (``q=``: the server's in-memory text index proposes the
    attempts, caught up with the rows added since, and the ledger's LIKE decides; the index
    is built by a search before the trials, as a panel's first search builds it once);
(c) one refresher tick: the ledger's live runs read, their application listed once at the
    sandbox through jobmagic's own refresh, nothing to write (they are still running).

The baseline of all three is the ledger's own paged read: ``Ledger(read_only=True)`` opened
and one page of 50 read (``Ledger.page``), as the handlers did before this extension.

    python benchmarks/bench_serverext.py [--n 100000] [--trials 5] [--quick]

Exits non-zero only on an error, never because something is slow.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import Row, interleaved, make_row, median
from bench_board import ledger_entries

from jobmagic.ledger import Ledger, LedgerQuery, SweepRecord

#: The issue's bound: each refresh (a listing, a tick) costs the server at most this CPU.
TARGET_S = 0.05
LIVE = 20
PAGE = 50


def write_ledger(path: Path, n: int) -> None:
    """``n`` settled runs, every tenth in one of ten sweeps (objective ``loss:min``), two
    cached metrics each."""
    with Ledger(path) as ledger:
        for number in range(10):
            ledger.add_sweep(SweepRecord(f"sweep-{number}", "grid", objective="loss:min"))
        entries = (
            dataclasses.replace(entry, sweep=f"sweep-{index % 100}" if index % 100 < 10 else None)
            for index, entry in enumerate(ledger_entries(n))
        )
        ledger.import_entries(entries)
        ledger.set_metrics(
            (entry.application_id or "", entry.run_name or "", name, value, 10)
            for index, entry in enumerate(ledger_entries(n))
            for name, value in (("loss", 1.0 / (1 + index % 97)), ("accuracy", index % 89 / 89))
        )


def cpu(work: Callable[[], object]) -> Callable[[], float]:
    """``work`` as a callable answering the CPU seconds this process spent on it."""

    def timed() -> float:
        started = time.process_time()
        work()
        return time.process_time() - started

    return timed


def paged_read(path: Path) -> None:
    with Ledger(path, read_only=True) as ledger:
        assert len(ledger.page(LedgerQuery(), size=PAGE)) == PAGE


def run(quick: bool = False, *, n: int | None = None, trials: int | None = None) -> list[Row]:
    """The benchmark's rows: a listing, a filtered listing, a refresher tick."""
    from jobmagic.config import Settings
    from jobmagic.domain.session import JobSession
    from jobmagic.sandbox import start_sandbox_process
    from jobmagic.serverext.runs_json import PageArgs
    from jobmagic.serverext.service import RunsService

    n = n if n is not None else (2_000 if quick else 100_000)
    trials = trials if trials is not None else (1 if quick else 5)
    live = 3 if quick else LIVE
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.sqlite3"
        write_ledger(path, n)
        with start_sandbox_process(Path(folder) / "sandbox") as sandbox:
            saved = {name: os.environ.get(name) for name in ("TFY_HOST", "TFY_API_KEY")}
            os.environ["TFY_HOST"], os.environ["TFY_API_KEY"] = sandbox.host, sandbox.token
            session = JobSession(Settings(ledger_path=str(path)))
            # Ticks are driven here, one at a time: no refresher thread runs beside them.
            service = RunsService(root_dir=folder, ledger_path=path, background=False)
            try:
                from jobmagic.domain import engine
                from jobmagic.domain.target import Target

                for _ in range(live):
                    engine.trigger(session, Target("sandbox:demo:sleep"), {"seconds": "600"})
                session.ledger.flush()  # acknowledgements are written in the background
                report = service.refresher.tick()
                assert report.refreshable == live and report.applications == 1, report
                first = service.listing(PageArgs())
                assert first["total"] == n + live and len(first["runs"]) == PAGE
                found = service.listing(PageArgs(text="sleep"))
                assert found["total"] == live, found["total"]

                def tick() -> None:
                    assert service.refresher.tick().refreshable == live

                times = interleaved(
                    {
                        "baseline": cpu(lambda: paged_read(path)),
                        "listing": cpu(lambda: service.listing(PageArgs())),
                        "text": cpu(lambda: service.listing(PageArgs(text="sleep"))),
                        "tick": cpu(tick),
                    },
                    trials,
                )
            finally:
                service.close()
                session.close()
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
    base = median(times["baseline"])
    target = f"≤ {TARGET_S * 1000:g} ms"
    return [
        make_row(
            f"Server extension: GET jobmagic/runs of a {n:,}-run ledger, CPU "
            f"(vs Ledger.page of {PAGE})",
            median(times["listing"]),
            base,
            target,
        ),
        make_row(
            f"Server extension: GET jobmagic/runs?q=… (text filter) of {n:,} runs, CPU "
            f"(vs Ledger.page of {PAGE})",
            median(times["text"]),
            base,
            target,
        ),
        make_row(
            f"Server extension: one refresher tick, {live} live runs in {n:,}, CPU "
            f"(vs Ledger.page of {PAGE})",
            median(times["tick"]),
            base,
            target,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="runs in the ledger (100,000)")
    parser.add_argument("--trials", type=int, default=None, help="interleaved trials (5)")
    parser.add_argument("--quick", action="store_true", help="a tiny ledger, one trial")
    args = parser.parse_args(argv)
    for row in run(args.quick, n=args.n, trials=args.trials):
        print(
            f"{row['what']}\n    jobmagic {row['jobmagic_s'] * 1000:.1f} ms  baseline "
            f"{row['baseline_s'] * 1000:.1f} ms  ratio {row['ratio']:.2f}x  "
            f"target {row['target']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
