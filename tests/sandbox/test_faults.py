"""Injected faults as httpx sees them over a real socket, and the request stats."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from jobmagic.sandbox import Fault, SandboxServer
from jobmagic.sandbox.web.faults import ENDPOINTS
from tests.sandbox.sandbox_helpers import (
    HELLO,
    assert_error,
    client_for,
    logs_of,
    trigger,
    wait_for,
)

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


# --- the HTTP stack: httptools + uvloop when installed, h11 + asyncio without them ---------


def test_the_fast_stack_is_used_when_installed() -> None:
    pytest.importorskip("httptools")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from jobmagic.sandbox.serving.http_stack import http_implementation, protocol_class
    from jobmagic.sandbox.web.connections import ConnectionRegistry

    assert http_implementation() == "httptools"
    assert issubclass(protocol_class(ConnectionRegistry()), HttpToolsProtocol)


def test_without_httptools_and_uvloop_it_serves_on_h11_and_still_drops(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from jobmagic.sandbox.serving import server as server_module

    monkeypatch.setattr(server_module, "http_implementation", lambda: "h11")
    monkeypatch.setattr(server_module, "event_loop", lambda: "asyncio")
    with SandboxServer(tmp_path / "h11") as sandbox, client_for(sandbox) as client:
        answer = client.post("/jobs/trigger", json={"applicationId": HELLO})
        assert answer.status_code == 200
        ours = answer.extensions["network_stream"].get_extra_info("client_addr")
        transport = sandbox.connections.get(ours)
        assert transport is not None and isinstance(transport.get_protocol(), H11Protocol)
        assert wait_for(client, HELLO, answer.json()["jobRunName"])["status"] == "FINISHED"
        sandbox.set_faults(Fault.drop("apps"))
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get("/apps")
        assert client.get("/apps").status_code == 200
