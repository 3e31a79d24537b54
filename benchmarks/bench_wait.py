"""How soon ``--wait`` returns after the server reports a run's end, and how often it asks.

Each trial triggers a run of a job that sleeps :data:`NAP_S` and waits for it: jobmagic's
``%%trigger_job --wait`` in a real InteractiveShell with the extension loaded, against a
raw ``httpx`` loop that triggers the same run and GETs it once a second until it ended (the
baseline: what "at most one GET per second" gives without knowing more). jobmagic times its
polls by the durations of the command's earlier runs (:mod:`jobmagic.domain.end_estimate`);
a third variant naps a length never asked for before, where it has nothing to time them by.
The lag is the wall-clock time the wait returned minus the run's ``endTime`` (the sandbox, in
its own process, stamps it when it records the end: on this one machine both clocks agree).
The rows are the median lag over ``--trials`` runs of each, interleaved, and the requests
per second of each waited run, but the trigger and the job's lookup (the sandbox counts
them).

    python benchmarks/bench_wait.py [--quick] [--trials 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _common import API, Row, interleaved, jobmagic_shell, make_row, median, print_rows

from jobmagic.sandbox import SandboxProcess

FQN = "bench:wait:nap"
#: How long each run sleeps: long enough for several polls.
NAP_S = 2.5
#: The issue's bound: ``--wait`` returns at most this long after the server reports the end.
LAG_TARGET = "≤ 0.3 s"
#: And asks at most once a second per waited run.
RATE_TARGET = "≤ 1 /s"

_JOBS = f"""
cluster: bench
workspace: wait
jobs:
  - name: nap
    command: "sleep {{{{secs}}}}"
    params:
      - name: secs
        default: "{NAP_S}"
"""


@contextmanager
def nap_sandbox() -> Iterator[tuple[SandboxProcess, Path]]:
    """The sandbox in its own process serving the ``nap`` job, and a temporary folder."""
    from jobmagic.sandbox import start_sandbox_process

    with tempfile.TemporaryDirectory() as tmp:
        jobs = Path(tmp) / "jobs.yaml"
        jobs.write_text(_JOBS)
        with start_sandbox_process(Path(tmp) / "sandbox", jobs_file=jobs) as sandbox:
            yield sandbox, Path(tmp)


class Trial:
    """One way of waiting, measured: each call waits for one run; the lags and rates pile up."""

    def __init__(self, sandbox: SandboxProcess, wait: Callable[[], float]) -> None:
        self._sandbox = sandbox
        self._wait = wait
        self.lags: list[float] = []
        self.rates: list[float] = []

    def __call__(self) -> float:
        before = _polls(self._sandbox)
        started = time.monotonic()
        end_ms = self._wait()
        returned = time.time()
        waited = time.monotonic() - started
        self.lags.append(returned - end_ms / 1000)
        self.rates.append((_polls(self._sandbox) - before) / waited)
        time.sleep(0.2)  # let the tracker of the last wait go quiet before the next trial
        return self.lags[-1]


#: Requests that are not the wait's: the trigger, and the job's lookup before it (the
#: magic finds the application by its FQN, now and then, as any trigger does).
NOT_WAITING = frozenset({"trigger", "apps", "get_app", "fqn_app"})


def _polls(sandbox: SandboxProcess) -> int:
    """Requests the sandbox received for the wait: all but :data:`NOT_WAITING`."""
    return sum(n for key, n in sandbox.stats().items() if key not in NOT_WAITING)


def run(quick: bool = False, trials: int | None = None) -> list[Row]:
    """The rows: ``--wait``'s median lag after the end and its requests per second, each
    against the raw once-a-second poll of the same run."""
    trials = trials or (2 if quick else 20)
    nap = 1.0 if quick else NAP_S  # --quick: a smoke run
    with nap_sandbox() as (sandbox, tmp):
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        with (
            httpx.Client(base_url=sandbox.host, headers=headers, timeout=30) as http,
            jobmagic_shell(sandbox, tmp / "ledger.db") as shell,
        ):
            app_id = http.get(f"{API}/fqn/app", params={"fqn": FQN}).json()["applicationId"]

            def raw() -> float:
                body = {"applicationId": app_id, "input": {"params": {"secs": str(nap)}}}
                answer = http.post(f"{API}/jobs/trigger", json=body)
                name = answer.raise_for_status().json()["jobRunName"]
                while True:
                    time.sleep(1.0)
                    data = http.get(f"{API}/jobs/{app_id}/runs/{name}").json()["data"]
                    if data["status"] in ("FINISHED", "FAILED", "TERMINATED"):
                        return float(data["endTime"])

            def magic(secs: str = str(nap)) -> float:
                shell.run_cell_magic(
                    "trigger_job", f"--wait -q -o bench_run {FQN}", f"secs: '{secs}'\n"
                )
                run = shell.user_ns["bench_run"].run
                if not run.is_terminal or run.end_time is None:
                    raise RuntimeError(f"--wait returned before the end: {run}")
                return run.end_time.timestamp() * 1000

            fresh = iter(range(1, 10_000))

            def magic_fresh() -> float:
                # A nap of a length never asked for: a command with no finished run to learn
                # from (each a little longer, so the ends fall all over the second).
                return magic(f"{nap + next(fresh) * 0.137:.3f}")

            variants = {
                "raw": Trial(sandbox, raw),
                "magic": Trial(sandbox, magic),
                "fresh": Trial(sandbox, magic_fresh),
            }
            interleaved(dict(variants), trials)
    raw_trial, magic_trial, fresh_trial = variants["raw"], variants["magic"], variants["fresh"]
    for trial in variants.values():  # the warm-up round's (it looked the job up) is dropped
        del trial.lags[0], trial.rates[0]
    lag = make_row(
        f"--wait: lag after the run's end (median of {trials}) vs raw 1 GET/s poll",
        median(magic_trial.lags),
        median(raw_trial.lags),
        LAG_TARGET,
        note=f"worst lag {max(magic_trial.lags):.3f} s (raw {max(raw_trial.lags):.3f} s)",
    )
    unseen = make_row(
        f"--wait of a command never run before: lag after the end (median of {trials})",
        median(fresh_trial.lags),
        median(raw_trial.lags),
        "",
        note="nothing to time the polls by: once a second, as the baseline",
    )
    rate = make_row(
        "--wait: requests per second per waited run vs raw 1 GET/s poll",
        max(magic_trial.rates + fresh_trial.rates),
        max(raw_trial.rates),
        RATE_TARGET,
        unit="/s",
        note="the highest of the trials (every request but the trigger and the job's lookup)",
    )
    return [lag, unseen, rate]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=None)
    args = parser.parse_args()
    print_rows(run(args.quick, args.trials))


if __name__ == "__main__":
    main()
