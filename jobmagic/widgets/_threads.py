"""The ways views start background work: a named daemon thread that never raises, and a
one-shot timer that coalesces a burst of redraws.

Button actions (refresh, terminate, fetch logs, trigger) block on HTTP, so
they run here and report back by setting widget traits. An exception that
escaped a thread would be printed by :func:`threading.excepthook` into
whichever cell happens to be running, so the wrapper swallows it; callers
catch and show their own errors before that.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

__all__ = ["Coalescer", "start_worker"]


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


class Coalescer:
    """Runs ``action`` on :meth:`request`, at most once every ``min_interval`` seconds.

    The first request of a burst runs at once (in the caller's thread); the rest wait for
    one one-shot timer, which runs the action once if it has not run since, so the last
    change of a burst (a run's final FINISHED) is never left unshown. The action calls
    :meth:`ran` whenever it runs, also when called directly.

    >>> calls = []
    >>> redraw = Coalescer(lambda: (calls.append("redraw"), redraw.ran()), min_interval=60)
    >>> redraw.request(); redraw.request(); redraw.request()
    >>> calls
    ['redraw']
    >>> redraw.stop()  # the pending redraw is dropped
    """

    def __init__(self, action: Callable[[], object], *, min_interval: float) -> None:
        self._action = action
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._pending = False
        self._last_run = float("-inf")
        self._timer: threading.Timer | None = None
        self._stopped = False

    def request(self) -> None:
        """Run the action now, or once when the interval since its last run is over."""
        with self._lock:
            if self._stopped:
                return
            self._pending = True
            if self._timer is not None:
                return  # a run is already scheduled; it will include this change
            delay = self._last_run + self._min_interval - time.monotonic()
            if delay > 0:
                self._timer = threading.Timer(delay, self._fire)
                self._timer.daemon = True
                self._timer.start()
                return
        self._action()

    def ran(self) -> None:
        """The action ran: what was requested is done, and the interval starts now."""
        with self._lock:
            self._pending = False
            self._last_run = time.monotonic()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            if not self._pending or self._stopped:
                return
        with contextlib.suppress(Exception):
            self._action()

    def stop(self) -> None:
        """Run the action no more; drop a pending run."""
        with self._lock:
            self._stopped = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
