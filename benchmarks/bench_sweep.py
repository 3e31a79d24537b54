"""A sweep against the sandbox with injected latency: ``jobmagic.sweep`` against raw httpx.

The baseline sends the same triggers with an ``asyncio`` semaphore of the same size: no
ledger, no handles, no tracker. ``jobmagic.sweep`` runs in a real InteractiveShell with the
extension loaded (its session, ledger and tracker). The job is ``true``, so process
start-up stays out of the figure; the sandbox runs in its own process. The two alternate,
each figure the median of ``--rounds`` rounds; also shown against the ideal
(runs / concurrency x latency).

    python benchmarks/bench_sweep.py [--quick] [--runs 256] [--concurrency 16] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio

import httpx
from _common import (
    API,
    Row,
    interleaved,
    jobmagic_shell,
    make_row,
    median,
    print_rows,
    sandbox_process,
    stopwatch,
)

import jobmagic
from jobmagic.api import JobsClient
from jobmagic.sandbox import Fault, SandboxProcess


async def raw_httpx(host: str, token: str, app_id: str, runs: int, concurrency: int) -> int:
    """``runs`` triggers, ``concurrency`` in flight, each answer checked; nothing kept.

    Answers how many failed (an error status or a dropped connection), as a sweep would.
    """
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency)
    timeout = httpx.Timeout(60)
    async with httpx.AsyncClient(
        base_url=host, headers=headers, limits=limits, timeout=timeout
    ) as client:

        async def one(i: int) -> bool:
            async with gate:
                body = {"applicationId": app_id, "input": {"params": {"xi": str(i)}}}
                try:
                    answer = await client.post(f"{API}/jobs/trigger", json=body)
                except httpx.TransportError:
                    return False
                return answer.is_success

        sent = await asyncio.gather(*(one(i) for i in range(runs)))
    return sent.count(False)


def sweep_times(
    sandbox: SandboxProcess, fqn: str, runs: int, concurrency: int, rounds: int
) -> tuple[dict[str, list[float]], list[str]]:
    """Seconds per round of the raw baseline (``"raw"``) and of ``jobmagic.sweep``, and a
    line per round in which some triggers failed (the figure still stands; the line says
    how far it is from all ``runs``)."""
    with JobsClient(sandbox.host, sandbox.token) as client:
        app_id = client.find_app(fqn).id
    failed: list[str] = []

    def ours(count: int) -> None:
        param_sets = [{"xi": str(i)} for i in range(count)]
        result = jobmagic.sweep(fqn, runs=param_sets, concurrency=concurrency)
        if not result.handles:
            raise RuntimeError(result.summary())
        if result.failures:
            failed.append(f"jobmagic.sweep: {result.failures[0].describe()[:200]}")

    def raw(count: int) -> None:
        lost = asyncio.run(raw_httpx(sandbox.host, sandbox.token, app_id, count, concurrency))
        if lost == count:
            raise RuntimeError(f"raw httpx: all {count} triggers failed")
        if lost:
            failed.append(f"raw httpx: {lost} of {count} triggers failed")

    # A small sweep of each first: imports, the ledger's tables, the target's lookup and
    # the connection pools are a first sweep's cost, not a sweep's.
    ours(concurrency)
    raw(concurrency)
    times = interleaved(
        {"raw": stopwatch(lambda: raw(runs)), "sweep": stopwatch(lambda: ours(runs))},
        rounds,
        warmup=0,
    )
    return times, failed


def run(
    quick: bool = False,
    runs: int | None = None,
    concurrency: int = 16,
    latency_ms: int = 50,
    rounds: int | None = None,
) -> list[Row]:
    """Two rows: the sweep against raw httpx, and against the ideal."""
    runs = runs or (16 if quick else 256)
    rounds = rounds or (1 if quick else 5)
    with sandbox_process("sweep") as (sandbox, tmp):
        sandbox.set_faults(Fault.latency(latency_ms, "trigger"))
        with jobmagic_shell(sandbox, tmp / "ledger.db"):
            times, failed = sweep_times(sandbox, "bench:sweep:noop", runs, concurrency, rounds)
    sweep, raw = median(times["sweep"]), median(times["raw"])
    ideal = runs / concurrency * latency_ms / 1000
    what = f"{runs}-run sweep, {concurrency} in flight, {latency_ms} ms latency"
    note = "; ".join(failed)
    return [
        make_row(f"{what}: jobmagic.sweep vs raw httpx", sweep, raw, "≤ 1.1x", note=note),
        make_row(f"{what}: jobmagic.sweep vs the ideal", sweep, ideal, "≤ 1.3x"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    print_rows(run(args.quick, args.runs, args.concurrency, args.latency_ms, args.rounds))


if __name__ == "__main__":
    main()
