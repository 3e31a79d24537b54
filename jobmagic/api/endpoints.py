"""The Jobs API's requests and responses, as pure data.

Each builder returns an :class:`ApiRequest` — method, path, query, JSON body
and whether it may be repeated safely — and each parser turns a decoded JSON
body into models. Neither touches the network, so the sync and async clients
share them and tests can check them without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from jobmagic.api._listreader import CUT
from jobmagic.api.logs import LogCursor
from jobmagic.errors import (
    ParamsError,
    TransportError,
    TriggerOutcomeUnknown,
    ValidationError,
)
from jobmagic.models import (
    API_PREFIX,
    Application,
    Event,
    JobRun,
    LogLine,
    ParamSpec,
    RunStatus,
    TriggerResult,
)

__all__ = ["API_PREFIX", "ApiRequest", "run_page_url"]

MAX_PAGE_SIZE = 1000

QueryItems = list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP call, described: nothing is sent by building it."""

    method: str
    path: str
    query: QueryItems = field(default_factory=list)
    json: Any = None
    # A trigger is not idempotent: repeating a POST that reached the server can
    # start a second run, so the retry policy treats it differently.
    idempotent: bool = True
    authenticated: bool = True
    # A trigger's answer decides whether a run exists: an unclear one (5xx, lost, unreadable)
    # must become TriggerOutcomeUnknown, never a plain failure that invites a retry.
    starts_run: bool = False
    # GET /logs sizes a page in lines, which can be megabytes each: its answer's list is
    # read item by item and left unread once the items hold this many characters.
    max_chars: int | None = None

    @property
    def url_path(self) -> str:
        return API_PREFIX + self.path

    @property
    def streamed(self) -> bool:
        """Whether the answer is read as it arrives (its list in part: ``max_chars``)."""
        return self.max_chars is not None


def _checked(value: str, argument: str) -> str:
    """``value`` if it can name a resource, else a ValidationError naming ``argument``.

    Percent-encoding alone is not enough: httpx (like browsers) resolves ``.`` and ``..``
    path segments, so ``get_run(app, "..")`` would reach ``/jobs/{app}`` instead. Such values
    name nothing real, so they are refused before anything is sent.
    """
    problem = _segment_problem(value)
    if problem:
        raise ValidationError(
            f"{argument}={value!r} {problem}, so it cannot name a run or an application. "
            f"Pass the {argument.replace('_', ' ')} exactly as the server gave it.",
            status_code=None,
        )
    return value


def _seg(value: str, argument: str) -> str:
    """``value`` as one URL path segment."""
    return quote(_checked(value, argument), safe="")


def _segment_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if not value.strip():
        return "is empty"
    if value in (".", ".."):
        return "is a relative path step"
    if "/" in value or "\\" in value:
        return "contains a slash"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "contains a control character"
    return None


