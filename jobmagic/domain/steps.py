"""One run's ledger-first sequence, written once for both drivers
(:mod:`jobmagic.domain.drivers`): write the attempt (committed with ``BEGIN IMMEDIATE``), send
it once, settle the outcome (acknowledged, rejected or unknown), accept the run as a handle.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING, Any

from jobmagic.api import endpoints as ep
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.plan import EngineSession, TriggerPlan
from jobmagic.domain.sweeps import SweepFailure
from jobmagic.domain.target import command_text
from jobmagic.errors import JobmagicError, TriggerOutcomeUnknown

if TYPE_CHECKING:
    from jobmagic.models import JobRun, TriggerResult

__all__ = ["Outcome", "Step", "handle_of", "steps"]

#: What one run's trigger came to: its handle, or why it did not start.
Outcome = RunHandle | SweepFailure
#: A step of :func:`steps`: the request to send, or a ledger write to run.
Step = ep.ApiRequest | Callable[[], Any]


def steps(
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
        sweep=triggers.sweep.name if triggers.sweep is not None else None,
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
    return handle_of(session, triggers, index, run, host)


def handle_of(
    session: EngineSession, triggers: TriggerPlan, index: int, run: JobRun, host: str | None
) -> RunHandle:
    return session.handle_for(
        triggers.resolved,
        run,
        params=triggers.param_sets[index],
        command=triggers.command,
        host=host,
        rerun_of=triggers.rerun_of[index],
        sweep=triggers.sweep.name if triggers.sweep is not None else None,
    )
