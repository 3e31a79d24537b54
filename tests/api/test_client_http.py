"""The clients on httpx.Client / httpx.AsyncClient: the ``transport=`` seam, the retry
policy seen through it, and httpx's own request log line.

``httpx.MockTransport`` stands in for a server only where the point is what is sent and how
often (a connect error before the trigger left, a read timeout after): the sandbox serves
every other client test over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from jobmagic.api import (
    AsyncJobsClient,
    JobsClient,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    TriggerOutcomeUnknown,
)
from jobmagic.sandbox import SandboxServer

HOST = "https://jobs.example.com"
TOKEN = "tfy_mock_token_1234"
QUICK = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.002)
RUN = {"jobRunName": "hello-abc12", "applicationId": "app-1", "deploymentId": "dep-1"}
APP = {"data": {"id": "app-1", "name": "hello", "fqn": "c:w:hello", "deployment": {}}}


class Script:
    """A MockTransport handler answering each request with a copy of the next of ``answers``
    (the last repeats; an exception is raised instead), recording every request it gets."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        # A response is read once: each request gets its own.
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def ok(body: object) -> httpx.Response:
    return httpx.Response(200, json=body)


def test_a_mock_transport_carries_the_request_as_built() -> None:
    script = Script(ok(RUN))
    with JobsClient(HOST, TOKEN, transport=httpx.MockTransport(script)) as client:
        result = client.trigger(application_id="app-1", params={"name": "Ada"}, alias="greet")
    assert result.job_run_name == "hello-abc12"
    (sent,) = script.requests
    assert (sent.method, str(sent.url)) == ("POST", f"{HOST}/api/svc/v1/jobs/trigger")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"].startswith("jobmagic/")
    assert json.loads(sent.content) == {
        "applicationId": "app-1",
        "input": {"params": {"name": "Ada"}},
        "metadata": {"job_run_name_alias": "greet"},
    }


def test_the_async_client_takes_a_transport_too() -> None:
    script = Script(ok(APP), ok(RUN))

    async def go() -> str:
        async with AsyncJobsClient(HOST, TOKEN, transport=httpx.MockTransport(script)) as aio:
            app = await aio.get_app("app-1")
            return (await aio.trigger(application_id=app.id)).job_run_name

    assert asyncio.run(go()) == "hello-abc12"
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("GET", "/api/svc/v1/apps/app-1"),
        ("POST", "/api/svc/v1/jobs/trigger"),
    ]


@dataclass(frozen=True)
class Case:
    """What the transport does on each try, and what the caller sees after how many."""

    answers: tuple[httpx.Response | Exception, ...]
    error: type[Exception] | None
    tries: int


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")


TRIGGER_CASES = {
    # Provably never sent: tried again, and the second try's run is the one.
    "connect refused, then a run": Case((refused(), ok(RUN)), None, 2),
    "connect timeout, then a run": Case((httpx.ConnectTimeout("slow"), ok(RUN)), None, 2),
    "429 with Retry-After, then a run": Case(
        (httpx.Response(429, headers={"Retry-After": "0"}, json={}), ok(RUN)), None, 2
    ),
    # May have arrived: never sent twice.
    "read timeout": Case((httpx.ReadTimeout("lost"),), TriggerOutcomeUnknown, 1),
    "connection dropped mid-answer": Case(
        (httpx.RemoteProtocolError("closed"),), TriggerOutcomeUnknown, 1
    ),
    "503": Case((httpx.Response(503, json={"message": "busy"}),), TriggerOutcomeUnknown, 1),
    "200 that is not JSON": Case((httpx.Response(200, text="<html>"),), TriggerOutcomeUnknown, 1),
    "429 every time": Case(
        (httpx.Response(429, headers={"Retry-After": "0"}, json={}),), RateLimitedError, 3
    ),
    "refused every time": Case((refused(),), TransportError, 3),
}


@pytest.mark.parametrize("name", list(TRIGGER_CASES))
def test_a_trigger_is_sent_again_only_when_it_cannot_have_arrived(name: str) -> None:
    case = TRIGGER_CASES[name]
    script = Script(*case.answers)
    with JobsClient(HOST, TOKEN, retry=QUICK, transport=httpx.MockTransport(script)) as client:
        if case.error is None:
            assert client.trigger(application_id="app-1").job_run_name == "hello-abc12"
        else:
            with pytest.raises(case.error):
                client.trigger(application_id="app-1")
    assert len(script.requests) == case.tries


READ_CASES = {
    "503, 502, then the app": Case(
        (httpx.Response(503, json={}), httpx.Response(502, json={}), ok(APP)), None, 3
    ),
    "read timeout, then the app": Case((httpx.ReadTimeout("lost"), ok(APP)), None, 2),
    "500 every time": Case((httpx.Response(500, json={}),), ServerError, 3),
    "read timeout every time": Case((httpx.ReadTimeout("lost"),), TransportError, 3),
}


@pytest.mark.parametrize("name", list(READ_CASES))
def test_a_read_is_sent_again_on_5xx_and_transport_errors_sync_and_async(name: str) -> None:
    case = READ_CASES[name]
    sync_script, async_script = Script(*case.answers), Script(*case.answers)

    def sync_call() -> str:
        with JobsClient(HOST, TOKEN, retry=QUICK, transport=httpx.MockTransport(sync_script)) as c:
            return c.get_app("app-1").id

    async def async_call() -> str:
        transport = httpx.MockTransport(async_script)
        async with AsyncJobsClient(HOST, TOKEN, retry=QUICK, transport=transport) as c:
            return (await c.get_app("app-1")).id

    for call in (sync_call, lambda: asyncio.run(async_call())):
        if case.error is None:
            assert call() == "app-1"
        else:
            with pytest.raises(case.error):
                call()
    assert len(sync_script.requests) == len(async_script.requests) == case.tries


def test_a_redirect_is_an_answer_not_followed() -> None:
    script = Script(httpx.Response(307, headers={"Location": f"{HOST}/elsewhere"}, json={}))
    with (
        JobsClient(HOST, TOKEN, retry=QUICK, transport=httpx.MockTransport(script)) as client,
        pytest.raises(TriggerOutcomeUnknown),
    ):
        client.trigger(application_id="app-1")
    assert len(script.requests) == 1


def test_httpx_logs_each_request_it_sends(
    sandbox: SandboxServer, isolated_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="httpx"):
        with JobsClient(sandbox.host, sandbox.token) as client:
            app = client.find_app("sandbox:demo:hello")
            client.trigger(application_id=app.id)

        async def via_async() -> None:
            async with AsyncJobsClient(sandbox.host, sandbox.token) as aio:
                await aio.get_app(app.id)

        asyncio.run(via_async())
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    api = f"{sandbox.host}/api/svc/v1"
    assert lines[0].startswith(f"HTTP Request: GET {api}/apps?")
    assert lines[1] == f'HTTP Request: POST {api}/jobs/trigger "HTTP/1.1 200 OK"'
    assert lines[2] == f'HTTP Request: GET {api}/apps/{app.id} "HTTP/1.1 200 OK"'
    assert all(sandbox.token not in line for line in lines)
