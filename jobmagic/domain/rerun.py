"""Running a run again: same job, same params (or command), some changed, through the one
trigger engine; the ledger links the new attempt to the run it repeats.

What a run was triggered with comes from the ledger when jobmagic triggered it, else from
what its handle says it sent, else it is read back from its command by the job's template
(:func:`jobmagic.domain.server_history.sent_with`), else its command is resent as an override.

>>> first = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "1"})
>>> fields = rerun_fields(first.session, first)
>>> [(spec.name, spec.default) for spec in fields.specs], fields.command
([('lr', '0.1'), ('epochs', '1')], None)
>>> again = rerun(first.session, first, {"lr": "0.2"})
>>> again.rerun_of == first.name, again.params["lr"]
(True, '0.2')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from jobmagic.domain import engine
from jobmagic.domain.engine import EngineSession
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.server_history import Sent, application_of, sent_with
from jobmagic.domain.target import Target
from jobmagic.errors import JobmagicError, ParamsError
from jobmagic.models import ParamSpec

__all__ = ["RerunFields", "rerun", "rerun_fields", "what_was_sent"]


@dataclass(frozen=True)
class RerunFields:
    """What a "Run again" form shows: the job's declared params (each with the run's value
    as its default) then any other param the run had, and its command when it ran one."""

    specs: tuple[ParamSpec, ...]
    command: str | None

    @property
    def values(self) -> dict[str, str]:
        """Each field's value as shown."""
        return {spec.name: spec.default or "" for spec in self.specs}


def _target_of(handle: RunHandle) -> Target:
    """The job a handle's run belongs to, as a trigger names it: the FQN when known (it
    resolves to the active deployment and the template), else the application id."""
    fqn = handle.application.fqn if handle.application is not None else None
    fqn = fqn or handle.application_fqn
    if fqn and ":" in fqn:
        return Target(app=fqn)
    if handle.application_id:
        return Target(application_id=handle.application_id)
    if handle.deployment_id:
        return Target(deployment_id=handle.deployment_id)
    raise JobmagicError(
        f"The job of run {handle.name} is unknown, so it cannot be run again. Attach it with "
        "`%job_run NAME --app TARGET` and try again."
    )


def what_was_sent(session: EngineSession, handle: RunHandle) -> Sent:
    """What ``handle``'s run was triggered with (see :func:`sent_with`); reads the ledger,
    and the job's template when the params must be read back from the command."""
    entry = None
    if handle.application_id:
        entry = session.ledger.entries_for_runs(
            handle.application_id, [handle.name], host=session.host
        ).get(handle.name)
    application = handle.application
    unknown = entry is None and not (handle.params or handle.command)
    if unknown and application is None and handle.application_id:
        application = application_of(session.client, handle.application_id)
    return sent_with(handle.run, application, entry, params=handle.params, command=handle.command)


def rerun(
    session: EngineSession,
    handle: RunHandle,
    changes: Mapping[str, str] | None = None,
    *,
    command: str | None = None,
    alias: str | None = None,
) -> RunHandle:
    """Trigger ``handle``'s job again with the params its run had, updated by ``changes``
    (or with ``command`` instead); returns the new run's handle.

    A run whose params are unknown (its command did not match the template) is rerun with
    its command as an override; changing a param of such a run is refused, with the fix.
    """
    # Deferred: the params package loads PyYAML, which a session does not need until then.
    from jobmagic.params import validate_params

    changed = validate_params(dict(changes or {}))
    target = _target_of(handle)
    if command is not None:
        if changed:
            raise ParamsError(
                "A command override replaces the job's command template, so params would be "
                "ignored: give either command= or param changes, not both."
            )
        return engine.trigger(
            session, target, None, command=command, alias=alias, rerun_of=handle.name
        )
    sent = what_was_sent(session, handle)
    if sent.command is not None:
        if changed:
            name = next(iter(changed))
            why = (
                "its params could not be read back from its command"
                if sent.source == "override"
                else "it ran a command override"
            )
            raise ParamsError(
                f"Cannot change {name!r} of run {handle.name}: {why} ({sent.command!r}). Give "
                "the whole command instead: rerun(command='…')."
            )
        return engine.trigger(
            session, target, None, command=sent.command, alias=alias, rerun_of=handle.name
        )
    params = {**sent.params, **changed}
    return engine.trigger(session, target, params, alias=alias, rerun_of=handle.name)


def rerun_fields(session: EngineSession, handle: RunHandle) -> RerunFields:
    """The fields of ``handle``'s "Run again" form: what its run was triggered with."""
    sent = what_was_sent(session, handle)
    application = handle.application
    declared = list(application.params) if application is not None else []
    names = {spec.name for spec in declared}
    # Declared params first, with the run's values; then any the run had beyond them.
    specs = [replace(spec, default=sent.params.get(spec.name, spec.default)) for spec in declared]
    specs += [ParamSpec(name, default=v) for name, v in sent.params.items() if name not in names]
    return RerunFields(tuple(specs), sent.command)
