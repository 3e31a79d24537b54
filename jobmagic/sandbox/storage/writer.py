"""The one thread that stores log lines and run endings, in the order they were queued."""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable
from typing import NamedTuple

from jobmagic.sandbox.storage.records import LogRecord, RunEnd
from jobmagic.sandbox.storage.store import Store

__all__ = ["Writer"]

logger = logging.getLogger("jobmagic.sandbox")

_BATCH = 1000


class _Ending(NamedTuple):
    end: RunEnd
    then: Callable[[], None]


class Writer:
    """Stores log lines and run endings, and runs actions, on one thread, in FIFO order.

    A run's end queued after its lines is stored after them: a client that sees a terminal
    status and then reads the logs gets every line. What is already queued is stored
    together, so under load a commit carries many lines, and one more many endings.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[LogRecord | _Ending | Callable[[], None] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="sandbox-log-writer", daemon=True)
        self._thread.start()

    def log(self, record: LogRecord) -> None:
        self._queue.put(record)

    def finish(self, end: RunEnd, then: Callable[[], None]) -> None:
        """Store a run's end after every line queued before it; ``then`` runs once it is
        stored (or could not be)."""
        self._queue.put(_Ending(end, then))

    def call(self, action: Callable[[], None]) -> None:
        self._queue.put(action)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            lines: list[LogRecord] = []
            endings: list[_Ending] = []
            # Drain what is already queued: under load it is stored in few transactions.
            while True:
                if item is None:
                    self._flush(lines, endings)
                    return
                if isinstance(item, LogRecord):
                    lines.append(item)
                elif isinstance(item, _Ending):
                    endings.append(item)
                else:
                    self._flush(lines, endings)
                    lines, endings = [], []
                    self._run(item)
                if len(lines) + len(endings) >= _BATCH:
                    self._flush(lines, endings)
                    lines, endings = [], []
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._flush(lines, endings)

    def _flush(self, lines: list[LogRecord], endings: list[_Ending]) -> None:
        # Lines first: each ending's own lines were queued before it.
        if lines:
            try:
                self._store.append_logs(lines)
            except Exception:
                logger.exception("could not store %d log lines", len(lines))
        if endings:
            try:
                self._store.finish_runs([ending.end for ending in endings])
            except Exception:
                # One bad ending must not lose the others': store them one by one.
                for ending in endings:
                    self._run(functools.partial(self._finish_one, ending.end))
            for ending in endings:
                self._run(ending.then)

    def _finish_one(self, end: RunEnd) -> None:
        self._store.finish_runs([end])

    @staticmethod
    def _run(action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            logger.exception("could not record the end of a run")
