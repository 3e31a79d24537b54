"""The extension's REST handlers, one route table (imports jupyter_server: load lazily).

Every handler is behind Jupyter Server's own authentication (``@tornado.web.authenticated``:
no token, 403) and its XSRF check for writes (``APIHandler``). The ledger is opened read-only:
a damaged file is reported, never moved (only writers move it aside).

>>> [pattern for pattern, _handler in route_table("/")]
['/jobmagic/version', '/jobmagic/runs', '/jobmagic/runs/([0-9]+)']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from jobmagic._version import __version__
from jobmagic.config import Settings
from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger import Ledger, LedgerQuery, default_ledger_path
from jobmagic.serverext.runs_json import QueryError, page_args, run_row

__all__ = ["RunHandler", "RunsHandler", "VersionHandler", "route_table"]


def ledger_path() -> Path:
    """The ledger the kernels write: jobmagic's own setting, else its default place."""
    configured = Settings().ledger_path
    return Path(configured) if configured else default_ledger_path()


class JobmagicHandler(APIHandler):
    """Answers a ledger that cannot be read with a message for the panel, not a trace."""

    def ledger_failed(self, error: LedgerError) -> None:
        if error.reason == LedgerReason.MISSING:
            # No kernel has triggered a run yet: an empty ledger, said plainly.
            self.finish(json.dumps({"runs": [], "total": 0, "counts": {}, "notice": str(error)}))
            return
        self.set_status(503)
        self.finish(json.dumps({"message": str(error), "reason": str(error.reason)}))


class VersionHandler(JobmagicHandler):
    """``GET jobmagic/version``: which jobmagic answers, and which ledger it reads."""

    @tornado.web.authenticated
    def get(self) -> None:
        self.finish(json.dumps({"version": __version__, "ledger": str(ledger_path())}))


class RunsHandler(JobmagicHandler):
    """``GET jobmagic/runs?limit=&offset=&status=&sweep=&q=``: a page of runs, newest first,
    ``{"runs": [...], "total": N, "counts": {status: n}}`` (counts over the whole filter)."""

    @tornado.web.authenticated
    def get(self) -> None:
        try:
            args = page_args(self.request.arguments)
        except QueryError as error:
            raise tornado.web.HTTPError(400, str(error)) from None
        query = LedgerQuery(statuses=args.statuses)
        try:
            with Ledger(ledger_path(), read_only=True) as ledger:
                counts = ledger.status_counts(query)
                entries = ledger.page(query, offset=args.offset, size=args.limit)
        except LedgerError as error:
            self.ledger_failed(error)
            return
        body: dict[str, Any] = {
            "runs": [run_row(entry) for entry in entries],
            "total": sum(counts.values()),
            "counts": counts,
        }
        self.finish(json.dumps(body))


class RunHandler(JobmagicHandler):
    """``GET jobmagic/runs/ID``: one run (by its ledger id) with everything the ledger has."""

    @tornado.web.authenticated
    def get(self, attempt_id: str) -> None:
        try:
            with Ledger(ledger_path(), read_only=True) as ledger:
                entry = ledger.get(int(attempt_id))
        except LedgerError as error:
            if error.reason == LedgerReason.NO_ATTEMPT:
                raise tornado.web.HTTPError(404, f"no run {attempt_id} in the ledger") from None
            self.ledger_failed(error)
            return
        self.finish(json.dumps(run_row(entry)))


def route_table(base_url: str) -> list[tuple[str, Any]]:
    """Every handler, under ``base_url``."""

    def under(*parts: str) -> str:
        return url_path_join(base_url, "jobmagic", *parts)

    return [
        (under("version"), VersionHandler),
        (under("runs"), RunsHandler),
        (under("runs", "([0-9]+)"), RunHandler),
    ]
