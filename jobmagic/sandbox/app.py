"""The sandbox's HTTP surface: the Jobs API under ``/api/svc/v1`` and admin under ``/_sandbox``.

Every API endpoint goes through the same steps, in this order:

1. count the request in :class:`~jobmagic.sandbox.faults.RequestStats` (so tests see every
   request that reached the server, including those a fault then spoils) and keep it counted
   as in flight until answered (the peak shows a client's real concurrency),
2. apply latency and any fault that acts *before* handling,
3. check the bearer token (except ``/min-cli-version`` and ``/tenant-id``),
4. parse the query/body and call :class:`~jobmagic.sandbox.service.SandboxService` in a
   worker thread (SQLite blocks; a run's process is started later by the launcher thread),
5. apply any fault that acts *after* handling (dropped connection, malformed body, status).

The ML-runs endpoints also take a run's own token (the ``TFY_API_KEY`` its process gets);
such calls skip steps 1, 2 and 5: they are the platform's traffic, not the client's.

Admin endpoints (token required): ``GET/POST/PUT/DELETE /_sandbox/faults``,
``GET/DELETE /_sandbox/stats``. ``GET /_sandbox/health`` needs no token and is not counted.
``GET /deployments/{applicationId}`` is the page a run card links to: the job's runs as HTML
(:mod:`~jobmagic.sandbox.runs_page`), for a browser, so without a token but for loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from jobmagic.models import API_PREFIX, datetime_to_ms, iso_to_datetime
from jobmagic.sandbox import render, runs_page
from jobmagic.sandbox.errors import ApiError
from jobmagic.sandbox.faults import Fault, FaultPlan, RequestStats
from jobmagic.sandbox.service import RUN_STATUSES, SORT_KEYS, SandboxService
from jobmagic.sandbox.transport import ConnectionRegistry

__all__ = ["API_PREFIX", "AppContext", "create_app"]

MAX_BODY_BYTES = 1024 * 1024
MIN_VERSION = "0.0.0"

logger = logging.getLogger("jobmagic.sandbox")

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class AppContext:
    """What the routes need: the service, the token, faults, stats and live connections."""

    service: SandboxService
    token: str
    faults: FaultPlan
    stats: RequestStats
    connections: ConnectionRegistry | None = None


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Only HTTP's own whitespace is trimmed: str.strip() also ate NBSP and NEL (legal header
    # bytes), so the token with such a byte added still passed. compare_digest: the time
    # taken must not tell how much of a guess was right.
    return hmac.compare_digest(value.strip(" \t").encode("utf-8"), token.encode("utf-8"))


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip(" \t") if scheme.lower() == "bearer" else ""


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        "Missing or invalid bearer token. Send `Authorization: Bearer <token>` with the token "
        "the sandbox printed when it started.",
        headers={"WWW-Authenticate": "Bearer"},
    )


class _Query:
    """Typed query parameters; problems are collected and raised together as one 422."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params
        self.details: list[dict[str, str]] = []

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            self.details.append({"field": name, "message": f"must be an integer {low}-{high}"})
            return default
        return value

    def nanoseconds(self, name: str) -> int | None:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            self.details.append(
                {"field": name, "message": "must be nanoseconds since the epoch, as an integer"}
            )
            return None
        return value

    def iso_ms(self, name: str) -> int | None:
        """An ISO-8601 time (UTC when it names no zone) as ms since the epoch."""
        raw = self.params.get(name)
        if raw is None or raw == "":
            return None
        moment = iso_to_datetime(raw)
        if moment is None:
            self.details.append(
                {"field": name, "message": "must be an ISO-8601 time, e.g. 2024-01-31T12:00:00Z"}
            )
            return None
        return datetime_to_ms(moment)

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        if raw not in choices:
            self.details.append({"field": name, "message": f"must be one of {', '.join(choices)}"})
            return default
        return raw

    def many(self, name: str, choices: Sequence[str] | None = None) -> list[str]:
        # Repeated (?status=A&status=B) and comma-separated (?status=A,B) forms both work.
        values = [v for raw in self.params.getlist(name) for v in raw.split(",") if v]
        if choices is not None:
            bad = [v for v in values if v not in choices]
            if bad:
                self.details.append(
                    {"field": name, "message": f"unknown value(s) {', '.join(bad)}"}
                )
        return values

    def check(self) -> None:
        if self.details:
            raise ApiError.validation(self.details)


