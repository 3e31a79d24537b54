"""The fastest HTTP stack installed for uvicorn, with connections tracked for the app.

uvicorn runs with :func:`protocol_class`, a subclass of its HTTP protocol that records each
connection's transport in a :class:`~jobmagic.sandbox.web.connections.ConnectionRegistry`
by peer address (how the ``drop`` fault finds the socket to abort).

The protocol is uvicorn's ``httptools`` one when that package is installed (the ``sandbox``
extra has it): its C parser costs about half what pure-Python ``h11`` does per request, and
the HTTP layer was most of the sandbox's CPU per trigger. Without it, ``h11`` serves the same.
:func:`event_loop` likewise picks ``uvloop`` when it is importable.

>>> http_implementation(prefer_httptools=False)
'h11'
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from jobmagic.sandbox.web.connections import ConnectionRegistry

__all__ = ["event_loop", "http_implementation", "protocol_class"]


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def http_implementation(prefer_httptools: bool = True) -> str:
    """``"httptools"`` when it is installed (and preferred), else ``"h11"``."""
    return "httptools" if prefer_httptools and _importable("httptools") else "h11"


def event_loop() -> str:
    """uvicorn's ``loop=`` setting: ``"uvloop"`` when it is installed, else ``"asyncio"``."""
    return "uvloop" if _importable("uvloop") else "asyncio"


def _base_protocol(implementation: str) -> type[asyncio.Protocol]:
    if implementation == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def protocol_class(
    registry: ConnectionRegistry, implementation: str | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (``implementation``: ``"httptools"`` or ``"h11"``; the best
    installed by default), subclassed to keep ``registry`` up to date; pass it as ``http=``."""
    base: Any = _base_protocol(implementation or http_implementation())

    class TrackedProtocol(base):
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if self.client is not None:
                registry.add(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client is not None:
                registry.discard(self.client, self.transport)
            super().connection_lost(exc)

    TrackedProtocol.__name__ = TrackedProtocol.__qualname__ = f"Tracked{base.__name__}"
    return TrackedProtocol
