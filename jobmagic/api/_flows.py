"""What each client method does, written once for both clients.

A flow is a generator that yields the :class:`ApiRequest` it needs next and
receives the decoded JSON body back (or has the request's error raised where it
yielded, to catch when a request is optional); its return value is the method's result.
:class:`JobsClient` drives flows with blocking calls and
:class:`AsyncJobsClient` with awaits, so paging, lookups and parsing exist in
exactly one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Generator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from jobmagic.api import endpoints as ep
from jobmagic.api.logs import LogCursor, LogPage
from jobmagic.errors import AmbiguousTargetError, JobmagicError, NotFoundError
from jobmagic.models import Application, JobRun, RunStatus, TriggerResult

__all__ = [
    "AmbiguousTargetError",
    "Flow",
    "find_app",
    "list_apps",
    "list_runs",
    "logs",
    "rank_apps",
    "similar_apps",
    "single",
    "trigger",
]

T = TypeVar("T")
Flow = Generator[ep.ApiRequest, Any, T]


def single(request: ep.ApiRequest, parse: Any) -> Flow[Any]:
    """The flow of a method that is one request and one parse."""
    body = yield request
    return parse(body)


def trigger(request: ep.ApiRequest) -> Flow[TriggerResult]:
    """Send a trigger built (and checked) by :func:`ep.trigger`; the run it started."""
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


def list_apps(
    *, name_search: str | None = None, workspace_fqn: str | None = None, limit: int = 100
) -> Flow[list[Application]]:
    """One page of jobs, optionally those whose name contains ``name_search`` or in one
    workspace (``cluster:workspace``)."""
    body = yield ep.find_apps(name_search=name_search, workspace_fqn=workspace_fqn, limit=limit)
    return ep.parse_apps(body)


def find_app(target: str) -> Flow[Application]:
    """An application by FQN (``cluster:workspace:app``) or by plain name.

    When there is none, the error names the closest jobs there are ("did you mean").
    """
    is_fqn = ":" in target
    request = ep.find_apps(fqn=target) if is_fqn else ep.find_apps(name=target, limit=20)
    body = yield request
    apps = ep.parse_apps(body)
    if is_fqn:
        apps = [a for a in apps if a.fqn == target] or apps
    if not apps:
        kind = "FQN" if is_fqn else "name"
        near = yield from similar_apps(target)
        hint = (
            f"; did you mean {' or '.join(repr(n) for n in near)}?"
            if near
            else ". Check the spelling (FQNs look like cluster:workspace:app), or pass "
            "--application-id / --deployment-id."
        )
        raise NotFoundError(
            f"No job with the {kind} {target!r} on this host{hint}",
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


def similar_apps(target: str, *, n: int = 3) -> Flow[list[str]]:
    """The FQNs (else names) of up to ``n`` jobs most like ``target``, best first.

    Asks the server for jobs whose name contains the target's last part (a typo in the
    cluster or workspace), then for the target's workspace (a typo in the name), then for
    any job (a page of them); difflib ranks, and the first search with a close match wins.
    Best effort: a failed request gives no suggestions rather than hiding the "not found"
    behind another error.
    """
    last = target.rsplit(":", 1)[-1].strip()
    workspace = target.rsplit(":", 1)[0] if target.count(":") == 2 else None
    searches = [ep.find_apps(name_search=last, limit=ep.MAX_PAGE_SIZE)] if last else []
    if workspace:
        searches.append(ep.find_apps(workspace_fqn=workspace, limit=ep.MAX_PAGE_SIZE))
    searches.append(ep.find_apps(limit=ep.MAX_PAGE_SIZE))
    for request in searches:
        try:
            apps = ep.parse_apps((yield request))
        except JobmagicError:
            return []
        near = rank_apps(target, apps, n=n)
        if near:
            return near
    return []


#: How alike (difflib's ratio, 0-1) a job's name must be to a misspelt target's to be offered.
_CLOSE = 0.6


def rank_apps(target: str, apps: Sequence[Application], *, n: int = 3) -> list[str]:
    """The labels (FQN, else name) of the ``apps`` most like ``target``, best first.

    An FQN is compared part by part, so the ``cluster:workspace:`` that most FQNs share
    does not make every job look alike; the same name in another workspace is offered too.

    >>> apps = [Application(id="1", name="hello", fqn="sandbox:demo:hello"),
    ...         Application(id="2", name="train", fqn="sandbox:demo:train")]
    >>> rank_apps("sandbox:demo:helo", apps), rank_apps("trian", apps)
    (['sandbox:demo:hello'], ['sandbox:demo:train'])
    """
    head, _, last = target.rpartition(":")
    scored: dict[str, float] = {}
    for app in apps:
        name_score = _ratio(last, app.name)
        if head:
            head_score = _ratio(head, (app.fqn or "").rpartition(":")[0])
            close = name_score == 1.0 or min(name_score, head_score) >= _CLOSE
            score = (name_score + head_score) / 2
        else:
            score = max(name_score, _ratio(target, app.id))
            close = score >= _CLOSE
        label = app.fqn or app.name
        if close and score > scored.get(label, -1.0):
            scored[label] = score
    if not scored:
        return []
    # Only those nearly as close as the best: ids sharing a long prefix all look alike.
    best = max(scored.values())
    near = [label for label, score in scored.items() if score >= best - 0.1]
    return sorted(near, key=lambda label: (-scored[label], label))[:n]


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio() if a and b else 0.0


def logs(
    application_id: str,
    run_name: str,
    *,
    since: datetime | int | LogCursor | None,
    limit: int | None,
    tail: bool,
    search: str | None,
    budget: int | None = None,
) -> Flow[LogPage]:
    """One page of a run's logs, oldest first: from ``since`` (a moment, or a page's
    :attr:`LogPage.next` to go on after it), or with ``tail`` the newest ``limit`` lines;
    with ``budget``, only as many of them as hold that many characters (at least one)."""
    cursor = since if isinstance(since, LogCursor) or since is None else ep.log_cursor(since)
    request = ep.logs(
        application_id,
        run_name,
        since=cursor.time_ns if cursor is not None else None,
        limit=limit,
        direction="desc" if tail else None,
        search=search,
        skip=cursor.skip if cursor is not None else 0,
        max_chars=budget,
    )
    body = yield request
    lines = ep.parse_logs(body)
    if tail:
        # Asked newest-first to get a tail; shown oldest-first as a terminal would.
        lines.reverse()
    return LogPage(lines, since=cursor, limit=limit, tail=tail, cut=ep.logs_cut(body))
