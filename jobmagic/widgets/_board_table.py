"""A runs board's table: the counts line over it, one row per shown run, and "Sort by".

The table is one ``HTML`` widget, so a redraw of 50 rows is one trait update (and none when
nothing changed). Once some run reports metrics, each metric gets a column with its best
value marked, and the "Sort by" dropdown orders the rows by one, best first: only metrics
whose direction is known (a sweep's objective, ``%config JobMagic.metric_goals``, the name's
last token) are ranked; a sweep's board is sorted by its objective until the user chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import ipywidgets as widgets

from jobmagic._ticks import clock_now
from jobmagic.models.metrics import MetricGoals
from jobmagic.widgets._board_rows import RowState
from jobmagic.widgets._board_text import board_counts_html, board_counts_line
from jobmagic.widgets._metrics_html import metric_names, sort_best_first
from jobmagic.widgets.static import runs_table_html

__all__ = ["BoardTable"]

_TRIGGER_ORDER = ("trigger order", "")


class BoardTable:
    """The counts line, the table and the "Sort by" dropdown; ``on_sort()`` is called when
    the chosen sort changes (the board redraws).

    >>> table = BoardTable(on_sort=lambda: None)
    >>> table.draw([], {}, note="")
    >>> table.counts_label.value
    '<span class="jobmagic-board-counts-text">no runs yet</span>'
    """

    def __init__(self, on_sort: Callable[[], None]) -> None:
        self.counts_label = widgets.HTML()
        self.counts_label.add_class("jobmagic-board-counts")
        self.table = widgets.HTML()
        self.table.add_class("jobmagic-board-table-widget")
        # Shown once some run has metrics: order the table by one, best first.
        self.sort_select = widgets.Dropdown(
            options=[_TRIGGER_ORDER], value="", description="Sort by"
        )
        self.sort_select.add_class("jobmagic-board-sort")
        self.sort_select.layout.display = "none"
        # True while the options follow the metrics: that is no choice of the user's, and a
        # draw is already under way.
        self._syncing = False
        self._chosen = False  # the user picked a sort: the objective no longer chooses it
        self.sort_select.observe(self._on_sort_change(on_sort), names="value")
        self.widgets: list[widgets.Widget] = [self.counts_label, self.table, self.sort_select]

    def draw(
        self,
        rows: Sequence[RowState],
        status_counts: Mapping[str, int],
        *,
        note: str,
        now: datetime | None = None,
        goals: MetricGoals | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Show ``rows`` under the counts (``status_counts``: of every page) and ``note``;
        ``goals`` say which way each metric ranks."""
        stale = [row.stale_since for row in rows if row.stale_since]
        counts_html = board_counts_html(board_counts_line(status_counts, stale), note)
        entries = [(row.run, row.params) for row in rows]
        metrics = [row.metrics for row in rows]
        known = goals if goals is not None else MetricGoals()
        ranked = [name for name in metric_names(metrics) if known.goal(name) is not None]
        self._sync_sort_options(ranked, known.objective.metric if known.objective else "")
        if self.sort_select.value:
            order = sort_best_first(metrics, self.sort_select.value, known)
            entries, metrics = [entries[i] for i in order], [metrics[i] for i in order]
        now = now or clock_now()  # the second every view shows live durations at
        table_html = runs_table_html(entries, now=now, metrics=metrics, goals=known, labels=labels)
        if self.counts_label.value != counts_html:
            self.counts_label.value = counts_html
        if self.table.value != table_html:
            self.table.value = table_html

    def _on_sort_change(self, on_sort: Callable[[], None]) -> Callable[[object], None]:
        def observer(_change: object) -> None:
            if not self._syncing:
                self._chosen = True
                on_sort()

        return observer

    def _sync_sort_options(self, names: list[str], objective: str = "") -> None:
        # Metric names only ever grow, so the choice survives.
        options = [_TRIGGER_ORDER, *((name, name) for name in names)]
        if list(self.sort_select.options) != options:
            chosen = self.sort_select.value
            if not self._chosen and objective in names:
                chosen = objective
            self._syncing = True
            try:
                self.sort_select.options = options
                self.sort_select.value = chosen if chosen in names else ""
            finally:
                self._syncing = False
        self.sort_select.layout.display = "" if names else "none"
