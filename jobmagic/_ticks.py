"""Batches of updates, and the one clock every view of a live run re-renders on.

The tracker runs each tick inside :func:`tick_batch`; a view's update callback asks
:func:`after_tick` to run its redraw once the batch is over (the same callback asked for
twice runs once). Outside a batch (a refresh button, a test) it says so and the view redraws
at once. Thread-local: only the tracker's own thread is ever inside a batch.

Times that move (a live run's duration, "3 min ago") are computed from :func:`clock_now`,
the last whole second of the wall clock, and every view that shows a live run re-renders
on :func:`every_second`: a card, a board and the ``--wait`` line showing one run at the same
moment show the same duration, and it moves on once a second in all of them.

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
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

__all__ = ["Clock", "after_tick", "clock_now", "every_second", "tick_batch"]

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


def clock_now(wall: float | None = None) -> datetime:
    """The time live durations are shown at: the last whole second of the wall clock (of
    ``wall``, seconds since the epoch, if given), so views rendered in the same second agree;
    during a clock's tick, the second it ticks (every view it redraws shows that one).

    >>> clock_now(1714564800.73).isoformat()
    '2024-05-01T12:00:00+00:00'
    """
    ticking: datetime | None = getattr(_batch, "now", None)
    if wall is None and ticking is not None:
        return ticking
    seconds = math.floor(time.time() if wall is None else wall)
    return datetime.fromtimestamp(seconds, timezone.utc)


#: What a clock calls each second: the second's :func:`clock_now`.
Tick = Callable[[datetime], None]


class Clock:
    """One thread that calls every subscriber at each whole second while there are any.

    It starts with the first subscriber and ends by itself when the last one leaves; each
    round runs inside :func:`tick_batch` (one broken view does not stop the others). A
    ``manual`` clock starts no thread: whoever holds it calls :meth:`tick` (a test's clock).

    >>> clock = Clock(manual=True)
    >>> seen = []
    >>> stop = clock.subscribe(seen.append)
    >>> clock.tick(clock_now(0.0)); seen
    [datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)]
    >>> stop(); clock.subscribers
    0
    """

    def __init__(self, *, wall: Callable[[], float] = time.time, manual: bool = False) -> None:
        self._wall = wall
        self._manual = manual
        self._lock = threading.Lock()
        self._subscribers: dict[int, Tick] = {}
        self._next_id = 0
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def subscribe(self, callback: Tick) -> Callable[[], None]:
        """Call ``callback(now)`` every second until the returned function is called."""
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._subscribers[key] = callback
            if not self._manual and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._loop, name="jobmagic-clock", daemon=True
                )
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)
            self._changed.set()

        return unsubscribe

    def tick(self, now: datetime) -> None:
        """One round: every subscriber hears ``now`` (the clock's thread calls this)."""
        with self._lock:
            callbacks = list(self._subscribers.values())
        _batch.now = now
        try:
            with tick_batch():
                for callback in callbacks:
                    with contextlib.suppress(Exception):
                        callback(now)
        finally:
            _batch.now = None

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._subscribers:
                    self._thread = None
                    return
            wall = self._wall()
            # Wake just after the next whole second, so the second shown is the new one.
            self._changed.wait(math.floor(wall) + 1.0 - wall + 0.002)
            if self._changed.is_set():
                self._changed.clear()
                continue  # a subscriber left: maybe the last one
            self.tick(clock_now(self._wall()))


_CLOCK = Clock()


def every_second(callback: Tick) -> Callable[[], None]:
    """Call ``callback(now)`` at every whole second (on the kernel's one clock thread)
    until the returned function is called: what a view of a live run re-renders on."""
    return _CLOCK.subscribe(callback)
