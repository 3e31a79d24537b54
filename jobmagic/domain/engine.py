"""The one trigger engine: every run jobmagic starts, one or many, goes through here.

A single run is a sweep of one. :func:`plan` builds every request first, through the request
builder :func:`jobmagic.api._endpoints.trigger` — the one place trigger input is checked,
against the params the job declares when its target was looked up — so bad input is refused
before the ledger or the server sees anything, and a dry run shows exactly these requests.
:func:`start` then runs, for each request, the ledger-first sequence written once in
:func:`_steps`: write the attempt (committed with ``BEGIN IMMEDIATE``), send it once, settle
the outcome (acknowledged, rejected or unknown), accept the run as a handle. One run is
driven inline with the session's client; many run on an event loop in a worker thread with
the async client, ``concurrency`` in flight — a notebook's kernel already runs a loop in the
main thread. Unknown outcomes are then looked for on the server, never re-sent.

>>> from jobmagic.public import current_session
>>> from jobmagic.domain.session import Target
>>> session = current_session()
>>> triggers = plan_for(session, Target("sandbox:demo:train"), [{"lr": "0.1"}, {"lr": "0.2"}])
>>> [request.json["input"]["params"]["lr"] for request in triggers.requests]
['0.1', '0.2']
>>> result = start(session, triggers, concurrency=8)
>>> len(result.handles), result.failures
(2, [])
>>> plan_for(session, Target("sandbox:demo:train"), [{"lr": 0.1}])
Traceback (most recent call last):
...
jobmagic.errors.ParamsError: Param 'lr' is a float; the API takes strings only. Pass lr=str(value).
"""

from __future__ import annotations

import asyncio
import difflib
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from jobmagic.api import _endpoints as ep
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.sweeps import SweepFailure, SweepResult
from jobmagic.domain.target import ResolvedTarget, Target, command_text
from jobmagic.errors import (
    ConflictError,
    JobmagicError,
    NotFoundError,
    ParamsError,
    TriggerOutcomeUnknown,
)

if TYPE_CHECKING:
    from jobmagic.api._client import JobsClient
    from jobmagic.config import Credentials, Settings
    from jobmagic.domain.reconcile import Verdict
    from jobmagic.ledger import Ledger
    from jobmagic.models import JobRun, TriggerResult

__all__ = [
    "EngineSession",
    "TriggerPlan",
    "plan",
    "plan_for",
    "run_sweep",
    "start",
    "start_fresh",
    "trigger",
    "trigger_one",
    "went_stale",
]

#: What one run's trigger came to: its handle, or why it did not start.
Outcome = RunHandle | SweepFailure
#: A step of :func:`_steps`: the request to send, or a ledger write to run.
Step = ep.ApiRequest | Callable[[], Any]


class EngineSession(Protocol):
    """What the engine needs of a session (:class:`jobmagic.domain.session.JobSession`)."""

    session_id: str
    notebook: str | None
    kernel_id: str | None

    @property
    def client(self) -> JobsClient: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def host(self) -> str: ...

    def credentials(self) -> Credentials: ...

    def resolve(self, target: Target) -> ResolvedTarget: ...

    def forget_target(self, target: Target) -> None: ...

    def record_runs(self, runs: Iterable[JobRun]) -> None: ...

    def handle_for(
        self,
        resolved: ResolvedTarget,
        run: JobRun,
        *,
        params: Mapping[str, str] | None = None,
        command: str | Sequence[str] | None = None,
        application_fqn: str | None = None,
        host: str | None = None,
        rerun_of: str | None = None,
    ) -> RunHandle: ...

    def reconcile(
        self, attempts: Iterable[int] | None = None, *, wait: bool = False
    ) -> list[Verdict]: ...


@dataclass(frozen=True)
class TriggerPlan:
    """The requests a trigger will send, built and checked; nothing is written or sent yet.

    ``param_sets``, ``requests`` and ``rerun_of`` are parallel: one entry per run.
    """

    resolved: ResolvedTarget
    param_sets: tuple[Mapping[str, str], ...]
    requests: tuple[ep.ApiRequest, ...]
    command: str | Sequence[str] | None = None
    alias: str | None = None
    rerun_of: tuple[str | None, ...] = ()

    def __len__(self) -> int:
        return len(self.requests)


