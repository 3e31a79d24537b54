"""Pod events of runs, and the one JobRun JSON shape."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobmagic.models import JobRun
from jobmagic.sandbox import SandboxServer
from jobmagic.sandbox.processes.runner import Runner
from jobmagic.sandbox.storage.store import Store
from tests.sandbox.sandbox_helpers import (
    FAIL,
    HELLO,
    SLEEP,
    assert_error,
    client_for,
    new_run,
    poll,
    trigger,
    wait_for,
)

# --- events ---------------------------------------------------------------------------


def events_of(client: httpx.Client, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/events", params=query)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_a_failed_run_has_pod_events_ending_in_error_and_backoff_with_the_exit_code(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        name = trigger(client, FAIL)["jobRunName"]
        run = wait_for(client, FAIL, name)
        # Read right after the terminal status: the end's events are stored with it.
        events = events_of(client, applicationId=FAIL, jobRunName=name)
    assert [e["reason"] for e in events] == ["Scheduled", "Pulled", "Started", "Error", "BackOff"]
    error, backoff = events[-2:]
    assert error["type"] == backoff["type"] == "Warning"
    assert error["chart"] == {"category": "ContainerTerminated"}
    assert f"exit code {run['exitCode']}" in error["message"] and run["error"] in error["message"]
    assert "exit code 3" in backoff["message"]
    pod = events[0]["involvedObject"]["name"]
    assert pod.startswith(f"{name}-")
    for event in events:
        assert event["involvedObject"]["kind"] == "Pod"
        assert event["involvedObject"]["name"] == pod
        assert event["namespace"] == event["involvedObject"]["namespace"] == "demo"
        assert event["count"] == 1 and event["firstTimestamp"] == event["lastTimestamp"]
        assert event["name"].startswith(f"{pod}.")
    assert "containerName" not in events[0]["involvedObject"]  # Scheduled is about the pod
    assert error["involvedObject"]["containerName"] == "fail"


def test_a_finished_run_completes_and_a_terminated_one_is_killed(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        done = trigger(client, HELLO)["jobRunName"]
        wait_for(client, HELLO, done)
        sleeper = trigger(client, SLEEP, params={"seconds": "60"})["jobRunName"]
        wait_for(client, SLEEP, sleeper, lambda run: run["status"] == "RUNNING")
        terminated = client.post(
            "/jobs/terminate",
            params={"deploymentId": "dep-sandbox-demo-sleep", "jobRunName": sleeper},
        )
        assert terminated.status_code == 200, terminated.text
        wait_for(client, SLEEP, sleeper)
        finished = events_of(client, applicationId=HELLO, jobRunName=done)
        killed = events_of(client, applicationFqn="sandbox:demo:sleep", jobRunName=sleeper)
    assert [e["reason"] for e in finished] == ["Scheduled", "Pulled", "Started", "Completed"]
    assert "exited with code 0" in finished[-1]["message"]
    assert [e["reason"] for e in killed] == ["Scheduled", "Pulled", "Started", "Killing"]
    assert killed[-1]["chart"]["category"] == "PodTerminated"


def test_events_filter_by_pod_names_and_time_window(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        first, second = (trigger(client, HELLO)["jobRunName"] for _ in range(2))
        for name in (first, second):
            wait_for(client, HELLO, name)
        pod = events_of(client, applicationId=HELLO, jobRunName=first)[0]["involvedObject"]
        by_pod = events_of(client, applicationId=HELLO, podNames=[pod["name"]])
        everything = events_of(client, applicationId=HELLO)
        past = events_of(
            client,
            applicationId=HELLO,
            startTs="2000-01-01T00:00:00Z",
            endTs="2000-01-02T00:00:00+00:00",
        )
    assert {e["involvedObject"]["name"] for e in by_pod} == {pod["name"]}
    assert len(by_pod) == 4
    names = {e["involvedObject"]["name"].rsplit("-", 1)[0] for e in everything}
    assert {first, second} <= names
    assert past == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "applicationId"),
        ({"applicationId": HELLO, "jobRunName": "x", "podNames": "p"}, "podNames"),
        ({"applicationId": HELLO, "startTs": "yesterday"}, "startTs"),
        (
            {"applicationId": HELLO, "startTs": "2024-01-02T00:00:00Z", "endTs": "2024-01-01"},
            "startTs",
        ),
    ],
)
def test_bad_event_queries_are_422_naming_the_field(
    shared_sandbox: SandboxServer, query: dict[str, str], field: str
) -> None:
    with client_for(shared_sandbox) as client:
        body = assert_error(client.get("/events", params=query), 422)
    assert field in [detail["field"] for detail in body["details"]]


def test_events_of_unknown_apps_and_runs_are_404(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        assert_error(client.get("/events", params={"applicationId": "app-nope"}), 404)
        assert_error(client.get("/events", params={"applicationFqn": "a:b:c"}), 404)
        missing = {"applicationId": HELLO, "jobRunName": "hello-zzzzz"}
        assert_error(client.get("/events", params=missing), 404)


def test_a_store_from_before_events_gains_the_table_and_deleting_a_run_drops_its_events(
    tmp_path: Path,
) -> None:
    import sqlite3

    from jobmagic.sandbox.storage.store import EventRecord

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE apps (id TEXT PRIMARY KEY, first_seen_ms INTEGER NOT NULL);"
        "INSERT INTO apps VALUES ('app-old', 5);"
    )
    old.close()
    store = Store(path)
    try:
        assert store.first_seen(["app-old"], 99) == {"app-old": 5}  # old data kept
        run = store.create_run(
            make_name=lambda: "old-aaaaa",
            application_id="app-old",
            application_name="old",
            deployment_id="dep-old",
            deployment_version="1",
            command="true",
            params={},
            triggered_by="me",
            now_ms=10,
        )
        store.add_events([EventRecord(run.id, 11, "Scheduled", "Normal", "assigned")])
        assert store.finish_run(
            run.id,
            status="FAILED",
            end_time_ms=12,
            exit_code=1,
            error="x",
            events=[EventRecord(run.id, 12, "Error", "Warning", "exit code 1")],
        )
        # A second writer loses, and adds no events of its own.
        assert not store.finish_run(
            run.id,
            status="TERMINATED",
            end_time_ms=13,
            exit_code=None,
            error=None,
            events=[EventRecord(run.id, 13, "Killing", "Normal", "late")],
        )
        found = store.query_events("app-old", start_ms=0, end_ms=100)
        assert [(e.reason, e.run_name) for e in found] == [
            ("Scheduled", "old-aaaaa"),
            ("Error", "old-aaaaa"),
        ]
        assert store.query_events("app-old", start_ms=12, end_ms=12)[0].reason == "Error"
        assert store.delete_run(run.id)
        assert store.query_events("app-old", start_ms=0, end_ms=100) == []
    finally:
        store.close()


def test_stopping_the_sandbox_records_killing_for_its_running_pods(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    running = new_run(store, "running")
    runner.start(
        running, [sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, container="c"
    )
    assert poll(lambda: store.get_run_by_id(running).status == "RUNNING")  # type: ignore[union-attr]
    runner.stop()
    events = store.query_events("app", start_ms=0, end_ms=2**62)
    assert [e.reason for e in events] == ["Scheduled", "Pulled", "Started", "Killing"]
    assert events[-1].message == "Stopping container c: sandbox stopped"
    assert store.get_run_by_id(running).status == "TERMINATED"  # type: ignore[union-attr]
    store.close()


def test_a_run_whose_command_cannot_start_has_a_failed_event_with_the_exit_code(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        name = trigger(client, HELLO, command="/no/such/program")["jobRunName"]
        run = wait_for(client, HELLO, name)
        events = events_of(client, applicationId=HELLO, jobRunName=name)
    assert [(e["reason"], e["type"]) for e in events] == [
        ("Scheduled", "Normal"),
        ("Failed", "Warning"),
    ]
    assert f"exit code {run['exitCode']}" in events[1]["message"]
    assert "/no/such/program" in events[1]["message"]


# --- one JobRun shape --------------------------------------------------------------------


@pytest.mark.parametrize(
    "ended",
    [
        {},
        {"status": "FINISHED", "end_time_ms": 1_700_000_002_600, "exit_code": 0},
        {"status": "FAILED", "end_time_ms": 1_700_000_000_400, "exit_code": 3, "error": "boom"},
        {"status": "TERMINATED", "end_time_ms": 1_700_000_009_000, "error": "sandbox stopped"},
    ],
)
def test_the_sandbox_json_of_a_run_is_what_the_client_model_writes(ended: dict[str, Any]) -> None:
    """render.run_json is the sandbox's fast copy of JobRun.to_api (the model's mapping cost
    the list endpoint 10x its render time): read back by the client and written again by the
    model, it must come out the same, key for key."""
    from jobmagic.sandbox.service.render import run_json
    from jobmagic.sandbox.storage.store import RunRecord

    fields: dict[str, Any] = {
        "id": "run-1",
        "name": "train-ab12c",
        "application_id": "app-1",
        "application_name": "train",
        "deployment_id": "dep-1",
        "deployment_version": "1",
        "created_at_ms": 1_700_000_000_000,
        "end_time_ms": None,
        "status": "RUNNING",
        "command": "python train.py --lr 0.1",
        "params": {"lr": "0.1"},
        "exit_code": None,
        "error": None,
        "triggered_by": "sandbox-user",
    }
    data = run_json(RunRecord(**{**fields, **ended}))
    assert JobRun.from_api(data).to_api(drop_none=True) == data
    assert ("endTime" in data) == ("duration" in data) == ("end_time_ms" in ended)
