"""`jobmagic.sweep` against the sandbox: the concurrency bound as the server saw it, one ledger
row per run, failures summarised, and a kernel killed mid-sweep losing no run."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sessions import sandbox_serving, session_on

import jobmagic
from jobmagic.config import Settings
from jobmagic.domain.session import JobSession
from jobmagic.domain.tracker import Tracker
from jobmagic.ledger import LEDGER_FILENAME, AttemptState, Ledger
from jobmagic.models import RunStatus
from jobmagic.sandbox import Fault, SandboxServer

REPO = Path(__file__).resolve().parent.parent
JOBS = """
cluster: test
workspace: sweeps
jobs:
  - name: noop
    command: "true --name={{name}}"
    params:
      - name: name
"""
NOOP = "app-test-sweeps-noop"


@pytest.fixture
def noop_sandbox(tmp_path: Path, isolated_home: Path) -> Iterator[SandboxServer]:
    """A sandbox whose one job is `true`: runs end at once and cost no Python start-up."""
    with sandbox_serving(JOBS, tmp_path) as server:
        yield server


@pytest.fixture
def session(noop_sandbox: SandboxServer, tmp_path: Path) -> Iterator[JobSession]:
    with session_on(noop_sandbox, tmp_path / "ledger.db") as live:
        yield live


def _sent_name(run: dict[str, object]) -> str:
    match = re.search(r"--name=(\S+)$", str(run["command"]))
    assert match, run
    return match.group(1)


def test_sweep_keeps_to_its_concurrency_and_writes_one_ledger_row_per_run(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    # 300 ms each: long enough that all four slots are busy at once even on a slow disk.
    noop_sandbox.set_faults(Fault.latency(300, "trigger"))
    names = [f"n{i:02d}" for i in range(12)]
    result = jobmagic.sweep(
        "test:sweeps:noop", grid={"name": names}, concurrency=4, session=session
    )

    assert not result.failures and len(result) == 12
    # The server saw at most 4 triggers at once, and did overlap them.
    assert noop_sandbox.stats()["trigger"] == 12
    assert noop_sandbox.peak_in_flight()["trigger"] == 4
    runs = {run["name"]: _sent_name(run) for run in noop_sandbox.runs(NOOP)}
    assert sorted(runs.values()) == names
    entries = session.ledger.entries(session_id=session.session_id)
    assert len(entries) == 12
    assert {entry.state for entry in entries} == {AttemptState.ACKNOWLEDGED}
    # Each row holds the params that were sent and the run the server started with them.
    assert {entry.run_name: entry.params["name"] for entry in entries} == runs
    assert {handle.name for handle in result} == set(runs)


def test_failed_triggers_are_summarised_and_the_rest_go_on(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    # 422 means no run was made: the two are rejected (a 5xx would leave them unknown).
    noop_sandbox.set_faults(Fault.status(422, "trigger", times=2))
    result = jobmagic.sweep(
        "test:sweeps:noop",
        runs=[{"name": f"r{i}"} for i in range(6)],
        concurrency=1,
        session=session,
    )

    assert len(result) == 4 and len(result.failures) == 2
    assert [failure.params for failure in result.failures] == [{"name": "r0"}, {"name": "r1"}]
    summary = result.summary()
    assert summary.startswith("Triggered 4 of 6 runs") and "2 failed:" in summary
    assert "✗ name=r0:" in summary and "✗ name=r1:" in summary
    states = [entry.state for entry in session.ledger.entries(session_id=session.session_id)]
    assert sorted(state.value for state in states) == ["acknowledged"] * 4 + ["rejected"] * 2
    frame = result.to_dataframe()
    assert list(frame["params.name"]) == ["r2", "r3", "r4", "r5"]


def test_an_unexpected_error_in_one_run_is_raised_after_the_others_are_settled(
    noop_sandbox: SandboxServer, session: JobSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    noop_sandbox.set_faults(Fault.latency(50, "trigger"))
    ledger = session.ledger
    record = ledger.record_acknowledged

    def record_breaks_on_b3(attempt_id: int, run: Any, *args: Any, **kwargs: Any) -> Any:
        if ledger.get(attempt_id).params == {"name": "b3"}:
            raise sqlite3.OperationalError("disk I/O error")
        return record(attempt_id, run, *args, **kwargs)

    monkeypatch.setattr(ledger, "record_acknowledged", record_breaks_on_b3)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        jobmagic.sweep(
            "test:sweeps:noop",
            runs=[{"name": f"b{i}"} for i in range(8)],
            concurrency=8,
            session=session,
        )
    entries = session.ledger.entries(session_id=session.session_id)
    states = {entry.params["name"]: entry.state.value for entry in entries}
    # All eight went out together; the seven others were answered and committed.
    assert states == {f"b{i}": "pending" if i == 3 else "acknowledged" for i in range(8)}
    assert noop_sandbox.stats()["trigger"] == 8


_SWEEP_FOREVER = textwrap.dedent(
    """
    import jobmagic

    runs = [{"name": f"p{i:04d}"} for i in range(2000)]
    jobmagic.sweep("test:sweeps:noop", runs=runs, concurrency=8)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_a_sweep_leaves_every_run_the_sandbox_knows_in_the_ledger(
    noop_sandbox: SandboxServer, isolated_home: Path
) -> None:
    noop_sandbox.set_faults(Fault.latency(50, "trigger"))
    env = {
        **os.environ,
        "TFY_HOST": noop_sandbox.host,
        "TFY_API_KEY": noop_sandbox.token,
        "PYTHONPATH": str(REPO),
    }
    kernel = subprocess.Popen(
        [sys.executable, "-c", _SWEEP_FOREVER],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(noop_sandbox.runs(NOOP)) < 40:
            assert kernel.poll() is None, kernel.stderr.read() if kernel.stderr else b""
            assert time.monotonic() < deadline, "the sweep did not get going"
            time.sleep(0.02)
    finally:
        os.kill(kernel.pid, signal.SIGKILL)
        kernel.wait(30)
        if kernel.stderr:
            kernel.stderr.close()
    assert kernel.returncode == -signal.SIGKILL

    # Triggers that reached the server before the kill are still being answered; let them.
    counts = [-1]
    while counts[-1] != len(noop_sandbox.runs(NOOP)) or len(counts) < 3:
        counts.append(len(noop_sandbox.runs(NOOP)))
        time.sleep(0.2)
    server = {run["name"]: _sent_name(run) for run in noop_sandbox.runs(NOOP)}

    with Ledger(isolated_home / ".jobmagic" / LEDGER_FILENAME) as ledger:
        entries = ledger.entries()
    acknowledged = {e.run_name: e.params["name"] for e in entries if e.run_name is not None}
    pending = {e.params["name"] for e in entries if e.state is AttemptState.PENDING}
    assert {e.state for e in entries} <= {AttemptState.ACKNOWLEDGED, AttemptState.PENDING}
    assert len(acknowledged) >= 40 - 8
    # Every acknowledged run is one the server started, with the params the ledger holds...
    assert all(server.get(name) == sent for name, sent in acknowledged.items())
    # ...and every run the server started is in the ledger: acknowledged by name, or (its
    # answer was still on the wire at the kill) as a pending attempt with the same params.
    unanswered = {sent for name, sent in server.items() if name not in acknowledged}
    assert unanswered <= pending
    # Only the triggers in flight at the kill can be pending: at most the concurrency.
    assert len(pending) <= 8

    # The next kernel settles them against the server, sending nothing: each pending attempt
    # whose run exists gets it; the others stay pending until their window closes.
    noop_sandbox.clear_faults()
    triggers = noop_sandbox.stats()["trigger"]
    settings = Settings(host=noop_sandbox.host, api_key=noop_sandbox.token)
    next_kernel = JobSession(settings)
    try:
        verdicts = {v.attempt_id: v for v in next_kernel.reconcile()}
        after = {e.id: e for e in next_kernel.ledger.entries()}
    finally:
        next_kernel.close()
    assert noop_sandbox.stats()["trigger"] == triggers
    found = {
        e.params["name"]: e.run_name for e in after.values() if e.id in verdicts and e.run_name
    }
    assert found == {sent: name for name, sent in server.items() if sent in found}
    assert set(found) == unanswered  # every run the server started now has its attempt
    still = {e.params["name"] for e in after.values() if e.state is AttemptState.PENDING}
    assert still == pending - unanswered  # never sent, or not yet: undecided, not guessed


def test_every_entry_point_refuses_bad_input_before_the_ledger_or_the_server_sees_it(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    from jobmagic.domain import engine
    from jobmagic.domain.target import Target

    resolved = session.resolve(Target("test:sweeps:noop"))
    noop_sandbox.reset_stats()
    attempts = [
        lambda: jobmagic.trigger("test:sweeps:noop", {"nmae": "x"}, session=session),
        lambda: jobmagic.trigger(
            "test:sweeps:noop", {"name": "x"}, command="echo hi", session=session
        ),
        # One bad run refuses the whole sweep: none of the good ones is sent either.
        lambda: jobmagic.sweep(
            "test:sweeps:noop", runs=[{"name": "a"}, {"nmae": "b"}], session=session
        ),
        lambda: engine.plan(resolved, [{"name": 3}]),  # type: ignore[dict-item]
    ]
    for attempt in attempts:
        with pytest.raises(jobmagic.ParamsError):
            attempt()
    assert noop_sandbox.stats().get("trigger", 0) == 0
    assert session.ledger.entries(session_id=session.session_id) == []


def test_a_single_run_is_a_sweep_of_one_and_sends_the_planned_request(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    from jobmagic.domain import engine
    from jobmagic.domain.target import Target

    resolved = session.resolve(Target("test:sweeps:noop"))
    one = engine.plan(resolved, [{"name": "solo"}], alias="solo-run")
    assert one.requests[0].json == {
        "deploymentId": resolved.deployment_id,  # the deployment names the target by itself
        "input": {"params": {"name": "solo"}},
        "metadata": {"job_run_name_alias": "solo-run"},
    }
    handle = engine.trigger_one(session, one)
    many = engine.start(session, engine.plan(resolved, [{"name": "a"}, {"name": "b"}]))
    assert handle.params == {"name": "solo"}
    assert sorted(h.params["name"] for h in many) == ["a", "b"]
    entries = session.ledger.entries(session_id=session.session_id)
    assert sorted(e.state.value for e in entries) == ["acknowledged"] * 3
    assert noop_sandbox.stats()["trigger"] == 3


def test_a_rejected_single_run_raises_its_error_and_is_settled(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    noop_sandbox.set_faults(Fault.status(409, "trigger", times=1))
    with pytest.raises(jobmagic.ConflictError):
        jobmagic.trigger("test:sweeps:noop", {"name": "x"}, session=session)
    (entry,) = session.ledger.entries(session_id=session.session_id)
    assert entry.state == AttemptState.REJECTED
    assert noop_sandbox.stats()["trigger"] == 1


def test_a_remembered_target_is_not_looked_up_again(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    jobmagic.trigger("test:sweeps:noop", {"name": "a"}, session=session)
    looked_up = dict(noop_sandbox.stats())
    jobmagic.trigger("test:sweeps:noop", {"name": "b"}, session=session)
    after = noop_sandbox.stats()
    assert after["trigger"] == looked_up["trigger"] + 1
    # Only the trigger was sent: no lookup of the job by name.
    assert sum(after.values()) == sum(looked_up.values()) + 1


def test_a_remembered_target_refused_as_unknown_is_looked_up_again_once(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    """A redeploy or a replaced job makes remembered ids stale: the 404 is settled as
    rejected, the job looked up afresh, and the run triggered once more (a new attempt)."""
    jobmagic.trigger("test:sweeps:noop", {"name": "a"}, session=session)
    before = dict(noop_sandbox.stats())
    noop_sandbox.set_faults(Fault.status(404, "trigger", times=1))
    handle = jobmagic.trigger("test:sweeps:noop", {"name": "b"}, session=session)
    assert handle.params == {"name": "b"}
    after = noop_sandbox.stats()
    assert after["trigger"] == before["trigger"] + 2
    assert sum(after.values()) > sum(before.values()) + 2  # the fresh lookup
    states = sorted(e.state.value for e in session.ledger.entries(session_id=session.session_id))
    assert states == ["acknowledged", "acknowledged", "rejected"]

    # Refused twice: the second refusal stands (one fresh lookup per trigger, no loop).
    noop_sandbox.set_faults(Fault.status(404, "trigger", times=2))
    with pytest.raises(jobmagic.NotFoundError):
        jobmagic.trigger("test:sweeps:noop", {"name": "c"}, session=session)
    assert noop_sandbox.stats()["trigger"] == after["trigger"] + 2


def test_the_tracker_reaches_back_to_old_runs_with_a_listing_not_a_request_each(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    result = jobmagic.sweep(
        "test:sweeps:noop", runs=[{"name": f"r{i}"} for i in range(120)], session=session
    )
    assert len(result.handles) == 120
    oldest = result.handles[:10]  # off the newest page the tracker lists first
    assert not any(h.run.is_terminal for h in oldest)  # as the trigger answered
    for handle in oldest:  # ended at the server (a loaded machine may take a moment)
        noop_sandbox.wait_for_run(NOOP, handle.name, timeout=60)
    tracker = Tracker(session.new_client)  # no thread: the one poll below is all there is
    noop_sandbox.reset_stats()
    with session.new_client() as client:
        tracker._poll_app(client, NOOP, oldest)
    stats = noop_sandbox.stats()
    assert stats.get("get_run", 0) == 0
    # The newest page, the live runs (they are not among them: they ended), then back to them.
    assert stats.get("list_runs", 0) == 3
    assert all(h.run.is_terminal for h in oldest)


def test_old_live_runs_are_found_among_the_live_ones_however_many_runs_came_after(
    noop_sandbox: SandboxServer, session: JobSession
) -> None:
    """A board's page of live runs while a sweep adds hundreds of newer runs of the same
    job: each tick lists the newest page and the live runs, never a page reaching back
    over every newer run."""
    sleepers = jobmagic.sweep(
        "test:sweeps:noop", runs=[{}] * 6, command=["sleep", "60"], session=session
    )
    try:
        newer = jobmagic.sweep(
            "test:sweeps:noop", runs=[{"name": f"n{i}"} for i in range(250)], session=session
        )
        assert len(newer.handles) == 250
        tracker = Tracker(session.new_client)  # no thread: the one poll below is all there is
        noop_sandbox.reset_stats()
        with session.new_client() as client:
            changed = tracker._poll_app(client, NOOP, list(sleepers.handles))
            stats = noop_sandbox.stats()
            again = tracker._poll_app(client, NOOP, list(sleepers.handles))
        assert (stats.get("list_runs", 0), stats.get("get_run", 0)) == (2, 0)
        assert {h.run.status for h in sleepers.handles} == {RunStatus.RUNNING}
        # What changed (CREATED when triggered, RUNNING now) goes to the ledger; then nothing.
        assert sorted(run.name for run in changed) == sorted(h.name for h in sleepers.handles)
        assert again == []
    finally:
        sleepers.terminate()


def test_the_sweep_writer_commits_a_turns_writes_together_each_failing_alone(
    tmp_path: Path,
) -> None:
    """The writes asked for in one turn of the sweep's loop go into one transaction,
    committed before any caller goes on; a write that fails is that caller's error, and
    the others are committed all the same."""
    import asyncio
    from types import SimpleNamespace

    from jobmagic.domain.drivers import LoopWriter

    ledger = Ledger(tmp_path / "ledger.db")
    owner: Any = SimpleNamespace(ledger=ledger)  # all the writer uses of a session
    other = Ledger(tmp_path / "ledger.db")  # another connection: sees committed rows only
    seen_by_other: list[int] = []

    def attempt(i: int) -> int:
        seen_by_other.append(len(other.entries()))
        return ledger.record_attempt(host="h", target=f"t{i}", params={"i": str(i)})

    def broken() -> int:
        raise ValueError("this write fails")

    async def main() -> tuple[list[object], int]:
        writer = LoopWriter(owner, asyncio.get_running_loop())
        first = writer.run(lambda: attempt(-1))
        await first  # committed before the caller goes on
        committed_then = len(other.entries())
        futures = [writer.run(lambda i=i: attempt(i)) for i in range(20)]
        futures.insert(5, writer.run(broken))
        return await asyncio.gather(*futures, return_exceptions=True), committed_then

    try:
        results, committed_then = asyncio.run(main())
        assert committed_then == 1
        assert isinstance(results[5], ValueError)
        ids = [r for r in results if not isinstance(r, BaseException)]
        assert len(ids) == 20 and len(set(ids)) == 20
        assert len(other.entries()) == 21
        # One transaction for the twenty: none of them saw another's row committed.
        assert seen_by_other[1:] == [1] * 20
    finally:
        other.close()
        ledger.close()
