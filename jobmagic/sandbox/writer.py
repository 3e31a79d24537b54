"""The one thread that stores log lines and run endings, in the order they were queued."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from jobmagic.sandbox.store import LogRecord, Store

__all__ = ["Writer"]

logger = logging.getLogger("jobmagic.sandbox")

_BATCH = 1000


class Writer:
    """Stores log lines and runs actions (a run's end) on one thread, in FIFO order.

    A run's end queued after its lines is stored after them: a client that sees a terminal
    status and then reads the logs gets every line. Lines already queued are stored in one
    transaction, so under load a commit carries many.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[LogRecord | Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="sandbox-log-writer", daemon=True)
        self._thread.start()

    def log(self, record: LogRecord) -> None:
        self._queue.put(record)

    def call(self, action: Callable[[], None]) -> None:
        self._queue.put(action)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[LogRecord] = []
            # Drain what is already queued: under load lines are stored in one transaction.
            while True:
                if item is None:
                    self._flush(batch)
                    return
                if isinstance(item, LogRecord):
                    batch.append(item)
                else:
                    self._flush(batch)
                    batch = []
                    self._run(item)
                if len(batch) >= _BATCH:
                    self._flush(batch)
                    batch = []
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._flush(batch)

    def _flush(self, batch: list[LogRecord]) -> None:
        if batch:
            try:
                self._store.append_logs(batch)
            except Exception:
                logger.exception("could not store %d log lines", len(batch))

    @staticmethod
    def _run(action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            logger.exception("could not record the end of a run")