def create_app(ctx: AppContext) -> Starlette:
    """The Starlette app serving ``ctx``; see the module docstring for the routes."""
    service = ctx.service

    def endpoint(key: str, handler: Handler, *, auth: bool = True, ml: bool = False) -> Handler:
        async def run(request: Request) -> Response:
            if ml and service.run_tokens.valid(_bearer(request)):
                return await from_run(request)
            ctx.stats.hit(key)
            with ctx.stats.in_flight(key):
                return await handle(request)

        async def from_run(request: Request) -> Response:
            # A run's own calls (its metrics logging, with its TFY_API_KEY) are the platform's
            # traffic, not the client's under test: no fault spoils them and the stats leave
            # them out, so a test's faults and counts concern only what the client sent.
            try:
                return await handler(request)
            except ApiError as error:
                return error_response(error)

        async def handle(request: Request) -> Response:
            decision = ctx.faults.take(key)
            if decision.latency_ms:
                await asyncio.sleep(decision.latency_ms / 1000)
            fault = decision.outcome
            if fault is not None and not fault.after:
                if fault.kind == "drop":
                    # The request is read in full, then the line goes dead.
                    with contextlib.suppress(ApiError):
                        await _read_body(request)
                    return await _drop(ctx, request)
                return _fault_response(fault)
            try:
                if auth and not _authorized(request, ctx.token):
                    raise _unauthorized()
                response = await handler(request)
            except ApiError as error:
                response = error_response(error)
            if fault is not None:
                if fault.kind == "drop":
                    return await _drop(ctx, request)
                if fault.kind == "malformed":
                    return _truncated(response)
                if fault.kind == "body":
                    return Response(fault.body, status_code=200, media_type="application/json")
                return _fault_response(fault)
            return response

        return run

    async def call(function: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> Response:
        return JSONResponse(await run_in_threadpool(function, *args, **kwargs))

    async def trigger(request: Request) -> Response:
        return await call(service.trigger, _json_body(await _read_body(request)))

    async def list_runs(request: Request) -> Response:
        query = _Query(request)
        kwargs = {
            "statuses": query.many("status", RUN_STATUSES),
            "triggered_by": query.many("triggeredBy"),
            "versions": query.many("versionNumbers"),
            "search_prefix": query.text("searchPrefix"),
            "sort_by": query.choice("sortBy", SORT_KEYS, "startTime"),
            "order": query.choice("order", ("asc", "desc"), "desc"),
            "limit": query.integer("limit", 100, 1, 1000),
            "offset": query.integer("offset", 0, 0, 2**31),
        }
        query.check()
        return await call(service.list_runs, request.path_params["application_id"], **kwargs)

    async def get_run(request: Request) -> Response:
        params = request.path_params
        return await call(service.get_run, params["application_id"], params["run_name"])

    async def delete_run(request: Request) -> Response:
        params = request.path_params
        return await call(service.delete_run, params["application_id"], params["run_name"])

    async def terminate(request: Request) -> Response:
        query = _Query(request)
        deployment_id, run_name = query.text("deploymentId"), query.text("jobRunName")
        for name, value in (("deploymentId", deployment_id), ("jobRunName", run_name)):
            if value is None:
                query.details.append({"field": name, "message": "is required"})
        query.check()
        return await call(service.terminate, deployment_id, run_name)

    async def logs(request: Request) -> Response:
        query = _Query(request)
        application_id, fqn = query.text("applicationId"), query.text("applicationFqn")
        if application_id is None and fqn is None:
            query.details.append(
                {"field": "applicationId", "message": "give applicationId or applicationFqn"}
            )
        kwargs = {
            "application_id": application_id,
            "application_fqn": fqn,
            "run_name": query.text("jobRunName"),
            "start_ns": query.nanoseconds("startTs"),
            "end_ns": query.nanoseconds("endTs"),
            "limit": query.integer("limit", 5000, 1, 100_000),
            "descending": query.choice("direction", ("asc", "desc"), "asc") == "desc",
            "skip": query.integer("numLogsToIgnore", 0, 0, 2**31),
            "search": query.text("searchString"),
        }
        query.check()
        return await call(service.logs, **kwargs)

    async def events(request: Request) -> Response:
        query = _Query(request)
        application_id, fqn = query.text("applicationId"), query.text("applicationFqn")
        if application_id is None and fqn is None:
            query.details.append(
                {"field": "applicationId", "message": "give applicationId or applicationFqn"}
            )
        run_name, pod_names = query.text("jobRunName"), query.many("podNames")
        if run_name is not None and pod_names:
            query.details.append(
                {"field": "podNames", "message": "give jobRunName or podNames, not both"}
            )
        kwargs = {
            "application_id": application_id,
            "application_fqn": fqn,
            "run_name": run_name,
            "pod_names": pod_names,
            "start_ms": query.iso_ms("startTs"),
            "end_ms": query.iso_ms("endTs"),
        }
        query.check()
        return await call(service.events, **kwargs)

    async def apps(request: Request) -> Response:
        query = _Query(request)
        kwargs = {
            "fqn": query.text("fqn"),
            "name": query.text("applicationName"),
            "workspace_fqn": query.text("workspaceFqn"),
            "name_search": query.text("nameSearchQuery"),
            "application_type": query.text("applicationType"),
            "limit": query.integer("limit", 100, 1, 1000),
            "offset": query.integer("offset", 0, 0, 2**31),
        }
        query.check()
        return await call(service.list_apps, **kwargs)

    async def get_app(request: Request) -> Response:
        return await call(service.get_app, request.path_params["application_id"])

    async def fqn_app(request: Request) -> Response:
        query = _Query(request)
        fqn = query.text("fqn")
        if fqn is None:
            query.details.append({"field": "fqn", "message": "is required"})
        query.check()
        return await call(service.app_id_by_fqn, fqn)

    async def session(request: Request) -> Response:
        return JSONResponse(render.session_json())

    async def min_cli_version(request: Request) -> Response:
        return JSONResponse({"minVersion": MIN_VERSION, "truefoundryCliMinVersion": MIN_VERSION})

    async def tenant_id(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"tenantName": render.TENANT, "auth_server_url": base})

    # --- ML runs (jobmagic.sandbox.mlruns) --------------------------------------------

    ml_runs = service.ml

    async def ml_repos(request: Request) -> Response:
        query = _Query(request)
        kwargs = {
            "name": query.text("name"),
            "limit": query.integer("limit", 100, 1, 1000),
            "offset": query.integer("offset", 0, 0, 2**31),
        }
        query.check()
        return await call(ml_runs.list_repos, **kwargs)

    async def get_ml_repo(request: Request) -> Response:
        return await call(ml_runs.get_repo, request.path_params["repo_id"])

    async def create_ml_run(request: Request) -> Response:
        return await call(ml_runs.create_run, _json_body(await _read_body(request)))

    async def get_ml_run(request: Request) -> Response:
        return await call(ml_runs.get_run, request.path_params["run_id"])

    def with_body(method: Callable[[str, Any], dict[str, Any]]) -> Handler:
        async def handler(request: Request) -> Response:
            body = _json_body(await _read_body(request))
            return await call(method, request.path_params["run_id"], body)

        return handler

    async def search_ml_runs(request: Request) -> Response:
        return await call(ml_runs.search, _json_body(await _read_body(request)))

    async def metric_history(request: Request) -> Response:
        query = _Query(request)
        key = query.text("metric_key")
        if key is None:
            query.details.append({"field": "metric_key", "message": "is required"})
        query.check()
        return await call(ml_runs.metric_history, request.path_params["run_id"], key)

    # --- admin -----------------------------------------------------------------------

    def admin(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                if not _authorized(request, ctx.token):
                    raise _unauthorized()
                return await handler(request)
            except ApiError as error:
                return error_response(error)

        return run

    async def faults(request: Request) -> Response:
        if request.method in ("POST", "PUT"):
            new = _parse_faults(await _read_body(request))
            (ctx.faults.add if request.method == "POST" else ctx.faults.replace)(new)
        elif request.method == "DELETE":
            ctx.faults.clear()
        return JSONResponse({"faults": ctx.faults.snapshot()})

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            ctx.stats.reset()
        return JSONResponse(
            {
                "requests": ctx.stats.snapshot(),
                "peakInFlight": ctx.stats.peaks(),
                "activeRuns": len(service.runner.active_run_ids()),
            }
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def deployment_page(request: Request) -> Response:
        # The run card's "Open in TrueFoundry" link, opened by a browser without the token.
        if not runs_page.is_loopback_host(request.headers.get("host")):
            return HTMLResponse("Not found", status_code=404, headers=runs_page.PAGE_HEADERS)
        app_id = request.path_params["application_id"]
        page = await run_in_threadpool(runs_page.runs_page, service, app_id)
        if page is None:
            return HTMLResponse(
                runs_page.render_missing_page(app_id),
                status_code=404,
                headers=runs_page.PAGE_HEADERS,
            )
        return HTMLResponse(page, headers=runs_page.PAGE_HEADERS)

    api: list[BaseRoute] = [
        Route("/jobs/trigger", endpoint("trigger", trigger), methods=["POST"]),
        Route("/jobs/terminate", endpoint("terminate", terminate), methods=["POST"]),
        Route("/jobs/{application_id}/runs", endpoint("list_runs", list_runs), methods=["GET"]),
        Route(
            "/jobs/{application_id}/runs/{run_name}",
            endpoint("get_run", get_run),
            methods=["GET"],
        ),
        Route(
            "/jobs/{application_id}/runs/{run_name}",
            endpoint("delete_run", delete_run),
            methods=["DELETE"],
        ),
        Route("/logs", endpoint("logs", logs), methods=["GET"]),
        Route("/events", endpoint("events", events), methods=["GET"]),
        Route("/apps", endpoint("apps", apps), methods=["GET"]),
        Route("/apps/{application_id}", endpoint("get_app", get_app), methods=["GET"]),
        Route("/fqn/app", endpoint("fqn_app", fqn_app), methods=["GET"]),
        Route("/session", endpoint("session", session), methods=["GET"]),
        Route(
            "/min-cli-version",
            endpoint("min_cli_version", min_cli_version, auth=False),
            methods=["GET"],
        ),
        Route("/tenant-id", endpoint("tenant_id", tenant_id, auth=False), methods=["GET"]),
        Route("/ml-repos", endpoint("ml_repos", ml_repos, ml=True), methods=["GET"]),
        Route(
            "/ml-repos/{repo_id}", endpoint("get_ml_repo", get_ml_repo, ml=True), methods=["GET"]
        ),
        Route("/runs", endpoint("create_ml_run", create_ml_run, ml=True), methods=["POST"]),
        Route(
            "/runs/search",
            endpoint("search_ml_runs", search_ml_runs, ml=True),
            methods=["POST"],
        ),
        Route("/runs/{run_id}", endpoint("get_ml_run", get_ml_run, ml=True), methods=["GET"]),
        Route(
            "/runs/{run_id}",
            endpoint("update_ml_run", with_body(ml_runs.update_run), ml=True),
            methods=["PUT"],
        ),
        Route(
            "/runs/{run_id}/metrics",
            endpoint("log_metric", with_body(ml_runs.log_metric), ml=True),
            methods=["POST"],
        ),
        Route(
            "/runs/{run_id}/metrics/history",
            endpoint("metric_history", metric_history, ml=True),
            methods=["GET"],
        ),
        Route(
            "/runs/{run_id}/batch",
            endpoint("log_batch", with_body(ml_runs.log_batch), ml=True),
            methods=["POST"],
        ),
        # truefoundry-sdk 0.6.0 sets a tag with PUT; API.md's notes said POST: both work.
        Route(
            "/runs/{run_id}/tags",
            endpoint("set_ml_tag", with_body(ml_runs.set_tag), ml=True),
            methods=["PUT", "POST"],
        ),
    ]
    # No redirect_slashes: an encoded slash (%2F) in an id decodes to "/", and the redirect
    # "fixing" it named another resource (307 keeps the method: a DELETE of run "R/" would
    # delete run "R" for a client that follows redirects).
    routes: list[BaseRoute] = [
        Mount(API_PREFIX, app=Router(api, redirect_slashes=False)),
        Route("/_sandbox/faults", admin(faults), methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/_sandbox/stats", admin(stats), methods=["GET", "DELETE"]),
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/deployments/{application_id}", deployment_page, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_exception, Exception: _server_error},
    )
    app.router.redirect_slashes = False
    return app


async def _read_body(request: Request) -> bytes:
    """The request body, refused (413, in the API's error shape) beyond MAX_BODY_BYTES."""
    too_large = ApiError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None


def _parse_faults(raw: bytes) -> list[Fault]:
    body = _json_body(raw)
    items = body.get("faults") if isinstance(body, dict) and "faults" in body else body
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ApiError.validation(
            [{"field": "faults", "message": "must be a list of fault objects"}]
        )
    faults, details = [], []
    for index, item in enumerate(items):
        try:
            faults.append(Fault.from_json(item))
        except (TypeError, ValueError) as exc:
            details.append({"field": f"faults[{index}]", "message": str(exc)})
    if details:
        raise ApiError.validation(details)
    return faults


def _fault_response(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        return error_response(
            ApiError(
                429,
                "Too many requests (injected by the sandbox).",
                headers={"Retry-After": str(fault.retry_after)},
            )
        )
    return error_response(
        ApiError(fault.status_code, f"Injected fault: status {fault.status_code}.")
    )


def _truncated(response: Response) -> Response:
    # Half of a JSON object is never valid JSON: its braces cannot balance.
    body = bytes(response.body)
    return Response(
        content=body[: max(1, len(body) // 2)],
        status_code=response.status_code,
        media_type="application/json",
    )


async def _drop(ctx: AppContext, request: Request) -> Response:
    peer = request.scope.get("client")
    if ctx.connections is None or not ctx.connections.abort(peer):
        logger.warning("cannot drop the connection of %s: not served by SandboxServer", peer)
        return error_response(
            ApiError(500, "The sandbox cannot drop this connection (it is not tracked).")
        )

    async def until_disconnected() -> None:
        # Wait for uvicorn to notice the abort, so it does not try to answer with a 500.
        while (await request.receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(until_disconnected(), timeout=2.0)
    except asyncio.TimeoutError:
        logger.debug("connection of %s did not report its end", peer)
    return Response(status_code=500)  # never sent: the connection is gone


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "No such endpoint.", 405: "Method not allowed on this endpoint."}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(ApiError(exc.status_code, message, headers=exc.headers))


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("error handling %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError(500, "Internal error in the sandbox; see its log."))
