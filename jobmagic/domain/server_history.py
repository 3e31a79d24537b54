"""The server's run history, and running a run again.

``%job_runs``, the board and the DataFrames read jobmagic's own ledger; a run started from
TrueFoundry's UI, by a teammate or a schedule is only on the server. :func:`server_runs`
lists an application's runs there (newest first, the API's own filters) as handles, each
with the params it was triggered with: from the ledger when jobmagic triggered it, else read
back from its command (:func:`jobmagic.models.commands.match_command`), else none (the command
stays, and a rerun sends it again as an override).

Running a run again is :mod:`jobmagic.domain.rerun`'s.

>>> from jobmagic.public import current_session
>>> from jobmagic.domain.session import Target
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
from typing import TYPE_CHECKING

from jobmagic.errors import JobmagicError, ParamsError
from jobmagic.models import Application, JobRun, RunStatus
from jobmagic.models.commands import match_command

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.domain.handle import RunHandle
    from jobmagic.domain.session import JobSession
    from jobmagic.domain.target import ResolvedTarget, Target
    from jobmagic.ledger import LedgerEntry

__all__ = [
    "DEFAULT_LIMIT",
    "Sent",
    "application_of",
    "recorded_handle",
    "recover_params",
    "sent_with",
    "server_runs",
]

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
    application = resolved.application or application_of(session.client, application_id)
    known = session.ledger.entries_for_runs(
        application_id, [run.name for run in runs], host=client.host
    )
    return [
        recorded_handle(session, resolved, application, run, known.get(run.name)) for run in runs
    ]


def application_of(client: JobsClient, application_id: str) -> Application | None:
    """The application, or None when it cannot be had: its template is only needed to read
    params back, and a listing still works without it."""
    try:
        return client.get_app(application_id)
    except JobmagicError:
        return None


def recorded_handle(
    session: JobSession,
    resolved: ResolvedTarget,
    application: Application | None,
    run: JobRun,
    entry: LedgerEntry | None,
) -> RunHandle:
    """A handle of ``run`` that says what it was triggered with: the ledger's ``entry`` (its
    params, override, FQN and "rerun of" tag), else the params read back from its command by
    ``application``'s template (what a listing and an attach of someone else's run show)."""
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
