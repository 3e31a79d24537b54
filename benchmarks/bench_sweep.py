"""A 256-run sweep against a sandbox with 50 ms injected latency, concurrency 16.

Prints jobmagic's sweep time against the ideal (256 / 16 x 50 ms) and against a raw-httpx
baseline (the same triggers with an asyncio semaphore, no ledger, no handles) measured in
the same run. The job is `true`, so process start-up stays out of the figure.

The sandbox runs as its own process, as `jobmagic sandbox` does and as a real control plane
would: in this process it would share the GIL with the client being measured. Each figure
is the median of ``--rounds`` rounds (baseline and sweep alternate).

    python benchmarks/bench_sweep.py [--runs 256] [--concurrency 16] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from jobmagic.config import Settings
from jobmagic.sandbox import Fault, start_sandbox_process
from jobmagic.session import JobSession, Target
from jobmagic.sweeps import run_sweep

JOBS = """
cluster: bench
workspace: sweep
jobs:
  - name: noop
    command: "true --x={{xi}}"
    params:
      - name: xi
        default: "0"
"""


async def raw_httpx(host: str, token: str, app_id: str, runs: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=host, headers=headers, limits=limits) as client:

        async def one(i: int) -> None:
            async with gate:
                body = {"applicationId": app_id, "input": {"params": {"xi": str(i)}}}
                answer = await client.post("/api/svc/v1/jobs/trigger", json=body)
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(runs)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ideal = args.runs / args.concurrency * args.latency_ms / 1000
    baselines: list[float] = []
    sweeps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = Path(tmp) / "jobs.yaml"
        jobs.write_text(JOBS)
        with start_sandbox_process(Path(tmp) / "sandbox", jobs_file=jobs) as sandbox:
            sandbox.set_faults(Fault.latency(args.latency_ms, "trigger"))
            session = JobSession(
                Settings(
                    host=sandbox.host,
                    api_key=sandbox.token,
                    ledger_path=str(Path(tmp) / "ledger.db"),
                    show_cards=False,
                )
            )
            resolved = session.resolve(Target("bench:sweep:noop"))
            assert resolved.application_id is not None
            params = [{"xi": str(i)} for i in range(args.runs)]
            for _ in range(args.rounds):
                baselines.append(
                    asyncio.run(
                        raw_httpx(
                            sandbox.host,
                            sandbox.token,
                            resolved.application_id,
                            args.runs,
                            args.concurrency,
                        )
                    )
                )
                result = run_sweep(session, resolved, params, concurrency=args.concurrency)
                assert not result.failures, result.summary()
                assert len(result.handles) == args.runs
                sweeps.append(result.elapsed)
            session.close()
    baseline, sweep = statistics.median(baselines), statistics.median(sweeps)
    print(f"{args.runs} runs, concurrency {args.concurrency}, {args.latency_ms} ms latency,")
    print(f"median of {args.rounds} rounds (sandbox in its own process)")
    print(f"ideal:                 {ideal:6.3f} s")
    print(f"raw httpx baseline:    {baseline:6.3f} s  (all: {_fmt(baselines)})")
    print(f"jobmagic sweep:        {sweep:6.3f} s  (all: {_fmt(sweeps)}; ledger row per run)")
    print(f"sweep / ideal = {sweep / ideal:.2f}x   (target <= 1.30x)")
    print(f"sweep / raw httpx = {sweep / baseline:.2f}x")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