def _ns(value: datetime | int) -> str:
    if isinstance(value, datetime):
        # Exact to the microsecond (a float of nanoseconds is not): a cursor must not move.
        moment = value if value.tzinfo else value.astimezone()  # naive is local time
        return str((moment - _EPOCH) // timedelta(microseconds=1) * 1000)
    return str(int(value))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def log_cursor(since: datetime | int) -> LogCursor:
    """The cursor of a page of logs that starts at the moment ``since`` (epoch ns if an int).

    >>> log_cursor(datetime(2026, 1, 1, tzinfo=timezone.utc))
    LogCursor(time_ns=1767225600000000000, skip=0)
    """
    return LogCursor(int(_ns(since)))


# --- builders -------------------------------------------------------------------------


def trigger(
    *,
    application_id: str | None = None,
    deployment_id: str | None = None,
    command: str | Sequence[str] | None = None,
    params: Mapping[str, str] | None = None,
    alias: str | None = None,
    declared: Sequence[ParamSpec] = (),
    job: str | None = None,
) -> ApiRequest:
    """``POST /jobs/trigger``; refuses what the API or TrueFoundry's SDK would refuse.

    The one place trigger input is checked: every trigger's request is built here before
    anything is written or sent (:mod:`jobmagic.domain.engine`). With ``declared`` (the params the
    manifest of the job ``job`` declares, once it is known), a param it does not declare is
    refused too, naming the closest declared one.
    """
    if bool(application_id) == bool(deployment_id):
        raise ParamsError(
            "Give exactly one of application_id or deployment_id "
            "(or an application FQN / name to look up)."
        )
    _check_trigger_input(command, params, declared, job)
    body: dict[str, Any] = {}
    if application_id:
        body["applicationId"] = application_id
    if deployment_id:
        body["deploymentId"] = deployment_id
    job_input: dict[str, Any] = {}
    if command is not None:
        job_input["command"] = command if isinstance(command, str) else list(command)
    if params:
        job_input["params"] = dict(params)  # strings only: checked above
    if job_input:
        body["input"] = job_input
    if alias:
        body["metadata"] = {"job_run_name_alias": alias}
    return ApiRequest("POST", "/jobs/trigger", json=body, idempotent=False, starts_run=True)


def _check_trigger_input(
    command: str | Sequence[str] | None,
    params: Mapping[str, Any] | None,
    declared: Sequence[ParamSpec],
    job: str | None,
) -> None:
    if command is not None and params:
        raise ParamsError(
            "A command override replaces the job's command template, so params would be "
            "ignored: give either a command or params, not both."
        )
    for name, value in (params or {}).items():
        if not isinstance(value, str):
            raise ParamsError(
                f"Param {name!r} is a {type(value).__name__}; the API takes strings only. "
                f"Pass {name}=str(value)."
            )
    names = [spec.name for spec in declared if spec.name]
    # A manifest that declares nothing may just not have been read: the server decides.
    unknown = [name for name in params or {} if names and name not in names]
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        known = ", ".join(names)
        raise ParamsError(
            f"{job or 'The job'} has no param {unknown[0]!r}{hint}. Its params: {known}."
        )


def list_runs(
    application_id: str,
    *,
    limit: int,
    offset: int = 0,
    status: Sequence[RunStatus | str] | None = None,
    search_prefix: str | None = None,
    sort_by: str | None = None,
    order: str | None = None,
    triggered_by: Sequence[str] | None = None,
    version_numbers: Sequence[int | str] | None = None,
) -> ApiRequest:
    query: QueryItems = [("limit", str(limit)), ("offset", str(offset))]
    query += [("status", str(s)) for s in status or ()]
    query += [("triggeredBy", t) for t in triggered_by or ()]
    query += [("versionNumbers", str(v)) for v in version_numbers or ()]
    if search_prefix:
        query.append(("searchPrefix", search_prefix))
    if sort_by:
        query.append(("sortBy", sort_by))
    if order:
        query.append(("order", order))
    return ApiRequest("GET", f"/jobs/{_seg(application_id, 'application_id')}/runs", query=query)


def get_run(application_id: str, name: str) -> ApiRequest:
    return ApiRequest("GET", _run_path(application_id, name))


def delete_run(application_id: str, name: str) -> ApiRequest:
    # DELETE of a named resource is idempotent: repeating it cannot start anything.
    return ApiRequest("DELETE", _run_path(application_id, name))


def _run_path(application_id: str, name: str) -> str:
    return f"/jobs/{_seg(application_id, 'application_id')}/runs/{_seg(name, 'run_name')}"


def terminate(deployment_id: str, name: str) -> ApiRequest:
    return ApiRequest(
        "POST",
        "/jobs/terminate",
        query=[
            ("deploymentId", _checked(deployment_id, "deployment_id")),
            ("jobRunName", _checked(name, "run_name")),
        ],
        idempotent=False,
    )


def logs(
    application_id: str,
    run_name: str,
    *,
    since: datetime | int | None = None,
    until: datetime | int | None = None,
    limit: int | None = None,
    direction: str | None = None,
    search: str | None = None,
    skip: int = 0,
    max_chars: int | None = None,
) -> ApiRequest:
    """``GET /logs`` of one run: from ``since`` (inclusive), skipping the first ``skip``
    lines of that very time (``numLogsToIgnore``: those a previous page already gave); with
    ``max_chars``, the answer is read only until its lines hold that many characters.

    >>> logs("app-1", "run-1", since=7, skip=2, limit=16).query[2:]
    [('startTs', '7'), ('limit', '16'), ('numLogsToIgnore', '2')]
    """
    query: QueryItems = [("applicationId", application_id), ("jobRunName", run_name)]
    if since is not None:
        query.append(("startTs", _ns(since)))
    if until is not None:
        query.append(("endTs", _ns(until)))
    if limit is not None:
        query.append(("limit", str(limit)))
    if direction:
        query.append(("direction", direction))
    if skip:
        query.append(("numLogsToIgnore", str(skip)))
    if search:
        query.append(("searchString", search))
    return ApiRequest("GET", "/logs", query=query, max_chars=max_chars)


def _iso(value: datetime) -> str:
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def events(
    application_id: str,
    run_name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ApiRequest:
    """``GET /events`` of one run. Times go as ISO-8601 UTC (``/logs`` takes nanoseconds);
    without ``since`` the server looks back 24 hours from ``until`` (default now)."""
    query: QueryItems = [("applicationId", application_id), ("jobRunName", run_name)]
    if since is not None:
        query.append(("startTs", _iso(since)))
    if until is not None:
        query.append(("endTs", _iso(until)))
    return ApiRequest("GET", "/events", query=query)


def find_apps(
    *,
    fqn: str | None = None,
    name: str | None = None,
    limit: int = 10,
    name_search: str | None = None,
    workspace_fqn: str | None = None,
) -> ApiRequest:
    """``GET /apps`` of jobs: by exact FQN or name, by a part of the name
    (``nameSearchQuery``), or in one workspace."""
    query: QueryItems = [("applicationType", "job"), ("limit", str(limit))]
    if fqn:
        query.append(("fqn", fqn))
    if name:
        query.append(("applicationName", name))
    if name_search:
        query.append(("nameSearchQuery", name_search))
    if workspace_fqn:
        query.append(("workspaceFqn", workspace_fqn))
    return ApiRequest("GET", "/apps", query=query)


def get_app(application_id: str) -> ApiRequest:
    return ApiRequest("GET", f"/apps/{_seg(application_id, 'application_id')}")


def session() -> ApiRequest:
    return ApiRequest("GET", "/session")


# --- parsers --------------------------------------------------------------------------


def _require_mapping(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise TransportError(f"The server's answer to {what} was not a JSON object.")
    return body


def parse_trigger(body: Any) -> TriggerResult:
    """The run a trigger started. An answer naming no run leaves the outcome unknown: the
    request reached the server, which may have started one."""
    result = TriggerResult.from_api(body) if isinstance(body, Mapping) else None
    if result is None or not result.job_run_name:
        shape = (
            type(body).__name__ if not isinstance(body, Mapping) else "an object without jobRunName"
        )
        raise TriggerOutcomeUnknown(
            f"The server answered the trigger with success but {shape} instead of a run, so "
            "a run may have started. Check before triggering again: `%job_runs --reconcile` "
            "finds the run this attempt started, if any; it was not retried."
        )
    return result


def parse_run(body: Any) -> JobRun:
    data = _require_mapping(body, "a run lookup").get("data")
    return JobRun.from_api(_require_mapping(data, "a run lookup"))


def parse_runs_page(body: Any) -> tuple[list[JobRun], int | None]:
    """One page of runs and the server's total (``None`` if it did not say)."""
    data = _require_mapping(body, "a run listing")
    items = data.get("data")
    if not isinstance(items, list):
        raise TransportError("The server's run listing had no list of runs.")
    pagination = data.get("pagination")
    total = pagination.get("total") if isinstance(pagination, Mapping) else None
    runs = [JobRun.from_api(item) for item in items if isinstance(item, Mapping)]
    return runs, total if isinstance(total, int) else None


def parse_apps(body: Any) -> list[Application]:
    items = _require_mapping(body, "an application search").get("data")
    if not isinstance(items, list):
        raise TransportError("The server's application search had no list of applications.")
    return [Application.from_api(item) for item in items if isinstance(item, Mapping)]


def parse_app(body: Any) -> Application:
    data = _require_mapping(body, "an application lookup").get("data")
    return Application.from_api(_require_mapping(data, "an application lookup"))


def logs_cut(body: Any) -> bool:
    """Whether a log answer was left unread after ``max_chars`` (more lines follow)."""
    return isinstance(body, Mapping) and body.get(CUT) is True


def parse_logs(body: Any) -> list[LogLine]:
    items = _require_mapping(body, "a log request").get("data")
    if not isinstance(items, list):
        raise TransportError("The server's log answer had no list of lines.")
    return [LogLine.from_api(item) for item in items if isinstance(item, Mapping)]


def parse_events(body: Any) -> list[Event]:
    items = _require_mapping(body, "an events request").get("data")
    if not isinstance(items, list):
        raise TransportError("The server's events answer had no list of events.")
    return [Event.from_api(item) for item in items if isinstance(item, Mapping)]


def parse_message(body: Any) -> str:
    message = _require_mapping(body, "the request").get("message")
    return str(message) if message is not None else ""


def run_page_url(host: str, application_id: str | None) -> str | None:
    """The TrueFoundry UI page that lists a job's runs (the UI has no per-run page)."""
    if not application_id:
        return None
    return f"{host.rstrip('/')}/deployments/{quote(application_id, safe='')}?tab=previousRuns"
