"""Runs are real child processes: params as argv, failures, overrides, restarts, the watcher."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from jobmagic.models import LogLine, TriggerResult
from jobmagic.sandbox import (
    Fault,
    SandboxServer,
    pid_alive,
    read_sandbox_address,
    start_sandbox_process,
)
from jobmagic.sandbox.processes.runner import LAUNCHER_GONE_ERROR, Runner
from jobmagic.sandbox.processes.watcher import LAUNCHER_LOST
from jobmagic.sandbox.storage.store import EventRecord, LogRecord, RunEnd, RunStart, Store
from jobmagic.sandbox.storage.writer import Writer
from tests.sandbox.sandbox_helpers import (
    FAIL,
    HELLO,
    SLEEP,
    TRAIN,
    assert_job_run_shape,
    client_for,
    logs_of,
    new_run,
    poll,
    trigger,
    wait_for,
)

# --- runs are real processes -----------------------------------------------------------


def test_hello_runs_with_the_given_param(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        answer = trigger(client, HELLO, params={"name": "Ada"})
        assert set(answer) == {"message", "jobRunName", "data"}
        result = TriggerResult.from_api(answer)
        assert result.job_run_name == answer["data"]["name"]
        assert answer["data"]["status"] in ("CREATED", "RUNNING", "FINISHED")
        assert_job_run_shape(answer["data"])
        name = answer["jobRunName"]
        assert name.startswith("hello-") and len(name) == len("hello-") + 5

        run = wait_for(client, HELLO, name)
        logs = logs_of(client, HELLO, name)
    assert_job_run_shape(run)
    assert run["status"] == "FINISHED" and run["exitCode"] == 0 and "error" not in run
    assert run["applicationName"] == "hello" and run["deploymentVersion"] == "1"
    assert run["command"].endswith("hello --name=Ada")
    assert [(line["log"], line["stream"]) for line in logs] == [("hello Ada", "stdout")]
    assert set(logs[0]) == {"log", "stream", "time"}
    assert isinstance(logs[0]["time"], str)
    time_ns = int(logs[0]["time"])
    assert run["createdAt"] * 1_000_000 <= time_ns <= run["endTime"] * 1_000_000 + 10**9
    assert LogLine.from_api(logs[0]).time_ns == time_ns


def test_defaults_fill_missing_params_and_deployment_id_triggers(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        response = client.post("/jobs/trigger", json={"deploymentId": "dep-sandbox-demo-hello"})
        assert response.status_code == 200, response.text
        name = response.json()["jobRunName"]
        wait_for(client, HELLO, name)
        assert [line["log"] for line in logs_of(client, HELLO, name)] == ["hello world"]


def test_train_prints_one_line_per_epoch(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        name = trigger(client, TRAIN, params={"epochs": "2", "lr": "0.1"})["jobRunName"]
        run = wait_for(client, TRAIN, name)
        lines = [line["log"] for line in logs_of(client, TRAIN, name)]
    assert run["status"] == "FINISHED"
    assert [line.split(" ")[0] for line in lines] == ["epoch=1", "epoch=2"]
    assert all(line.split(" ")[1].startswith("loss=") for line in lines)
    assert run["endTime"] - run["createdAt"] >= 900  # about 0.5 s per epoch


def test_a_failing_job_is_failed_with_its_exit_code_and_last_stderr_line(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        name = trigger(client, FAIL)["jobRunName"]
        run = wait_for(client, FAIL, name)
        logs = logs_of(client, FAIL, name)
    assert_job_run_shape(run)
    assert run["status"] == "FAILED" and run["exitCode"] == 3
    assert "something went wrong" in run["error"]
    assert ("stderr", run["error"]) in [(line["stream"], line["log"]) for line in logs]
    assert any(line["stream"] == "stdout" for line in logs)


def test_a_param_value_is_one_argv_item_never_shell(
    custom_sandbox: SandboxServer, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    hostile = f"; touch {marker} && echo $(whoami) `id` | cat > {marker}"
    with client_for(custom_sandbox) as client:
        name = trigger(client, "app-local-tests-echo", params={"text": hostile})["jobRunName"]
        run = wait_for(client, "app-local-tests-echo", name)
        logs = logs_of(client, "app-local-tests-echo", name)
    assert run["status"] == "FINISHED"
    assert [line["log"] for line in logs] == [hostile]
    assert not marker.exists()


def test_hello_prints_a_hostile_name_verbatim(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        name = trigger(client, HELLO, params={"name": "; rm -rf ~"})["jobRunName"]
        wait_for(client, HELLO, name)
        assert [line["log"] for line in logs_of(client, HELLO, name)] == ["hello ; rm -rf ~"]


@pytest.mark.parametrize(
    "command",
    [
        ["{python}", "-c", "print('over ride')"],
        "{python} -c \"print('over ride')\"",
    ],
)
def test_a_command_override_replaces_the_template(
    shared_sandbox: SandboxServer, command: str | list[str]
) -> None:
    with client_for(shared_sandbox) as client:
        answer = trigger(client, HELLO, command=command)
        run = wait_for(client, HELLO, answer["jobRunName"])
        logs = logs_of(client, HELLO, answer["jobRunName"])
    assert run["status"] == "FINISHED"
    # Reported as given, like TrueFoundry: what ran had {python} filled in.
    assert run["command"] == (command if isinstance(command, str) else " ".join(command))
    assert [line["log"] for line in logs] == ["over ride"]


def test_a_command_that_cannot_start_fails_the_run(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        answer = trigger(client, HELLO, command="/no/such/program --flag")
        run = wait_for(client, HELLO, answer["jobRunName"])
    assert run["status"] == "FAILED" and run["exitCode"] == 127
    assert "/no/such/program" in run["error"]


def test_runs_terminated_or_stopped_before_their_process_starts_never_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger is answered before its process is asked for; a run terminated (or a sandbox
    stopped) in between ends TERMINATED and its process is never started."""
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    release, holding = threading.Event(), threading.Event()
    real_launch = runner._launch_batch

    def launch_then_hold(batch: Sequence[Any]) -> None:
        real_launch(batch)
        if not holding.is_set():
            holding.set()
            release.wait(10)  # the launcher thread stays busy with the first run's batch

    monkeypatch.setattr(runner, "_launch_batch", launch_then_hold)
    marker = tmp_path / "started"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]

    first, queued, left = (
        new_run(store, "first"),
        new_run(store, "queued"),
        new_run(store, "left"),
    )
    runner.start(first, [sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path)
    # The others are queued once the launcher thread took the first: they wait behind it.
    assert holding.wait(10)
    runner.start(queued, argv, cwd=tmp_path)
    runner.start(left, argv, cwd=tmp_path)
    assert store.get_run_by_id(queued).status == "CREATED"  # type: ignore[union-attr]
    assert runner.terminate(queued) in {"TERMINATION_REQUESTED", "TERMINATING"}
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    assert poll(lambda: runner._stopping)
    release.set()  # the launcher thread goes on, with every run asked to stop
    stopper.join(30)
    assert not stopper.is_alive()
    ended = {
        name: store.get_run_by_id(run_id)
        for name, run_id in (("first", first), ("queued", queued), ("left", left))
    }
    assert {name: (run.status, run.error) for name, run in ended.items() if run} == {
        "first": ("TERMINATED", "sandbox stopped"),
        "queued": ("TERMINATED", "terminated on request"),
        "left": ("TERMINATED", "sandbox stopped"),
    }
    assert ended["queued"].pid is None and ended["left"].pid is None  # type: ignore[union-attr]
    assert not marker.exists()  # neither queued run's process ever started
    store.close()


def test_a_start_that_cannot_be_recorded_kills_the_process_and_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    started: list[int] = []

    def broken_mark_running(starts: Sequence[RunStart]) -> list[bool]:
        started.extend(start.pid for start in starts)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "mark_running_many", broken_mark_running)
    run = store.get_run_by_id(new_run(store, "broken"))
    assert run is not None
    runner.start(run.id, [sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    assert runner.wait(run.id, timeout=10)
    ended = store.get_run_by_id(run.id)
    assert ended is not None and ended.status == "FAILED"
    assert ended.error == "the sandbox could not start it"
    assert started and poll(lambda: not pid_alive(started[0]))
    if sys.platform == "linux":
        assert poll(lambda: not Path(f"/proc/{started[0]}").exists())  # reaped, no zombie

    # Even when recording that failure fails too, waiters are let go and the next run starts.
    real_finish_runs = store.finish_runs

    def finish_fails_for(run_id: str) -> Any:
        def finish_runs(ends: Sequence[RunEnd]) -> list[bool]:
            if any(end.run_id == run_id for end in ends):
                raise RuntimeError("database is locked")
            return real_finish_runs(ends)

        return finish_runs

    unlucky = new_run(store, "unlucky")
    monkeypatch.setattr(store, "finish_runs", finish_fails_for(unlucky))
    runner.start(unlucky, [sys.executable, "-c", "pass"], cwd=tmp_path)
    assert runner.wait(unlucky, timeout=10)
    monkeypatch.undo()
    after = new_run(store, "after")
    runner.start(after, [sys.executable, "-c", "pass"], cwd=tmp_path)
    assert runner.wait(after, timeout=10)
    assert store.get_run_by_id(after).status == "FINISHED"  # type: ignore[union-attr]
    runner.stop()
    store.close()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_run_inherits_no_descriptor_but_its_three_streams(tmp_path: Path) -> None:
    """The launcher's socket, the sandbox's database and the other runs' pipes stay out of a
    run's process (a job could otherwise read or hold them open)."""
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    try:
        sleeper = new_run(store, "holding-pipes")
        runner.start(sleeper, ["sleep", "30"], cwd=tmp_path)
        run_id = new_run(store, "fds")
        runner.start(run_id, ["sh", "-c", "ls /proc/$$/fd"], cwd=tmp_path)
        assert runner.wait(run_id, timeout=30)
        assert sorted(r.line for r in store.query_logs([run_id])) == ["0", "1", "2"]
        assert runner.terminate(sleeper) in {"TERMINATION_REQUESTED", "TERMINATING"}
        assert runner.wait(sleeper, timeout=30)
    finally:
        runner.stop()
        store.close()


def test_run_name_alias_is_the_prefix(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        response = client.post(
            "/jobs/trigger",
            json={"applicationId": HELLO, "metadata": {"job_run_name_alias": "nightly-1"}},
        )
        assert response.status_code == 200, response.text
        name = response.json()["jobRunName"]
        assert name.startswith("nightly-1-") and len(name) == len("nightly-1-") + 5
        assert wait_for(client, HELLO, name)["status"] == "FINISHED"


def test_jobs_run_in_the_jobs_file_folder(custom_sandbox: SandboxServer, custom_jobs: Path) -> None:
    with client_for(custom_sandbox) as client:
        name = trigger(client, "app-local-tests-cwd")["jobRunName"]
        wait_for(client, "app-local-tests-cwd", name)
        assert [line["log"] for line in logs_of(client, "app-local-tests-cwd", name)] == [
            str(custom_jobs.parent)
        ]


def test_concurrent_triggers_each_start_one_run(shared_sandbox: SandboxServer) -> None:
    names: list[str] = []
    lock = threading.Lock()

    def fire() -> None:
        with client_for(shared_sandbox) as client:
            name = trigger(client, HELLO, params={"name": "many"})["jobRunName"]
        with lock:
            names.append(name)

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(set(names)) == 8
    with client_for(shared_sandbox) as client:
        for name in names:
            assert wait_for(client, HELLO, name)["status"] == "FINISHED"
    assert shared_sandbox.stats()["trigger"] == 8


# --- state survives; orphans are marked -----------------------------------------------


def test_runs_and_logs_survive_a_restart_and_stop_terminates_children(
    tmp_path: Path, isolated_home: Path
) -> None:
    data_dir = tmp_path / "data"
    with SandboxServer(data_dir, grace_period=0.5) as first, client_for(first) as client:
        done = trigger(client, HELLO, params={"name": "again"})["jobRunName"]
        wait_for(client, HELLO, done)
        sleeping = trigger(client, SLEEP, params={"seconds": "60"})["jobRunName"]
        assert poll(lambda: bool(logs_of(client, SLEEP, sleeping)))
        pid = first.run_pid(SLEEP, sleeping)
        assert pid is not None
    # Leaving the block stopped the server: its child is gone and the run says why.
    assert not pid_alive(pid)
    with SandboxServer(data_dir) as second, client_for(second) as client:
        assert second.recovered_runs == []  # the clean stop already marked it
        run = client.get(f"/jobs/{SLEEP}/runs/{sleeping}").json()["data"]
        assert run["status"] == "TERMINATED" and run["error"] == "sandbox stopped"
        assert "endTime" in run
        assert [line["log"] for line in logs_of(client, HELLO, done)] == ["hello again"]
        apps_first = client.get(f"/apps/{HELLO}").json()["data"]["createdAt"]
    with SandboxServer(data_dir) as third, client_for(third) as client:
        # Application creation times are stable across restarts.
        assert client.get(f"/apps/{HELLO}").json()["data"]["createdAt"] == apps_first


def test_a_crashed_sandbox_leaves_no_run_running_forever(
    tmp_path: Path, isolated_home: Path
) -> None:
    data_dir = tmp_path / "data"
    process = start_sandbox_process(data_dir)
    try:
        with client_for(process) as client:
            name = trigger(client, SLEEP, params={"seconds": "60"})["jobRunName"]
            assert poll(lambda: bool(logs_of(client, SLEEP, name)))
            # Faults and stats of a sandbox in another process, over its admin endpoints.
            process.set_faults(Fault.status(503, "apps", times=1))
            assert client.get("/apps").status_code == 503
            assert client.get("/apps").status_code == 200
            assert process.stats()["apps"] == 2
        os.kill(process.pid, signal.SIGKILL)  # a crash: no chance to clean up
        assert process.popen is not None
        process.popen.wait(10)
    finally:
        process.stop()
    assert read_sandbox_address(data_dir) is None  # stale file, dead pid
    with SandboxServer(data_dir) as server:
        pid = server.run_pid(SLEEP, name)
        run = server.get_run(SLEEP, name)
        assert run is not None and run["status"] == "FAILED"
        assert run["error"] == "sandbox stopped"
        assert server.recovered_runs != []
    # The orphaned child (it had its own session) was found by pid + start time and killed.
    assert pid is not None and poll(lambda: not pid_alive(pid))


def test_output_is_cut_into_lines_as_readline_would() -> None:
    from jobmagic.sandbox.processes.watcher import MAX_LINE, split_lines

    assert split_lines(b"", eof=True) == ([], b"")
    assert split_lines(b"a\n\nb", eof=False) == ([b"a\n", b"\n"], b"b")
    long = b"x" * MAX_LINE
    assert split_lines(long + b"y\n", eof=False) == ([long, b"y\n"], b"")
    assert split_lines(long[:-1] + b"\n", eof=False) == ([long[:-1] + b"\n"], b"")
    assert split_lines(long[:-1], eof=False) == ([], long[:-1])


@pytest.mark.skipif(os.name != "posix", reason="needs sh and process groups")
def test_a_grandchild_holding_the_pipes_does_not_hold_the_run_status(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    try:
        run_id = new_run(store, "orphaned-pipes")
        # The background sleep inherits stdout and stderr: the pipes stay open after sh exits.
        runner.start(run_id, ["sh", "-c", "sleep 30 & echo started; exit 3"], cwd=tmp_path)
        assert runner.wait(run_id, timeout=30)
        ended = store.get_run_by_id(run_id)
        assert ended is not None and (ended.status, ended.exit_code) == ("FAILED", 3)
        assert [r.line for r in store.query_logs([run_id])] == ["started"]
        assert ended.pid is not None
        os.killpg(ended.pid, signal.SIGKILL)  # the sleep, still in the run's group
    finally:
        runner.stop()
        store.close()


def test_a_launcher_killed_from_outside_fails_its_runs_and_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    try:
        sleeping = new_run(store, "orphaned")
        runner.start(sleeping, ["sleep", "60"], cwd=tmp_path)
        assert poll(lambda: store.get_run_by_id(sleeping).status == "RUNNING")  # type: ignore[union-attr]
        pid = store.get_run_by_id(sleeping).pid  # type: ignore[union-attr]
        assert pid is not None and pid_alive(pid)
        os.kill(runner._launcher.pid, signal.SIGKILL)
        assert runner.wait(sleeping, timeout=30)
        ended = store.get_run_by_id(sleeping)
        assert ended is not None and (ended.status, ended.exit_code) == ("FAILED", None)
        assert ended.error == LAUNCHER_LOST
        assert poll(lambda: not pid_alive(pid))  # its process did not outlive its run
        later = new_run(store, "later")
        runner.start(later, ["true"], cwd=tmp_path)
        assert runner.wait(later, timeout=30)
        failed = store.get_run_by_id(later)
        assert failed is not None and (failed.status, failed.error) == (
            "FAILED",
            LAUNCHER_GONE_ERROR,
        )
    finally:
        runner.stop()
        store.close()


def test_runs_started_together_are_marked_running_in_one_go_but_only_from_created(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "runs.db")
    fresh, ended = new_run(store, "fresh"), new_run(store, "ended")
    store.finish_run(ended, status="TERMINATED", end_time_ms=1, exit_code=None, error="asked")
    started = [EventRecord(run_id, 1, "Started", "Normal", "up") for run_id in (fresh, ended)]
    moved = store.mark_running_many(
        [RunStart(fresh, 101, 7, started[:1]), RunStart(ended, 102, 8, started[1:])]
    )
    assert moved == [True, False]
    now_running, still_ended = store.get_run_by_id(fresh), store.get_run_by_id(ended)
    assert now_running is not None and (now_running.status, now_running.pid) == ("RUNNING", 101)
    assert still_ended is not None and (still_ended.status, still_ended.pid) == ("TERMINATED", None)
    # Only the run that moved has its start among the events.
    assert [e.run_id for e in store.query_events("app", start_ms=0, end_ms=10)] == [fresh]
    store.close()


def test_the_writer_stores_queued_endings_together_after_their_lines_and_alone_if_that_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "runs.db")
    runs = [new_run(store, name) for name in ("a", "b", "c")]
    batches: list[int] = []
    real_finish_runs = store.finish_runs

    def finish_runs(ends: Sequence[RunEnd]) -> list[bool]:
        batches.append(len(ends))
        if len(ends) == 2:
            raise RuntimeError("database is locked")
        return real_finish_runs(ends)

    monkeypatch.setattr(store, "finish_runs", finish_runs)
    writer = Writer(store)
    gate, done = threading.Event(), []
    writer.call(lambda: gate.wait(10) and None)  # holds the writer while the rest is queued
    for index, run_id in enumerate(runs):
        writer.log(LogRecord(run_id, index, "stdout", f"line of {run_id}"))
        writer.finish(RunEnd(run_id, "FINISHED", 5, 0, None), lambda r=run_id: done.append(r))
    gate.set()
    writer.close()
    assert batches[0] == 3  # the three endings queued at once: one transaction
    assert done == runs
    for run_id in runs:
        record = store.get_run_by_id(run_id)
        assert record is not None and record.status == "FINISHED"
        assert [log.line for log in store.query_logs([run_id])] == [f"line of {run_id}"]

    # When storing them together fails, each is stored on its own: none is lost.
    more = [new_run(store, name) for name in ("d", "e")]
    writer = Writer(store)
    gate.clear()
    writer.call(lambda: gate.wait(10) and None)
    for run_id in more:
        writer.finish(RunEnd(run_id, "FAILED", 5, 1, "boom"), lambda r=run_id: done.append(r))
    gate.set()
    writer.close()
    assert batches[-3:] == [2, 1, 1] and done[-2:] == more
    assert all(store.get_run_by_id(run_id).status == "FAILED" for run_id in more)  # type: ignore[union-attr]
    store.close()
