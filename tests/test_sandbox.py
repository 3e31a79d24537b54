"""The sandbox control plane, over real sockets: API shapes, real processes, faults.

Every HTTP call here goes through httpx to a uvicorn server on 127.0.0.1; runs are real
child processes. Waits poll with deadlines; no test sleeps longer than it must.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobmagic.cli import main as cli_main
from jobmagic.models import Application, JobRun, LogLine, RunStatus, TriggerResult
from jobmagic.sandbox import Fault, SandboxError, SandboxServer, read_sandbox_address
from jobmagic.sandbox import runner as runner_module
from jobmagic.sandbox.address import pid_alive
from jobmagic.sandbox.faults import ENDPOINTS
from jobmagic.sandbox.jobs import JobsFileError, build_argv, load_jobs, parse_jobs
from jobmagic.sandbox.runner import Runner
from jobmagic.sandbox.server import SandboxProcess, start_sandbox_process
from jobmagic.sandbox.store import Store

HELLO = "app-sandbox-demo-hello"
FAIL = "app-sandbox-demo-fail"
SLEEP = "app-sandbox-demo-sleep"
TRAIN = "app-sandbox-demo-train"
TERMINAL = ("FINISHED", "FAILED", "TERMINATED")

# A jobs file for behaviours the demo jobs do not have. List commands avoid quoting games.
CUSTOM_JOBS = """
cluster: local
workspace: tests
jobs:
  - name: echo
    description: Prints its argument.
    command: ["{python}", "-c", "import sys; print(sys.argv[1])", "{{text}}"]
    params:
      - name: text
  - name: chatty
    command:
      - "{python}"
      - "-c"
      - |
        import sys
        for i in range(5): print(f"line {i}", flush=True)
        print("oops", file=sys.stderr, flush=True)
  - name: stubborn
    command:
      - "{python}"
      - "-c"
      - |
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
  - name: cwd
    command: "{python} -c 'import os; print(os.getcwd())'"
"""


# --- helpers --------------------------------------------------------------------------

# One TLS context for every client: httpx builds a new one per Client otherwise, which costs
# more than the plain-http requests these tests make.
_TLS = ssl.create_default_context()


def client_for(server: SandboxServer | SandboxProcess | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client for the sandbox API: bearer token set, environment proxies ignored."""
    if server is not None:
        kwargs.setdefault("base_url", server.api_url)
        kwargs.setdefault("headers", {"Authorization": f"Bearer {server.token}"})
    return httpx.Client(trust_env=False, timeout=10.0, verify=_TLS, **kwargs)


