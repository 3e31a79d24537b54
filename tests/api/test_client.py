"""JobsClient and AsyncJobsClient against the sandbox on loopback: every endpoint, every error."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from jobmagic.api import (
    AsyncJobsClient,
    AuthError,
    ConfigError,
    ConflictError,
    JobsClient,
    NotFoundError,
    ParamsError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
)
from jobmagic.models import Event, RunStatus
from jobmagic.sandbox import Fault, SandboxServer

FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05)


def test_every_endpoint(sandbox: SandboxServer, isolated_home: Path) -> None:
    with JobsClient(sandbox.host, sandbox.token, retry=FAST) as client:
        app = client.find_app("sandbox:demo:hello")
        assert client.find_app("hello").id == app.id  # by name too
        assert client.get_app(app.id).fqn == "sandbox:demo:hello"
        assert [p.name for p in app.params] == ["name"]
        result = client.trigger(application_id=app.id, params={"name": "Ada"}, alias="greet")
        assert result.job_run_name.startswith("greet-")
        sandbox.wait_for_run(app.id, result.job_run_name)
        run = client.get_run(app.id, result.job_run_name)
        assert run.status is RunStatus.FINISHED and run.exit_code == 0
        assert [r.name for r in client.list_runs(app.id, status=["FINISHED"])] == [run.name]
        assert any(line.log == "hello Ada" for line in client.logs(app.id, run.name))
        assert len(client.logs(app.id, run.name, limit=1, tail=True)) == 1
        assert client.session()["user"]
        with pytest.raises(ConflictError):
            client.terminate(app.deployment_id or "", run.name)  # already finished
        assert client.delete_run(app.id, run.name)
        with pytest.raises(NotFoundError):
            client.get_run(app.id, run.name)


def test_paging_collects_every_run(sandbox: SandboxServer, isolated_home: Path) -> None:
    with JobsClient(sandbox.host, sandbox.token) as client:
        app = client.find_app("sandbox:demo:hello")
        names = {client.trigger(application_id=app.id).job_run_name for _ in range(5)}
        sandbox.reset_stats()
        listed = client.list_runs(app.id, page_size=2)
        assert {r.name for r in listed} == names
        assert sandbox.stats()["list_runs"] == 3


def test_error_types_from_real_responses(sandbox: SandboxServer, isolated_home: Path) -> None:
    bad = JobsClient(sandbox.host, "tfy_wrong")
    with bad, pytest.raises(AuthError) as caught:
        bad.find_app("sandbox:demo:hello")
        assert "tfy_wrong" not in str(caught.value)
    with JobsClient(sandbox.host, sandbox.token, retry=FAST) as client:
        with pytest.raises(NotFoundError, match="No job with the FQN"):
            client.find_app("sandbox:demo:nope")
        app = client.find_app("sandbox:demo:hello")
        with pytest.raises(ValidationError) as invalid:
            client.trigger(application_id=app.id, params={"undeclared": "x"})
        assert invalid.value.details
        with pytest.raises(ParamsError):
            client.trigger(application_id=app.id, params={"name": 1})  # type: ignore[dict-item]
        sandbox.set_faults(Fault.status(503, "get_app", times=10))
        with pytest.raises(ServerError):
            client.get_app(app.id)
        sandbox.set_faults(Fault.rate_limit("get_app", retry_after=0, times=10))
        with pytest.raises(RateLimitedError):
            client.get_app(app.id)
        sandbox.set_faults(Fault.malformed("get_app", times=10))
        with pytest.raises(TransportError):
            client.get_app(app.id)
    nowhere = JobsClient("http://127.0.0.1:9", "tfy_x", retry=FAST)
    with nowhere, pytest.raises(TransportError, match="nothing was sent"):
        nowhere.find_app("x:y:z")


def test_async_twin(sandbox: SandboxServer, isolated_home: Path) -> None:
    async def go() -> list[str]:
        async with AsyncJobsClient(sandbox.host, sandbox.token) as client:
            app = await client.find_app("sandbox:demo:hello")
            results = await asyncio.gather(
                *(client.trigger(application_id=app.id, params={"name": n}) for n in "abc")
            )
            return [r.job_run_name for r in results]

    names = asyncio.run(go())
    assert len(set(names)) == 3
    assert sandbox.stats()["trigger"] == 3
    assert "tfy_" in repr(AsyncJobsClient(sandbox.host, sandbox.token))
    assert sandbox.token not in repr(AsyncJobsClient(sandbox.host, sandbox.token))


def test_events_say_why_a_run_failed_sync_and_async(
    sandbox: SandboxServer, isolated_home: Path
) -> None:
    with JobsClient(sandbox.host, sandbox.token, retry=FAST) as client:
        app = client.find_app("sandbox:demo:fail")
        run_name = client.trigger(application_id=app.id).job_run_name
        sandbox.wait_for_run(app.id, run_name)
        run = client.get_run(app.id, run_name)
        events = client.events(app.id, run_name)
        assert run.created_at is not None
        # A window that holds the run gives the same; one before it gives nothing.
        assert client.events(app.id, run_name, since=run.created_at) == events
        assert client.events(app.id, run_name, until=run.created_at - timedelta(days=1)) == []
        with pytest.raises(NotFoundError):
            client.events(app.id, "fail-nope0")

    async def go() -> list[Event]:
        async with AsyncJobsClient(sandbox.host, sandbox.token) as client:
            return await client.events(app.id, run_name)

    assert [e.reason for e in events] == ["Scheduled", "Pulled", "Started", "Error", "BackOff"]
    error = events[3]
    assert error.is_warning and error.category == "ContainerTerminated"
    assert "exit code 3" in error.message and error.count == 1
    assert error.involved_object.kind == "Pod" and error.involved_object.container_name == "fail"
    assert error.time is not None and error.time >= run.created_at
    assert asyncio.run(go()) == events


class _ForwardingProxy:
    """An HTTP forward proxy on loopback: it records each request line it is sent and
    passes the request on to the sandbox, as a corporate proxy would. A ``CONNECT`` (the
    tunnel to an https:// host) is recorded and refused."""

    def __init__(self, upstream: str) -> None:
        import socket
        import threading
        from urllib.parse import urlsplit

        self.request_lines: list[str] = []
        self._upstream = urlsplit(upstream)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import http.client

        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as incoming:
                while True:
                    line = incoming.readline().decode("latin-1").rstrip("\r\n")
                    if not line:
                        break
                    self.request_lines.append(line)
                    headers: dict[str, str] = {}
                    while (header := incoming.readline().decode("latin-1").strip()) != "":
                        name, _, value = header.partition(":")
                        headers[name.strip()] = value.strip()
                    method, target, _ = line.split(" ", 2)
                    if method == "CONNECT":  # a tunnel to an https:// host: none here
                        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                        break
                    body = incoming.read(int(headers.get("Content-Length", "0") or 0))
                    assert self._upstream.hostname is not None
                    upstream = http.client.HTTPConnection(
                        self._upstream.hostname, self._upstream.port
                    )
                    upstream.request(method, target, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    head = (
                        f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
                        "Content-Type: application/json\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n"
                    )
                    conn.sendall(head.encode("latin-1") + data)
                    upstream.close()

    def close(self) -> None:
        self._server.close()


def test_a_proxy_named_by_the_environment_carries_the_requests(
    sandbox: SandboxServer, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clients read the environment's proxy as httpx does: a host behind HTTP_PROXY is
    reached through it, and a host NO_PROXY names, or the sandbox on loopback, directly."""
    proxy = _ForwardingProxy(sandbox.host)
    try:
        # A non-loopback name for the sandbox: only the proxy knows where it is.
        remote = sandbox.host.replace("127.0.0.1", "jobs.sandbox.test")
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with JobsClient(remote, sandbox.token, allow_insecure_http=True, retry=FAST) as client:
            app = client.find_app("sandbox:demo:hello")
            result = client.trigger(application_id=app.id, params={"name": "proxied"})
        assert result.job_run_name.startswith("hello-")
        assert any(
            line.startswith(f"POST {remote}/api/svc/v1/jobs/trigger ")
            for line in proxy.request_lines
        )

        async def via_async() -> str:
            async with AsyncJobsClient(remote, sandbox.token, allow_insecure_http=True) as aio:
                return (await aio.find_app("sandbox:demo:hello")).id

        seen = len(proxy.request_lines)
        assert asyncio.run(via_async()) == app.id
        assert len(proxy.request_lines) > seen

        monkeypatch.setenv("NO_PROXY", "sandbox.test")
        with (
            JobsClient(remote, sandbox.token, allow_insecure_http=True, retry=FAST) as client,
            pytest.raises(TransportError),
        ):
            client.find_app("sandbox:demo:hello")  # directly: the name does not resolve
        seen = len(proxy.request_lines)
        with JobsClient(sandbox.host, sandbox.token) as client:
            assert client.find_app("sandbox:demo:hello").id == app.id
        assert len(proxy.request_lines) == seen  # loopback never goes through the proxy
    finally:
        proxy.close()


def test_scheme_less_proxies_are_read_as_httpx_and_curl_read_them(
    sandbox: SandboxServer, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTP_PROXY=host:port`` is an http:// proxy; ``HTTPS_PROXY=host:port`` is the one an
    https:// host is tunnelled through (``CONNECT``), not a crash."""
    proxy = _ForwardingProxy(sandbox.host)
    bare = proxy.url.removeprefix("http://")
    try:
        remote = sandbox.host.replace("127.0.0.1", "jobs.sandbox.test")
        monkeypatch.setenv("HTTP_PROXY", bare)
        with JobsClient(remote, sandbox.token, allow_insecure_http=True, retry=FAST) as client:
            assert client.find_app("sandbox:demo:hello").fqn == "sandbox:demo:hello"
        assert any(
            line.startswith(f"GET {remote}/api/svc/v1/apps?") for line in proxy.request_lines
        )

        monkeypatch.setenv("HTTPS_PROXY", bare)
        with (
            JobsClient("https://jobs.sandbox.test", sandbox.token, retry=FAST) as client,
            pytest.raises(TransportError),
        ):
            client.find_app("sandbox:demo:hello")  # the proxy refuses the tunnel
        assert "CONNECT jobs.sandbox.test:443 HTTP/1.1" in proxy.request_lines
    finally:
        proxy.close()


@pytest.mark.parametrize(
    "env",
    [
        {"NO_PROXY": "sandbox.test"},
        {"no_proxy": ".sandbox.test"},
        {"NO_PROXY": "*"},
        {"NO_PROXY": "example.com, jobs.sandbox.test"},
    ],
)
def test_no_proxy_sends_directly(
    env: dict[str, str],
    sandbox: SandboxServer,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = _ForwardingProxy(sandbox.host)
    try:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        remote = sandbox.host.replace("127.0.0.1", "jobs.sandbox.test")
        with (
            JobsClient(remote, sandbox.token, allow_insecure_http=True, retry=FAST) as client,
            pytest.raises(TransportError, match="nothing was sent"),
        ):
            client.find_app("sandbox:demo:hello")  # directly: the name does not resolve
        assert proxy.request_lines == []
    finally:
        proxy.close()


def test_loopback_is_direct_and_trust_env_false_reads_no_proxy(
    sandbox: SandboxServer, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _ForwardingProxy(sandbox.host)
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        localhost = sandbox.host.replace("127.0.0.1", "localhost")

        async def via_async() -> str:
            async with AsyncJobsClient(localhost, sandbox.token) as aio:
                return (await aio.find_app("sandbox:demo:hello")).id

        with JobsClient(sandbox.host, sandbox.token) as client:
            app_id = client.find_app("sandbox:demo:hello").id
        assert asyncio.run(via_async()) == app_id
        assert proxy.request_lines == []  # loopback: never through the proxy

        remote = sandbox.host.replace("127.0.0.1", "jobs.sandbox.test")
        ignoring = JobsClient(
            remote, sandbox.token, allow_insecure_http=True, retry=FAST, trust_env=False
        )
        with ignoring, pytest.raises(TransportError, match="nothing was sent"):
            ignoring.find_app("sandbox:demo:hello")
        assert proxy.request_lines == []
    finally:
        proxy.close()


def test_a_socks_proxy_needs_socksio(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx speaks SOCKS5 with the ``socksio`` package (``httpx[socks]``); without it the
    client says so, as a ConfigError, when it is built."""
    import importlib.util

    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    if importlib.util.find_spec("socksio") is not None:
        JobsClient("https://jobs.example.com", "tfy_x").close()
        return
    with pytest.raises(ConfigError, match=r"httpx\[socks\]"):
        JobsClient("https://jobs.example.com", "tfy_x")
    JobsClient("http://127.0.0.1:9", "tfy_x").close()  # loopback: no proxy, so no socksio
