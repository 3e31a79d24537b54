"""Dropping a real TCP connection from inside an ASGI app.

ASGI gives an app no handle on its socket, so uvicorn runs with :func:`protocol_class`, an
``H11Protocol`` subclass that records each connection's transport by peer address. The app
finds its own connection through ``scope["client"]`` and aborts it: the client sees the
connection reset or closed with no HTTP answer (httpx: ``RemoteProtocolError``/``ReadError``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ConnectionRegistry", "protocol_class"]


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


def protocol_class(registry: ConnectionRegistry) -> type[H11Protocol]:
    """An ``H11Protocol`` subclass that keeps ``registry`` up to date; pass it as ``http=``."""

    class TrackedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client is not None:
                registry.add(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client is not None:
                registry.discard(self.client, self.transport)
            super().connection_lost(exc)

    return TrackedH11Protocol
