"""The server's run history, and running a run again.

``%job_runs``, the board and the DataFrames read jobmagic's own ledger; a run started from
TrueFoundry's UI, by a teammate or a schedule is only on the server. :func:`server_runs`
lists an application's runs there (newest first, the API's own filters) as handles, each
with the params it was triggered with: from the ledger when jobmagic triggered it, else read
back from its command (:func:`jobmagic.models.commands.match_command`), else none (the command
stays, and a rerun sends it again as an override).

:func:`rerun` triggers a run again — same target, same params, some changed — through the
one trigger engine (:mod:`jobmagic.runs.engine`, by :meth:`JobSession.trigger`); the ledger links
the new attempt to the run it repeats.

>>> from jobmagic.public import current_session
>>> from jobmagic.runs.session import Target
>>> first = jobmagic.trigger("sandbox:demo:train", {"lr": "0.1", "epochs": "1"})
>>> handles = server_runs(current_session(), Target(app="sandbox:demo:train"), limit=10)
>>> again = handles[0].rerun(lr="0.2")
>>> again.rerun_of == handles[0].name, again.params["lr"]
(True, '0.2')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jobmagic.errors import JobmagicError, ParamsError
from jobmagic.models import Application, JobRun, RunStatus
from jobmagic.models.commands import match_command

if TYPE_CHECKING:
    from jobmagic.ledger import LedgerEntry
    from jobmagic.runs.handle import RunHandle
    from jobmagic.runs.session import JobSession, ResolvedTarget, Target
    from jobmagic.widgets import TriggerFormView

__all__ = ["DEFAULT_LIMIT", "Sent", "recover_params", "rerun", "rerun_form", "server_runs"]

#: How many runs a server listing shows when no limit is given: a page, not the history.
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Sent:
    """What a run was triggered with, as far as can be told, and where that was learned.

    ``source`` is ``"ledger"``, ``"handle"`` (what this kernel sent), ``"command"`` (read
    back from the run's command) or ``"override"`` (params unknown: the command is resent).
    """

    params: Mapping[str, str]
    command: str | None
    source: str


def recover_params(application: Application | None, run: JobRun) -> dict[str, str] | None:
    """The params ``run`` was triggered with, read back from its command by the job's
    template; ``None`` when there is no template or command, or they do not match exactly.

    >>> app = Application(id="a", name="train", command="train.py --lr={{lr}}")
    >>> recover_params(app, JobRun(name="train-1", command="train.py --lr=0.1"))
    {'lr': '0.1'}
    """
    if application is None or not application.command or run.command is None:
        return None
    return match_command(application.command, run.command)


def sent_with(
    run: JobRun,
    application: Application | None,
    entry: LedgerEntry | None,
    *,
    params: Mapping[str, str] | None = None,
    command: str | None = None,
) -> Sent:
    """What ``run`` was triggered with: the ledger's record, else what a handle says it
    sent, else the params read back from its command, else its command as an override."""
    if entry is not None:
        return Sent(dict(entry.params), entry.command, "ledger")
    if params or command:
        return Sent(dict(params or {}), command, "handle")
    recovered = recover_params(application, run)
    if recovered is not None:
        return Sent(recovered, None, "command")
    return Sent({}, run.command, "override")


def server_runs(
    session: JobSession,
    target: Target,
    *,
    statuses: Sequence[RunStatus | str] = (),
    triggered_by: Sequence[str] = (),
    versions: Sequence[int | str] = (),
    search_prefix: str | None = None,
    since: datetime | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> list[RunHandle]:
    """An application's runs as the server lists them, newest first, as handles.

    The filters are the API's own (``status``, ``triggeredBy``, ``versionNumbers``,
    ``searchPrefix`` — a run-name prefix); ``since`` pages back no further than that moment.
    One listing, one ledger lookup, and (for a target given by id) one application lookup.
    """
    resolved = session.resolve(target)
    application_id = resolved.application_id
    if not application_id:
        raise ParamsError(
            "To list a job's runs on the server, name it by FQN, name or --application-id "
            "(a deployment id does not say which job's runs to list)."
        )
    client = session.client
    runs = client.list_runs(
        application_id,
        status=list(statuses) or None,
        limit=limit,
        page_size=min(limit or 100, 100),
        search_prefix=search_prefix,
        sort_by="startTime",
        order="desc",
        triggered_by=list(triggered_by) or None,
        version_numbers=list(versions) or None,
        created_after=since,
    )
    if limit is not None:
        runs = runs[:limit]
    application = resolved.application or _application(session, application_id)
    known = session.ledger.entries_for_runs(
        application_id, [run.name for run in runs], host=client.host
    )
    return [_handle(session, resolved, application, run, known.get(run.name)) for run in runs]


def _application(session: JobSession, application_id: str) -> Application | None:
    # The template is only needed to read params back; a listing still works without it.
    try:
        return session.client.get_app(application_id)
    except JobmagicError:
        return None


def _handle(
    session: JobSession,
    resolved: ResolvedTarget,
    application: Application | None,
    run: JobRun,
    entry: LedgerEntry | None,
) -> RunHandle:
    sent = sent_with(run, application, entry)
    # A handle's command is an override it sent; a run whose params are unknown keeps its
    # command on its JobRun (the DataFrame shows it, a rerun resends it), not as one.
    return session.handle_for(
        replace(resolved, application=resolved.application or application),
        run,
        params=sent.params,
        command=sent.command if sent.source == "ledger" else None,
        application_fqn=(entry.application_fqn if entry else None)
        or (application.fqn if application else None),
        rerun_of=entry.rerun_of if entry else None,
    )


def _target_of(handle: RunHandle) -> Target:
    """The job a handle's run belongs to, as a trigger names it: the FQN when known (it
    resolves to the active deployment and the template), else the application id."""
    from jobmagic.runs.session import Target

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


def what_was_sent(session: JobSession, handle: RunHandle) -> Sent:
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
        application = _application(session, handle.application_id)
    return sent_with(handle.run, application, entry, params=handle.params, command=handle.command)


def rerun(
    session: JobSession,
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
    from jobmagic.params import validate_params

    changed = validate_params(dict(changes or {}))
    target = _target_of(handle)
    if command is not None:
        if changed:
            raise ParamsError(
                "A command override replaces the job's command template, so params would be "
                "ignored: give either command= or param changes, not both."
            )
        return session.trigger(target, None, command=command, alias=alias, rerun_of=handle.name)
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
        return session.trigger(
            target, None, command=sent.command, alias=alias, rerun_of=handle.name
        )
    params = {**sent.params, **changed}
    return session.trigger(target, params, alias=alias, rerun_of=handle.name)


def rerun_form(session: JobSession, handle: RunHandle) -> TriggerFormView:
    """A trigger form filled with what ``handle``'s run was triggered with; Trigger reruns
    it with the values as edited (the card's "Run again")."""
    from jobmagic.models import ParamSpec
    from jobmagic.params import parse_body
    from jobmagic.widgets import TriggerFormView

    sent = what_was_sent(session, handle)
    application = handle.application
    declared = list(application.params) if application is not None else []
    names = {spec.name for spec in declared}
    # Declared params first, with the run's values; then any the run had beyond them.
    specs = [replace(spec, default=sent.params.get(spec.name, spec.default)) for spec in declared]
    specs += [ParamSpec(name, default=v) for name, v in sent.params.items() if name not in names]
    shown = {spec.name: spec.default or "" for spec in specs}

    def submit(values: Mapping[str, str] | str, command: str | None) -> Any:
        chosen = parse_body(values, {}) if isinstance(values, str) else dict(values)
        if command:
            return rerun(session, handle, command=command)
        # Only what was edited is a change: a field left as shown keeps the run's value,
        # and a declared default the run did not send is not sent now either.
        changes = {k: v for k, v in chosen.items() if shown.get(k) != v}
        return rerun(session, handle, changes)

    form = TriggerFormView(specs, on_submit=submit, title=f"Run {handle.name} again")
    if sent.command is not None:
        form.command_toggle.value = True
        form.command.value = sent.command
    return form
