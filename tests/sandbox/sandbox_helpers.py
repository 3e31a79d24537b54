"""What the sandbox tests share: the demo jobs' ids, a jobs file of odd jobs, HTTP helpers.

Every HTTP call goes through httpx to a uvicorn server on 127.0.0.1; runs are real child
processes. Waits poll with deadlines; no test sleeps longer than it must.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from jobmagic.models import JobRun, RunStatus
from jobmagic.sandbox import SandboxProcess, SandboxServer
from jobmagic.sandbox.storage.store import Store

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


def new_run(store: Store, name: str) -> str:
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
