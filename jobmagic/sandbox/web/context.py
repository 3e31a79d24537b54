"""What the routes share: the service, the token, faults, stats and live connections.

:func:`~jobmagic.sandbox.web.app.create_app` puts one :class:`AppContext` in
``app.state.ctx``; handlers, admin endpoints and the guard read it with
:func:`app_context`. It sits below all of them, so none needs the route table's module.

>>> from types import SimpleNamespace
>>> app = SimpleNamespace(state=SimpleNamespace(ctx="the context"))
>>> app_context(app)
'the context'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobmagic.sandbox.service.operations import SandboxService
from jobmagic.sandbox.web.connections import ConnectionRegistry
from jobmagic.sandbox.web.faults import FaultPlan, RequestStats

__all__ = ["AppContext", "app_context"]


@dataclass
class AppContext:
    """What the routes need: the service, the token, faults, stats and live connections."""

    service: SandboxService
    token: str
    faults: FaultPlan
    stats: RequestStats
    connections: ConnectionRegistry | None = None


def app_context(app: Any) -> AppContext:
    """The context of a Starlette ``app`` (``request.app``, or ``scope["app"]``)."""
    ctx: AppContext = app.state.ctx
    return ctx