def plan(
    resolved: ResolvedTarget,
    param_sets: Sequence[Mapping[str, str] | None],
    *,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    rerun_of: Sequence[str | None] | None = None,
) -> TriggerPlan:
    """One checked request per params mapping; raises the builder's error for bad input.

    A deployment id, when known, names the target by itself: the application id would be
    one more thing for the server to check against it. ``rerun_of``, parallel to
    ``param_sets``, names the run each one repeats (for the ledger and the handle).
    """
    repeats = tuple(rerun_of) if rerun_of is not None else (None,) * len(param_sets)
    if len(repeats) != len(param_sets):
        raise ValueError("rerun_of must name one run (or None) per params mapping")
    app = resolved.application
    build = partial(
        ep.trigger,
        application_id=None if resolved.deployment_id else resolved.application_id,
        deployment_id=resolved.deployment_id,
        command=command,
        alias=alias,
        declared=app.params if app is not None else (),
        job=(app.fqn or app.name) if app is not None else None,
    )
    chosen = tuple(dict(params or {}) for params in param_sets)
    requests = tuple(build(params=params or None) for params in chosen)
    return TriggerPlan(resolved, chosen, requests, command, alias, repeats)


def trigger(
    session: EngineSession,
    target: Target,
    params: Mapping[str, str] | None = None,
    *,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    resolved: ResolvedTarget | None = None,
    reconcile_unknown: bool = False,
    rerun_of: str | None = None,
) -> RunHandle:
    """Resolve ``target`` (unless ``resolved`` is given), then :func:`trigger_one`."""
    if resolved is not None:
        one = plan(resolved, [params], command=command, alias=alias, rerun_of=[rerun_of])
    else:
        one = plan_for(session, target, [params], command=command, alias=alias, rerun_of=[rerun_of])
    return trigger_one(session, one, reconcile_unknown=reconcile_unknown)


def plan_for(
    session: EngineSession,
    target: Target,
    param_sets: Sequence[Mapping[str, str] | None],
    *,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    rerun_of: Sequence[str | None] | None = None,
) -> TriggerPlan:
    """Resolve ``target`` with the session, then :func:`plan`.

    Params refused against a remembered lookup are checked again against a fresh one: the
    job may have been redeployed with other params since.
    """
    resolved = session.resolve(target)
    try:
        return plan(resolved, param_sets, command=command, alias=alias, rerun_of=rerun_of)
    except ParamsError:
        if not resolved.remembered:
            raise
    session.forget_target(target)
    resolved = session.resolve(target)
    return plan(resolved, param_sets, command=command, alias=alias, rerun_of=rerun_of)


def _looked_up_again(session: EngineSession, triggers: TriggerPlan) -> TriggerPlan:
    """The same runs planned against a fresh lookup of their target."""
    target = triggers.resolved.target
    session.forget_target(target)
    return plan(
        session.resolve(target),
        triggers.param_sets,
        command=triggers.command,
        alias=triggers.alias,
        rerun_of=triggers.rerun_of,
    )


def went_stale(triggers: TriggerPlan, result: SweepResult) -> bool:
    """Whether every run was refused as unknown (404/409) with ids from a remembered lookup:
    the job was redeployed or replaced since, and one fresh lookup is worth a try."""
    return (
        triggers.resolved.remembered
        and not result.handles
        and bool(result.failures)
        and all(isinstance(f.error, NotFoundError | ConflictError) for f in result.failures)
    )


def start_fresh(
    session: EngineSession, triggers: TriggerPlan, **options: Any
) -> tuple[TriggerPlan, SweepResult]:
    """:func:`start`, and once more against a fresh lookup if the ids :func:`went_stale`
    (each refused attempt is settled as rejected, so nothing is sent twice)."""
    result = start(session, triggers, **options)
    if went_stale(triggers, result):
        triggers = _looked_up_again(session, triggers)
        result = start(session, triggers, **options)
    return triggers, result


def trigger_one(
    session: EngineSession, triggers: TriggerPlan, *, reconcile_unknown: bool = False
) -> RunHandle:
    """The sweep of one: its handle, or its error raised.

    With ``reconcile_unknown``, a lost answer is looked for on the server at once (waiting
    for the attempt's window to close): the handle of the run it started, or the
    :class:`~jobmagic.TriggerOutcomeUnknown` with its ``verdict``.
    """
    if len(triggers) != 1:
        raise ValueError(f"trigger_one takes a plan of one run, not {len(triggers)}")
    triggers, result = start_fresh(session, triggers, reconcile_unknown=reconcile_unknown)
    if result.handles:
        return result.handles[0]
    failure = result.failures[0]
    error = failure.error
    if failure.verdict is not None:
        error.verdict = failure.verdict  # type: ignore[attr-defined]
        error.args = (failure.describe(),)
    if isinstance(error, NotFoundError) and triggers.resolved.application is None:
        raise _unknown_id(session, error, triggers.resolved.target) from None
    raise error


