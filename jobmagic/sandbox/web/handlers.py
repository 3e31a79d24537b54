"""The API's endpoints: parse the query or body, call the service in a worker thread, answer.

Each handler reads the service from ``request.app.state`` (see
:func:`jobmagic.sandbox.web.app.create_app`); stats, faults and auth happened before it, in
:class:`~jobmagic.sandbox.web.guard.Guard`. Service methods block (SQLite), so they run in
Starlette's thread pool; an :class:`~jobmagic.sandbox.errors.ApiProblem` they raise becomes
the API's error body through the app's exception handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jobmagic.sandbox.service import render
from jobmagic.sandbox.service.ml.runs import MLRuns
from jobmagic.sandbox.service.operations import RUN_STATUSES, SORT_KEYS, SandboxService
from jobmagic.sandbox.web.context import app_context
from jobmagic.sandbox.web.query import Query, read_json

__all__ = [
    "MIN_VERSION",
    "apps",
    "create_ml_run",
    "delete_run",
    "events",
    "fqn_app",
    "get_app",
    "get_ml_repo",
    "get_ml_run",
    "get_run",
    "list_runs",
    "log_batch",
    "log_metric",
    "logs",
    "metric_history",
    "min_cli_version",
    "ml_repos",
    "search_ml_runs",
    "session",
    "set_ml_tag",
    "tenant_id",
    "terminate",
    "trigger",
    "update_ml_run",
]

MIN_VERSION = "0.0.0"


def _service(request: Request) -> SandboxService:
    return app_context(request.app).service


def _ml(request: Request) -> MLRuns:
    return _service(request).ml


async def _call(function: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> Response:
    return JSONResponse(await run_in_threadpool(function, *args, **kwargs))


# --- jobs ------------------------------------------------------------------------------


async def trigger(request: Request) -> Response:
    # On the event loop, not a worker thread: a trigger is one short insert and a queue
    # put (the fork happens on the launcher), cheaper than the hop to a thread and back,
    # which was a tenth of the sandbox's CPU per trigger at 32 clients.
    return JSONResponse(_service(request).trigger(await read_json(request)))


async def list_runs(request: Request) -> Response:
    query = Query(request)
    kwargs = {
        "statuses": query.many("status", RUN_STATUSES),
        "triggered_by": query.many("triggeredBy"),
        "versions": query.many("versionNumbers"),
        "search_prefix": query.text("searchPrefix"),
        "sort_by": query.choice("sortBy", SORT_KEYS, "startTime"),
        "order": query.choice("order", ("asc", "desc"), "desc"),
        **query.page(),
    }
    query.check()
    service = _service(request)
    return await _call(service.list_runs, request.path_params["application_id"], **kwargs)


async def get_run(request: Request) -> Response:
    params = request.path_params
    return await _call(_service(request).get_run, params["application_id"], params["run_name"])


async def delete_run(request: Request) -> Response:
    params = request.path_params
    service = _service(request)
    return await _call(service.delete_run, params["application_id"], params["run_name"])


async def terminate(request: Request) -> Response:
    query = Query(request)
    deployment_id, run_name = query.required("deploymentId"), query.required("jobRunName")
    query.check()
    return await _call(_service(request).terminate, deployment_id, run_name)


def _application(query: Query) -> dict[str, str | None]:
    application_id, fqn = query.text("applicationId"), query.text("applicationFqn")
    if application_id is None and fqn is None:
        query.details.append(
            {"field": "applicationId", "message": "give applicationId or applicationFqn"}
        )
    return {"application_id": application_id, "application_fqn": fqn}


async def logs(request: Request) -> Response:
    query = Query(request)
    kwargs = {
        **_application(query),
        "run_name": query.text("jobRunName"),
        "start_ns": query.nanoseconds("startTs"),
        "end_ns": query.nanoseconds("endTs"),
        "limit": query.integer("limit", 5000, 1, 100_000),
        "descending": query.choice("direction", ("asc", "desc"), "asc") == "desc",
        "skip": query.integer("numLogsToIgnore", 0, 0, 2**31),
        "search": query.text("searchString"),
    }
    query.check()
    return await _call(_service(request).logs, **kwargs)


async def events(request: Request) -> Response:
    query = Query(request)
    application = _application(query)
    run_name, pod_names = query.text("jobRunName"), query.many("podNames")
    if run_name is not None and pod_names:
        query.details.append(
            {"field": "podNames", "message": "give jobRunName or podNames, not both"}
        )
    kwargs = {
        **application,
        "run_name": run_name,
        "pod_names": pod_names,
        "start_ms": query.iso_ms("startTs"),
        "end_ms": query.iso_ms("endTs"),
    }
    query.check()
    return await _call(_service(request).events, **kwargs)


async def apps(request: Request) -> Response:
    query = Query(request)
    kwargs = {
        "fqn": query.text("fqn"),
        "name": query.text("applicationName"),
        "workspace_fqn": query.text("workspaceFqn"),
        "name_search": query.text("nameSearchQuery"),
        "application_type": query.text("applicationType"),
        **query.page(),
    }
    query.check()
    return await _call(_service(request).list_apps, **kwargs)


async def get_app(request: Request) -> Response:
    return await _call(_service(request).get_app, request.path_params["application_id"])


async def fqn_app(request: Request) -> Response:
    query = Query(request)
    fqn = query.required("fqn")
    query.check()
    return await _call(_service(request).app_id_by_fqn, fqn)


async def session(request: Request) -> Response:
    return JSONResponse(render.session_json())


async def min_cli_version(request: Request) -> Response:
    return JSONResponse({"minVersion": MIN_VERSION, "truefoundryCliMinVersion": MIN_VERSION})


async def tenant_id(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"tenantName": render.TENANT, "auth_server_url": base})


# --- ML runs (jobmagic.sandbox.service.ml.runs) ---------------------------------------------------


async def ml_repos(request: Request) -> Response:
    query = Query(request)
    kwargs = {"name": query.text("name"), **query.page()}
    query.check()
    return await _call(_ml(request).list_repos, **kwargs)


async def get_ml_repo(request: Request) -> Response:
    return await _call(_ml(request).get_repo, request.path_params["repo_id"])


async def create_ml_run(request: Request) -> Response:
    return await _call(_ml(request).create_run, await read_json(request))


async def get_ml_run(request: Request) -> Response:
    return await _call(_ml(request).get_run, request.path_params["run_id"])


async def search_ml_runs(request: Request) -> Response:
    return await _call(_ml(request).search, await read_json(request))


async def metric_history(request: Request) -> Response:
    query = Query(request)
    key = query.required("metric_key")
    query.check()
    return await _call(_ml(request).metric_history, request.path_params["run_id"], key)


async def _with_body(request: Request, method: Callable[[str, Any], dict[str, Any]]) -> Response:
    body = await read_json(request)
    return await _call(method, request.path_params["run_id"], body)


async def update_ml_run(request: Request) -> Response:
    return await _with_body(request, _ml(request).update_run)


async def log_metric(request: Request) -> Response:
    return await _with_body(request, _ml(request).log_metric)


async def log_batch(request: Request) -> Response:
    return await _with_body(request, _ml(request).log_batch)


async def set_ml_tag(request: Request) -> Response:
    return await _with_body(request, _ml(request).set_tag)
