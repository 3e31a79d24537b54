"""One trigger at a time against the sandbox (in its own process), five ways.

The baseline is a raw ``httpx.Client.post`` to ``/api/svc/v1/jobs/trigger`` with the
application id known. Against it: ``JobsClient.trigger``, ``jobmagic.trigger`` and
``%%trigger_job -q`` in a real InteractiveShell with the extension loaded, and the peer,
TrueFoundry's own ``truefoundry.deploy.trigger_job`` (in a worker process of its own:
``truefoundry`` reads its settings from the environment and writes under HOME). The five
are interleaved call by call; each figure is the median over ``--trials`` calls.

    python benchmarks/bench_trigger.py [--quick] [--trials 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
from jobmagic.sandbox import SandboxProcess

FQN = "bench:trigger:noop"
PARAMS = {"xi": "1"}
#: jobmagic.trigger against the raw post. The client sends through httpx.Client as the
#: baseline does (proxies, hooks, its log line); the ledger and the run's handle come on top.
TRIGGER_TARGET = "≤ 1.2x"
#: %%trigger_job -q: the magic's parsing and display on top of jobmagic.trigger.
MAGIC_TARGET = "≤ 1.2x"

# Times each call itself, so the figure leaves out the pipe to the parent.
_PEER = """
import sys, time
from truefoundry.deploy import trigger_job
for _ in sys.stdin:
    started = time.perf_counter()
    trigger_job(application_fqn=sys.argv[1], params={"xi": "1"})
    elapsed = time.perf_counter() - started
    time.sleep(0.004)  # as settled() does for the others
    print("BENCH", elapsed, flush=True)
"""


@contextmanager
def truefoundry_worker(sandbox: SandboxProcess, home: Path) -> Iterator[Callable[[], float]]:
    """A process with ``truefoundry`` imported; each call triggers one run there."""
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "TFY_HOST": sandbox.host}
    env["TFY_API_KEY"] = sandbox.token
    with (home / "stderr").open("w") as errors:
        worker = subprocess.Popen(
            [sys.executable, "-c", _PEER, FQN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
        )
    assert worker.stdin is not None and worker.stdout is not None
    stdin, stdout = worker.stdin, worker.stdout

    def one() -> float:
        stdin.write("go\n")
        stdin.flush()
        for line in stdout:  # truefoundry may log to stdout too
            if line.startswith("BENCH "):
                return float(line.split()[1])
        raise RuntimeError(
            "truefoundry's trigger_job failed: " + (home / "stderr").read_text()[-2000:]
        )

    try:
        yield one
    finally:
        stdin.close()
        worker.wait(30)


#: Untimed, after each call: time for the run just triggered to start and end (a fork, an
#: exec and a few writes in the sandbox and its launcher), so that work, the same for every
#: variant, does not land on the next call's clock. With 2 cores it did, at random, and
#: moved the medians by a tenth.
SETTLE_S = 0.004


def settled(work: Callable[[], object]) -> Callable[[], float]:
    """:func:`stopwatch` of ``work``, then a pause of :data:`SETTLE_S` off the clock."""
    timed = stopwatch(work)

    def call() -> float:
        seconds = timed()
        time.sleep(SETTLE_S)
        return seconds

    return call


def run(quick: bool = False, trials: int | None = None) -> list[Row]:
    """The rows: each way of triggering against the raw ``httpx`` post of the same run."""
    trials = trials or (3 if quick else 200)
    with sandbox_process("trigger") as (sandbox, tmp):
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        with (
            httpx.Client(base_url=sandbox.host, headers=headers, timeout=30) as http,
            JobsClient(sandbox.host, sandbox.token) as client,
            jobmagic_shell(sandbox, tmp / "ledger.db") as shell,
            truefoundry_worker(sandbox, tmp / "home") as peer,
        ):
            app_id = client.find_app(FQN).id
            body = {"applicationId": app_id, "input": {"params": PARAMS}}
            before = sandbox.stats().get("trigger", 0)
            times = interleaved(
                {
                    "raw": settled(
                        lambda: http.post(f"{API}/jobs/trigger", json=body).raise_for_status()
                    ),
                    "client": settled(lambda: client.trigger(application_id=app_id, params=PARAMS)),
                    "trigger": settled(lambda: jobmagic.trigger(FQN, PARAMS)),
                    "magic": settled(
                        lambda: shell.run_cell_magic("trigger_job", f"-q {FQN}", "xi: '1'\n")
                    ),
                    "peer": peer,
                },
                trials,
            )
            sent = sandbox.stats().get("trigger", 0) - before
    # The magic reports errors instead of raising: the sandbox's count says each call
    # really triggered a run (the warm-up round included).
    expected = 5 * (trials + 1)
    if sent != expected:
        raise RuntimeError(f"the sandbox saw {sent} triggers, expected {expected}")
    raw = median(times["raw"])

    def row(what: str, name: str, target: str) -> Row:
        return make_row(what, median(times[name]), raw, target)

    return [
        row("one trigger: JobsClient.trigger vs raw httpx.Client.post", "client", ""),
        row("one trigger: jobmagic.trigger vs raw httpx", "trigger", TRIGGER_TARGET),
        row("one trigger: %%trigger_job -q vs raw httpx", "magic", MAGIC_TARGET),
        row("one trigger: truefoundry.deploy.trigger_job (peer) vs raw httpx", "peer", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=None)
    args = parser.parse_args()
    print_rows(run(args.quick, args.trials))


if __name__ == "__main__":
    main()
