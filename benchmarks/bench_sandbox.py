"""The sandbox's trigger throughput: 32 clients, a no-op job, with and without 20 ms latency.

The sandbox runs in its own OS process (as ``jobmagic sandbox`` does); 32 clients, each its
own thread, ``httpx.Client`` and connection, send ``--triggers`` triggers between them. A round
counts only once every run it triggered has FINISHED (its process really ran and exited),
so a launcher that falls behind the answers cannot flatter the figure; any 5xx, or a run
that does not finish, fails the round.

The baseline, measured in the same run with the same clients and the same latency, is the
sandbox's cheapest endpoint (``GET /min-cli-version``: the same server, middleware and
connections, no work): the ratio says how close a trigger gets to the cost of an answer.
Each figure is the median of ``--rounds`` rounds, baseline and triggers interleaved.

    python benchmarks/bench_sandbox.py [--triggers 2000] [--clients 32] [--rounds 3] [--quick]

``run(quick)`` gives the rows of ``make bench``'s table (``benchmarks/run_all.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
from _common import API, Row, make_row, print_rows, sandbox_process

from jobmagic.sandbox import Fault, SandboxProcess

__all__ = ["main", "run"]

FQN = "bench:sandbox:noop"
TRIGGERS = 2000
CLIENTS = 32
LATENCY_MS = 20
#: issue 16: ≥ 600 triggers/s sustained with 32 clients, every run really launched.
TARGET = "≥ 600 /s"


def _clients(
    sandbox: SandboxProcess, count: int, total: int, request: str, app_id: str
) -> tuple[float, float]:
    """Seconds for ``count`` clients (threads, each its own ``httpx.Client`` and connection)
    to send ``total`` requests of kind ``request`` between them, and the CPU seconds this
    process used meanwhile (the clients' set-up, before the clock starts, not counted)."""
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    counter = iter(range(total))  # next() on one iterator is atomic under the GIL
    failures: list[str] = []
    start = threading.Barrier(count + 1)

    def client() -> None:
        with httpx.Client(
            base_url=sandbox.host, headers=headers, timeout=60.0, trust_env=False
        ) as http:
            http.get(f"{API}/min-cli-version")  # connected before the clock starts
            start.wait()
            for i in counter:
                if request == "trigger":
                    body = {"applicationId": app_id, "input": {"params": {"xi": str(i)}}}
                    answer = http.post(f"{API}/jobs/trigger", json=body)
                else:
                    answer = http.get(f"{API}/min-cli-version")
                if answer.status_code != 200:
                    failures.append(f"{request} {i}: {answer.status_code} {answer.text[:200]}")

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(client) for _ in range(count)]
        start.wait()
        began, cpu = time.perf_counter(), time.process_time()
        for future in futures:
            future.result()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed, cpu


def _finished(http: httpx.Client, app_id: str) -> tuple[int, int]:
    """(runs that FINISHED, runs not yet terminal) of the application."""
    counts = {}
    # Active first: a run that ends between the two questions is then counted as finished,
    # never missed by both.
    for status in ("CREATED,RUNNING", "FINISHED"):
        page = http.get(f"{API}/jobs/{app_id}/runs", params={"status": status, "limit": 1})
        page.raise_for_status()
        counts[status] = int(page.json()["pagination"]["total"])
    return counts["FINISHED"], counts["CREATED,RUNNING"]


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU time (user + system) a process used so far, its children not included (or only
    its reaped children: the runs' processes); 0.0 where there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def _trigger_round(
    sandbox: SandboxProcess, http: httpx.Client, app_id: str, clients: int, triggers: int
) -> tuple[float, float, float, float, float]:
    """(answers/s, runs finished/s, and CPU ms per trigger of the sandbox, of the runs'
    processes and of the clients while they sent) for one round."""
    done_before, _ = _finished(http, app_id)
    cpu = _cpu_seconds(sandbox.pid)
    runs_cpu = _cpu_seconds(sandbox.pid, children=True)
    began = time.perf_counter()
    answered, client_cpu = _clients(sandbox, clients, triggers, "trigger", app_id)
    client_ms = client_cpu * 1000 / triggers
    deadline = time.monotonic() + 120.0
    while True:
        done, active = _finished(http, app_id)
        if done - done_before == triggers:
            break
        if time.monotonic() > deadline or (active == 0 and done - done_before < triggers):
            raise SystemExit(f"only {done - done_before} of {triggers} runs FINISHED")
        time.sleep(0.05)
    finished = triggers / (time.perf_counter() - began)
    sandbox_ms = (_cpu_seconds(sandbox.pid) - cpu) * 1000 / triggers
    runs_ms = (_cpu_seconds(sandbox.pid, children=True) - runs_cpu) * 1000 / triggers
    return triggers / answered, finished, sandbox_ms, runs_ms, client_ms


def measure(
    sandbox: SandboxProcess, *, clients: int, triggers: int, rounds: int, latency_ms: int
) -> dict[str, float]:
    """Median answers/s of the baseline and of triggers, and runs finished/s."""
    sandbox.set_faults(*([Fault.latency(latency_ms)] if latency_ms else []))
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    with httpx.Client(base_url=sandbox.host, headers=headers, trust_env=False) as http:
        app_id = http.get(f"{API}/fqn/app", params={"fqn": FQN}).json()["applicationId"]
        base, rounds_seen = [], []
        for _ in range(rounds):
            seconds, _cpu = _clients(sandbox, clients, triggers, "baseline", app_id)
            base.append(triggers / seconds)
            rounds_seen.append(_trigger_round(sandbox, http, app_id, clients, triggers))
    sandbox.set_faults()
    names = ("answered", "finished", "cpu_ms", "runs_cpu_ms", "client_cpu_ms")
    figures = {"baseline": statistics.median(base)}
    for index, name in enumerate(names):
        figures[name] = statistics.median(seen[index] for seen in rounds_seen)
    return figures


def run(
    quick: bool = False,
    *,
    triggers: int | None = None,
    clients: int = CLIENTS,
    rounds: int | None = None,
    latency_ms: int = LATENCY_MS,
) -> list[Row]:
    """The rows: runs finished per second, without and with injected latency, beside the
    cheapest GET's answers per second (``--quick``: 40 triggers, 4 clients, one round)."""
    if quick:
        triggers, clients, rounds = 40, 4, 1
    triggers, rounds = triggers or TRIGGERS, rounds or 3
    rows = []
    with sandbox_process("sandbox") as (sandbox, _tmp):
        for latency in (0, latency_ms):
            figures = measure(
                sandbox, clients=clients, triggers=triggers, rounds=rounds, latency_ms=latency
            )
            lag = f", {latency} ms latency" if latency else ""
            rows.append(
                make_row(
                    f"sandbox: runs finished/s, {clients} clients{lag}, vs its cheapest GET",
                    figures["finished"],
                    figures["baseline"],
                    TARGET,
                    unit="/s",
                    note=f"answered {figures['answered']:.0f}/s; CPU ms per trigger: sandbox "
                    f"{figures['cpu_ms']:.2f}, the run's process {figures['runs_cpu_ms']:.2f}, "
                    f"the client {figures['client_cpu_ms']:.2f}",
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """``python benchmarks/bench_sandbox.py``: run and print the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=TRIGGERS)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS)
    parser.add_argument("--quick", action="store_true", help="a tiny run (a smoke test)")
    args = parser.parse_args(argv)
    rows = run(
        args.quick,
        triggers=args.triggers,
        clients=args.clients,
        rounds=args.rounds,
        latency_ms=args.latency_ms,
    )
    print_rows(rows)


if __name__ == "__main__":
    main()
