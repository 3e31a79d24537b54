"""Live client connections, by peer address, so the app can drop one on purpose.

ASGI gives an app no handle on its socket: the server's HTTP protocol
(:func:`jobmagic.sandbox.serving.http_stack.protocol_class`) records each connection's
transport here, and the app finds its own through ``scope["client"]`` and aborts it. The
client sees the connection reset or closed with no HTTP answer (httpx:
``RemoteProtocolError``/``ReadError``): the ``drop`` fault.

>>> registry = ConnectionRegistry()
>>> registry.abort(("127.0.0.1", 5000)), len(registry)
(False, 0)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

__all__ = ["ConnectionRegistry"]


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