def start(
    session: EngineSession,
    triggers: TriggerPlan,
    *,
    concurrency: int = 8,
    reconcile_unknown: bool = True,
    on_handle: Callable[[RunHandle], None] | None = None,
) -> SweepResult:
    """Trigger every planned run, at most ``concurrency`` in flight; never raises per run.

    Ctrl-C stops sending new triggers; the ones in flight are settled and kept (a plan of
    one run is sent inline, in this thread: Ctrl-C interrupts it and raises, its attempt left
    pending for :meth:`JobSession.reconcile`). With
    ``reconcile_unknown``, triggers whose outcome is unknown are then looked for on the
    server (:meth:`JobSession.reconcile`): a run found becomes a handle like any other; the
    rest stay failures, with the verdict.
    """
    result = SweepResult(
        session=session,
        again=partial(_again, session, triggers.resolved, triggers.command, triggers.alias),
        concurrency=concurrency,
    )
    slots: list[Outcome | None] = [None] * len(triggers)
    started = time.perf_counter()
    if len(triggers) == 1:
        _run_inline(session, triggers, slots, on_handle)
    elif triggers.requests:
        result.interrupted = _run_concurrently(session, triggers, slots, concurrency, on_handle)
    if reconcile_unknown and not result.interrupted:
        _reconcile_unknown(session, triggers, slots, on_handle)
    result.elapsed = time.perf_counter() - started
    for slot in slots:
        if isinstance(slot, RunHandle):
            result.handles.append(slot)
        elif isinstance(slot, SweepFailure):
            result.failures.append(slot)
    return result


# -- one run's sequence, written once ------------------------------------------------------


def _steps(
    session: EngineSession, triggers: TriggerPlan, index: int, host: str, *, inline: bool
) -> Generator[Step, Any, Outcome]:
    """Write the attempt, send it, settle it, accept the run: each step is yielded to the
    driver, which runs a ledger write (in its writer) or sends the request and sends back
    the result — or throws the request's error in here.

    ``inline``: one run, driven in the caller's thread, whose acknowledgement the ledger
    writes a moment later, off the caller's path (a sweep's loop commits its writes
    together instead).
    """
    params = triggers.param_sets[index]
    attempt: int = yield partial(_begin, session, triggers, index, host)
    try:
        answer: TriggerResult = yield triggers.requests[index]
    except JobmagicError as exc:
        yield partial(_settle, session, attempt, exc)
        return SweepFailure(dict(params), exc, attempt)
    accept = partial(_accept, session, triggers, index, attempt, answer.run, host, wait=not inline)
    handle: RunHandle = yield accept
    return handle


def _begin(session: EngineSession, triggers: TriggerPlan, index: int, host: str) -> int:
    """Write the attempt to the ledger before anything is sent; returns its id."""
    resolved = triggers.resolved
    return session.ledger.record_attempt(
        host=host,
        target=resolved.target.label,
        application_id=resolved.application_id,
        deployment_id=resolved.deployment_id,
        application_fqn=resolved.fqn,
        params=dict(triggers.param_sets[index]),
        command=command_text(triggers.command),
        alias=triggers.alias,
        session_id=session.session_id,
        notebook=session.notebook,
        kernel_id=session.kernel_id,
        rerun_of=triggers.rerun_of[index],
    )


def _settle(session: EngineSession, attempt_id: int, error: JobmagicError) -> None:
    """Record why an attempt has no run: rejected by the server, or an unknown outcome."""
    if isinstance(error, TriggerOutcomeUnknown):
        session.ledger.record_unknown(attempt_id, error)
    else:
        session.ledger.record_rejected(attempt_id, error)


def _accept(
    session: EngineSession,
    triggers: TriggerPlan,
    index: int,
    attempt_id: int,
    run: JobRun,
    host: str,
    *,
    wait: bool,
) -> RunHandle:
    """The server started ``run`` for an attempt: record it (now, or a moment later
    without ``wait``), then hand out its handle."""
    run = triggers.resolved.with_ids(run)
    session.ledger.record_acknowledged(attempt_id, run, wait=wait)
    return _handle(session, triggers, index, run, host)


def _handle(
    session: EngineSession, triggers: TriggerPlan, index: int, run: JobRun, host: str | None
) -> RunHandle:
    return session.handle_for(
        triggers.resolved,
        run,
        params=triggers.param_sets[index],
        command=triggers.command,
        host=host,
        rerun_of=triggers.rerun_of[index],
    )


