"""The two drivers of :func:`jobmagic.domain.steps.steps`: one run inline in the caller's
thread with the session's client; many on an event loop in a worker thread with the async
client, ``concurrency`` in flight — a notebook's kernel already runs a loop in the main
thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from jobmagic.domain.handle import RunHandle
from jobmagic.domain.plan import EngineSession, TriggerPlan
from jobmagic.domain.steps import Outcome
from jobmagic.domain.steps import steps as run_steps
from jobmagic.domain.sweeps import STOPS_A_SWEEP, SweepFailure
from jobmagic.errors import JobmagicError

__all__ = ["LoopWriter", "run_concurrently", "run_inline"]


def run_inline(
    session: EngineSession,
    triggers: TriggerPlan,
    slots: list[Outcome | None],
    on_handle: Callable[[RunHandle], None] | None,
) -> None:
    """One run, in this thread, with the session's client. Ctrl-C is not caught: an attempt
    it leaves pending is settled later by ``%job_runs --reconcile``."""
    client = session.client
    steps = run_steps(session, triggers, 0, client.host, inline=True)
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


def run_concurrently(
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
    from jobmagic.api import AsyncJobsClient

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
    writer = LoopWriter(session, asyncio.get_running_loop())
    host = clients[0].host
    pending = iter(range(len(triggers)))  # shared by the lanes, in trigger order
    broken: list[BaseException] = []
    stopped: list[JobmagicError] = []

    async def one(client: AsyncJobsClient, index: int) -> None:
        steps = run_steps(session, triggers, index, host, inline=False)
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
            if isinstance(outcome, SweepFailure) and isinstance(outcome.error, STOPS_A_SWEEP):
                stopped.append(outcome.error)  # the later triggers would fail alike

    async def lane(client: AsyncJobsClient) -> None:
        async with client:
            for index in pending:
                if cancel.is_set() or stopped:
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
    if stopped:
        for index, slot in enumerate(slots):
            if slot is None:  # never begun: no attempt in the ledger, nothing sent
                slots[index] = SweepFailure(
                    dict(triggers.param_sets[index]), stopped[0], sent=False
                )


class LoopWriter:
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
