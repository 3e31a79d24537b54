"""The extension's REST handlers, one route table (imports jupyter_server: load lazily).

Every handler is behind Jupyter Server's own authentication (``@tornado.web.authenticated``:
no token, 403) and its XSRF check for writes (``APIHandler``: a POST without the ``_xsrf``
cookie and header, or the token, is refused with 403). The work is
:class:`~jobmagic.serverext.service.RunsService`'s, run in an executor: the server's event
loop never waits for SQLite or TrueFoundry. A ledger that cannot be read is answered with
a message for the panel (503), never a trace.

>>> [pattern for pattern, _handler, _kwargs in route_table("/", None)][:3]
['/jobmagic/version', '/jobmagic/status', '/jobmagic/runs']
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from jobmagic.errors import LedgerError
from jobmagic.serverext.runs_json import QueryError, page_args, tail_arg
from jobmagic.serverext.service import Refused, RunsService

__all__ = [
    "LogsHandler",
    "RerunHandler",
    "RunHandler",
    "RunsHandler",
    "StatusHandler",
    "TerminateHandler",
    "VersionHandler",
    "route_table",
]

_T = TypeVar("_T")


class JobmagicHandler(APIHandler):
    """Runs a service call off the event loop and answers its outcome as JSON."""

    def initialize(self, service: RunsService) -> None:
        self.service = service

    async def answer(self, work: Callable[[], Any]) -> None:
        body: Any
        try:
            body = await IOLoop.current().run_in_executor(None, work)
        except Refused as refused:
            self.set_status(refused.status)
            body = {"message": refused.message}
        except LedgerError as error:
            self.set_status(503)
            body = {"message": str(error), "reason": str(error.reason), "hint": error.hint}
        self.finish(json.dumps(body))

    def query(self, read: Callable[[dict[str, list[bytes]]], _T]) -> _T:
        try:
            return read(self.request.arguments)
        except QueryError as error:
            raise tornado.web.HTTPError(400, str(error)) from None


class VersionHandler(JobmagicHandler):
    """``GET jobmagic/version``: which jobmagic answers, and which ledger it reads."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(self.service.version)


class StatusHandler(JobmagicHandler):
    """``GET jobmagic/status``: the version and the refresher's state (its host, ticks)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(self.service.status)


class RunsHandler(JobmagicHandler):
    """``GET jobmagic/runs?limit=&offset=&status=&sweep=&q=``: a page of runs, newest first,
    ``{"runs": [...], "total": N, "counts": {status: n}}`` (counts over the whole filter)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        args = self.query(page_args)
        await self.answer(lambda: self.service.listing(args))


class RunHandler(JobmagicHandler):
    """``GET jobmagic/runs/ID``: one run (by its ledger id) with its details."""

    @tornado.web.authenticated
    async def get(self, attempt_id: str) -> None:
        await self.answer(lambda: self.service.details(int(attempt_id)))


class LogsHandler(JobmagicHandler):
    """``GET jobmagic/runs/ID/logs?tail=N``: the run's last N log lines."""

    @tornado.web.authenticated
    async def get(self, attempt_id: str) -> None:
        tail = self.query(tail_arg)
        await self.answer(lambda: self.service.logs(int(attempt_id), tail))


class TerminateHandler(JobmagicHandler):
    """``POST jobmagic/runs/ID/terminate``: stop the run at TrueFoundry."""

    @tornado.web.authenticated
    async def post(self, attempt_id: str) -> None:
        await self.answer(lambda: self.service.terminate(int(attempt_id)))


class RerunHandler(JobmagicHandler):
    """``POST jobmagic/runs/ID/rerun`` (body ``{"params": {name: value}}``, optional): run
    it again, recorded in the ledger as a rerun of it."""

    @tornado.web.authenticated
    async def post(self, attempt_id: str) -> None:
        changes = _changes(self.request.body)
        await self.answer(lambda: self.service.rerun(int(attempt_id), changes))


def _changes(body: bytes) -> dict[str, str]:
    """The param changes of a rerun's JSON body (none when empty); 400 when malformed."""
    if not body.strip():
        return {}
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise tornado.web.HTTPError(400, "the body must be JSON") from None
    params = data.get("params", {}) if isinstance(data, dict) else None
    if not isinstance(params, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in params.items()
    ):
        raise tornado.web.HTTPError(400, 'params must be {"name": "value", …} (strings)')
    return dict(params)


def route_table(base_url: str, service: RunsService | None) -> list[tuple[str, Any, Any]]:
    """Every handler, under ``base_url``, each given the server's one ``service``."""

    def under(*parts: str) -> str:
        return url_path_join(base_url, "jobmagic", *parts)

    one = "([0-9]+)"
    kwargs = {"service": service}
    return [
        (under("version"), VersionHandler, kwargs),
        (under("status"), StatusHandler, kwargs),
        (under("runs"), RunsHandler, kwargs),
        (under("runs", one), RunHandler, kwargs),
        (under("runs", one, "logs"), LogsHandler, kwargs),
        (under("runs", one, "terminate"), TerminateHandler, kwargs),
        (under("runs", one, "rerun"), RerunHandler, kwargs),
    ]
