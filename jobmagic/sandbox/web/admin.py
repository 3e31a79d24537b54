"""The sandbox's own endpoints: faults and stats (token required), health, and the runs page.

``GET/POST/PUT/DELETE /_sandbox/faults``, ``GET/DELETE /_sandbox/stats``; ``GET
/_sandbox/health`` needs no token and is not counted. ``GET /deployments/{applicationId}`` is
the page a run card links to: the job's runs as HTML (:mod:`~jobmagic.sandbox.web.runs_page`), for
a browser, so without a token but for loopback only.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from jobmagic.sandbox.errors import ApiProblem
from jobmagic.sandbox.web import runs_page
from jobmagic.sandbox.web.context import app_context
from jobmagic.sandbox.web.faults import Fault
from jobmagic.sandbox.web.query import read_json

__all__ = ["deployment_page", "faults", "health", "parse_faults", "stats"]


def parse_faults(body: object) -> list[Fault]:
    """Faults from the admin JSON: ``{"faults": [...]}``, a list, or one fault object."""
    items = body.get("faults") if isinstance(body, dict) and "faults" in body else body
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ApiProblem.validation(
            [{"field": "faults", "message": "must be a list of fault objects"}]
        )
    faults, details = [], []
    for index, item in enumerate(items):
        try:
            faults.append(Fault.from_json(item))
        except (TypeError, ValueError) as exc:
            details.append({"field": f"faults[{index}]", "message": str(exc)})
    if details:
        raise ApiProblem.validation(details)
    return faults


async def faults(request: Request) -> Response:
    plan = app_context(request.app).faults
    if request.method in ("POST", "PUT"):
        new = parse_faults(await read_json(request))
        (plan.add if request.method == "POST" else plan.replace)(new)
    elif request.method == "DELETE":
        plan.clear()
    return JSONResponse({"faults": plan.snapshot()})


async def stats(request: Request) -> Response:
    ctx = app_context(request.app)
    if request.method == "DELETE":
        ctx.stats.reset()
    return JSONResponse(
        {
            "requests": ctx.stats.snapshot(),
            "peakInFlight": ctx.stats.peaks(),
            "activeRuns": len(ctx.service.runner.active_run_ids()),
        }
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def deployment_page(request: Request) -> Response:
    # The run card's "Open in TrueFoundry" link, opened by a browser without the token.
    if not runs_page.is_loopback_host(request.headers.get("host")):
        return HTMLResponse("Not found", status_code=404, headers=runs_page.PAGE_HEADERS)
    app_id = request.path_params["application_id"]
    page = await run_in_threadpool(runs_page.runs_page, app_context(request.app).service, app_id)
    if page is None:
        return HTMLResponse(
            runs_page.render_missing_page(app_id),
            status_code=404,
            headers=runs_page.PAGE_HEADERS,
        )
    return HTMLResponse(page, headers=runs_page.PAGE_HEADERS)
