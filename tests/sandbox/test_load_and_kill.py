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

import contextlib
import os
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import jobmagic
from jobmagic.api import JobmagicError, JobsClient, TransportError, TriggerOutcomeUnknown
from jobmagic.config import Settings
from jobmagic.domain import engine
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.session import JobSession
from jobmagic.domain.sweeps import SweepResult
from jobmagic.domain.target import ResolvedTarget, Target
from jobmagic.errors import UnreachableError
from jobmagic.ledger import AttemptState, Ledger
from jobmagic.models import JobRun, RunStatus
from jobmagic.sandbox import Fault, SandboxProcess, generate_token, pid_alive, start_sandbox_process
from jobmagic.sandbox.serving.server import DB_FILE
from jobmagic.sandbox.storage.store import Store

# The crash tests read processes from /proc and send SIGKILL.
needs_linux = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or not hasattr(signal, "SIGKILL"),
    reason="needs Linux's /proc and SIGKILL",
)

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
  - name: tree
    description: A shell that waits for a child of its own.
    command: "sh -c 'sleep {{seconds}} & wait'"
    params:
      - name: seconds
        default: "600"
"""
NOOP = Target("load:kill:noop")
SLEEP = Target("load:kill:sleep")
TREE = Target("load:kill:tree")
CLIENTS = 32
TRIGGERS = 2000
#: Generous: the load test takes ~15-25 s on an idle 2-core machine.
LOAD_DEADLINE_S = 300.0
SWEEP_RUNS = 60
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
    return [engine.trigger(session, NOOP, {"name": name}, resolved=resolved) for name in names]


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


# --- SIGKILL -------------------------------------------------------------------------


def _run_pids(data_dir: Path) -> dict[str, int]:
    """Run name -> process id, from the sandbox's own store (what its recovery reads)."""
    with closing(sqlite3.connect(data_dir / DB_FILE)) as db:
        rows = db.execute("SELECT name, pid FROM runs WHERE pid IS NOT NULL").fetchall()
    return {str(name): int(pid) for name, pid in rows}


def _sent_names_in_store(data_dir: Path) -> set[str]:
    with closing(sqlite3.connect(data_dir / DB_FILE)) as db:
        commands = [row[0] for row in db.execute("SELECT command FROM runs")]
    return {match.group(1) for c in commands if (match := re.search(r"--name=(\S+)$", c))}


def _group_members(pgid: int) -> set[int]:
    """Live (not zombie) processes in process group ``pgid``, from ``/proc``."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.add(int(entry.name))
    return members


def _add_unlaunched_run(data_dir: Path, like: str) -> str:
    """Leave a CREATED run in a dead sandbox's store, as a kill between a trigger's insert and
    its launch would (a window of microseconds: too short to hit on purpose)."""
    with closing(Store(data_dir / DB_FILE)) as store:
        model = next(r for r in store.active_runs() if r.name == like)
        record = store.create_run(
            make_name=lambda: "sleep-unlaunched",
            application_id=model.application_id,
            application_name=model.application_name,
            deployment_id=model.deployment_id,
            deployment_version=model.deployment_version,
            command=model.command,
            params=model.params,
            triggered_by=model.triggered_by,
            now_ms=model.created_at_ms,
        )
    assert record.status == "CREATED"
    return record.name


def _launcher_of(sandbox_pid: int) -> int:
    """The sandbox's launcher: its child that is not a run (it starts, reaps and, when the
    sandbox dies, kills the runs)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == sandbox_pid and b"launch_helper" in (entry / "cmdline").read_bytes():
                return int(entry.name)
    raise AssertionError(f"sandbox {sandbox_pid} has no launcher")


def _sigkill(process: SandboxProcess) -> None:
    assert process.popen is not None
    os.kill(process.pid, signal.SIGKILL)  # a crash: no chance to clean up
    process.popen.wait(10)


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jobmagic")
    yield ip
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


