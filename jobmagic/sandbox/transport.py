"""Dropping a real TCP connection from inside an ASGI app, and the fastest HTTP stack there is.

ASGI gives an app no handle on its socket, so uvicorn runs with :func:`protocol_class`, a
subclass of uvicorn's HTTP protocol that records each connection's transport by peer address.
The app finds its own connection through ``scope["client"]`` and aborts it: the client sees
the connection reset or closed with no HTTP answer (httpx: ``RemoteProtocolError``/``ReadError``).

The protocol is uvicorn's ``httptools`` one when that package is installed (the ``sandbox``
extra has it): its C parser costs about half what pure-Python ``h11`` does per request, and
the HTTP layer was most of the sandbox's CPU per trigger. Without it, ``h11`` serves the same.
:func:`event_loop` likewise picks ``uvloop`` when it is importable.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import Any

__all__ = ["ConnectionRegistry", "event_loop", "http_implementation", "protocol_class"]


class ConnectionRegistry:
    """Live transports by peer ``(host, port)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: dict[tuple[str, int], asyncio.Transport] = {}

    def add(self, peer: tuple[str, int], transport: asyncio.Transport) -> None:
        with self._lock:
            self._transports[peer] = transport

    def discard(self, peer: tuple[str, int], transport: asyncio.Transport) -> None:
        with self._lock:
            if self._transports.get(peer) is transport:
                del self._transports[peer]

    def get(self, peer: Any) -> asyncio.Transport | None:
        if not isinstance(peer, (tuple, list)) or len(peer) != 2:
            return None
        with self._lock:
            return self._transports.get((peer[0], peer[1]))

    def abort(self, peer: Any) -> bool:
        """Abort the connection of ``peer`` (RST, buffers discarded); False if unknown."""
        transport = self.get(peer)
        if transport is None:
            return False
        transport.abort()
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._transports)


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
