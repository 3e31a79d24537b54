"""What ``%job_runs`` lists: a ledger query over this session's (or every) attempt, with the
live runs it may show brought up to date first, so the listing and its status filter read
fresh statuses (the ledger keeps them).

>>> run = jobmagic.trigger("sandbox:demo:hello", {"name": "Ada"})
>>> from jobmagic.public import current_session
>>> query = listing_query(current_session(), statuses=("FINISHED",), everything=True)
>>> query.statuses
('FINISHED',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from jobmagic.domain.refresh import refresh_runs
from jobmagic.errors import NotFoundError
from jobmagic.ledger import LedgerQuery
from jobmagic.models import RunStatus

if TYPE_CHECKING:
    from jobmagic.domain.session import JobSession
    from jobmagic.ledger import LedgerEntry

__all__ = ["LIVE_STATUS_VALUES", "listing_query", "refresh_entries"]

#: The ledger's status values of runs that can still change.
LIVE_STATUS_VALUES = tuple(str(status.value) for status in RunStatus if not status.is_terminal)


def listing_query(
    session: JobSession,
    *,
    statuses: Sequence[str] = (),
    everything: bool = False,
    app: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    stored: bool = False,
    strict: bool = False,
    sweep: str | None = None,
) -> LedgerQuery:
    """The query ``%job_runs`` shows: this session's attempts (``everything``, or a
    ``sweep``'s: all of them) matching the filters. Unless ``stored``, the live runs it may
    show are refreshed first (:func:`refresh_entries`); ``strict`` fails when the server
    cannot be asked."""
    wanted = tuple(sorted(set(statuses))) or None
    query = LedgerQuery(
        session_id=None if everything or sweep else session.session_id,
        app=app or None,
        since=since,
        limit=limit,
        sweep=sweep,
    )
    if not stored:
        ledger = session.ledger
        if wanted or limit is None:
            # Every live run that is listed, or may come to match the status filter (an
            # ended run keeps its status); found through the status index.
            live = ledger.page(replace(query, statuses=LIVE_STATUS_VALUES, limit=None), size=None)
        else:
            # Only what will be shown: the newest ``limit`` runs.
            live = [e for e in ledger.page(query, size=None) if e.run and not e.run.is_terminal]
        refresh_entries(session, live, strict=strict)
    return replace(query, statuses=wanted)


def refresh_entries(
    session: JobSession, entries: Sequence[LedgerEntry], *, strict: bool = True
) -> list[LedgerEntry]:
    """The entries' live runs brought up to date (:func:`jobmagic.domain.refresh.refresh_runs`);
    the ledger keeps what is learnt. Returns the entries, with fresh runs where they changed.

    An application the server no longer knows (deleted, or another host's) keeps its stored
    statuses; so does one the server could not be asked about, unless ``strict``.
    """
    live = [
        replace(e.run, application_id=e.run.application_id or e.application_id)
        for e in entries
        if e.run is not None and not e.run.is_terminal and e.application_id and e.run_name
    ]
    fresh = refresh_runs(session.client, live)
    if strict:
        for error in fresh.failed.values():
            if not isinstance(error, NotFoundError):
                raise error
    changed = fresh.changed(live)
    if changed:
        session.ledger.update_runs(changed)
    # Only the entries that changed are copied (the listing may hold 100,000).
    return [
        replace(e, run=fresh.runs[key])
        if (key := (e.application_id or "", e.run_name or "")) in fresh.runs
        else e
        for e in entries
    ]
