"""A random search against the sandbox: ``jobmagic.search`` beside a hand-written Optuna
ask/tell loop over raw httpx, with the same sampler, concurrency and storage.

Runs take ~20 ms (``sleep 0.02``, then ``loss=<x>`` printed; the objective is read from the
logs by pattern). The baseline keeps ``--concurrency`` coroutines, each asking Optuna for a
trial, triggering it, polling the run every 20 ms until it ends, reading its logs and
telling the value; jobmagic runs in a real InteractiveShell with the extension loaded (its
session and ledger). Both keep their study in the same storage: Optuna's RDB storage on a
SQLite file as jobmagic opens it (:func:`jobmagic.domain.study.rdb_storage`: WAL, no flush
per commit), a new file or study each round. The two alternate, each figure the median of
``--rounds`` rounds.

The second row is jobmagic's own CPU per trial beyond Optuna's and httpx's: one search run
under pyinstrument, the samples of frames in Optuna, SQLAlchemy, httpx and httpcore (and
everything they call) and of waits (``sleep``, ``select``…) left out, divided by the trials.

    python benchmarks/bench_search.py [--quick] [--trials 200] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from _common import API, Row, interleaved, jobmagic_shell, make_row, median, print_rows, stopwatch

import jobmagic
from jobmagic.domain.study import rdb_storage

FQN = "bench:search:quick"
JOBS = """
cluster: bench
workspace: search
jobs:
  - name: quick
    command: "sh -c 'sleep 0.02; echo loss={{xv}}'"
    params:
      - name: xv
        default: "0"
"""
LOSS = re.compile(r"loss=(\S+)")
#: The libraries whose CPU is not jobmagic's (with everything they call).
THEIRS = ("/optuna/", "/sqlalchemy/", "/alembic/", "/httpx/", "/httpcore/", "/h11/", "/anyio/")
#: Frames that wait rather than work.
WAITS = {"sleep", "select", "poll", "wait", "acquire", "_wait_for_tstate_lock", "join"}


@contextmanager
def search_sandbox() -> Iterator[tuple[Any, Path]]:
    """The sandbox in its own process serving :data:`JOBS`, and a temporary folder."""
    from jobmagic.sandbox import start_sandbox_process

    with tempfile.TemporaryDirectory() as tmp:
        jobs = Path(tmp) / "jobs.yaml"
        jobs.write_text(JOBS)
        with start_sandbox_process(Path(tmp) / "sandbox", jobs_file=jobs) as sandbox:
            yield sandbox, Path(tmp)


def _space() -> dict[str, Any]:
    return {"xv": {"low": 0.0, "high": 1.0}}


async def raw_search(
    host: str, token: str, app_id: str, storage: Path, trials: int, concurrency: int
) -> int:
    """The hand-written loop: ``trials`` trials, ``concurrency`` at a time; how many failed."""
    import optuna
    from optuna.distributions import BaseDistribution, FloatDistribution

    study = optuna.create_study(
        storage=rdb_storage(storage),
        sampler=optuna.samplers.RandomSampler(seed=0),
        direction="minimize",
    )
    space: dict[str, BaseDistribution] = {"xv": FloatDistribution(0.0, 1.0)}
    headers = {"Authorization": f"Bearer {token}"}
    left = iter(range(trials))
    failed = 0
    async with httpx.AsyncClient(base_url=host + API, headers=headers, timeout=60) as client:

        async def one() -> None:
            nonlocal failed
            trial = study.ask(space)
            body = {"applicationId": app_id, "input": {"params": {"xv": str(trial.params["xv"])}}}
            answer = await client.post("/jobs/trigger", json=body)
            name = answer.json()["jobRunName"]
            while True:
                await asyncio.sleep(0.02)
                run = (await client.get(f"/jobs/{app_id}/runs/{name}")).json()
                status = run["data"]["status"]
                if status in ("FINISHED", "FAILED", "TERMINATED"):
                    break
            query = {"applicationId": app_id, "jobRunName": name}
            logs = (await client.get("/logs", params=query)).json()
            values = [m.group(1) for line in _log_lines(logs) if (m := LOSS.search(line))]
            if status == "FINISHED" and values:
                study.tell(trial, float(values[-1]))
            else:
                failed += 1
                study.tell(trial, state=optuna.trial.TrialState.FAIL)

        async def lane() -> None:
            for _ in left:
                await one()

        await asyncio.gather(*(lane() for _ in range(concurrency)))
    return failed


def _log_lines(answer: Any) -> list[str]:
    return [str(item.get("log", "")) for item in answer["data"]]


def search_times(
    sandbox: Any, tmp: Path, trials: int, concurrency: int, rounds: int
) -> tuple[dict[str, list[float]], list[str]]:
    """Seconds per round of the baseline (``"raw"``) and of ``jobmagic.search``."""
    from jobmagic.api import JobsClient

    with JobsClient(sandbox.host, sandbox.token) as client:
        app_id = client.find_app(FQN).id
    notes: list[str] = []
    count = {"ours": 0, "raw": 0}

    def ours(n: int) -> None:
        import optuna

        count["ours"] += 1
        result = jobmagic.search(
            FQN,
            _space(),
            objective="loss:min",
            trials=n,
            concurrency=concurrency,
            sampler=optuna.samplers.RandomSampler(seed=0),
            pruner=None,
            name=f"bench-{count['ours']}",
            progress=False,
        )
        failed = [row for row in result.trials() if row.state != "COMPLETE"]
        if failed:
            notes.append(f"jobmagic: {len(failed)} of {n} trials failed ({failed[0].reason})")

    def raw(n: int) -> None:
        count["raw"] += 1
        storage = tmp / f"raw-{count['raw']}.sqlite3"
        failed = asyncio.run(
            raw_search(sandbox.host, sandbox.token, app_id, storage, n, concurrency)
        )
        if failed:
            notes.append(f"raw: {failed} of {n} trials failed")

    ours(concurrency)  # imports, the ledger's tables, the lookup, the study file
    raw(concurrency)
    times = interleaved(
        {"raw": stopwatch(lambda: raw(trials)), "search": stopwatch(lambda: ours(trials))},
        rounds,
        warmup=0,
    )
    return times, notes


def own_cpu_per_trial(trials: int, concurrency: int) -> float:
    """jobmagic's own seconds of CPU per trial, from one search under pyinstrument."""
    import optuna
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    jobmagic.search(
        FQN,
        _space(),
        objective="loss:min",
        trials=trials,
        concurrency=concurrency,
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=None,
        name="bench-profiled",
        progress=False,
    )
    session = profiler.stop()
    if os.environ.get("BENCH_SEARCH_PROFILE"):
        print(profiler.output_text(show_all=False, color=False))
    root = session.root_frame()
    return (_own_seconds(root) if root is not None else 0.0) / trials


