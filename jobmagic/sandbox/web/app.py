"""The sandbox's HTTP surface: the Jobs API under ``/api/svc/v1`` and admin under ``/_sandbox``.

Built as Starlette's own apps are: a route table (:data:`ROUTES`) of module-level handlers
(:mod:`~jobmagic.sandbox.web.handlers` for the API, :mod:`~jobmagic.sandbox.web.admin` for the rest)
and one middleware class, :class:`~jobmagic.sandbox.web.guard.Guard`, which does stats, faults
and auth for the routes that need them, each with its :class:`~jobmagic.sandbox.web.guard.Policy`.
An API endpoint's key in the stats and in faults is its handler's name. :func:`create_app`
puts the :class:`~jobmagic.sandbox.web.context.AppContext` in ``app.state.ctx``, where handlers
and the guard read it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router

from jobmagic.models import API_PREFIX
from jobmagic.sandbox.errors import ApiProblem
from jobmagic.sandbox.web import admin, handlers
from jobmagic.sandbox.web.context import AppContext
from jobmagic.sandbox.web.faults import ENDPOINTS
from jobmagic.sandbox.web.guard import Guard, Policy, error_response

__all__ = ["API_ROUTES", "ROUTES", "create_app"]

logger = logging.getLogger("jobmagic.sandbox")

Handler = Callable[[Request], Awaitable[Response]]


def _api(
    path: str, methods: list[str], handler: Handler, *, auth: bool = True, ml: bool = False
) -> Route:
    """An API route, counted and faulted under its handler's name."""
    key = handler.__name__
    if key not in ENDPOINTS:
        raise ValueError(f"{key} is not an endpoint key of jobmagic.sandbox.web.faults.ENDPOINTS")
    policy = Policy(key, auth=auth, run_token=ml)
    return Route(path, handler, methods=methods, middleware=[Middleware(Guard, policy)])


_GET, _POST = ["GET"], ["POST"]

API_ROUTES: list[BaseRoute] = [
    _api("/jobs/trigger", _POST, handlers.trigger),
    _api("/jobs/terminate", _POST, handlers.terminate),
    _api("/jobs/{application_id}/runs", _GET, handlers.list_runs),
    _api("/jobs/{application_id}/runs/{run_name}", _GET, handlers.get_run),
    _api("/jobs/{application_id}/runs/{run_name}", ["DELETE"], handlers.delete_run),
    _api("/logs", _GET, handlers.logs),
    _api("/events", _GET, handlers.events),
    _api("/apps", _GET, handlers.apps),
    _api("/apps/{application_id}", _GET, handlers.get_app),
    _api("/fqn/app", _GET, handlers.fqn_app),
    _api("/session", _GET, handlers.session),
    _api("/min-cli-version", _GET, handlers.min_cli_version, auth=False),
    _api("/tenant-id", _GET, handlers.tenant_id, auth=False),
    _api("/ml-repos", _GET, handlers.ml_repos, ml=True),
    _api("/ml-repos/{repo_id}", _GET, handlers.get_ml_repo, ml=True),
    _api("/runs", _POST, handlers.create_ml_run, ml=True),
    _api("/runs/search", _POST, handlers.search_ml_runs, ml=True),
    _api("/runs/{run_id}", _GET, handlers.get_ml_run, ml=True),
    _api("/runs/{run_id}", ["PUT"], handlers.update_ml_run, ml=True),
    _api("/runs/{run_id}/metrics", _POST, handlers.log_metric, ml=True),
    _api("/runs/{run_id}/metrics/history", _GET, handlers.metric_history, ml=True),
    _api("/runs/{run_id}/batch", _POST, handlers.log_batch, ml=True),
    # truefoundry-sdk 0.6.0 sets a tag with PUT; API.md's notes said POST: both work.
    _api("/runs/{run_id}/tags", ["PUT", "POST"], handlers.set_ml_tag, ml=True),
]

_ADMIN = [Middleware(Guard, Policy())]  # the token, neither counted nor faulted

# No redirect_slashes: an encoded slash (%2F) in an id decodes to "/", and the redirect
# "fixing" it named another resource (307 keeps the method: a DELETE of run "R/" would
# delete run "R" for a client that follows redirects).
ROUTES: list[BaseRoute] = [
    Mount(API_PREFIX, app=Router(API_ROUTES, redirect_slashes=False)),
    Route(
        "/_sandbox/faults",
        admin.faults,
        methods=["GET", "POST", "PUT", "DELETE"],
        middleware=_ADMIN,
    ),
    Route("/_sandbox/stats", admin.stats, methods=["GET", "DELETE"], middleware=_ADMIN),
    Route("/_sandbox/health", admin.health, methods=_GET),
    Route("/deployments/{application_id}", admin.deployment_page, methods=_GET),
]


def create_app(ctx: AppContext) -> Starlette:
    """The Starlette app serving ``ctx``; see the module docstring for the routes."""
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            ApiProblem: _api_error,
            HTTPException: _http_exception,
            Exception: _server_error,
        },
    )
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return error_response(exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "No such endpoint.", 405: "Method not allowed on this endpoint."}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(ApiProblem(exc.status_code, message, headers=exc.headers))


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("error handling %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiProblem(500, "Internal error in the sandbox; see its log."))
