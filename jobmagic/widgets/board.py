"""The runs board: many runs in one live table, with counts per status and a way to open a card.

A board shows one page of its runs (50 by default) with buttons to page, and counts per
status for all of them: rows come from a :class:`~jobmagic.widgets.pages.RunPages` (a list
in memory, or the run ledger read a page at a time), and only the shown page's runs are
listened to, rendered and saved into the notebook.

A sweep of 200 runs means 200 subscription callbacks per tracker tick. The
board does not re-render on each: callbacks only record the new state, and
the table — one ``HTML`` widget, so one trait update — is rebuilt at most
every ``min_interval`` seconds (leading edge at once, the rest coalesced by a
one-shot timer), and only when something changed.

The board is put together from parts with one job each: the shown rows and their
subscriptions (:mod:`~jobmagic.widgets._board_rows`), the counts line, table and "Sort by"
(:mod:`~jobmagic.widgets._board_table`), the pager (:mod:`~jobmagic.widgets._board_pager`),
the run chooser and the area a card opens in (:mod:`~jobmagic.widgets._board_opener`), a
sweep's buttons (:mod:`~jobmagic.widgets._board_sweep`) and what it says as text
(:mod:`~jobmagic.widgets._board_text`).

>>> board = RunsBoard(sweep_result.handles)   # doctest: +SKIP
>>> board.add(another_handle)                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from jobmagic._ticks import after_tick
from jobmagic.models import JobRun
from jobmagic.models.metrics import MetricGoals
from jobmagic.widgets._board_opener import RunOpener
from jobmagic.widgets._board_pager import BoardPager
from jobmagic.widgets._board_rows import BoardRows
from jobmagic.widgets._board_sweep import SweepActions, SweepButtons
from jobmagic.widgets._board_table import BoardTable
from jobmagic.widgets._board_text import (
    board_snapshot_html,
    board_text,
    runs_summary,
    state_counts,
)
from jobmagic.widgets._source import RunSource
from jobmagic.widgets._threads import Coalescer
from jobmagic.widgets.card import RunCard
from jobmagic.widgets.live_view import LiveView
from jobmagic.widgets.pages import PAGE_SIZE, ListPages, RunPages
from jobmagic.widgets.static import style_block

__all__ = ["RunsBoard", "SweepActions"]


class RunsBoard(LiveView):
    """A compact live table of runs: name, status, params, duration, exit code.

    ``on_open(source)`` is called when the user opens a run from the board;
    by default a :class:`RunCard` for it appears under the table.

    The rows are ``sources`` (in that order), or ``pages`` (e.g. a
    :class:`~jobmagic.widgets.pages.LedgerPages`), shown ``page_size`` at a time;
    :meth:`show_page`, :meth:`newer` and :meth:`older` (the page buttons) move between pages.
    With ``actions`` (a sweep), buttons act on every run at once.

    ``goals`` (a :class:`~jobmagic.models.metrics.MetricGoals`, or a function giving the
    current one) say which way each metric column ranks: its best value gets the ★ and
    "Sort by" offers it; a sweep's own (its objective and ``%config JobMagic.metric_goals``)
    by default, else each metric name's last token. A metric of unknown direction is
    shown unranked.

    >>> board = RunsBoard([handle_a, handle_b])   # doctest: +SKIP
    >>> board.counts                               # doctest: +SKIP
    {'running': 1, 'finished': 1}
    """

    def __init__(
        self,
        sources: Sequence[RunSource] = (),
        *,
        pages: RunPages | None = None,
        page_size: int = PAGE_SIZE,
        on_open: Callable[[RunSource], None] | None = None,
        actions: SweepActions | None = None,
        min_interval: float = 0.5,
        note: str = "",
        goals: MetricGoals | Callable[[], MetricGoals] | None = None,
    ) -> None:
        if pages is not None and sources:
            raise ValueError("RunsBoard: give sources or pages, not both")
        # Spaced out: every update re-renders the board's widget in JupyterLab.
        super().__init__(min_interval=2.0)
        # Rows given as a list can grow (add); rows from pages are the pages' to say.
        self._list_pages: ListPages | None = None
        self._pages: RunPages
        if pages is None:
            self._pages = self._list_pages = ListPages(sources)
        else:
            self._pages = pages
        self._note = note
        self._goals = _goals_source(goals, actions)
        self._labels: Callable[[], Mapping[str, str]] = (
            actions.run_labels if actions is not None else dict
        )
        self._on_open = on_open
        self.renders = 0
        self._redraw = Coalescer(self.render, min_interval=min_interval)
        self._rows = BoardRows(on_change=self._on_row_change)
        self._build(page_size, actions)
        self._load_page()
        self.render()

    def _build(self, page_size: int, actions: SweepActions | None) -> None:
        self.style = widgets.HTML(value=style_block())
        self.style.add_class("jobmagic-style")
        self._table = table = BoardTable(on_sort=self.render)
        newest_first = getattr(self._pages, "newest_first", False)
        self._pager = pager = BoardPager(page_size, newest_first=newest_first, go=self.show_page)
        self._opener = opener = RunOpener(on_open=self.open)
        self._sweep: SweepButtons | None = None
        # The parts' widgets, under the names notebooks and tests know them by.
        self.counts_label = table.counts_label
        self.table = table.table
        self.sort_select = table.sort_select
        self.pager = pager.box
        self.newer_button = pager.newer_button
        self.older_button = pager.older_button
        self.page_label = pager.page_label
        self.select = opener.select
        self.open_button = opener.open_button
        self.output = opener.output
        controls = widgets.HBox([self.select, self.open_button, self.sort_select])
        controls.add_class("jobmagic-board-controls")
        sweep_rows = self._build_sweep(actions) if actions is not None else []
        # The sweep's buttons go above the area where cards (and a rerun's board) open.
        parts = [self.style, self.counts_label, self.pager, self.table, controls, *sweep_rows]
        self.widget = widgets.VBox([*parts, self.output])
        self.widget.add_class("jobmagic-board")
        sweep_widgets: list[widgets.Widget] = [] if self._sweep is None else self._sweep.widgets
        self._widgets: list[widgets.Widget] = [self.widget, controls, self.style]
        self._widgets += table.widgets + pager.widgets + opener.widgets + sweep_widgets

    def _build_sweep(self, actions: SweepActions) -> list[widgets.Widget]:
        self._sweep = sweep = SweepButtons(actions, show_rerun=self._show_rerun)
        self.refresh_all_button = sweep.refresh_all_button
        self.terminate_all_button = sweep.terminate_all_button
        self.rerun_failed_button = sweep.rerun_failed_button
        self.terminate_confirm_box = sweep.terminate_confirm_box
        self.terminate_confirm_text = sweep.terminate_confirm_text
        self.terminate_confirm_button = sweep.terminate_confirm_button
        self.terminate_cancel_button = sweep.terminate_cancel_button
        self.actions_message = sweep.actions_message
        return sweep.rows

    # -- rows ----------------------------------------------------------------------------

    @property
    def sources(self) -> list[RunSource]:
        """The shown page's sources, in board order."""
        return self._rows.sources

    @property
    def runs(self) -> list[JobRun]:
        """The latest JobRun of every shown row, in board order."""
        return self._rows.runs

    @property
    def counts(self) -> dict[str, int]:
        """Runs per visual state (queued, running, finished, …) over every page, only states
        present."""
        return state_counts(self.status_counts)

    @property
    def status_counts(self) -> dict[str, int]:
        """Runs per run status (``{"FINISHED": 40, …}``) over every page."""
        return self._pages.status_counts(self.runs)

    @property
    def total(self) -> int:
        """How many runs the board has, over every page."""
        return sum(self.status_counts.values())

    @property
    def subscriptions(self) -> int:
        """How many sources the board still listens to."""
        return self._rows.subscriptions

    def add(self, source: RunSource) -> None:
        """Append a run (e.g. as a sweep progresses); it is shown at the next render when it
        falls on the shown page, and counted at once either way."""
        if self._list_pages is None:
            raise TypeError("RunsBoard.add: this board reads its rows from its pages")
        position = self._list_pages.add(source)
        if self._pager.holds(position):
            self._rows.add(source)
        self._sync_controls()
        self._redraw.request()

    def _on_row_change(self) -> None:
        # Inside a tracker tick, once when the tick is over: one render for a whole sweep.
        if not after_tick(self._redraw.request):
            self._redraw.request()

    # -- pages ---------------------------------------------------------------------------

    @property
    def page(self) -> int:
        """The shown page, from 0 (the first: the newest runs of a ledger board)."""
        return self._pager.page

    @property
    def page_count(self) -> int:
        """How many pages there are (at least one)."""
        return self._pager.page_count(self._pages.total())

    def show_page(self, index: int) -> None:
        """Show page ``index`` (clamped to the pages there are): its rows are read, listened
        to and rendered; the previous page's are let go."""
        total = self._pages.total()
        with self._lock:
            if self._closed:
                return
            self._pager.page = self._pager.clamp(index, total=total)
        self._load_page()
        self.render()

    def newer(self) -> None:
        """The page before the shown one (the "Newer" / "Previous" button)."""
        self.show_page(self._pager.page - 1)

    def older(self) -> None:
        """The page after the shown one (the "Older" / "Next" button)."""
        self.show_page(self._pager.page + 1)

    def _load_page(self) -> None:
        """Read the shown page's rows and listen to them instead of the previous page's."""
        self._rows.show(self._pages.page(self._pager.first, self._pager.page_size))
        self._sync_controls()

    def _sync_controls(self) -> None:
        """The run chooser and the pager, as the shown rows and the row count are now."""
        total = self._pages.total()
        runs = self._rows.runs
        with self._lock:
            if self._closed:
                return
            self._opener.sync_options([run.name or f"run {i + 1}" for i, run in enumerate(runs)])
            self._pager.sync(shown=len(runs), total=total)

    # -- rendering -----------------------------------------------------------------------

    def render(self) -> None:
        """Rebuild the counts line and the table now (one trait update each, if changed).

        Then re-send the board's saved copies if a run's state changed (not on every tick).
        """
        self._draw()
        self._update_outputs()

    def _draw(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._redraw.ran()
            self.renders += 1
            rows = self._rows.snapshot()
            counts = self._pages.status_counts([row.run for row in rows])
            self._table.draw(
                rows, counts, note=self._note, goals=self._goals(), labels=self._labels()
            )

    # -- opening a card and a rerun's board ----------------------------------------------

    def open(self, index: int) -> None:
        """Open the run at ``index`` (board order): ``on_open`` or a card under the board."""
        source = self._rows.source_at(index)
        if self._on_open is not None:
            self._on_open(source)
        else:
            self.show_card(source)

    def show_card(self, source: RunSource) -> RunCard:
        """Show ``source``'s card in the area under the board, replacing the previous one."""
        card = RunCard(source)
        self._opener.show(card)
        return card

    @property
    def card(self) -> RunCard | None:
        """The card opened under the board, if any."""
        shown = self._opener.shown
        return shown if isinstance(shown, RunCard) else None

    def _show_rerun(self, result: SweepActions) -> None:
        """The board of a sweep "Rerun failed" started, in the area under this board."""
        self._opener.show(RunsBoard(list(result.handles), actions=result, note=result.summary()))

    # -- the whole sweep at once (only with ``actions``) ---------------------------------

    @property
    def rerun_result(self) -> Any:
        """The sweep the "Rerun failed" button started last, if any."""
        return self._sweep.rerun_result if self._sweep is not None else None

    def refresh_all(self) -> bool:
        """Fetch every run now (the "Refresh all" button); False if an action is running."""
        return self._sweep is not None and self._sweep.refresh_all()

    def ask_terminate_all(self) -> None:
        """The "Terminate all" button: one confirmation for every live run."""
        if self._sweep is not None:
            self._sweep.ask_terminate_all()

    def cancel_terminate_all(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel_terminate_all()

    def confirm_terminate_all(self) -> bool:
        """The "Yes, terminate all" button: ask the server to stop every live run, once."""
        return self._sweep is not None and self._sweep.confirm_terminate_all()

    def rerun_failed(self) -> bool:
        """The "Rerun failed" button: the failed and terminated runs again, as a new sweep
        whose board opens under this one."""
        return self._sweep is not None and self._sweep.rerun_failed()

    # -- the live view -------------------------------------------------------------------

    def _release(self) -> None:
        """Stop the pending render, unsubscribe from every source, close the card or board
        opened under this one, close the widgets."""
        self._redraw.stop()
        self._rows.close()
        if self._sweep is not None:
            self._sweep.close()
        self._opener.close()
        for widget in self._widgets:
            widget.close()

    def _state_key(self) -> tuple[object, ...]:
        counts = tuple(sorted(self._pages.status_counts(self._rows.runs).items()))
        return (self._rows.state_key(), self._pager.page, counts)

    def _shows_ended(self) -> bool:
        if not self._rows.all_ended():
            return False
        return not self._pages.live_elsewhere(self._pager.first, self._pager.page_size)

    def _paged(self) -> tuple[str, str] | None:
        """Every page's counts and which page is shown, when there is more than one."""
        total = self._pages.total()
        if total <= self._pager.page_size:
            return None
        shown = self._pager.text(shown=len(self._rows), total=total)
        return (runs_summary(self.status_counts), shown)

    def text(self) -> str:
        """``12 runs: 3 running · 9 finished`` (under the board's note, if it has one);
        with several pages, the counts of every page and which page is shown."""
        entries = [(row.run, row.params) for row in self._rows.snapshot()]
        return board_text(entries, note=self._note, paged=self._paged())

    def snapshot_html(self) -> str:
        """A static HTML table of the shown runs as they are now (under the note, if any);
        with several pages, the counts of every page and which page this is."""
        rows = self._rows.snapshot()
        entries = [(row.run, row.params) for row in rows]
        metrics = [row.metrics for row in rows]
        return board_snapshot_html(
            entries,
            metrics,
            note=self._note,
            paged=self._paged(),
            goals=self._goals(),
            labels=self._labels(),
        )

    def __repr__(self) -> str:
        return f"<RunsBoard {self.text()}>"


def _goals_source(
    goals: MetricGoals | Callable[[], MetricGoals] | None, actions: SweepActions | None
) -> Callable[[], MetricGoals]:
    """Where the board reads its goals at each draw: given, else the sweep's (which follow
    ``%config JobMagic.metric_goals``), else the names' own."""
    if isinstance(goals, MetricGoals):
        return lambda: goals
    if goals is not None:
        return goals
    if actions is not None:
        return lambda: actions.goals
    return MetricGoals