def _own_seconds(frame: Any) -> float:
    """Self time of ``frame`` and its callees, less the libraries' subtrees and waits."""
    path = frame.file_path or ""
    if any(part in path for part in THEIRS) or frame.function in WAITS:
        return 0.0
    children = [child for child in frame.children if not child.is_synthetic]
    return float(frame.total_self_time) + sum(_own_seconds(child) for child in children)


def run(
    quick: bool = False,
    trials: int | None = None,
    concurrency: int = 16,
    rounds: int | None = None,
) -> list[Row]:
    """Two rows: the search against the hand-written loop, and jobmagic's own CPU per trial."""
    trials = trials or (48 if quick else 200)
    rounds = rounds or (1 if quick else 3)
    with (
        search_sandbox() as (sandbox, tmp),
        jobmagic_shell(sandbox, tmp / "ledger.db") as shell,
    ):
        shell.run_line_magic("config", f"JobMagic.metric_patterns = {{'loss': {LOSS.pattern!r}}}")
        times, notes = search_times(sandbox, tmp, trials, concurrency, rounds)
        cpu = own_cpu_per_trial(trials, concurrency)
    what = f"{trials}-trial random search, {concurrency} in flight, ~20 ms runs"
    search, raw = median(times["search"]), median(times["raw"])
    return [
        make_row(
            f"{what}: jobmagic.search vs an Optuna ask/tell loop over raw httpx",
            search,
            raw,
            "≤ 1.2x",
            note="; ".join(dict.fromkeys(notes)),
        ),
        make_row(
            f"{what}: jobmagic's own CPU per trial (beyond Optuna and httpx; pyinstrument)",
            cpu,
            0.002,
            "≤ 2 ms",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    print_rows(run(args.quick, args.trials, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
