"""Batches of updates: a view that hears of many runs in one tracker tick redraws once.

The tracker runs each tick inside :func:`tick_batch`; a view's update callback asks
:func:`after_tick` to run its redraw once the batch is over (the same callback asked for
twice runs once). Outside a batch (a refresh button, a test) it says so and the view redraws
at once. Thread-local: only the tracker's own thread is ever inside a batch.

>>> calls = []
>>> after_tick(lambda: calls.append("redraw"))
False
>>> redraw = lambda: calls.append("redraw")
>>> with tick_batch():
...     after_tick(redraw), after_tick(redraw)
(True, True)
>>> calls
['redraw']
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

__all__ = ["after_tick", "tick_batch"]

_batch = threading.local()


def after_tick(callback: Callable[[], None]) -> bool:
    """Run ``callback`` once when the current batch is over; False (and nothing done)
    outside a batch."""
    pending: dict[Callable[[], None], None] | None = getattr(_batch, "pending", None)
    if pending is None:
        return False
    pending[callback] = None
    return True


@contextlib.contextmanager
def tick_batch() -> Iterator[None]:
    """Collect :func:`after_tick` callbacks; run each once at the end (one broken view must
    not stop the others)."""
    _batch.pending = {}
    try:
        yield
    finally:
        pending, _batch.pending = _batch.pending, None
        for callback in pending:
            with contextlib.suppress(Exception):
                callback()
