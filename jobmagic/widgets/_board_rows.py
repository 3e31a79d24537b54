"""The rows a runs board shows: the shown page's sources, listened to while their runs live.

Subscription callbacks only record each run's new state and say that something changed;
the board decides when to redraw (a 200-run sweep means 200 callbacks per tracker tick).
While a row's run lives, the rows also say so at every second of the kernel's clock
(:func:`jobmagic._ticks.every_second`): live durations move on as the card's and the
``--wait`` line's do, not in steps of the poll interval.

>>> rows = BoardRows(on_change=lambda: None)
>>> rows.snapshot(), rows.subscriptions
([], 0)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobmagic._ticks import every_second
from jobmagic.models import JobRun
from jobmagic.models.formatting import run_state_key
from jobmagic.widgets._board_text import latest_metrics
from jobmagic.widgets._source import RunSource

__all__ = ["BoardRows", "RowState"]


@dataclass
class _Row:
    source: RunSource
    run: JobRun
    stale_since: datetime | None = None
    unsubscribe: Callable[[], None] | None = None


@dataclass(frozen=True)
class RowState:
    """One row as it is now: what the table, the counts and the saved copies show."""

    source: RunSource
    run: JobRun
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    stale_since: datetime | None


class BoardRows:
    """The shown rows, in board order; ``on_change()`` is called (outside the rows' lock,
    from the tracker's thread) when a row's run changed and the board should redraw."""

    def __init__(
        self,
        on_change: Callable[[], None],
        *,
        clock: Callable[[Callable[[datetime], None]], Any] | None = None,
    ) -> None:
        self._on_change = on_change
        self._clock = clock or every_second
        self._lock = threading.RLock()
        self._rows: list[_Row] = []
        self._closed = False
        self._stop_clock: Callable[[], None] | None = None

    def show(self, sources: Sequence[RunSource]) -> None:
        """Show ``sources`` instead of the rows shown so far (a page change)."""
        with self._lock:
            if self._closed:
                return
            previous, self._rows = self._rows, []
        for row in previous:
            self._release(row)
        for source in sources:
            self.add(source)

    def add(self, source: RunSource) -> None:
        """Append a row; listen to its run until it ends."""
        row = _Row(source, source.run, source.stale_since)
        source.want_metrics()  # its metric columns stay current while it is shown
        with self._lock:
            if self._closed:
                return
            self._rows.append(row)
        if row.run.is_terminal:
            return
        self._follow_clock()

        def callback(run: JobRun, stale_since: datetime | None) -> None:
            self._on_update(row, run, stale_since)

        unsubscribe = source.subscribe(callback)
        with self._lock:
            row.unsubscribe = unsubscribe
            # An update may have landed between reading source.run and subscribing.
            latest = source.run
            done = row.run.is_terminal or latest.is_terminal or self._closed
            if latest != row.run:
                row.run = latest
        if done:
            self._release(row)

    def close(self) -> None:
        """Let go of every row's subscription; the rows keep their last known runs."""
        with self._lock:
            self._closed = True
            rows = list(self._rows)
        for row in rows:
            self._release(row)
        self._stop_following_clock()

    @property
    def follows_clock(self) -> bool:
        """True while the rows redraw at every second (some shown run still lives)."""
        with self._lock:
            return self._stop_clock is not None

    def _follow_clock(self) -> None:
        with self._lock:
            if self._stop_clock is not None or self._closed:
                return
            self._stop_clock = self._clock(self._on_second)

    def _stop_following_clock(self) -> None:
        with self._lock:
            stop, self._stop_clock = self._stop_clock, None
        if stop is not None:
            stop()

    def _on_second(self, _now: datetime) -> None:
        """Clock callback: live rows' durations moved on; once none lives, stop listening."""
        with self._lock:
            runs = (
                [] if self._closed else [row.run for row in self._rows if not row.run.is_terminal]
            )
        if any(run.created_at is not None and run.end_time is None for run in runs):
            self._on_change()  # a duration moved on (one without a start time stands still)
        elif not runs:
            self._stop_following_clock()

    def _release(self, row: _Row) -> None:
        with self._lock:
            unsubscribe, row.unsubscribe = row.unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _on_update(self, row: _Row, run: JobRun, stale_since: datetime | None) -> None:
        """Subscription callback (tracker thread): record, then say the board changed."""
        with self._lock:
            if self._closed:
                return
            # A live run's moving duration is the clock's to redraw (:meth:`_on_second`).
            changed = run != row.run or stale_since != row.stale_since
            row.run = run
            row.stale_since = stale_since
        if run.is_terminal:
            self._release(row)
        if changed:
            self._on_change()

    # -- what the rows say ---------------------------------------------------------------

    def snapshot(self) -> list[RowState]:
        """Every row as it is now, read at once."""
        with self._lock:
            rows = [(row.source, row.run, row.stale_since) for row in self._rows]
        return [
            RowState(source, run, source.params, latest_metrics(source), stale)
            for source, run, stale in rows
        ]

    @property
    def sources(self) -> list[RunSource]:
        with self._lock:
            return [row.source for row in self._rows]

    @property
    def runs(self) -> list[JobRun]:
        with self._lock:
            return [row.run for row in self._rows]

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def source_at(self, index: int) -> RunSource:
        with self._lock:
            return self._rows[index].source

    @property
    def subscriptions(self) -> int:
        """How many sources the rows still listen to."""
        with self._lock:
            return sum(1 for row in self._rows if row.unsubscribe is not None)

    def all_ended(self) -> bool:
        with self._lock:
            return all(row.run.is_terminal for row in self._rows)

    def state_key(self) -> tuple[object, ...]:
        """What the saved copies show of the rows: each run's state and latest metrics, and
        whether polling any of them is failing."""
        rows = self.snapshot()
        states = tuple((run_state_key(r.run), tuple(r.metrics.items())) for r in rows)
        return (states, any(r.stale_since for r in rows))
