"""The one trigger engine: every run jobmagic starts, one or many, goes through here.

A single run is a sweep of one. :func:`plan` builds every request first
(:mod:`jobmagic.domain.plan`: bad input is refused before the ledger or the server sees
anything); :func:`start` then runs, for each request, the ledger-first sequence written once
(:mod:`jobmagic.domain.steps`) with one of two drivers (:mod:`jobmagic.domain.drivers`).
Unknown outcomes are then looked for on the server, never re-sent.

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

import difflib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from jobmagic.domain.drivers import run_concurrently, run_inline
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.plan import EngineSession, TriggerPlan, looked_up_again, plan, plan_for
from jobmagic.domain.steps import Outcome, handle_of
from jobmagic.domain.sweep_store import record_objective
from jobmagic.domain.sweeps import SweepFailure, SweepResult
from jobmagic.domain.target import ResolvedTarget, Target
from jobmagic.errors import ConflictError, JobmagicError, NotFoundError
from jobmagic.ledger import SweepRecord

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
        triggers = looked_up_again(session, triggers)
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
    sweep = triggers.sweep
    result = SweepResult(
        session=session,
        again=partial(_again, session, triggers.resolved, triggers.command, triggers.alias, sweep),
        concurrency=concurrency,
        name=sweep.name if sweep is not None else None,
        objective=record_objective(sweep),
    )
    slots: list[Outcome | None] = [None] * len(triggers)
    started = time.perf_counter()
    if len(triggers) == 1:
        run_inline(session, triggers, slots, on_handle)
    elif triggers.requests:
        result.interrupted = run_concurrently(session, triggers, slots, concurrency, on_handle)
    if reconcile_unknown and not result.interrupted:
        _reconcile_unknown(session, triggers, slots, on_handle)
    result.elapsed = time.perf_counter() - started
    for slot in slots:
        if isinstance(slot, RunHandle):
            result.handles.append(slot)
        elif isinstance(slot, SweepFailure):
            result.failures.append(slot)
    return result


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
        handle = handle_of(session, triggers, index, triggers.resolved.with_ids(verdict.run), None)
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
    sweep: SweepRecord | None = None,
) -> SweepResult:
    """Trigger one run per params mapping, ``concurrency`` at a time; never raises per run
    (bad input is refused for the whole sweep before anything is sent).

    :func:`plan` then :func:`start`; ``rerun_of``, parallel to ``param_sets``, names the run
    each one repeats (for the ledger); each attempt belongs to ``sweep`` (opened with
    :func:`jobmagic.domain.sweep_store.open_sweep`). Ctrl-C stops sending new triggers; the
    ones in flight are settled and kept. Triggers whose outcome is unknown are then looked
    for on the server: a run found becomes a handle like any other; the rest stay failures,
    with the verdict.
    """
    triggers = plan(
        resolved, param_sets, command=command, alias=alias, rerun_of=rerun_of, sweep=sweep
    )
    return start(session, triggers, concurrency=concurrency, on_handle=on_handle)


def _again(
    session: EngineSession,
    resolved: ResolvedTarget,
    command: str | Sequence[str] | None,
    alias: str | None,
    sweep: SweepRecord | None,
    param_sets: Sequence[Mapping[str, str]],
    rerun_of: Sequence[str | None],
    concurrency: int,
) -> SweepResult:
    """A sweep's :meth:`SweepResult.rerun_failed`: the same target, command and alias, and
    the same sweep (its reruns are runs of it)."""
    return run_sweep(
        session,
        resolved,
        param_sets,
        command=command,
        alias=alias,
        concurrency=concurrency,
        rerun_of=rerun_of,
        sweep=sweep,
    )
