"""Runs' latest metric values on their way to the ledger's metric cache, written together.

Every fetch that finds a run's values changed puts them here (a session's handles do:
:meth:`jobmagic.domain.session.JobSession.handle_for`); a moment later (or at
:meth:`MetricCache.flush`, or at exit) they go to the ledger in one transaction
(:meth:`jobmagic.ledger.Ledger.set_metrics`), so a tracker tick over a 200-run sweep, or a
board page of ended runs, costs one commit, not one per run. Readers of the cache
(:func:`jobmagic.sweeps`, :func:`jobmagic.load_sweep`) flush first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from jobmagic._later import Later

if TYPE_CHECKING:
    from jobmagic.ledger import Ledger

__all__ = ["MetricCache"]

_Row = tuple[str, str, str, float, "int | None"]


class MetricCache:
    """Values queued for ``ledger()``'s metric cache; the last value of a metric wins.

    A cache: a write that fails is logged by the writer thread (or raised to a caller of
    :meth:`flush`), never in a fetch's way.
    """

    def __init__(self, ledger: Callable[[], Ledger]) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str, str], _Row] = {}
        self._closed = False
        self._later = Later(self.flush)

    def put(self, app_id: str, run_name: str, latest: Mapping[str, float]) -> None:
        """Queue a run's latest values (written within a moment)."""
        with self._lock:
            if self._closed:
                return
            for name, value in latest.items():
                self._rows[(app_id, run_name, name)] = (app_id, run_name, name, value, None)
        self._later.wake()

    def flush(self) -> None:
        """Write what is queued now, in one transaction."""
        with self._lock:
            rows, self._rows = list(self._rows.values()), {}
        if rows:
            self._ledger().set_metrics(rows)

    def close(self) -> None:
        """Write what is queued and stop the writer; later values are dropped."""
        self._later.stop()
        with self._lock:
            self._closed = True
        self.flush()
