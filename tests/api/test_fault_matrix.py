"""Every client call × every fault the sandbox can inject, over real sockets.

For each pair the table says which exception the caller gets, how many requests the server
RECEIVED (counted before faults and auth), and — for the trigger — what the ledger records
and whether a run really exists. The rule under test is the outcome table in
``jobmagic.errors``: a trigger is *rejected* only when the answer means no run was
made; everything else that may have reached the server leaves it *unknown*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobmagic.api import (
    AuthError,
    ConflictError,
    JobsClient,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    TriggerOutcomeUnknown,
    ValidationError,
)
from jobmagic.api._retry import RetryPolicy
from jobmagic.domain import engine
from jobmagic.domain.session import JobSession
from jobmagic.domain.target import Target
from jobmagic.ledger import AttemptState
from jobmagic.sandbox import Fault, SandboxServer
from tests.sessions import sandbox_serving, session_on

JOBS = """
cluster: test
workspace: faults
jobs:
  - name: noop
    command: "true --name={{name}}"
    params:
      - name: name
        default: x
"""
FQN = "test:faults:noop"
APP_ID = "app-test-faults-noop"
MAX_ATTEMPTS = RetryPolicy().max_attempts  # the first try and the retries
QUICK_RETRIES = RetryPolicy(backoff_base=0.001, backoff_cap=0.01)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with sandbox_serving(JOBS, tmp_path_factory.mktemp("fault-matrix")) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.clear_faults()
    server.reset_stats()
    return server


@pytest.fixture
def session(sandbox: SandboxServer, tmp_path: Path) -> Iterator[JobSession]:
    with session_on(sandbox, tmp_path / "ledger.sqlite3") as live:
        yield live


# --- the trigger ----------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerCase:
    fault: Fault | None
    error: type[Exception] | None
    received: int
    state: AttemptState
    run_made: bool

    def __str__(self) -> str:
        return "no fault" if self.fault is None else _fault_id(self.fault)


def _fault_id(fault: Fault) -> str:
    when = " after" if fault.after and fault.kind in ("status", "drop") else ""
    if fault.kind == "status":
        return f"{fault.status_code}{when}"
    if fault.kind == "body":
        return f"200 {fault.body!r}"
    if fault.kind == "rate_limit":
        return f"429 x{fault.times or 'always'}"
    return f"{fault.kind}{when}"


UNKNOWN, REJECTED, ACKED = AttemptState.UNKNOWN, AttemptState.REJECTED, AttemptState.ACKNOWLEDGED

TRIGGER_CASES = [
    TriggerCase(None, None, 1, ACKED, True),
    # Refusals that mean "no run was made": rejected, safe to fix and send again.
    *(
        TriggerCase(Fault.status(code, "trigger"), error, 1, REJECTED, False)
        for code, error in [
            (400, ValidationError),
            (401, AuthError),
            (403, AuthError),
            (404, NotFoundError),
            (409, ConflictError),
            (417, ConflictError),
            (422, ValidationError),
        ]
    ),
    TriggerCase(Fault.rate_limit("trigger", retry_after=0), None, 2, ACKED, True),
    TriggerCase(
        Fault.rate_limit("trigger", retry_after=0, times=None),
        RateLimitedError,
        MAX_ATTEMPTS,
        REJECTED,
        False,
    ),
    # A 5xx may come after the run was made: unknown, whether or not it was.
    *(
        TriggerCase(
            Fault.status(code, "trigger", after=after), TriggerOutcomeUnknown, 1, UNKNOWN, after
        )
        for code in (500, 502, 503)
        for after in (False, True)
    ),
    TriggerCase(Fault.status(418, "trigger"), TriggerOutcomeUnknown, 1, UNKNOWN, False),
    TriggerCase(Fault.drop("trigger"), TriggerOutcomeUnknown, 1, UNKNOWN, False),
    TriggerCase(Fault.drop("trigger", after=True), TriggerOutcomeUnknown, 1, UNKNOWN, True),
    TriggerCase(Fault.malformed("trigger"), TriggerOutcomeUnknown, 1, UNKNOWN, True),
    # A success the client cannot read: the request reached the server.
    *(
        TriggerCase(Fault.replace_body(body, "trigger"), TriggerOutcomeUnknown, 1, UNKNOWN, True)
        for body in ("null", "{}", "[]", '{"message": "ok"}', "", '"ok"', '{"data": null}')
    ),
]


@pytest.mark.parametrize("case", TRIGGER_CASES, ids=str)
def test_trigger_outcome(case: TriggerCase, sandbox: SandboxServer, session: JobSession) -> None:
    resolved = session.resolve(Target(app=FQN))
    before = len(sandbox.runs(APP_ID))
    sandbox.reset_stats()
    if case.fault is not None:
        sandbox.set_faults(case.fault)

    if case.error is None:
        handle = engine.trigger(session, Target(app=FQN), {"name": "m"}, resolved=resolved)
        assert handle.name
    else:
        with pytest.raises(case.error) as raised:
            engine.trigger(session, Target(app=FQN), {"name": "m"}, resolved=resolved)
        message = str(raised.value)
        if case.state is UNKNOWN:
            assert "may have started" in message and "--reconcile" in message
        assert sandbox.token not in message

    assert sandbox.stats()["trigger"] == case.received
    made = len(sandbox.runs(APP_ID)) - before
    assert made == (1 if case.run_made else 0)
    (entry,) = session.ledger.entries(session_id=session.session_id)
    assert entry.state is case.state
    assert entry.params == {"name": "m"}
    if case.state is ACKED:
        assert entry.run_name and entry.run is not None


def test_unknown_outcome_keeps_the_status_code(sandbox: SandboxServer) -> None:
    sandbox.set_faults(Fault.status(502, "trigger", after=True))
    with (
        JobsClient(sandbox.host, sandbox.token) as client,
        pytest.raises(TriggerOutcomeUnknown) as lost,
    ):
        client.trigger(application_id=APP_ID)
    assert lost.value.status_code == 502
    assert "HTTP 502" in str(lost.value)


def test_a_trigger_whose_answer_times_out_is_unknown(sandbox: SandboxServer) -> None:
    sandbox.set_faults(Fault.latency(1500, "trigger", times=1))
    client = JobsClient(sandbox.host, sandbox.token, timeout=0.3)
    with client, pytest.raises(TriggerOutcomeUnknown) as lost:
        client.trigger(application_id=APP_ID)
    assert "ReadTimeout" in str(lost.value) and lost.value.status_code is None
    assert sandbox.stats()["trigger"] == 1  # sent once: a timed-out trigger is not retried


def test_a_refused_connection_sends_nothing_and_says_so(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = JobsClient(f"http://127.0.0.1:{port}", "tfy_nobody", retry=QUICK_RETRIES)
    with client, pytest.raises(TransportError) as raised:
        client.trigger(application_id=APP_ID)
    assert not isinstance(raised.value, TriggerOutcomeUnknown)
    assert "nothing was sent" in str(raised.value)


# --- every other call ---------------------------------------------------------------


Call = Callable[[JobsClient, str], Any]

READS: dict[str, tuple[str, Call]] = {
    "get_run": ("get_run", lambda c, run: c.get_run(APP_ID, run)),
    "list_runs": ("list_runs", lambda c, run: c.list_runs(APP_ID, limit=5)),
    "logs": ("logs", lambda c, run: c.logs(APP_ID, run)),
    "find_app": ("apps", lambda c, run: c.find_app(FQN)),
    "get_app": ("get_app", lambda c, run: c.get_app(APP_ID)),
    "session": ("session", lambda c, run: c.session()),
    "delete_run": ("delete_run", lambda c, run: c.delete_run(APP_ID, run)),
}


@dataclass(frozen=True)
class ReadCase:
    name: str
    fault: Callable[[str], Fault]
    error: type[Exception] | None
    received: int


READ_FAULTS = [
    # Reads (and DELETE of a named run) repeat safely: a passing fault is retried away.
    ReadCase("500 once", lambda key: Fault.status(500, key), None, 2),
    ReadCase("503 x2", lambda key: Fault.status(503, key, times=2), None, 3),
    ReadCase("drop once", lambda key: Fault.drop(key), None, 2),
    ReadCase("drop after", lambda key: Fault.drop(key, after=True), None, 2),
    ReadCase("malformed", lambda key: Fault.malformed(key), None, 2),
    ReadCase("429", lambda key: Fault.rate_limit(key, retry_after=0), None, 2),
    ReadCase("500 always", lambda key: Fault.status(500, key, times=None), ServerError, 4),
    ReadCase("404", lambda key: Fault.status(404, key), NotFoundError, 1),
    ReadCase("401", lambda key: Fault.status(401, key), AuthError, 1),
    ReadCase("422", lambda key: Fault.status(422, key), ValidationError, 1),
    ReadCase("200 null", lambda key: Fault.replace_body("null", key), TransportError, 1),
]


@pytest.fixture
def finished_run(sandbox: SandboxServer) -> str:
    with JobsClient(sandbox.host, sandbox.token) as client:
        name = client.trigger(application_id=APP_ID, params={"name": "r"}).job_run_name
    sandbox.wait_for_run(APP_ID, name)
    sandbox.reset_stats()
    return name


# GET /session's answer is any JSON object, passed on as it is: "null" has no shape to miss.
READ_MATRIX = [
    (call, case)
    for call in sorted(READS)
    for case in READ_FAULTS
    if not (call == "session" and case.name == "200 null")
]


@pytest.mark.parametrize(
    ("call", "case"), READ_MATRIX, ids=[f"{call}-{case.name}" for call, case in READ_MATRIX]
)
def test_read_under_fault(
    call: str, case: ReadCase, sandbox: SandboxServer, finished_run: str
) -> None:
    key, invoke = READS[call]
    sandbox.set_faults(case.fault(key))
    with JobsClient(sandbox.host, sandbox.token, retry=QUICK_RETRIES) as client:
        if case.error is None:
            invoke(client, finished_run)
        else:
            with pytest.raises(case.error):
                invoke(client, finished_run)
    assert sandbox.stats()[key] == case.received


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(500, "terminate"), ServerError),
        (Fault.drop("terminate", after=True), TransportError),
        (Fault.status(417, "terminate"), ConflictError),
    ],
    ids=["500", "drop after", "417"],
)
def test_terminate_is_sent_once(
    fault: Fault, error: type[Exception], sandbox: SandboxServer, finished_run: str
) -> None:
    sandbox.set_faults(fault)
    with JobsClient(sandbox.host, sandbox.token) as client, pytest.raises(error):
        client.terminate("dep-test-faults-noop", finished_run)
    assert sandbox.stats()["terminate"] == 1


# --- safe paths ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [".", "..", "", "  ", "a/b", "..%2f", "a\\b", "x\x00", "run\n"])
@pytest.mark.parametrize("call", ["get_run", "delete_run", "list_runs", "get_app", "terminate"])
def test_ids_that_are_not_names_are_refused_before_sending(
    call: str, bad: str, sandbox: SandboxServer
) -> None:
    invoke: dict[str, Call] = {
        "get_run": lambda c, v: c.get_run(APP_ID, v),
        "delete_run": lambda c, v: c.delete_run(v, "run"),
        "list_runs": lambda c, v: c.list_runs(v),
        "get_app": lambda c, v: c.get_app(v),
        "terminate": lambda c, v: c.terminate("dep", v),
    }
    if bad == "..%2f":
        bad = "../"  # a slash is refused however it is spelled
    with (
        JobsClient(sandbox.host, sandbox.token) as client,
        pytest.raises(ValidationError) as refused,
    ):
        invoke[call](client, bad)
    argument = {"get_run": "run_name", "terminate": "run_name"}.get(call, "application_id")
    assert str(refused.value).startswith(f"{argument}=")
    assert refused.value.status_code is None
    assert sum(sandbox.stats().values()) == 0
