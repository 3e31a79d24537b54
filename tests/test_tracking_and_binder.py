"""The tracker's cost (counted at the sandbox), its shutdown, and binder/start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jobmagic.config import Settings
from jobmagic.domain import engine
from jobmagic.domain.session import JobSession
from jobmagic.domain.target import Target
from jobmagic.sandbox import SandboxServer

REPO = Path(__file__).resolve().parent.parent


def test_n_runs_across_k_apps_cost_k_list_calls_per_tick(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            poll_interval=60,  # ticks are driven by hand below
            ledger_path=str(tmp_path / "ledger.db"),
        )
    )
    try:
        handles = [
            engine.trigger(session, Target("sandbox:demo:sleep"), {"seconds": "30"})
            for _ in range(4)
        ] + [
            engine.trigger(session, Target("sandbox:demo:train"), {"epochs": "20"})
            for _ in range(3)
        ]
        tracker = session.tracker
        for handle in handles:
            tracker.watch(handle)
        # The thread polls once at once, then sleeps for the 60 s interval.
        deadline = time.monotonic() + 10
        while tracker.ticks < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        sandbox.reset_stats()
        with session.new_client() as client:
            tracker._apps.clear()  # every application due now
            tracker.tick(client)
        stats = sandbox.stats()
        assert stats.get("list_runs", 0) == 2  # 7 runs, 2 applications
        assert stats.get("get_run", 0) == 0
        for handle in handles:
            handle.terminate()
        deadline = time.monotonic() + 30
        while tracker.watched and time.monotonic() < deadline:
            with session.new_client() as client:
                tracker._apps.clear()
                tracker.tick(client)
            time.sleep(0.3)
        assert tracker.watched == []  # all terminal: nothing left to poll
        assert all(h.run.is_terminal for h in handles)
    finally:
        session.close()
    assert not [t for t in threading.enumerate() if t.name == "jobmagic-tracker"]


def test_a_board_redraws_once_per_tick_however_many_of_its_runs_changed(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobmagic.widgets import RunsBoard, _board_rows

    # Only the tracker's tick may redraw here: the clock's second (live durations) is off.
    monkeypatch.setattr(_board_rows, "every_second", lambda _callback: lambda: None)

    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            poll_interval=60,  # ticks are driven by hand below
            ledger_path=str(tmp_path / "ledger.db"),
        )
    )
    try:
        handles = [
            engine.trigger(session, Target("sandbox:demo:sleep"), {"seconds": "30"})
            for _ in range(6)
        ]
        board = RunsBoard(handles, min_interval=0)  # no spacing: each request would render
        tracker = session.tracker
        # Its thread's first ticks over (redraws included): it sleeps for the 60 s interval.
        deadline = time.monotonic() + 10
        while not tracker.idle and time.monotonic() < deadline:
            time.sleep(0.05)
        with session.new_client() as client:
            # All six end at the server between two ticks: the next tick changes six rows.
            for handle in handles:
                client.terminate(handle.deployment_id or "", handle.name)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                runs = client.list_runs(handles[0].application_id or "", limit=20)
                ended = {run.name for run in runs if run.is_terminal}
                if ended >= {handle.name for handle in handles}:
                    break
                time.sleep(0.1)
            before = board.renders
            tracker._apps.clear()  # due now
            tracker.tick(client)
        assert all(handle.run.is_terminal for handle in handles)  # six rows changed…
        assert board.renders == before + 1  # …and the board redrew once
        board.close()
        # Shutting down with runs still watched: the thread is gone when it returns.
        assert tracker.shutdown()
        assert not tracker.running
    finally:
        session.close()
    assert not [t for t in threading.enumerate() if t.name == "jobmagic-tracker"]


def test_closing_while_a_tick_stores_its_statuses_lets_the_tick_finish(
    sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            poll_interval=0.1,
            ledger_path=str(tmp_path / "ledger.db"),
            show_cards=False,
        )
    )
    storing, go_on = threading.Event(), threading.Event()
    store = session.record_runs

    def held_store(runs: Any) -> None:
        storing.set()
        go_on.wait(10)
        store(runs)

    session.record_runs = held_store  # type: ignore[method-assign]
    handle = engine.trigger(session, Target("sandbox:demo:hello"), {"name": "x"})
    tracker = session.tracker
    tracker.watch(handle)
    assert storing.wait(10)  # the tick has its statuses and is about to store them
    closer = threading.Thread(target=session.close)
    closer.start()
    deadline = time.monotonic() + 10
    while not tracker._stopped.is_set():  # close() has asked the tracker to stop
        assert time.monotonic() < deadline
        time.sleep(0.01)
    go_on.set()
    closer.join(30)
    assert not closer.is_alive()
    # The tick stored its statuses and ended; close() did not give up waiting for it.
    assert "did not stop in time" not in caplog.text
    assert not [t for t in threading.enumerate() if t.name == "jobmagic-tracker"]


def test_binder_start_hands_a_live_sandbox_to_the_command(tmp_path: Path) -> None:
    env = dict(os.environ, JOBMAGIC_HOME=str(tmp_path / "jm"), HOME=str(tmp_path))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    probe = (
        "import os, httpx;"
        "r = httpx.get(os.environ['TFY_HOST'] + '/api/svc/v1/apps',"
        " headers={'Authorization': 'Bearer ' + os.environ['TFY_API_KEY']});"
        "print(r.status_code, sorted(a['fqn'] for a in r.json()['data']))"
    )
    try:
        out = subprocess.run(
            [str(REPO / "binder" / "start"), sys.executable, "-c", probe],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert out.startswith("200 ")
        assert "sandbox:demo:train" in out
    finally:
        subprocess.run([sys.executable, "-m", "jobmagic", "sandbox", "stop"], env=env, timeout=30)


@pytest.mark.parametrize("name", ["requirements.txt", "postBuild", "start"])
def test_binder_files_exist(name: str) -> None:
    assert (REPO / "binder" / name).is_file()


def test_credentials_are_resolved_again_when_a_place_they_come_from_changes(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("TFY_HOST", "http://127.0.0.1:1")
    monkeypatch.setenv("TFY_API_KEY", "tok-a")
    session = JobSession(Settings())
    first = session.credentials()
    assert first.token == "tok-a"
    assert session.credentials() is first  # kept while nothing changed
    monkeypatch.setenv("TFY_API_KEY", "tok-b")
    assert session.credentials().token == "tok-b"
    monkeypatch.delenv("TFY_API_KEY")
    saved = isolated_home / ".truefoundry" / "credentials.json"
    saved.parent.mkdir()
    saved.write_text(json.dumps({"host": "http://127.0.0.1:1", "access_token": "tok-c"}))
    assert session.credentials().token == "tok-c"  # `tfy login` wrote a new file
    saved.write_text(json.dumps({"host": "http://127.0.0.1:1", "access_token": "tok-dd"}))
    assert session.credentials().token == "tok-dd"


def test_a_shutdown_during_a_tick_is_not_lost(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The tick ends, and the thread stops at once rather than sleeping its interval (60 s
    here: a join that waited it out would fail)."""
    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            poll_interval=60,
            ledger_path=str(tmp_path / "ledger.db"),
        )
    )
    entered = threading.Event()
    release = threading.Event()

    try:
        handle = engine.trigger(session, Target("sandbox:demo:sleep"), {"seconds": "30"})
        tracker = session.tracker
        poll = tracker._poll_app

        def slow_poll(*args: Any) -> Any:  # the tick's poll, held until shutdown is asked
            polled = poll(*args)
            entered.set()
            release.wait(30)
            return polled

        tracker._poll_app = slow_poll  # type: ignore[method-assign]
        tracker.watch(handle)
        assert entered.wait(30)
        stopper = threading.Thread(target=lambda: done.append(tracker.shutdown(timeout=20)))
        done: list[bool] = []
        stopper.start()
        deadline = time.monotonic() + 10
        while not tracker._stopped.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()  # the tick finishes after the shutdown's wake-up
        stopper.join(30)
        assert done == [True]
        assert not tracker.running
        handle.terminate()
    finally:
        release.set()
        session.close()
