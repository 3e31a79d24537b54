"""The one way views start background work: a named daemon thread that never raises.

Button actions (refresh, terminate, fetch logs, trigger) block on HTTP, so
they run here and report back by setting widget traits. An exception that
escaped a thread would be printed by :func:`threading.excepthook` into
whichever cell happens to be running, so the wrapper swallows it; callers
catch and show their own errors before that.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

__all__ = ["start_worker"]


def start_worker(target: Callable[[], None], *, name: str) -> threading.Thread:
    """Run ``target()`` in a new daemon thread and return the (started) thread.

    >>> start_worker(lambda: None, name="jobmagic-demo").join(1)
    """

    def guarded() -> None:
        with contextlib.suppress(BaseException):
            target()

    thread = threading.Thread(target=guarded, name=name, daemon=True)
    thread.start()
    return thread