# -- the two drivers -----------------------------------------------------------------------


def _run_inline(
    session: EngineSession,
    triggers: TriggerPlan,
    slots: list[Outcome | None],
    on_handle: Callable[[RunHandle], None] | None,
) -> None:
    """One run, in this thread, with the session's client. Ctrl-C is not caught: an attempt
    it leaves pending is settled later by ``%job_runs --reconcile``."""
    client = session.client
    steps = _steps(session, triggers, 0, client.host, inline=True)
    try:
        step = next(steps)
        while True:
            if callable(step):
                value = step()
            else:
                try:
                    value = client.send_trigger(step)
                except JobmagicError as exc:
                    step = steps.throw(exc)
                    continue
            step = steps.send(value)
    except StopIteration as done:
        slots[0] = done.value
    if on_handle is not None and isinstance(slots[0], RunHandle):
        on_handle(slots[0])


def _run_concurrently(
    session: EngineSession,
    triggers: TriggerPlan,
    slots: list[Outcome | None],
    concurrency: int,
    on_handle: Callable[[RunHandle], None] | None,
) -> bool:
    """Many runs on an event loop in a worker thread; True if Ctrl-C stopped the sending."""
    cancel = threading.Event()
    errors: list[BaseException] = []
    sweep = _sweep(session, triggers, slots, max(1, concurrency), cancel, on_handle)

    def work() -> None:
        try:
            asyncio.run(sweep)
        except BaseException as exc:  # surfaced in the caller's thread below
            errors.append(exc)

    worker = threading.Thread(target=work, name="jobmagic-sweep", daemon=True)
    worker.start()
    interrupted = False
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        interrupted = True
        worker.join()
    if errors:
        raise errors[0]
    return interrupted


async def _sweep(
    session: EngineSession,
    triggers: TriggerPlan,
    slots: list[Outcome | None],
    concurrency: int,
    cancel: threading.Event,
    on_handle: Callable[[RunHandle], None] | None,
) -> None:
    from jobmagic.api._client import AsyncJobsClient

    settings = session.settings
    credentials = session.credentials()
    lanes = min(concurrency, len(triggers))
    # A lane is a client with one connection, sending one trigger after another: a pool
    # of many connections scans all of them for every request (httpcore's is O(n) per
    # request, and a 2,000-run sweep spent two thirds of its time there).
    clients = [
        AsyncJobsClient(
            credentials=credentials,
            timeout=settings.request_timeout,
            verify=settings.verify,  # one TLS context for all (api._core.tls_context)
            max_connections=1,
        )
        for _ in range(lanes)
    ]
    writer = _LoopWriter(session, asyncio.get_running_loop())
    host = clients[0].host
    pending = iter(range(len(triggers)))  # shared by the lanes, in trigger order
    broken: list[BaseException] = []

    async def one(client: AsyncJobsClient, index: int) -> None:
        steps = _steps(session, triggers, index, host, inline=False)
        try:
            step = next(steps)
            while True:
                if callable(step):
                    value = await writer.run(step)
                else:
                    try:
                        value = await client.send_trigger(step)
                    except JobmagicError as exc:
                        step = steps.throw(exc)
                        continue
                step = steps.send(value)
        except StopIteration as done:
            slots[index] = outcome = done.value
            if on_handle is not None and isinstance(outcome, RunHandle):
                on_handle(outcome)

    async def lane(client: AsyncJobsClient) -> None:
        async with client:
            for index in pending:
                if cancel.is_set():
                    return
                try:
                    await one(client, index)
                except Exception as exc:  # a ledger error, say: the others go on
                    broken.append(exc)

    # Every trigger sees its answer through and is settled in the ledger, even when another
    # one broke; the first such error is raised after.
    await asyncio.gather(*(lane(client) for client in clients))
    if broken:
        raise broken[0]


