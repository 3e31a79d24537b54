"""What a trigger will send, built and checked before anything is written or sent.

:func:`plan` builds every request through the request builder
:func:`jobmagic.api.endpoints.trigger` — the one place trigger input is checked, against the
params the job declares when its target was looked up — so bad input is refused before the
ledger or the server sees anything, and a dry run shows exactly these requests.
:class:`EngineSession` is what the engine needs of a session.

>>> from jobmagic.public import current_session
>>> from jobmagic.domain.target import Target
>>> triggers = plan_for(current_session(), Target("sandbox:demo:train"), [{"lr": "0.1"}])
>>> triggers.requests[0].json["input"]["params"]
{'lr': '0.1'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

from jobmagic.api import endpoints as ep
from jobmagic.domain.target import ResolvedTarget, Target
from jobmagic.errors import ParamsError

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.config import Credentials, Settings
    from jobmagic.domain.handle import RunHandle
    from jobmagic.domain.reconcile import Verdict
    from jobmagic.ledger import Ledger, SweepRecord
    from jobmagic.models import JobRun

__all__ = ["EngineSession", "TriggerPlan", "looked_up_again", "plan", "plan_for"]


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
        sweep: str | None = None,
    ) -> RunHandle: ...

    def reconcile(
        self, attempts: Iterable[int] | None = None, *, wait: bool = False
    ) -> list[Verdict]: ...


@dataclass(frozen=True)
class TriggerPlan:
    """The requests a trigger will send, built and checked; nothing is written or sent yet.

    ``param_sets``, ``requests`` and ``rerun_of`` are parallel: one entry per run.
    ``sweep`` is the ledger's record of the sweep the runs belong to, if any.
    """

    resolved: ResolvedTarget
    param_sets: tuple[Mapping[str, str], ...]
    requests: tuple[ep.ApiRequest, ...]
    command: str | Sequence[str] | None = None
    alias: str | None = None
    rerun_of: tuple[str | None, ...] = ()
    sweep: SweepRecord | None = None

    def __len__(self) -> int:
        return len(self.requests)


def plan(
    resolved: ResolvedTarget,
    param_sets: Sequence[Mapping[str, str] | None],
    *,
    command: str | Sequence[str] | None = None,
    alias: str | None = None,
    rerun_of: Sequence[str | None] | None = None,
    sweep: SweepRecord | None = None,
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
    return TriggerPlan(resolved, chosen, requests, command, alias, repeats, sweep)


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


def looked_up_again(session: EngineSession, triggers: TriggerPlan) -> TriggerPlan:
    """The same runs planned against a fresh lookup of their target."""
    target = triggers.resolved.target
    session.forget_target(target)
    return plan(
        session.resolve(target),
        triggers.param_sets,
        command=triggers.command,
        alias=triggers.alias,
        rerun_of=triggers.rerun_of,
        sweep=triggers.sweep,
    )
