"""What each client method does, written once for both clients.

A flow is a generator that yields the :class:`ApiRequest` it needs next and
receives the decoded JSON body back; its return value is the method's result.
:class:`JobsClient` drives flows with blocking calls and
:class:`AsyncJobsClient` with awaits, so paging, lookups and parsing exist in
exactly one place.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from jobmagic.api import _endpoints as ep
from jobmagic.api._errors import JobmagicError, NotFoundError
from jobmagic.models import Application, JobRun, LogLine, RunStatus, TriggerResult

T = TypeVar("T")
Flow = Generator[ep.ApiRequest, Any, T]


class AmbiguousTargetError(JobmagicError):
    """An application name matched several applications; an FQN picks one."""


def single(request: ep.ApiRequest, parse: Any) -> Flow[Any]:
    """The flow of a method that is one request and one parse."""
    body = yield request
    return parse(body)


def trigger(
    *,
    application_id: str | None,
    deployment_id: str | None,
    command: str | Sequence[str] | None,
    params: Mapping[str, str] | None,
    alias: str | None,
) -> Flow[TriggerResult]:
    request = ep.trigger(
        application_id=application_id,
        deployment_id=deployment_id,
        command=command,
        params=params,
        alias=alias,
    )
    body = yield request
    return ep.parse_trigger(body)


def list_runs(
    application_id: str,
    *,
    limit: int | None,
    page_size: int,
    status: Sequence[RunStatus | str] | None,
    search_prefix: str | None,
    sort_by: str | None,
    order: str | None,
    triggered_by: Sequence[str] | None,
    created_after: datetime | None = None,
    version_numbers: Sequence[int | str] | None = None,
) -> Flow[list[JobRun]]:
    """Every page until ``limit`` runs, the server's total, or an empty page.

    With ``created_after``, runs are asked newest first and paging stops at the first run
    created before that moment, so a look at the last minutes costs a page, not the history.
    """
    if created_after is not None:
        sort_by, order = "startTime", "desc"
    runs: list[JobRun] = []
    page_size = max(1, min(page_size, ep.MAX_PAGE_SIZE))
    while limit is None or len(runs) < limit:
        want = page_size if limit is None else min(page_size, limit - len(runs))
        body = yield ep.list_runs(
            application_id,
            limit=want,
            offset=len(runs),
            status=status,
            search_prefix=search_prefix,
            sort_by=sort_by,
            order=order,
            triggered_by=triggered_by,
            version_numbers=version_numbers,
        )
        page, total = ep.parse_runs_page(body)
        runs.extend(page)
        if len(page) < want or (total is not None and len(runs) >= total):
            break
        if created_after is not None and _created_before(page[-1], created_after):
            break
    if created_after is not None:
        runs = [run for run in runs if not _created_before(run, created_after)]
    return runs


def _created_before(run: JobRun, moment: datetime) -> bool:
    # A run with no creation time cannot be placed: kept, as the server listed it.
    return run.created_at is not None and run.created_at < moment


def find_app(target: str) -> Flow[Application]:
    """An application by FQN (``cluster:workspace:app``) or by plain name."""
    is_fqn = ":" in target
    request = ep.find_apps(fqn=target) if is_fqn else ep.find_apps(name=target, limit=20)
    body = yield request
    apps = ep.parse_apps(body)
    if is_fqn:
        apps = [a for a in apps if a.fqn == target] or apps
    if not apps:
        kind = "FQN" if is_fqn else "name"
        raise NotFoundError(
            f"No job with the {kind} {target!r} on this host. "
            "Check the spelling (FQNs look like cluster:workspace:app), or pass "
            "--application-id / --deployment-id.",
            status_code=404,
            method="GET",
            path=request.url_path,
        )
    if len(apps) > 1:
        fqns = ", ".join(sorted(a.fqn or a.id for a in apps)[:5])
        raise AmbiguousTargetError(
            f"{len(apps)} jobs are named {target!r} ({fqns}). Use the FQN to pick one."
        )
    return apps[0]


def logs(
    application_id: str,
    run_name: str,
    *,
    since: datetime | int | None,
    limit: int | None,
    direction: str | None,
    search: str | None,
) -> Flow[list[LogLine]]:
    request = ep.logs(
        application_id, run_name, since=since, limit=limit, direction=direction, search=search
    )
    body = yield request
    lines = ep.parse_logs(body)
    # Asked newest-first to get a tail; shown oldest-first as a terminal would.
    return lines[::-1] if direction == "desc" else lines