class _LoopWriter:
    """Runs a sweep's ledger writes on its event loop, a transaction per turn of the loop.

    A write is a few tens of microseconds (a commit is a write() to SQLite's log, not a
    disk flush), less than a hop to another thread and back; and a thread would contend
    for the GIL with this loop, holding each answer up by up to a switch interval (5 ms).
    The writes asked for in one turn of the loop (answers that arrived together) go into
    one transaction, committed before any of their callers goes on: an attempt is still
    committed before its request goes out, and a run as soon as it is answered.
    """

    def __init__(self, session: EngineSession, loop: asyncio.AbstractEventLoop) -> None:
        self._ledger = session.ledger
        self._loop = loop
        self._queued: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []

    def run(self, write: Callable[[], Any]) -> asyncio.Future[Any]:
        """``write()`` at the end of this turn of the loop; the future holds its result
        once committed."""
        future: asyncio.Future[Any] = self._loop.create_future()
        if not self._queued:
            self._loop.call_soon(self._commit)
        self._queued.append((write, future))
        return future

    def _commit(self) -> None:
        batch, self._queued = self._queued, []
        results: list[tuple[bool, Any]] = []
        try:
            with self._ledger.batch():
                for write, _future in batch:
                    try:  # one write's error is that caller's, not the batch's
                        results.append((True, write()))
                    except Exception as exc:
                        results.append((False, exc))
        except BaseException as exc:  # the commit failed: nothing in the batch was written
            results = [(False, exc)] * len(batch)
        for (_write, future), (ok, value) in zip(batch, results, strict=True):
            _settle_future(future, ok, value)


def _settle_future(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


# -- after the sending ---------------------------------------------------------------------


def _reconcile_unknown(
    session: EngineSession,
    triggers: TriggerPlan,
    slots: list[Outcome | None],
    on_handle: Callable[[RunHandle], None] | None,
) -> None:
    """Replace each unknown outcome by the run it started, or keep it with the verdict."""
    lost = {
        slot.attempt_id: index
        for index, slot in enumerate(slots)
        if isinstance(slot, SweepFailure) and slot.outcome_unknown and slot.attempt_id
    }
    if not lost:
        return
    try:
        verdicts = session.reconcile(list(lost), wait=True)
    except (JobmagicError, KeyboardInterrupt):
        return  # still unknown: %job_runs --reconcile can look again
    for verdict in verdicts:
        index = lost[verdict.attempt_id]
        failure = slots[index]
        assert isinstance(failure, SweepFailure)
        if verdict.run is None:
            slots[index] = replace(failure, verdict=verdict)
            continue
        handle = _handle(session, triggers, index, triggers.resolved.with_ids(verdict.run), None)
        slots[index] = handle
        if on_handle is not None:
            on_handle(handle)


def _unknown_id(session: EngineSession, error: NotFoundError, target: Target) -> NotFoundError:
    """The 404 of a trigger by id, with the closest ids of the jobs there are."""
    wanted = target.application_id or target.deployment_id or ""
    try:
        apps = session.client.list_apps(limit=1000)
    except JobmagicError:
        return error  # best effort: the 404 says enough without suggestions
    ids = {
        (app.id if target.application_id else app.deployment_id) or "": app.fqn or app.name
        for app in apps
    }
    near = difflib.get_close_matches(wanted, [i for i in ids if i], n=3, cutoff=0.6)
    if not near:
        return error
    kind = "--application-id" if target.application_id else "--deployment-id"
    options = " or ".join(f"{kind} {i} ({ids[i]})" for i in near)
    return NotFoundError(
        f"{error} No job has the id {wanted!r}; did you mean {options}?",
        status_code=error.status_code,
        method=error.method,
        path=error.path,
        server_message=error.server_message,
    )


def run_sweep(
    session: EngineSession,
    resolved: ResolvedTarget,
    param_sets: Sequence[Mapping[str, str]],
    *,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    concurrency: int = 8,
    on_handle: Callable[[RunHandle], None] | None = None,
    rerun_of: Sequence[str | None] | None = None,
) -> SweepResult:
    """Trigger one run per params mapping, ``concurrency`` at a time; never raises per run
    (bad input is refused for the whole sweep before anything is sent).

    :func:`plan` then :func:`start`; ``rerun_of``, parallel to ``param_sets``, names the run
    each one repeats (for the ledger). Ctrl-C stops sending new triggers; the ones in flight
    are settled and kept. Triggers whose outcome is unknown are then looked for on the
    server: a run found becomes a handle like any other; the rest stay failures, with the
    verdict.
    """
    triggers = plan(resolved, param_sets, command=command, alias=alias, rerun_of=rerun_of)
    return start(session, triggers, concurrency=concurrency, on_handle=on_handle)


def _again(
    session: EngineSession,
    resolved: ResolvedTarget,
    command: str | Sequence[str] | None,
    alias: str | None,
    param_sets: Sequence[Mapping[str, str]],
    rerun_of: Sequence[str | None],
    concurrency: int,
) -> SweepResult:
    """A sweep's :meth:`SweepResult.rerun_failed`: the same target, command and alias."""
    return run_sweep(
        session,
        resolved,
        param_sets,
        command=command,
        alias=alias,
        concurrency=concurrency,
        rerun_of=rerun_of,
    )
