"""The extension's REST handlers, one route table (imports jupyter_server: load lazily).

>>> [pattern for pattern, _handler in route_table("/")]
['/jobmagic/version']
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from jobmagic._version import __version__
from jobmagic.config import Settings
from jobmagic.ledger import default_ledger_path

__all__ = ["VersionHandler", "route_table"]


class VersionHandler(APIHandler):
    """``GET jobmagic/version``: which jobmagic answers, and which ledger it reads."""

    @tornado.web.authenticated
    def get(self) -> None:
        ledger = Settings().ledger_path or str(default_ledger_path())
        self.finish(json.dumps({"version": __version__, "ledger": ledger}))


def route_table(base_url: str) -> list[tuple[str, Any]]:
    """Every handler, under ``base_url``."""
    return [(url_path_join(base_url, "jobmagic", "version"), VersionHandler)]