@needs_linux
def test_a_sigkilled_sandbox_leaves_no_process_behind_and_its_successor_fails_its_runs(
    tmp_path: Path,
    isolated_home: Path,
    jobs_file: Path,
    shell: InteractiveShell,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data_dir = tmp_path / "sandbox"
    ledger_path = tmp_path / "ledger.db"
    token = generate_token()
    first = start_sandbox_process(data_dir, jobs_file=jobs_file, token=token, grace_period=1.0)
    second: SandboxProcess | None = None
    session = JobSession(_settings(first, ledger_path))
    processes: set[int] = set()
    try:
        handles = [engine.trigger(session, SLEEP, {"seconds": "600"}) for _ in range(2)]
        handles.append(engine.trigger(session, TREE, {"seconds": "600"}))
        client = session.client
        _poll(
            lambda: all(
                client.get_run(h.application_id or "", h.name).status == "RUNNING" for h in handles
            ),
            30,
            "the runs starting",
        )
        pids = _run_pids(data_dir)
        tree = pids[handles[2].name]
        # The tree's shell and the sleep it started in the background, in one group.
        _poll(lambda: len(_group_members(tree)) == 2, 30, "the tree's child starting")
        processes = {pid for h in handles for pid in _group_members(pids[h.name])}
        assert len(processes) == 4

        # A trigger in flight at the kill: the sandbox holds it a minute before handling it.
        first.set_faults(Fault.latency(60_000, "trigger", times=1))
        in_flight: list[BaseException] = []

        def trigger_in_flight() -> None:
            try:
                engine.trigger(session, SLEEP, {"seconds": "1"})
            except JobmagicError as exc:
                in_flight.append(exc)

        sender = threading.Thread(target=trigger_in_flight)
        sender.start()
        _poll(lambda: first.stats()["trigger"] == 4, 30, "the fourth trigger reaching the sandbox")
        _sigkill(first)
        sender.join(30)
        assert not sender.is_alive()
        # It reached the server, which may have started a run: unknown, not rejected.
        assert len(in_flight) == 1 and isinstance(in_flight[0], TriggerOutcomeUnknown)

        # The runs' processes die with the sandbox, the tree's child included.
        _poll(
            lambda: not any(pid_alive(pid) for pid in processes), 30, "the runs' processes ending"
        )
        unlaunched = _add_unlaunched_run(data_dir, like=handles[0].name)
        # Read in this (live) kernel: its acknowledgements may still be queued for the
        # ledger's writer, and its own reads write them first.
        states = Counter(entry.state for entry in session.ledger.entries())
        assert states == {AttemptState.ACKNOWLEDGED: 3, AttemptState.UNKNOWN: 1}

        # A new sandbox on the same data dir and port: the same host to every client.
        second = start_sandbox_process(
            data_dir, jobs_file=jobs_file, token=token, port=first.port, grace_period=1.0
        )
        app_runs = {
            run.name: run
            for app in {h.application_id or "" for h in handles}
            for run in client.list_runs(app)
        }
        # The trigger in flight started nothing; every run left active ended FAILED.
        assert set(app_runs) == {h.name for h in handles} | {unlaunched}
        assert {(run.status, run.error) for run in app_runs.values()} == {
            (RunStatus.FAILED, "sandbox stopped")
        }
        # %job_runs --refresh shows the recovered statuses, and so does the tracker.
        monkeypatch.setenv("TFY_HOST", second.host)
        monkeypatch.setenv("TFY_API_KEY", token)
        shell.run_line_magic("config", f"JobMagic.ledger_path = {str(ledger_path)!r}")
        shell.run_line_magic("config", "JobMagic.show_cards = False")
        shell.run_line_magic("job_runs", "--all --refresh -o runs")
        frame = shell.user_ns["runs"]
        shown = {row.name: str(row.status) for row in frame.itertuples() if row.name is not pd.NA}
        assert shown == {h.name: "FAILED" for h in handles}
        for handle in handles:
            assert handle.wait(timeout=60).status == RunStatus.FAILED
    finally:
        session.close()
        for process in (first, second):
            if process is not None:
                process.stop()
        for pid in processes:  # a failed test must not leave sleep 600 behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@needs_linux
def test_a_sweep_ends_with_a_summary_when_the_sandbox_is_killed_under_it(
    sandbox_process: SandboxProcess, tmp_path: Path
) -> None:
    ledger_path = tmp_path / "ledger.db"
    session = JobSession(_settings(sandbox_process, ledger_path))
    # 50 ms in the server per trigger: at the kill, most of the 8 in flight are there.
    sandbox_process.set_faults(Fault.latency(50, "trigger"))
    names = [f"s{i:03d}" for i in range(SWEEP_RUNS)]
    results: list[SweepResult] = []

    def sweep() -> None:
        runs = [{"name": name} for name in names]
        results.append(jobmagic.sweep(NOOP.app, runs=runs, concurrency=8, session=session))

    worker = threading.Thread(target=sweep)
    try:
        worker.start()
        _poll(
            lambda: sandbox_process.stats()["trigger"] >= SWEEP_RUNS // 3,
            60,
            "the sweep getting going",
        )
        _sigkill(sandbox_process)
        # The lanes' next triggers fail to connect after their retries (~1 s); then the sweep
        # stops sending: the rest would fail alike.
        worker.join(120)
        assert not worker.is_alive(), "the sweep hangs"
    finally:
        session.close()
    result = results[0]
    assert result.summary().startswith(f"Triggered {len(result)} of {SWEEP_RUNS} runs")
    assert len(result) + len(result.failures) == SWEEP_RUNS
    assert all(isinstance(failure.error, TransportError) for failure in result.failures)
    unsent = {failure.params["name"] for failure in result.failures if not failure.sent}
    assert unsent and all(
        isinstance(f.error, UnreachableError) for f in result.failures if not f.sent
    )
    assert f"{len(unsent)} not sent" in result.summary()

    with Ledger(ledger_path) as ledger:
        entries = ledger.entries()
    by_state: dict[AttemptState, set[str]] = {}
    for entry in entries:
        by_state.setdefault(entry.state, set()).add(entry.params["name"])
    # Every trigger the sweep began is in the ledger; the ones it never sent are not.
    assert len(entries) == SWEEP_RUNS - len(unsent)
    assert set().union(*by_state.values()) == set(names) - unsent
    assert set(by_state) <= {AttemptState.ACKNOWLEDGED, AttemptState.UNKNOWN, AttemptState.REJECTED}
    acknowledged = by_state.get(AttemptState.ACKNOWLEDGED, set())
    unknown = by_state.get(AttemptState.UNKNOWN, set())
    rejected = by_state.get(AttemptState.REJECTED, set())
    assert unknown, "the triggers in flight at the kill"
    assert acknowledged == {handle.params["name"] for handle in result}
    assert unknown == {
        failure.params["name"] for failure in result.failures if failure.outcome_unknown
    }
    # Every run the server made is acknowledged or unknown: never "rejected" (no run made).
    made = _sent_names_in_store(sandbox_process.data_dir)
    assert acknowledged <= made <= acknowledged | unknown
    assert not rejected & made


@needs_linux
def test_runs_outliving_a_sandbox_killed_with_its_launcher_are_ended_by_the_next_one(
    tmp_path: Path, isolated_home: Path, jobs_file: Path
) -> None:
    data_dir = tmp_path / "sandbox"
    first = start_sandbox_process(data_dir, jobs_file=jobs_file, grace_period=1.0)
    pid = 0
    try:
        with JobsClient(first.host, first.token) as client:
            app = client.find_app(SLEEP.app)
            name = client.trigger(deployment_id=app.deployment_id).job_run_name
            _poll(lambda: client.get_run(app.id, name).status == "RUNNING", 30, "the run starting")
        pid = _run_pids(data_dir)[name]
        # Both at once, as `kill -9` of the sandbox's whole tree or the OOM killer might:
        # stopped first, neither can act on the other's death before its own.
        launcher = _launcher_of(first.pid)
        for pid_to_stop in (launcher, first.pid):
            os.kill(pid_to_stop, signal.SIGSTOP)
        os.kill(launcher, signal.SIGKILL)
        _sigkill(first)
        assert pid_alive(pid)  # nothing ended it: only the next sandbox can
        with start_sandbox_process(data_dir, jobs_file=jobs_file) as second:
            # Found by pid and start time, the orphan's group is killed; its run has failed.
            _poll(lambda: not pid_alive(pid), 30, "the orphan ending")
            with JobsClient(second.host, second.token) as client:
                run = client.get_run(app.id, name)
        assert (run.status, run.error) == (RunStatus.FAILED, "sandbox stopped")
    finally:
        first.stop()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