def trigger(client: httpx.Client, application_id: str, **input_: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"applicationId": application_id}
    if input_:
        body["input"] = input_
    response = client.post("/jobs/trigger", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for(
    client: httpx.Client,
    application_id: str,
    name: str,
    done: Callable[[dict[str, Any]], bool] = lambda run: run["status"] in TERMINAL,
    timeout: float = 15.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/jobs/{application_id}/runs/{name}").json()["data"]
        if done(run):
            return dict(run)
        assert time.monotonic() < deadline, f"run {name} still {run['status']}"
        time.sleep(0.02)


def logs_of(client: httpx.Client, application_id: str, name: str, **query: Any) -> list[Any]:
    response = client.get(
        "/logs", params={"applicationId": application_id, "jobRunName": name, **query}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def poll(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"statusCode", "message", "code", "details"}
    assert body["statusCode"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["details"], list)
    return dict(body)


def assert_job_run_shape(run: dict[str, Any]) -> None:
    """The JobRun fields and JSON types API.md and TrueFoundry's SDK expect."""
    for key in ("id", "name", "applicationName", "applicationId", "deploymentId", "command"):
        assert isinstance(run[key], str) and run[key], key
    assert isinstance(run["deploymentVersion"], str)
    assert isinstance(run["createdAt"], int) and run["createdAt"] > 1_600_000_000_000  # ms
    assert isinstance(run["totalRetries"], int) and not isinstance(run["totalRetries"], bool)
    assert run["status"] in RunStatus.__members__
    assert isinstance(run["triggeredBy"], str)
    assert run["triggeredBySubject"]["subjectType"] == "user"
    assert set(run["triggeredBySubject"]) == {
        "subjectId",
        "subjectType",
        "subjectSlug",
        "subjectDisplayName",
    }
    assert run["tenantName"] == "sandbox"
    if run["status"] in TERMINAL:
        assert isinstance(run["endTime"], int) and run["endTime"] >= run["createdAt"]
        # Whole seconds, as the spec's JobRun types it (``Optional[int]``).
        assert type(run["duration"]) is int and run["duration"] >= 0
        assert abs(run["duration"] - (run["endTime"] - run["createdAt"]) / 1000) <= 0.5
    else:
        assert "endTime" not in run and "duration" not in run
    if "exitCode" in run:
        assert isinstance(run["exitCode"], int)
    # jobmagic's own parser reads it back faithfully.
    parsed = JobRun.from_api(run)
    assert parsed.name == run["name"] and parsed.status == run["status"]
    assert parsed.created_at is not None


@pytest.fixture
def custom_jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs" / "jobs.yaml"
    path.parent.mkdir()
    path.write_text(CUSTOM_JOBS, encoding="utf-8")
    return path


@pytest.fixture
def custom_sandbox(
    tmp_path: Path, isolated_home: Path, custom_jobs: Path
) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "custom", jobs_file=custom_jobs, grace_period=0.5) as server:
        yield server


# --- auth and unauthenticated endpoints ----------------------------------------------


def test_min_cli_version_and_tenant_id_need_no_token(shared_sandbox: SandboxServer) -> None:
    with client_for(base_url=shared_sandbox.api_url) as anonymous:
        version = anonymous.get("/min-cli-version")
        tenant = anonymous.get("/tenant-id", params={"hostName": "127.0.0.1"})
    assert version.status_code == 200
    assert version.json() == {"minVersion": "0.0.0", "truefoundryCliMinVersion": "0.0.0"}
    assert tenant.status_code == 200
    assert tenant.json() == {"tenantName": "sandbox", "auth_server_url": shared_sandbox.host}


AUTHENTICATED = [
    ("POST", "/jobs/trigger"),
    ("GET", f"/jobs/{HELLO}/runs"),
    ("GET", f"/jobs/{HELLO}/runs/hello-xxxxx"),
    ("DELETE", f"/jobs/{HELLO}/runs/hello-xxxxx"),
    ("POST", "/jobs/terminate?deploymentId=dep-sandbox-demo-hello&jobRunName=x"),
    ("GET", f"/logs?applicationId={HELLO}"),
    ("GET", f"/events?applicationId={HELLO}"),
    ("GET", "/apps"),
    ("GET", f"/apps/{HELLO}"),
    ("GET", "/fqn/app?fqn=sandbox:demo:hello"),
    ("GET", "/session"),
]


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer"])
def test_every_api_endpoint_requires_the_token(
    shared_sandbox: SandboxServer, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with client_for(base_url=shared_sandbox.api_url) as client:
        response = client.request(method, path, headers=headers, json={})
    body = assert_error(response, 401)
    assert body["code"] == "UNAUTHORIZED"
    assert response.headers["www-authenticate"] == "Bearer"
    assert shared_sandbox.token not in response.text


def test_generated_token_looks_like_a_truefoundry_pat(shared_sandbox: SandboxServer) -> None:
    assert shared_sandbox.token.startswith("tfy_") and len(shared_sandbox.token) > 40
    assert shared_sandbox.token not in repr(shared_sandbox)


def test_admin_endpoints_require_the_token(shared_sandbox: SandboxServer) -> None:
    with client_for(base_url=shared_sandbox.host) as anonymous:
        assert_error(anonymous.get("/_sandbox/stats"), 401)
        assert_error(anonymous.post("/_sandbox/faults", json={"faults": []}), 401)
        assert anonymous.get("/_sandbox/health").json() == {"status": "ok"}


def test_unknown_paths_and_methods_use_the_error_shape(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        assert_error(client.get("/no/such/thing"), 404)
        assert_error(client.get("/jobs/trigger"), 405)


# --- applications ----------------------------------------------------------------------


def test_apps_lists_the_demo_jobs_with_their_declared_params(
    shared_sandbox: SandboxServer,
) -> None:
    with client_for(shared_sandbox) as client:
        body = client.get("/apps").json()
    assert body["pagination"] == {"total": 4, "offset": 0, "limit": 100}
    apps = {app["fqn"]: app for app in body["data"]}
    assert set(apps) == {
        "sandbox:demo:hello",
        "sandbox:demo:train",
        "sandbox:demo:fail",
        "sandbox:demo:sleep",
    }
    train = apps["sandbox:demo:train"]
    assert train["id"] == TRAIN and train["name"] == "train" and train["type"] == "job"
    assert train["tenantName"] == "sandbox"
    assert train["workspaceId"] == "ws-sandbox-demo"
    assert train["activeDeploymentId"] == train["lastDeploymentId"] == "dep-sandbox-demo-train"
    assert train["activeVersion"] == train["lastVersion"] == 1
    assert train["workspace"] == {
        "id": "ws-sandbox-demo",
        "name": "demo",
        "fqn": "sandbox:demo",
        "clusterId": "sandbox",
    }
    for key in ("createdAt", "updatedAt"):
        assert train[key].endswith("Z")
    deployment = train["deployment"]
    assert deployment["id"] == "dep-sandbox-demo-train"
    assert deployment["fqn"] == "sandbox:demo:train:1"
    assert deployment["version"] == 1 and deployment["applicationId"] == TRAIN
    assert isinstance(deployment["currentStatusId"], str)
    manifest = deployment["manifest"]
    assert manifest["name"] == "train" and manifest["type"] == "job"
    assert "--lr={{lr}}" in manifest["image"]["command"]
    assert manifest["params"] == [
        {"name": "lr", "param_type": "string", "description": "Learning rate.", "default": "0.01"},
        {
            "name": "epochs",
            "param_type": "string",
            "description": "Number of epochs.",
            "default": "3",
        },
    ]
    # jobmagic's model reads the declared params back.
    parsed = Application.from_api(train)
    assert parsed.deployment_id == "dep-sandbox-demo-train"
    assert [(p.name, p.default) for p in parsed.params] == [("lr", "0.01"), ("epochs", "3")]
    assert parsed.created_at is not None and parsed.workspace.fqn == "sandbox:demo"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"fqn": "sandbox:demo:hello"}, ["hello"]),
        ({"fqn": "sandbox:demo:hello:1"}, ["hello"]),
        ({"fqn": "sandbox:demo:nope"}, []),
        ({"applicationName": "fail"}, ["fail"]),
        ({"workspaceFqn": "sandbox:demo", "nameSearchQuery": "LE"}, ["sleep"]),
        ({"workspaceFqn": "other:ws"}, []),
        ({"applicationType": "job", "nameSearchQuery": "ai"}, ["train", "fail"]),
        ({"applicationType": "service"}, []),
    ],
)
def test_apps_filters(
    shared_sandbox: SandboxServer, query: dict[str, str], expected: list[str]
) -> None:
    with client_for(shared_sandbox) as client:
        body = client.get("/apps", params=query).json()
    assert [app["name"] for app in body["data"]] == expected
    assert body["pagination"]["total"] == len(expected)


