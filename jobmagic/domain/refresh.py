"""Bring runs up to date: the one way the tracker, ``SweepResult.refresh`` and ``%job_runs``
(and the Runs panel's server) learn what became of runs they know.

Per application, the fewest requests that find every wanted run, whatever its age:

1. one page of the application's newest runs (enough to hold the wanted ones);
2. the wanted runs still missing, among its live runs: one listing however many newer runs
   came after them (a board's page while a sweep adds hundreds of runs);
3. more than :data:`FEW_MISSING` still missing (they ended since): one page reaching back to
   the oldest of them;
4. the few left (older than any page): asked for by name, at most ``by_name_limit``.

>>> from jobmagic.models import JobRun
>>> wanted = [JobRun(name="train-a", application_id="app-1")]
>>> sorted(by_application(wanted))
['app-1']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from jobmagic.errors import JobmagicError, NotFoundError
from jobmagic.models import JobRun, RunStatus

if TYPE_CHECKING:
    from jobmagic.api import JobsClient

__all__ = [
    "FEW_MISSING",
    "LIVE_STATUSES",
    "REACH_BACK",
    "Refreshed",
    "by_application",
    "latest_runs",
    "refresh_app",
    "refresh_runs",
]

#: Up to this many wanted runs missing from the newest page and the live runs (they ended)
#: are asked for by name; more are looked for first in one page of up to :data:`REACH_BACK`.
FEW_MISSING = 4
#: The most runs that one reach-back page lists: one request, however old the runs.
REACH_BACK = 1000
#: How far before the oldest missing run's creation the listing reaches: server clock skew.
LISTING_MARGIN = timedelta(minutes=5)
#: The statuses a run can leave: what the live listing asks for.
LIVE_STATUSES = tuple(status for status in RunStatus if not status.is_terminal)


def latest_runs(client: JobsClient, app_id: str, names: Iterable[str]) -> list[JobRun]:
    """One list call: an application's newest runs, enough of them to cover ``names``."""
    # No status filter: a filter on live states would hide the very change to
    # FINISHED or FAILED that cards and ``%job_runs --refresh`` look for.
    count = len(set(names))
    return client.list_runs(
        app_id,
        limit=min(1000, max(100, 2 * count)),
        page_size=1000,
        sort_by="startTime",
        order="desc",
    )


def by_application(runs: Iterable[JobRun]) -> dict[str, list[JobRun]]:
    """The runs whose application is known, grouped by it (first-seen order)."""
    groups: dict[str, list[JobRun]] = {}
    for run in runs:
        if run.application_id and run.name:
            groups.setdefault(run.application_id, []).append(run)
    return groups


def refresh_app(
    client: JobsClient,
    app_id: str,
    wanted: Sequence[JobRun],
    *,
    by_name_limit: int | None = None,
    rotation: int = 0,
    stopped: Callable[[], bool] = lambda: False,
    listed: Callable[[list[JobRun]], None] | None = None,
) -> dict[str, JobRun]:
    """The latest state of each of ``wanted`` (runs of one application), by name.

    A run the server no longer has is left out. ``by_name_limit`` caps step 4 (the tracker
    asks for a few per tick, starting at ``rotation`` so every run gets its turn); ``stopped``
    cuts the work short (a shutdown); ``listed`` hears the newest page (the tracker's metrics
    look at it).
    """
    names = {run.name for run in wanted}
    page = latest_runs(client, app_id, names)
    if listed is not None:
        listed(page)
    found = {run.name: run for run in page if run.name in names}
    missing = [run for run in wanted if run.name not in found]
    if missing and not stopped():
        live = client.list_runs(
            app_id, status=LIVE_STATUSES, limit=REACH_BACK, page_size=REACH_BACK
        )
        found.update({run.name: run for run in live if run.name in names})
        missing = [run for run in wanted if run.name not in found]
    if len(missing) > FEW_MISSING and not stopped():
        created = [run.created_at for run in missing if run.created_at is not None]
        if created:
            back = client.list_runs(
                app_id,
                limit=REACH_BACK,
                page_size=REACH_BACK,
                created_after=min(created) - LISTING_MARGIN,
            )
            found.update({run.name: run for run in back if run.name in names})
            missing = [run for run in wanted if run.name not in found]
    left = list(dict.fromkeys(run.name for run in missing))
    if left:
        start = rotation % len(left)
        left = left[start:] + left[:start]
    for name in left[:by_name_limit] if by_name_limit is not None else left:
        if stopped():
            break  # a request each would hold up shutdown; nobody is listening
        try:
            found[name] = client.get_run(app_id, name)
        except NotFoundError:
            continue  # deleted on the server: it keeps what was last known of it
    return found


@dataclass
class Refreshed:
    """What :func:`refresh_runs` learnt: fresh runs by (application id, name), and the
    applications it could not ask about, with why."""

    runs: dict[tuple[str, str], JobRun] = field(default_factory=dict)
    failed: dict[str, JobmagicError] = field(default_factory=dict)

    def changed(self, known: Iterable[JobRun]) -> list[JobRun]:
        """The fresh runs that differ from ``known`` (what the ledger should store)."""
        before = {(run.application_id, run.name): run for run in known}
        return [run for key, run in self.runs.items() if before.get(key) != run]


def refresh_runs(client: JobsClient, runs: Iterable[JobRun]) -> Refreshed:
    """The latest state of every run whose application is known: :func:`refresh_app` per
    application. An application that cannot be asked about (deleted, another host's, the
    server down) is named in ``failed``; its runs keep what was known of them."""
    result = Refreshed()
    for app_id, wanted in by_application(runs).items():
        try:
            fresh = refresh_app(client, app_id, wanted)
        except JobmagicError as exc:
            result.failed[app_id] = exc
            continue
        for name, run in fresh.items():
            result.runs[(app_id, name)] = run
    return result
