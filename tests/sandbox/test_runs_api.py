"""Trigger validation, and get, list, delete, terminate and logs of runs."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from jobmagic.sandbox import SandboxServer, pid_alive
from tests.sandbox.sandbox_helpers import (
    FAIL,
    HELLO,
    SLEEP,
    TRAIN,
    assert_error,
    assert_job_run_shape,
    client_for,
    logs_of,
    poll,
    trigger,
    wait_for,
)

# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"applicationId": HELLO, "input": {"params": {"name": 3}}}, ["input.params.name"]),
        ({"applicationId": HELLO, "input": {"params": {"Name": "x"}}}, ["input.params.Name"]),
        ({"applicationId": HELLO, "input": {"params": {"x": "1"}}}, ["input.params.x"]),
        ({"applicationId": HELLO, "input": {"params": {"lr": "1"}}}, ["input.params.lr"]),
        (
            {"applicationId": HELLO, "input": {"command": "echo", "params": {"name": "a"}}},
            ["input"],
        ),
        ({"applicationId": HELLO, "input": {"command": 5}}, ["input.command"]),
        ({"applicationId": HELLO, "input": {"command": ""}}, ["input.command"]),
        ({"applicationId": HELLO, "input": {"command": "echo 'unbalanced"}}, ["input.command"]),
        ({"applicationId": HELLO, "input": "x"}, ["input"]),
        ({"applicationId": HELLO, "input": {"params": ["a"]}}, ["input.params"]),
        ({"input": {}}, ["applicationId"]),
        ({"applicationId": 7}, ["applicationId"]),
        (
            {"applicationId": HELLO, "metadata": {"job_run_name_alias": "Bad Alias"}},
            ["metadata.job_run_name_alias"],
        ),
        ({"applicationId": HELLO, "metadata": []}, ["metadata"]),
        ([1, 2], ["body"]),
        (
            {"applicationId": HELLO, "deploymentId": "dep-sandbox-demo-fail"},
            ["deploymentId"],
        ),
        (
            {"applicationId": HELLO, "input": {"params": {"name": 1, "BAD": "x"}}},
            ["input.params.name", "input.params.BAD"],
        ),
    ],
)
def test_bad_trigger_bodies_are_422_naming_the_field(
    shared_sandbox: SandboxServer, body: Any, fields: list[str]
) -> None:
    with client_for(shared_sandbox) as client:
        before = client.get(f"/jobs/{HELLO}/runs").json()["pagination"]["total"]
        response = client.post("/jobs/trigger", json=body)
        after = client.get(f"/jobs/{HELLO}/runs").json()["pagination"]["total"]
    error = assert_error(response, 422)
    assert [detail["field"] for detail in error["details"]] == fields
    assert all(isinstance(detail["message"], str) for detail in error["details"])
    assert error["code"] == "VALIDATION_ERROR"
    assert after == before  # nothing was started


def test_a_non_string_param_is_reported_as_must_be_a_string(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        response = client.post(
            "/jobs/trigger", json={"applicationId": TRAIN, "input": {"params": {"lr": 0.1}}}
        )
    details = assert_error(response, 422)["details"]
    assert details == [{"field": "input.params.lr", "message": "must be a string"}]


def test_a_required_param_must_be_given(custom_sandbox: SandboxServer) -> None:
    with client_for(custom_sandbox) as client:
        response = client.post("/jobs/trigger", json={"applicationId": "app-local-tests-echo"})
    details = assert_error(response, 422)["details"]
    assert details == [{"field": "input.params.text", "message": "is required"}]


def test_trigger_404_and_400(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        assert_error(client.post("/jobs/trigger", json={"applicationId": "app-nope"}), 404)
        assert_error(client.post("/jobs/trigger", json={"deploymentId": "dep-nope"}), 404)
        bad_json = client.post(
            "/jobs/trigger", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert_error(bad_json, 400)


def test_an_oversized_body_is_413_in_the_error_shape(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        response = client.post("/jobs/trigger", content=b"x" * (1024 * 1024 + 1))
    assert assert_error(response, 413)["code"] == "PAYLOAD_TOO_LARGE"


def test_a_missing_working_directory_fails_the_run(tmp_path: Path, isolated_home: Path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("jobs:\n  - {name: lost, command: 'true', workdir: gone}\n", "utf-8")
    with SandboxServer(tmp_path / "data", jobs_file=jobs) as server, client_for(server) as client:
        name = trigger(client, "app-sandbox-default-lost")["jobRunName"]
        run = wait_for(client, "app-sandbox-default-lost", name)
    assert run["status"] == "FAILED" and "does not exist" in run["error"]


@pytest.mark.parametrize("token", ["short", "has space in it", "tfy_é_not_ascii"])
def test_unusable_tokens_are_refused(tmp_path: Path, token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        SandboxServer(tmp_path, token=token)


# --- get, list, delete, terminate ------------------------------------------------------


def test_list_runs_pagination_filters_and_sorting(sandbox: SandboxServer) -> None:
    with client_for(sandbox) as client:
        names = [trigger(client, HELLO)["jobRunName"] for _ in range(3)]
        names.append(
            trigger(client, HELLO, command=["{python}", "-c", "raise SystemExit(4)"])["jobRunName"]
        )
        for name in names:
            wait_for(client, HELLO, name)

        page1 = client.get(f"/jobs/{HELLO}/runs", params={"limit": 2}).json()
        page2 = client.get(f"/jobs/{HELLO}/runs", params={"limit": 2, "offset": 2}).json()
        assert page1["pagination"] == {"total": 4, "offset": 0, "limit": 2}
        assert page2["pagination"] == {"total": 4, "offset": 2, "limit": 2}
        listed = [run["name"] for run in page1["data"] + page2["data"]]
        assert listed == list(reversed(names))  # newest first by default
        for run in page1["data"]:
            assert_job_run_shape(run)

        ascending = client.get(f"/jobs/{HELLO}/runs", params={"order": "asc"}).json()
        assert [run["name"] for run in ascending["data"]] == names

        failed = client.get(f"/jobs/{HELLO}/runs", params={"status": "FAILED"}).json()
        assert [run["name"] for run in failed["data"]] == [names[3]]
        assert failed["pagination"]["total"] == 1
        both = client.get(
            f"/jobs/{HELLO}/runs", params=[("status", "FAILED"), ("status", "FINISHED")]
        )
        assert both.json()["pagination"]["total"] == 4
        running = client.get(f"/jobs/{HELLO}/runs", params={"status": "RUNNING"}).json()
        assert running["data"] == [] and running["pagination"]["total"] == 0

        prefix = client.get(f"/jobs/{HELLO}/runs", params={"searchPrefix": names[0]}).json()
        assert [run["name"] for run in prefix["data"]] == [names[0]]

        by_status = client.get(
            f"/jobs/{HELLO}/runs", params={"sortBy": "status", "order": "asc"}
        ).json()
        assert by_status["data"][0]["status"] == "FAILED"
        by_duration = client.get(f"/jobs/{HELLO}/runs", params={"sortBy": "duration"}).json()
        durations = [run["duration"] for run in by_duration["data"]]
        assert durations == sorted(durations, reverse=True)
        versions = client.get(f"/jobs/{HELLO}/runs", params={"versionNumbers": "2"}).json()
        assert versions["pagination"]["total"] == 0
        mine = client.get(f"/jobs/{HELLO}/runs", params={"triggeredBy": "sandbox-user"}).json()
        assert mine["pagination"]["total"] == 4

        for bad in (
            {"limit": 0},
            {"limit": 1001},
            {"offset": -1},
            {"status": "BOGUS"},
            {"sortBy": "name"},
            {"order": "up"},
        ):
            error = assert_error(client.get(f"/jobs/{HELLO}/runs", params=bad), 422)
            assert error["details"][0]["field"] == next(iter(bad))
        assert_error(client.get("/jobs/app-nope/runs"), 404)
        assert client.get(f"/jobs/{FAIL}/runs").json()["pagination"]["total"] == 0


def test_get_run_404s(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        assert_error(client.get(f"/jobs/{HELLO}/runs/hello-nope0"), 404)
        assert_error(client.get("/jobs/app-nope/runs/hello-nope0"), 404)
        name = trigger(client, HELLO)["jobRunName"]
        # A run belongs to its application only.
        assert_error(client.get(f"/jobs/{FAIL}/runs/{name}"), 404)
        wait_for(client, HELLO, name)


def test_terminate_kills_a_long_sleep(sandbox: SandboxServer) -> None:
    with client_for(sandbox) as client:
        name = trigger(client, SLEEP, params={"seconds": "60"})["jobRunName"]
        wait_for(client, SLEEP, name, lambda run: run["status"] == "RUNNING")
        assert poll(lambda: bool(logs_of(client, SLEEP, name)))  # the program is up
        pid = sandbox.run_pid(SLEEP, name)
        assert pid is not None and pid_alive(pid)

        # Deleting a running run is refused.
        assert_error(client.delete(f"/jobs/{SLEEP}/runs/{name}"), 409)

        response = client.post(
            "/jobs/terminate", params={"deploymentId": "dep-sandbox-demo-sleep", "jobRunName": name}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"message", "jobRunStatus"}
        assert body["jobRunStatus"] in ("TERMINATION_REQUESTED", "TERMINATING", "TERMINATED")

        started = time.monotonic()
        run = wait_for(client, SLEEP, name)
        assert time.monotonic() - started < 5
        assert_job_run_shape(run)
        assert run["status"] == "TERMINATED"
        assert run["exitCode"] == 128 + signal.SIGTERM
        assert poll(lambda: not pid_alive(pid))

        again = client.post(
            "/jobs/terminate", params={"deploymentId": "dep-sandbox-demo-sleep", "jobRunName": name}
        )
        assert_error(again, 417)

        deleted = client.delete(f"/jobs/{SLEEP}/runs/{name}")
        assert deleted.status_code == 200 and set(deleted.json()) == {"message"}
        assert_error(client.get(f"/jobs/{SLEEP}/runs/{name}"), 404)
        # Its logs went with it.
        assert client.get("/logs", params={"applicationId": SLEEP}).json()["data"] == []


def test_terminate_escalates_to_sigkill(custom_sandbox: SandboxServer) -> None:
    app = "app-local-tests-stubborn"
    with client_for(custom_sandbox) as client:
        name = trigger(client, app)["jobRunName"]
        # Only once it printed "ready" has it set SIGTERM to be ignored.
        assert poll(lambda: bool(logs_of(client, app, name)))
        client.post(
            "/jobs/terminate",
            params={"deploymentId": "dep-local-tests-stubborn", "jobRunName": name},
        ).raise_for_status()
        run = wait_for(client, app, name)
    assert run["status"] == "TERMINATED"
    assert run["exitCode"] == 128 + signal.SIGKILL


def test_terminate_validation_and_404(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        missing = assert_error(client.post("/jobs/terminate"), 422)
        assert {d["field"] for d in missing["details"]} == {"deploymentId", "jobRunName"}
        unknown_dep = client.post(
            "/jobs/terminate", params={"deploymentId": "dep-nope", "jobRunName": "x"}
        )
        assert_error(unknown_dep, 404)
        unknown_run = client.post(
            "/jobs/terminate", params={"deploymentId": "dep-sandbox-demo-hello", "jobRunName": "x"}
        )
        assert_error(unknown_run, 404)
        assert_error(client.delete(f"/jobs/{HELLO}/runs/hello-nope0"), 404)


# --- logs ------------------------------------------------------------------------------


def test_logs_query_options(custom_sandbox: SandboxServer) -> None:
    app = "app-local-tests-chatty"
    with client_for(custom_sandbox) as client:
        name = trigger(client, app)["jobRunName"]
        wait_for(client, app, name)
        lines = logs_of(client, app, name)
        # Each pipe keeps its order; how the two interleave depends on the reader threads.
        assert [line["log"] for line in lines if line["stream"] == "stdout"] == [
            f"line {i}" for i in range(5)
        ]
        assert [line["log"] for line in lines if line["stream"] == "stderr"] == ["oops"]
        times = [int(line["time"]) for line in lines]
        assert times == sorted(times) and len(set(times)) == len(times)

        newest_first = logs_of(client, app, name, direction="desc")
        assert newest_first == list(reversed(lines))
        assert logs_of(client, app, name, limit=2) == lines[:2]
        assert logs_of(client, app, name, numLogsToIgnore=4) == lines[4:]
        assert logs_of(client, app, name, direction="desc", limit=1) == [lines[-1]]
        line_3 = next(line for line in lines if line["log"] == "line 3")
        assert logs_of(client, app, name, searchString="line 3") == [line_3]
        assert logs_of(client, app, name, startTs=str(times[2])) == lines[2:]
        assert logs_of(client, app, name, endTs=str(times[1])) == lines[:2]
        window = logs_of(client, app, name, startTs=str(times[1]), endTs=str(times[3]))
        assert window == lines[1:4]

        by_fqn = client.get(
            "/logs", params={"applicationFqn": "local:tests:chatty", "jobRunName": name}
        ).json()["data"]
        assert by_fqn == lines

        second = trigger(client, app)["jobRunName"]
        wait_for(client, app, second)
        everything = client.get("/logs", params={"applicationId": app}).json()["data"]
        assert len(everything) == 12  # without jobRunName: every run of the application

        for bad in ({"startTs": "yesterday"}, {"limit": 0}, {"direction": "sideways"}):
            error = assert_error(
                client.get("/logs", params={"applicationId": app, "jobRunName": name, **bad}), 422
            )
            assert error["details"][0]["field"] == next(iter(bad))
        assert_error(client.get("/logs"), 422)
        assert_error(client.get("/logs", params={"applicationId": app, "jobRunName": "x"}), 404)
        assert_error(client.get("/logs", params={"applicationFqn": "no:such:app"}), 404)


def test_a_listing_by_statuses_pages_newest_first_as_one_ordered_list(tmp_path: Path) -> None:
    """Several statuses are read status by status (from their index) and merged: the pages
    must be the slices of the one newest-first list, with the total of all of them."""
    from jobmagic.sandbox.storage.store import Store

    store = Store(tmp_path / "runs.db")
    statuses = ["RUNNING", "FINISHED", "FAILED", "CREATED"]
    expected: dict[str, list[str]] = {}
    for i in range(120):
        status = statuses[(i * 7) % len(statuses)]
        record = store.create_run(
            make_name=lambda i=i: f"r-{i:03d}",
            application_id="app",
            application_name="a",
            deployment_id="d",
            deployment_version="1",
            command="c",
            params={},
            triggered_by="me",
            now_ms=1000 + i // 3,  # three runs share each creation time: ties by insertion
        )
        if status != "CREATED":
            store.transition(record.id, status, only_from=("CREATED",))
        expected.setdefault(status, []).append(record.name)
    wanted = ["RUNNING", "CREATED", "FAILED"]
    newest_first = sorted((name for status in wanted for name in expected[status]), reverse=True)
    for order in ("desc", "asc"):
        ordered = newest_first if order == "desc" else newest_first[::-1]
        for offset, limit in ((0, 10), (25, 7), (80, 50)):
            runs, total = store.list_runs(
                "app",
                statuses=wanted,
                order=order,
                offset=offset,
                limit=limit,  # type: ignore[arg-type]
            )
            assert total == len(ordered)
            assert [run.name for run in runs] == ordered[offset : offset + limit]
    store.close()