def test_apps_pagination_and_bad_limits(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        first = client.get("/apps", params={"limit": 3}).json()
        rest = client.get("/apps", params={"limit": 3, "offset": 3}).json()
        for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"offset": -1}):
            body = assert_error(client.get("/apps", params=bad), 422)
            assert body["details"][0]["field"] in bad
    assert len(first["data"]) == 3 and len(rest["data"]) == 1
    assert first["pagination"] == {"total": 4, "offset": 0, "limit": 3}
    assert rest["pagination"] == {"total": 4, "offset": 3, "limit": 3}


def test_get_app_and_fqn_lookup(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        app = client.get(f"/apps/{HELLO}").json()["data"]
        ids = client.get("/fqn/app", params={"fqn": "sandbox:demo:hello"}).json()
        assert_error(client.get("/apps/app-nope"), 404)
        assert_error(client.get("/fqn/app", params={"fqn": "a:b:c"}), 404)
        missing = assert_error(client.get("/fqn/app"), 422)
    assert app["fqn"] == "sandbox:demo:hello"
    assert ids == {"applicationId": HELLO, "workspaceId": "ws-sandbox-demo"}
    assert missing["details"] == [{"field": "fqn", "message": "is required"}]


def test_session(shared_sandbox: SandboxServer) -> None:
    with client_for(shared_sandbox) as client:
        user = client.get("/session").json()["user"]
    assert user["tenantName"] == "sandbox"
    assert isinstance(user["email"], str)
    assert user["subject"]["subjectType"] == "user"
    assert isinstance(user["subject"]["subjectSlug"], str)


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


def _new_run(store: Store, name: str) -> str:
    """A CREATED run straight in the store, for tests of the runner alone."""
    return store.create_run(
        make_name=lambda: name,
        application_id="app",
        application_name="job",
        deployment_id="dep",
        deployment_version="1",
        command="",
        params={},
        triggered_by="me",
        now_ms=0,
    ).id


def test_runs_terminated_or_stopped_before_their_process_starts_never_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger is answered before the launcher thread forks; a run terminated (or a sandbox
    stopped) in between ends TERMINATED and its process is never started."""
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    release = threading.Event()
    real_ticks = runner_module.process_start_ticks

    def slow_ticks(pid: int) -> int | None:
        release.wait(10)  # holds the launcher inside the first run's start
        return real_ticks(pid)

    monkeypatch.setattr(runner_module, "process_start_ticks", slow_ticks)
    marker = tmp_path / "started"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]

    first, queued, left = (
        _new_run(store, "first"),
        _new_run(store, "queued"),
        _new_run(store, "left"),
    )
    runner.start(first, [sys.executable, "-c", "pass"], cwd=tmp_path)
    runner.start(queued, argv, cwd=tmp_path)
    runner.start(left, argv, cwd=tmp_path)
    assert store.get_run_by_id(queued).status == "CREATED"  # type: ignore[union-attr]
    assert runner.terminate(queued) in {"TERMINATION_REQUESTED", "TERMINATING"}
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    assert poll(lambda: runner._stopping)
    release.set()  # the launcher goes on, with every run asked to stop
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


def test_a_launch_that_breaks_after_the_fork_kills_the_process_and_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    started: list[int] = []

    def broken_mark_running(run_id: str, pid: int, pid_start: int | None, **_: Any) -> bool:
        started.append(pid)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "mark_running", broken_mark_running)
    run = store.get_run_by_id(_new_run(store, "broken"))
    assert run is not None
    runner.start(run.id, [sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    assert runner.wait(run.id, timeout=10)
    ended = store.get_run_by_id(run.id)
    assert ended is not None and ended.status == "FAILED"
    assert ended.error == "the sandbox could not start it"
    assert started and poll(lambda: not pid_alive(started[0]))
    if sys.platform == "linux":
        assert not Path(f"/proc/{started[0]}").exists()  # reaped, not left a zombie

    # Even when recording that failure fails too, the launcher lives on for the next run.
    monkeypatch.undo()
    real_finish = store.finish_run
    finish_calls: list[str] = []

    def finish_fails_once(run_id: str, **kwargs: Any) -> bool:
        finish_calls.append(run_id)
        if len(finish_calls) == 1:
            raise RuntimeError("database is locked")
        return real_finish(run_id, **kwargs)

    monkeypatch.setattr(store, "mark_running", broken_mark_running)
    monkeypatch.setattr(store, "finish_run", finish_fails_once)
    unlucky = _new_run(store, "unlucky")
    runner.start(unlucky, [sys.executable, "-c", "pass"], cwd=tmp_path)
    assert runner.wait(unlucky, timeout=10)
    monkeypatch.undo()
    after = _new_run(store, "after")
    runner.start(after, [sys.executable, "-c", "pass"], cwd=tmp_path)
    assert runner.wait(after, timeout=10)
    assert store.get_run_by_id(after).status == "FINISHED"  # type: ignore[union-attr]
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


# --- faults, seen by httpx over a real socket ------------------------------------------


def test_connections_are_tcp_nodelay(shared_sandbox: SandboxServer) -> None:
    # Without TCP_NODELAY each answer (headers, then body) waited ~40 ms for a delayed ACK.
    with httpx.Client(base_url=shared_sandbox.host) as client:
        answer = client.get("/_sandbox/health")
        answer.raise_for_status()
        ours = answer.extensions["network_stream"].get_extra_info("client_addr")
        transport = shared_sandbox.connections.get(ours)  # the server's end of this client
        assert transport is not None
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_latency_fault(shared_sandbox: SandboxServer) -> None:
    shared_sandbox.set_faults(Fault.latency(300, "apps"))
    with client_for(shared_sandbox) as client:
        started = time.monotonic()
        assert client.get("/apps").status_code == 200
        slow = time.monotonic() - started
        started = time.monotonic()
        assert client.get("/session").status_code == 200
        fast = time.monotonic() - started
    assert slow >= 0.3
    assert fast < 0.3


def test_status_fault_n_times_then_normal(shared_sandbox: SandboxServer) -> None:
    shared_sandbox.set_faults(Fault.status(503, "list_runs", times=2))
    with client_for(shared_sandbox) as client:
        first = client.get(f"/jobs/{HELLO}/runs")
        second = client.get(f"/jobs/{HELLO}/runs")
        third = client.get(f"/jobs/{HELLO}/runs")
    assert assert_error(first, 503)["code"] == "SERVICE_UNAVAILABLE"
    assert_error(second, 503)
    assert third.status_code == 200
    assert shared_sandbox.faults() == []
    assert shared_sandbox.stats()["list_runs"] == 3


def test_status_fault_after_processing_creates_the_run(sandbox: SandboxServer) -> None:
    sandbox.set_faults(Fault.status(502, "trigger", after=True))
    with client_for(sandbox) as client:
        assert_error(client.post("/jobs/trigger", json={"applicationId": HELLO}), 502)
        runs = client.get(f"/jobs/{HELLO}/runs").json()["data"]
    assert len(runs) == 1


def test_rate_limit_fault(shared_sandbox: SandboxServer) -> None:
    shared_sandbox.set_faults(Fault.rate_limit("trigger", retry_after=2))
    with client_for(shared_sandbox) as client:
        limited = client.post("/jobs/trigger", json={"applicationId": HELLO})
        assert assert_error(limited, 429)["code"] == "TOO_MANY_REQUESTS"
        assert limited.headers["retry-after"] == "2"
        retried = client.post("/jobs/trigger", json={"applicationId": HELLO})
        assert retried.status_code == 200
        wait_for(client, HELLO, retried.json()["jobRunName"])


def test_dropped_connection_before_processing_creates_nothing(sandbox: SandboxServer) -> None:
    sandbox.set_faults(Fault.drop("trigger"))
    with client_for(sandbox) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/jobs/trigger", json={"applicationId": HELLO})
        assert client.get(f"/jobs/{HELLO}/runs").json()["data"] == []
        # The fault is used up: the next trigger works, on a fresh connection.
        name = trigger(client, HELLO)["jobRunName"]
        wait_for(client, HELLO, name)
    assert sandbox.stats()["trigger"] == 2


def test_dropped_connection_after_processing_loses_only_the_answer(
    sandbox: SandboxServer,
) -> None:
    sandbox.set_faults(Fault.drop("trigger", after=True))
    with client_for(sandbox) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post(
                "/jobs/trigger", json={"applicationId": HELLO, "input": {"params": {"name": "x"}}}
            )
        runs = client.get(f"/jobs/{HELLO}/runs").json()["data"]
        assert len(runs) == 1  # the run IS created
        run = wait_for(client, HELLO, runs[0]["name"])
        assert run["status"] == "FINISHED"
        assert [line["log"] for line in logs_of(client, HELLO, run["name"])] == ["hello x"]
    assert sandbox.stats()["trigger"] == 1


@pytest.mark.parametrize("endpoint", ["apps", "list_runs", "logs"])
def test_dropped_connection_on_reads(shared_sandbox: SandboxServer, endpoint: str) -> None:
    paths = {
        "apps": "/apps",
        "list_runs": f"/jobs/{HELLO}/runs",
        "logs": f"/logs?applicationId={HELLO}",
    }
    shared_sandbox.set_faults(Fault.drop(endpoint))
    with client_for(shared_sandbox) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get(paths[endpoint])
        assert client.get(paths[endpoint]).status_code == 200


def test_malformed_body(sandbox: SandboxServer) -> None:
    sandbox.set_faults(Fault.malformed("trigger"), Fault.malformed("get_app"))
    with client_for(sandbox) as client:
        response = client.post("/jobs/trigger", json={"applicationId": HELLO})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            response.json()
        assert response.text.startswith('{"message"')
        assert len(client.get(f"/jobs/{HELLO}/runs").json()["data"]) == 1  # handled all the same
        broken = client.get(f"/apps/{HELLO}")
        with pytest.raises(json.JSONDecodeError):
            broken.json()
        assert client.get(f"/apps/{HELLO}").json()["data"]["id"] == HELLO


def test_faults_for_all_endpoints_and_latency_adds_up(shared_sandbox: SandboxServer) -> None:
    shared_sandbox.set_faults(
        Fault.latency(100, times=1), Fault.latency(150, "session", times=1), Fault.status(500)
    )
    with client_for(shared_sandbox) as client:
        started = time.monotonic()
        assert_error(client.get("/session"), 500)
        assert time.monotonic() - started >= 0.25
        assert client.get("/session").status_code == 200


def test_stats_count_requests_received_including_spoiled_ones(sandbox: SandboxServer) -> None:
    sandbox.set_faults(Fault.status(503, "apps", times=1))
    with client_for(sandbox) as client:
        client.get("/apps")
        client.get("/apps")
        with client_for(base_url=sandbox.api_url) as anonymous:
            anonymous.get("/session")  # 401, still received
        client.get("/min-cli-version")
    stats = sandbox.stats()
    assert set(stats) == set(ENDPOINTS)
    assert stats["apps"] == 2 and stats["session"] == 1 and stats["min_cli_version"] == 1
    assert stats["trigger"] == 0
    sandbox.reset_stats()
    assert set(sandbox.stats().values()) == {0}


def test_admin_endpoints_over_http(shared_sandbox: SandboxServer) -> None:
    auth = {"Authorization": f"Bearer {shared_sandbox.token}"}
    with client_for(base_url=shared_sandbox.host, headers=auth) as admin:
        added = admin.post(
            "/_sandbox/faults",
            json={"faults": [{"kind": "status", "endpoint": "session", "status": 504, "times": 1}]},
        )
        assert added.status_code == 200, added.text
        assert added.json()["faults"][0]["status_code"] == 504
        assert added.json()["faults"][0]["remaining"] == 1
        replaced = admin.put(
            "/_sandbox/faults",
            json={"faults": [{"kind": "rate_limit", "endpoint": "session", "retry_after": 7}]},
        ).json()["faults"]
        assert [f["kind"] for f in replaced] == ["rate_limit"]
        with client_for(shared_sandbox) as client:
            limited = client.get("/session")
            assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
            assert client.get("/session").status_code == 200
        assert admin.get("/_sandbox/faults").json() == {"faults": []}

        admin.post("/_sandbox/faults", json={"kind": "latency", "latency_ms": 10, "times": None})
        assert len(admin.get("/_sandbox/faults").json()["faults"]) == 1
        assert admin.delete("/_sandbox/faults").json() == {"faults": []}

        for bad in (
            {"faults": [{"kind": "explode"}]},
            {"faults": [{"kind": "status", "status": 200}]},
            {"faults": [{"kind": "drop", "endpoint": "nowhere"}]},
            {"faults": [{"kind": "drop", "times": 0}]},
            {"faults": [{"kind": "latency", "latency_ms": "slow"}]},
            {"faults": "drop"},
        ):
            assert_error(admin.post("/_sandbox/faults", json=bad), 422)

        stats = admin.get("/_sandbox/stats").json()
        assert stats["requests"]["session"] == 2 and isinstance(stats["activeRuns"], int)
        assert stats["peakInFlight"]["session"] == 1  # one client, one request at a time
        assert set(admin.delete("/_sandbox/stats").json()["requests"].values()) == {0}


def test_fault_objects_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        Fault.drop("nowhere")
    with pytest.raises(ValueError, match="status_code"):
        Fault.status(302)
    with pytest.raises(ValueError, match="times"):
        Fault.malformed(times=0)
    assert Fault.from_json({"kind": "status", "status": 500}).status_code == 500


# --- the address file, the data dir lock ----------------------------------------------


def test_address_file_is_private_and_goes_away(tmp_path: Path, isolated_home: Path) -> None:
    data_dir = tmp_path / "data"
    with SandboxServer(data_dir) as server:
        path = data_dir / "sandbox.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = json.loads(path.read_text())
        assert content == {
            "host": server.host,
            "port": server.port,
            "token": server.token,
            "pid": os.getpid(),
            "embedded": True,
        }
        address = read_sandbox_address(data_dir)
        assert address is not None and address.host == server.host
        assert server.token not in repr(address)
        with pytest.raises(SandboxError, match="Another sandbox"):
            SandboxServer(data_dir).start()
    assert not path.exists()
    assert read_sandbox_address(data_dir) is None


def test_a_busy_port_is_a_clear_error(shared_sandbox: SandboxServer, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="Cannot listen"):
        SandboxServer(tmp_path / "other", port=shared_sandbox.port).start()


# --- the command line and the separate process -----------------------------------------


def test_cli_serves_prints_connection_lines_and_stops(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    token = "tfy_given-by-the-test"
    process = start_sandbox_process(data_dir, token=token)
    try:
        assert process.token == token and process.owned and process.alive()
        assert process.label == f"sandbox ({data_dir.resolve()})"
        banner = process.log_path.read_text()
        assert f"TFY_HOST={process.host}\n" in banner
        assert token not in banner  # a log file: `status --env` gives the token instead
        assert process.host.startswith("http://127.0.0.1:")
        with client_for(process) as client:
            assert client.get("/apps").status_code == 200
            name = trigger(client, SLEEP, params={"seconds": "60"})["jobRunName"]
            assert poll(lambda: bool(logs_of(client, SLEEP, name)))

        assert cli_main(["sandbox", "status", "--data-dir", str(data_dir)]) == 0
        assert process.host in capsys.readouterr().out
        assert cli_main(["sandbox", "--data-dir", str(data_dir), "status", "--env"]) == 0
        assert f"TFY_API_KEY={token}" in capsys.readouterr().out

        assert cli_main(["sandbox", "stop", "--data-dir", str(data_dir)]) == 0
        assert process.popen is not None and process.popen.wait(10) == 0
    finally:
        process.stop()
    assert cli_main(["sandbox", "status", "--data-dir", str(data_dir)]) == 1
    assert "No sandbox is running" in capsys.readouterr().out
    # The clean stop marked the sleeping run.
    with SandboxServer(data_dir) as server:
        run = server.get_run(SLEEP, name)
        assert run is not None and run["status"] == "TERMINATED"


def test_cli_refuses_to_stop_an_embedded_sandbox(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["sandbox", "stop", "--data-dir", str(sandbox.data_dir)]) == 1
    assert "inside process" in capsys.readouterr().err
    assert sandbox.running


def test_cli_reports_a_bad_jobs_file(tmp_path: Path, isolated_home: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs:\n  - name: x\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobmagic",
            "sandbox",
            "--jobs",
            str(bad),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "name" in result.stderr


def test_cli_without_a_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main([]) == 2
    assert "sandbox" in capsys.readouterr().err


# --- job declarations (pure) ------------------------------------------------------------


def test_argv_is_split_before_slots_are_filled() -> None:
    template = "prog --name {{name}} 'two words {{name}}' {python}"
    argv = build_argv(template, {"name": "$(id); x"}, {"python": "/py"})
    assert argv == ["prog", "--name", "$(id); x", "two words $(id); x", "/py"]
    # A value containing slot syntax is not expanded again; {{python}} is a param, not {python}.
    assert build_argv("a {{x}} {{python}}", {"x": "{{python}}", "python": "p"}, {}) == [
        "a",
        "{{python}}",
        "p",
    ]


def test_jobs_files_keep_values_as_text_and_report_mistakes(tmp_path: Path) -> None:
    jobs = parse_jobs(
        "jobs:\n"
        "  - name: train\n"
        "    command: python t.py --lr {{lr}} --flag {{flag}}\n"
        "    params:\n"
        "      - {name: lr, default: 0.10}\n"
        "      - {name: flag, default: yes}\n"
        "      - needed-later\n"
        "    workdir: sub\n",
        jobs_dir=tmp_path,
    )
    (train,) = jobs
    assert train.fqn == "sandbox:default:train"
    assert [(p.name, p.default) for p in train.params] == [
        ("lr", "0.10"),
        ("flag", "yes"),
        ("needed-later", None),
    ]
    assert train.workdir == tmp_path / "sub"
    for text, needle in [
        ("jobs: []", "non-empty list"),
        ("jobs:\n  - name: x\n    command: a", "`name`"),
        ("jobs:\n  - name: ok\n    command: 'a {{nope}}'", "{{nope}}"),
        ("jobs:\n  - name: ok\n    command: a\n    params: [{name: Bad}]", "param name"),
        ("jobs:\n  - {name: ok, command: a}\n  - {name: ok, command: b}", "share"),
        ("jobs:\n  - {name: ok, command: a, colour: red}", "unknown field"),
        ('jobs:\n  - {name: ok, command: "a \'b"}', "cannot be split"),
        ("jobs: [", "not valid YAML"),
    ]:
        with pytest.raises(JobsFileError, match=None) as caught:
            parse_jobs(text, source="j.yaml")
        assert needle in str(caught.value), (text, str(caught.value))
    with pytest.raises(JobsFileError, match="Cannot read"):
        load_jobs(tmp_path / "missing.yaml")


def test_demo_jobs_have_the_documented_fqns_and_ids() -> None:
    jobs = {job.fqn: job for job in load_jobs()}
    assert set(jobs) == {
        "sandbox:demo:hello",
        "sandbox:demo:train",
        "sandbox:demo:fail",
        "sandbox:demo:sleep",
    }
    assert jobs["sandbox:demo:train"].application_id == TRAIN
    assert jobs["sandbox:demo:train"].deployment_id == "dep-sandbox-demo-train"
    assert jobs["sandbox:demo:sleep"].param("seconds") is not None
    assert jobs["sandbox:demo:sleep"].param("seconds").default == "600"  # type: ignore[union-attr]


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

    from jobmagic.sandbox.store import EventRecord

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
    running = _new_run(store, "running")
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
    from jobmagic.sandbox.render import run_json
    from jobmagic.sandbox.store import RunRecord

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


def test_output_is_cut_into_lines_as_readline_would() -> None:
    from jobmagic.sandbox.watcher import MAX_LINE, split_lines

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
        run_id = _new_run(store, "orphaned-pipes")
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


def test_without_pidfds_a_waiter_thread_sees_the_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobmagic.sandbox import watcher

    monkeypatch.setattr(watcher, "_HAS_PIDFD", False)  # as on macOS or an old kernel
    store = Store(tmp_path / "runs.db")
    runner = Runner(store, grace_period=1.0)
    try:
        run_id = _new_run(store, "no-pidfd")
        code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(4)"
        runner.start(run_id, [sys.executable, "-c", code], cwd=tmp_path)
        assert runner.wait(run_id, timeout=30)
        ended = store.get_run_by_id(run_id)
        assert ended is not None and (ended.status, ended.exit_code, ended.error) == (
            "FAILED",
            4,
            "err",
        )
        assert sorted(r.line for r in store.query_logs([run_id])) == ["err", "out"]
    finally:
        runner.stop()
        store.close()
