"""The run card's Logs panel: a tail first, then only the lines after the last read.

:class:`CardLogs` is mixed into :class:`jobmagic.widgets.card.RunCard`; it fetches in a worker
thread, at most every :data:`LOG_REFRESH_SECONDS` while the run lives, and keeps the lines the
panel last showed for the card's saved copy.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from jobmagic.models import LogLine
from jobmagic.models.formatting import short_error
from jobmagic.models.text import view_html
from jobmagic.widgets._card_widgets import show
from jobmagic.widgets._source import RunSource
from jobmagic.widgets._threads import start_worker
from jobmagic.widgets.static import log_lines_html

__all__ = ["LOG_REFRESH_SECONDS", "PANEL_LINE_CHARS", "CardLogs"]

#: The Logs panel fetches at most this often while the run is live.
LOG_REFRESH_SECONDS = 2.0


#: The Logs panel keeps this many characters of a line: a line of megabytes would otherwise
#: stay in the panel (and go to the browser) whole.
PANEL_LINE_CHARS = 4000


def _panel_line(line: LogLine) -> LogLine:
    """``line`` as the Logs panel keeps it: cut to :data:`PANEL_LINE_CHARS`.

    >>> _panel_line(LogLine("x" * 5000)).log[-3:], len(_panel_line(LogLine("x" * 5000)).log)
    ('xx…', 4000)
    """
    if len(line.log) <= PANEL_LINE_CHARS:
        return line
    return replace(line, log=line.log[: PANEL_LINE_CHARS - 1] + "…")


class CardLogs:
    """The Logs panel's state and worker, for a card that has ``logs``/``logs_toggle``
    widgets, a ``_source``, a ``_lock`` and ``_update_outputs``."""

    logs: widgets.HTML
    logs_toggle: widgets.ToggleButton
    _source: RunSource
    _lock: threading.RLock
    _closed: bool

    def _init_logs(self, log_tail: int) -> None:
        self._log_tail = log_tail
        self._logs_busy = False
        self._logs_again = False
        self._logs_fetched_at = float("-inf")
        # What the Logs panel shows, and where the lines after them start (the logs worker's).
        self._log_lines: deque[LogLine] = deque(maxlen=log_tail)
        self._log_cursor: object | None = None
        # The lines the panel last showed, kept in the card's saved copy (and how often
        # they changed: part of the state that re-sends the copy).
        self._copied_logs: tuple[LogLine, ...] = ()
        self._copied_logs_version = 0

    if TYPE_CHECKING:
        # The card's LiveView re-sends its copies; declared here for type checking only, so
        # this mixin never hides it.
        def _update_outputs(self) -> bool: ...

    def _on_logs_toggle(self, change: dict[str, Any]) -> None:
        opened = bool(change.get("new"))
        with self._lock:
            if self._closed:
                return
            show(self.logs, opened)
            if opened and not self.logs.value:
                self.logs.value = '<span class="jobmagic-muted">Loading logs…</span>'
        if opened:
            self._fetch_logs(force=True)

    def _fetch_logs(self, *, force: bool) -> None:
        """Fetch new log lines in a worker, if the panel is open and not fetched too
        recently."""
        with self._lock:
            if self._closed or not self.logs_toggle.value:
                return
            if self._logs_busy:
                # A forced fetch (panel opened, run ended) must not be lost: redo it after.
                self._logs_again = self._logs_again or force
                return
            now = time.monotonic()
            if not force and now - self._logs_fetched_at < LOG_REFRESH_SECONDS:
                return
            self._logs_busy = True
            self._logs_fetched_at = now
        start_worker(self._do_fetch_logs, name="jobmagic-card-logs")

    def _do_fetch_logs(self) -> None:
        lines: tuple[LogLine, ...] | None = None
        try:
            lines = tuple(self._read_new_logs())
        except Exception as exc:
            problem = view_html(f"Could not fetch logs: {short_error(exc)}")
            value = f'<span class="jobmagic-message-error">{problem}</span>'
        else:
            value = log_lines_html(lines, tail=self._log_tail)
        copied = False
        with self._lock:
            self._logs_busy = False
            again, self._logs_again = self._logs_again, False
            if not self._closed and self.logs_toggle.value:
                self.logs.value = value
                if lines is not None and lines != self._copied_logs:
                    self._copied_logs = lines
                    self._copied_logs_version += 1
                    copied = True
        if copied:
            self._update_outputs()
        if again:
            self._fetch_logs(force=True)

    def _read_new_logs(self) -> list[LogLine]:
        """The panel's lines with what is new read (in the one logs worker).

        The first read is the tail; later ones ask only for the lines after the cursor of
        the last read (a page of at most the panel's size), so a live run's panel costs one
        small page per refresh, not its tail again. A full page means more is new than the
        panel shows: then the tail is read instead of walking every page.
        """
        size = self._log_tail
        if self._log_cursor is not None:
            page = self._source.logs(since=self._log_cursor, limit=size)
            if not page.full:
                self._log_lines.extend(_panel_line(line) for line in page)
                self._log_cursor = page.next if page.next is not None else self._log_cursor
                return list(self._log_lines)
        page = self._source.logs(tail=size)
        self._log_lines = deque((_panel_line(line) for line in page), maxlen=size)
        self._log_cursor = page.next
        return list(self._log_lines)
