"""A sweep stops when going on cannot help: a token the server refuses (401), or a server that
refuses connections after the connect retries. The triggers left are never sent, say so in
one line, and `rerun_failed()` sends them once the cause is fixed. `-o` holds the sweep
even when no trigger made a run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from sessions import sandbox_serving, session_on, shell_on

from jobmagic.config import Credentials
from jobmagic.domain import engine
from jobmagic.domain.session import JobSession
from jobmagic.domain.sweeps import SweepResult
from jobmagic.domain.target import Target
from jobmagic.errors import AuthError, UnreachableError
from jobmagic.sandbox import Fault, SandboxServer

JOBS = """
cluster: sandbox
workspace: stops
jobs:
  - name: noop
    command: "true --name={{name}}"
    params:
      - name: name
"""
TARGET = Target("sandbox:stops:noop")
RUNS = 60
CONCURRENCY = 2


@pytest.fixture
def server(tmp_path: Path, isolated_home: Path) -> Iterator[SandboxServer]:
    with sandbox_serving(JOBS, tmp_path) as running:
        yield running


def _sweep_in_thread(session: JobSession) -> tuple[threading.Thread, list[SweepResult]]:
    """A 60-run sweep, 2 in flight, started in a thread (as a kernel's cell would run it)."""
    params = [{"name": f"r{i}"} for i in range(RUNS)]
    done: list[SweepResult] = []

    def work() -> None:
        triggers = engine.plan_for(session, TARGET, params)
        done.append(engine.start(session, triggers, concurrency=CONCURRENCY))

    thread = threading.Thread(target=work, name="test-sweep")
    thread.start()
    return thread, done


def _until_triggered(server: SandboxServer, count: int) -> None:
    deadline = time.monotonic() + 60
    while server.stats().get("trigger", 0) < count:
        assert time.monotonic() < deadline, "the sweep never got going"
        time.sleep(0.01)


def _restart(old: SandboxServer, token: str) -> SandboxServer:
    """The same sandbox (data, jobs, port) back up, with ``token``."""
    old.stop()
    port = int(old.host.rsplit(":", 1)[1])
    jobs = old.data_dir.parent / "jobs.yaml"  # where sandbox_serving wrote them
    return SandboxServer(old.data_dir, port=port, token=token, jobs_file=jobs).start()


def test_a_token_revoked_mid_sweep_stops_it_and_rerun_failed_sends_the_rest(
    server: SandboxServer, tmp_path: Path
) -> None:
    server.set_faults(Fault.latency(30, "trigger"))
    with session_on(server, tmp_path / "ledger.db") as session:
        thread, done = _sweep_in_thread(session)
        _until_triggered(server, 8)
        restarted = _restart(server, "tfy_another_token_0123456789")
        try:
            thread.join(120)
            assert not thread.is_alive()
            result = done[0]
            refused = [f for f in result.failures if isinstance(f.error, AuthError) and f.sent]
            unsent = [f for f in result.failures if not f.sent]
            # Each lane saw at most one 401 before the sweep stopped sending.
            assert 1 <= len(refused) <= CONCURRENCY
            assert restarted.stats().get("trigger", 0) <= CONCURRENCY
            assert len(unsent) >= RUNS - 8 - 4 * CONCURRENCY
            assert all(isinstance(f.error, AuthError) and f.attempt_id is None for f in unsent)
            assert f"{len(unsent)} not sent: the sweep stopped after AuthError" in result.summary()
            # Nothing was attempted for them: the ledger has no row with their params.
            sent_names = {e.params.get("name") for e in session.ledger.entries()}
            assert not sent_names & {f.params["name"] for f in unsent}
            # With the new token, rerun_failed sends the refused and the unsent ones, once.
            session.use_credentials(Credentials(restarted.host, restarted.token))
            again = result.rerun_failed()
            assert len(again.handles) == len(refused) + len(unsent) and not again.failures
            app_id = again[0].application_id or ""
            made = {str(run["command"]).rsplit("=", 1)[1] for run in restarted.runs(app_id)}
            assert {f.params["name"] for f in refused + unsent} <= made
        finally:
            restarted.stop()


def test_a_server_that_refuses_connections_stops_the_sweep(
    server: SandboxServer, tmp_path: Path
) -> None:
    server.set_faults(Fault.latency(30, "trigger"))
    with session_on(server, tmp_path / "ledger.db") as session:
        thread, done = _sweep_in_thread(session)
        _until_triggered(server, 8)
        server.stop()
        thread.join(120)
        assert not thread.is_alive()
        result = done[0]
        unreachable = [f for f in result.failures if isinstance(f.error, UnreachableError)]
        sent = [f for f in unreachable if f.sent]
        # Only the triggers a lane had begun spent their connect retries; the rest were left.
        assert 1 <= len(sent) <= CONCURRENCY
        assert len(unreachable) - len(sent) >= RUNS - 8 - 4 * CONCURRENCY
        assert all(f.safe_to_send_again for f in unreachable)
        assert "not sent: the sweep stopped after UnreachableError" in result.summary()
        restarted = _restart(server, server.token)
        try:
            again = result.rerun_failed()
            assert len(again.handles) == len(unreachable) and not again.failures
        finally:
            restarted.stop()


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(shared_sandbox, tmp_path / "ledger.db", monkeypatch) as ip:
        yield ip


def test_out_holds_a_grid_sweep_whose_every_trigger_failed(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    shared_sandbox.set_faults(Fault.status(422, "trigger", times=None))
    with pytest.raises(UsageError, match="Triggered 0 of 2 runs"):
        shell.run_cell_magic(
            "trigger_job", "sandbox:demo:train --grid -q -o failed", "lr: [0.1, 0.2]\nepochs: 1"
        )
    failed = shell.user_ns["failed"]
    assert isinstance(failed, SweepResult)
    assert len(failed.handles) == 0 and len(failed.failures) == 2
