"""Writes made a moment later: a thread that runs them while the caller waits on the network,
and an exit hook so none is left behind (the ledger's acknowledgements, the metric cache).

An acknowledgement (the run the server started for an attempt) is one such write. The
attempt itself is committed before its trigger is sent, so if the process dies before the
acknowledgement is written, the attempt stays ``pending`` with its params, and
``%job_runs --reconcile`` finds its run on the server: a late acknowledgement loses
nothing. Written in the caller's thread instead, it is a commit on every trigger's path.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable

__all__ = ["DELAY", "Later"]

#: How long after the first queued write the thread writes all that is queued by then.
DELAY = 0.05

logger = logging.getLogger("jobmagic")


class Later:
    """Calls ``flush`` on a thread of its own ``delay`` seconds after :meth:`wake`, and at
    exit.

    ``flush`` writes whatever its owner queued; it must be safe to call when nothing is
    queued, and from any thread (the owner's reads call it too, to see their own writes).
    Wakes between one flush and the next cost nothing: triggers in a loop queue many
    writes, which then go in one transaction, at a moment the caller is most likely
    waiting on the network (a flush at every wake contended with the caller's own next
    write, and each wake-up of the thread is a switch of the GIL).
    """

    def __init__(self, flush: Callable[[], None], delay: float = DELAY) -> None:
        self._flush = flush
        self._delay = delay
        self._wakeup = threading.Event()
        self._armed = False  # a flush is due: the thread is counting down to it
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        """Have ``flush`` called within ``delay`` seconds (the thread starts on the first
        wake)."""
        if self._armed:
            return
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(
                        target=self._loop, name="jobmagic-ledger-later", daemon=True
                    )
                    self._thread.start()
                    _flush_at_exit(self)
        self._armed = True
        self._wakeup.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is queued and stop the thread. Idempotent."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wakeup.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._run_flush()

    def _loop(self) -> None:
        while True:
            self._wakeup.wait()
            self._wakeup.clear()
            if not self._stopping:
                self._wakeup.wait(self._delay)  # only stop() sets it meanwhile
            if self._stopping:
                return
            # Disarmed before the flush: what is queued during it arms the next one.
            self._armed = False
            self._run_flush()

    def _run_flush(self) -> None:
        try:
            self._flush()
        except Exception:
            # What was queued stays as it was written before (an attempt stays pending),
            # which `%job_runs --reconcile` settles: logged, never raised in a thread.
            logger.warning("jobmagic could not write to its ledger", exc_info=True)


def _flush_at_exit(later: Later) -> None:
    # A weak reference: the hook must not keep a closed ledger (and its owner) alive.
    ref = weakref.ref(later)

    def hook() -> None:
        alive = ref()
        if alive is not None:
            alive.stop()

    atexit.register(hook)
