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

>>> board = RunsBoard(sweep_result.handles)   # doctest: +SKIP
>>> board.add(another_handle)                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import ipywidgets as widgets

from jobmagic._ticks import after_tick
from jobmagic.models import JobRun
from jobmagic.models.formatting import (
    STATES,
    format_clock,
    run_state_key,
    short_error,
    status_state,
)
from jobmagic.widgets._metrics_html import metric_names, sort_best_first
from jobmagic.widgets._source import RunSource
from jobmagic.widgets._threads import start_worker
from jobmagic.widgets.card import RunCard
from jobmagic.widgets.live import LiveOutput
from jobmagic.widgets.pages import PAGE_SIZE, ListPages, RunPages, page_count
from jobmagic.widgets.static import (
    bundle_with_snapshots,
    render_runs_html,
    render_runs_text,
    runs_table_html,
    style_block,
)

__all__ = ["RunsBoard", "SweepActions"]


def _latest_metrics(source: RunSource) -> dict[str, float]:
    """A source's latest metric values, from what it already knows (no request)."""
    series = source.metric_series
    return {name: values[-1] for name, values in series.items() if values}


def _format_counts(counts: Mapping[str, int]) -> str:
    """``3 running · 5,000 finished`` (a 100,000-run board's counts need the separators)."""
    return " · ".join(f"{n:,} {state}" for state, n in counts.items() if n) or "no runs"


def state_counts(status_counts: Mapping[str, int]) -> dict[str, int]:
    """Runs per run status -> runs per visual state (queued, running, …), in board order.

    >>> state_counts({"FINISHED": 3, "RUNNING": 1, "CREATED": 2, "SCHEDULED": 1})
    {'queued': 3, 'running': 1, 'finished': 3}
    """
    counts = dict.fromkeys(STATES, 0)
    for status, n in status_counts.items():
        counts[status_state(status)] += n
    return {state: n for state, n in counts.items() if n}


@dataclass
class _Entry:
    source: RunSource
    run: JobRun
    stale_since: datetime | None = None
    unsubscribe: Callable[[], None] | None = None


class SweepActions(Protocol):
    """What the board's sweep buttons call (a :class:`jobmagic.SweepResult` in practice);
    each blocks on HTTP, so the board calls it from a worker thread."""

    @property
    def live(self) -> Sequence[Any]:
        """The runs that have not ended."""
        ...

    def refresh(self) -> Any:
        """Fetch every run's state now."""
        ...

    def terminate(self) -> Mapping[str, str]:
        """Stop every live run; each one's answer by run name."""
        ...

    @property
    def handles(self) -> Sequence[RunSource]:
        """The runs the sweep started."""
        ...

    def summary(self) -> str:
        """A line of what was triggered, and one per run that failed to start."""
        ...

    def rerun_failed(self) -> SweepActions:
        """Trigger the failed and terminated runs again: the new sweep."""
        ...


class RunsBoard:
    """A compact live table of runs: name, status, params, duration, exit code.

    ``on_open(source)`` is called when the user opens a run from the board;
    by default a :class:`RunCard` for it appears under the table.

    The rows are ``sources`` (in that order), or ``pages`` (e.g. a
    :class:`~jobmagic.widgets.pages.LedgerPages`), shown ``page_size`` at a time;
    :meth:`show_page`, :meth:`newer` and :meth:`older` (the page buttons) move between pages.

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
    ) -> None:
        if pages is not None and sources:
            raise ValueError("RunsBoard: give sources or pages, not both")
        self._lock = threading.RLock()
        # Rows given as a list can grow (add); rows from pages are the pages' to say.
        self._list_pages: ListPages | None = None
        self._pages: RunPages
        if pages is None:
            self._pages = self._list_pages = ListPages(sources)
        else:
            self._pages = pages
        self._page_size = max(1, int(page_size))
        self._page = 0
        self._note = note
        # Spaced out: every update re-renders the board's widget in JupyterLab.
        self._live = LiveOutput(
            self._repr_mimebundle_, self._state_key, self._shows_ended, min_interval=2.0
        )
        self._entries: list[_Entry] = []
        self._on_open = on_open
        # Sweep buttons (refresh all, terminate all, rerun failed) only with actions.
        self._actions = actions
        self._actions_busy = False
        self._confirming_terminate = False
        self._min_interval = min_interval
        self._closed = False
        self._dirty = False
        self._last_render = float("-inf")
        self._timer: threading.Timer | None = None
        self._card: RunCard | None = None
        self.renders = 0
        self._build()
        self._load_page()
        self.render()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.style = widgets.HTML(value=style_block())
        self.style.add_class("jobmagic-style")
        self.counts_label = widgets.HTML()
        self.counts_label.add_class("jobmagic-board-counts")
        self.table = widgets.HTML()
        self.table.add_class("jobmagic-board-table-widget")
        self.select = widgets.Dropdown(options=[], description="Run", value=None)
        self.select.add_class("jobmagic-board-select")
        self.open_button = widgets.Button(
            description="Open card", icon="external-link", tooltip="Show this run's card below"
        )
        self.open_button.add_class("jobmagic-board-open")
        self.output = widgets.Output()
        self.output.add_class("jobmagic-board-output")
        # Shown once some run has metrics: order the table by one, best first.
        self.sort_select = widgets.Dropdown(
            options=[("trigger order", "")], value="", description="Sort by"
        )
        self.sort_select.add_class("jobmagic-board-sort")
        self.sort_select.layout.display = "none"
        self.sort_select.observe(lambda _change: self.render(), names="value")
        controls = widgets.HBox([self.select, self.open_button, self.sort_select])
        controls.add_class("jobmagic-board-controls")
        newest_first = getattr(self._pages, "newest_first", False)
        self.newer_button = widgets.Button(
            description="Newer" if newest_first else "Previous",
            icon="chevron-left",
            tooltip="The page before this one",
        )
        self.newer_button.add_class("jobmagic-board-newer")
        self.older_button = widgets.Button(
            description="Older" if newest_first else "Next",
            icon="chevron-right",
            tooltip="The page after this one",
        )
        self.older_button.add_class("jobmagic-board-older")
        self.page_label = widgets.HTML()
        self.page_label.add_class("jobmagic-board-page")
        self.pager = widgets.HBox([self.newer_button, self.page_label, self.older_button])
        self.pager.add_class("jobmagic-board-pager")
        self.pager.layout.display = "none"  # shown once there is a second page
        self.newer_button.on_click(lambda _b: self.newer())
        self.older_button.on_click(lambda _b: self.older())
        self.widget = widgets.VBox(
            [self.style, self.counts_label, self.pager, self.table, controls, self.output]
        )
        self.widget.add_class("jobmagic-board")
        self._widgets: list[widgets.Widget] = [
            self.widget,
            controls,
            self.style,
            self.counts_label,
            self.table,
            self.select,
            self.open_button,
            self.sort_select,
            self.output,
            self.pager,
            self.newer_button,
            self.older_button,
            self.page_label,
        ]
        self.open_button.on_click(self._on_open_click)
        if self._actions is not None:
            self._build_sweep_actions()

    def _build_sweep_actions(self) -> None:
        def button(description: str, css_class: str, **kwargs: Any) -> widgets.Button:
            widget = widgets.Button(description=description, **kwargs)
            widget.add_class(css_class)
            return widget

        self.refresh_all_button = button(
            "Refresh all", "jobmagic-board-refresh", icon="refresh", tooltip="Fetch every run now"
        )
        self.terminate_all_button = button(
            "Terminate all", "jobmagic-board-terminate", icon="stop", tooltip="Stop every live run"
        )
        self.rerun_failed_button = button(
            "Rerun failed",
            "jobmagic-board-rerun-failed",
            icon="repeat",
            tooltip="Trigger the failed and terminated runs again, as a new sweep",
        )
        self.terminate_confirm_text = widgets.HTML()
        self.terminate_confirm_text.add_class("jobmagic-board-confirm-text")
        self.terminate_confirm_button = button(
            "Yes, terminate all", "jobmagic-board-confirm", button_style="danger"
        )
        self.terminate_cancel_button = button("Cancel", "jobmagic-board-cancel")
        self.terminate_confirm_box = widgets.HBox(
            [
                self.terminate_confirm_text,
                self.terminate_confirm_button,
                self.terminate_cancel_button,
            ]
        )
        self.terminate_confirm_box.add_class("jobmagic-board-confirm-box")
        self.terminate_confirm_box.layout.display = "none"
        self.actions_message = widgets.HTML()
        self.actions_message.add_class("jobmagic-board-message")
        actions = widgets.HBox(
            [self.refresh_all_button, self.terminate_all_button, self.rerun_failed_button]
        )
        actions.add_class("jobmagic-board-actions")
        children = list(self.widget.children)
        # Above the area where cards (and a rerun's board) open.
        at = children.index(self.output) if self.output in children else len(children)
        children[at:at] = [actions, self.terminate_confirm_box, self.actions_message]
        self.widget.children = tuple(children)
        self._widgets += [
            actions,
            self.refresh_all_button,
            self.terminate_all_button,
            self.rerun_failed_button,
            self.terminate_confirm_box,
            self.terminate_confirm_text,
            self.terminate_confirm_button,
            self.terminate_cancel_button,
            self.actions_message,
        ]
        self.refresh_all_button.on_click(lambda _b: self.refresh_all())
        self.terminate_all_button.on_click(lambda _b: self.ask_terminate_all())
        self.terminate_confirm_button.on_click(lambda _b: self.confirm_terminate_all())
        self.terminate_cancel_button.on_click(lambda _b: self.cancel_terminate_all())
        self.rerun_failed_button.on_click(lambda _b: self.rerun_failed())

    # -- sources -------------------------------------------------------------------------

    @property
    def sources(self) -> list[RunSource]:
        """The shown page's sources, in board order."""
        with self._lock:
            return [entry.source for entry in self._entries]

    @property
    def runs(self) -> list[JobRun]:
        """The latest JobRun of every shown row, in board order."""
        with self._lock:
            return [entry.run for entry in self._entries]

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
    def page(self) -> int:
        """The shown page, from 0 (the first: the newest runs of a ledger board)."""
        return self._page

    @property
    def page_count(self) -> int:
        """How many pages there are (at least one)."""
        return page_count(self._pages.total(), self._page_size)

    def show_page(self, index: int) -> None:
        """Show page ``index`` (clamped to the pages there are): its rows are read, listened
        to and rendered; the previous page's are let go."""
        with self._lock:
            if self._closed:
                return
            self._page = max(0, min(int(index), self.page_count - 1))
        self._load_page()
        self.render()

    def newer(self) -> None:
        """The page before the shown one (the "Newer" / "Previous" button)."""
        self.show_page(self._page - 1)

    def older(self) -> None:
        """The page after the shown one (the "Older" / "Next" button)."""
        self.show_page(self._page + 1)

    def _load_page(self) -> None:
        """Read the shown page's rows and listen to them instead of the previous page's."""
        sources = self._pages.page(self._page * self._page_size, self._page_size)
        with self._lock:
            if self._closed:
                return
            previous, self._entries = self._entries, []
        for entry in previous:
            self._release(entry)
        for source in sources:
            self._add(source)
        self._sync_options()
        self._sync_pager()

    def _sync_pager(self) -> None:
        pages = page_count(self._pages.total(), self._page_size)
        text = self._page_text()
        with self._lock:
            if self._closed:
                return
            self.newer_button.disabled = self._page == 0
            self.older_button.disabled = self._page >= pages - 1
            value = f'<span class="jobmagic-board-page-text">{html.escape(text)}</span>'
            if self.page_label.value != value:
                self.page_label.value = value
            self.pager.layout.display = None if pages > 1 else "none"

    @property
    def subscriptions(self) -> int:
        """How many sources the board still listens to."""
        with self._lock:
            return sum(1 for entry in self._entries if entry.unsubscribe is not None)

    def add(self, source: RunSource) -> None:
        """Append a run (e.g. as a sweep progresses); it is shown at the next render when it
        falls on the shown page, and counted at once either way."""
        if self._list_pages is None:
            raise TypeError("RunsBoard.add: this board reads its rows from its pages")
        position = self._list_pages.add(source)
        first = self._page * self._page_size
        if first <= position < first + self._page_size:
            self._add(source)
            self._sync_options()
        self._sync_pager()
        self._request_render()

    def _add(self, source: RunSource) -> None:
        entry = _Entry(source, source.run, source.stale_since)
        source.want_metrics()  # its metric columns stay current while it is shown
        with self._lock:
            if self._closed:
                return
            self._entries.append(entry)
        if entry.run.is_terminal:
            return

        def callback(run: JobRun, stale_since: datetime | None) -> None:
            self._on_update(entry, run, stale_since)

        unsubscribe = source.subscribe(callback)
        with self._lock:
            entry.unsubscribe = unsubscribe
            latest = source.run
            done = entry.run.is_terminal or latest.is_terminal
            if latest != entry.run:
                entry.run = latest
        if done:
            self._release(entry)

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            unsubscribe, entry.unsubscribe = entry.unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _on_update(self, entry: _Entry, run: JobRun, stale_since: datetime | None) -> None:
        """Subscription callback (tracker thread): record, then ask for a coalesced render."""
        with self._lock:
            if self._closed:
                return
            # A live run's duration ticks (when it is computed from the creation time), so
            # its row changes on every tick even when the JobRun is the same.
            ticking = (
                not run.is_terminal and run.duration_seconds is None and run.created_at is not None
            )
            changed = ticking or run != entry.run or stale_since != entry.stale_since
            entry.run = run
            entry.stale_since = stale_since
        if run.is_terminal:
            self._release(entry)
        if changed and not after_tick(self._request_render):
            self._request_render()

    def _sync_options(self) -> None:
        with self._lock:
            if self._closed:
                return
            options = [
                (entry.run.name or f"run {i + 1}", i) for i, entry in enumerate(self._entries)
            ]
            if list(self.select.options) == options:
                return
            chosen = self.select.value
            self.select.options = options
            # Keep the user's choice; else pick the first run so "Open card" works at once.
            if chosen is not None and chosen < len(options):
                self.select.value = chosen
            elif options:
                self.select.value = 0

    # -- rendering -----------------------------------------------------------------------

    def _request_render(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._dirty = True
            if self._timer is not None:
                return  # a render is already scheduled; it will include this change
            delay = self._last_render + self._min_interval - time.monotonic()
            if delay > 0:
                # The one thread the board starts itself: a one-shot trailing render, so the
                # last change of a burst (e.g. the final FINISHED) is never left unshown.
                self._timer = threading.Timer(delay, self._flush)
                self._timer.daemon = True
                self._timer.start()
                return
        self.render()

    def _flush(self) -> None:
        with contextlib.suppress(Exception):
            with self._lock:
                self._timer = None
                if not self._dirty or self._closed:
                    return
            self.render()

    def render(self) -> None:
        """Rebuild the counts line and the table now (one trait update each, if changed).

        Then re-send the board's saved copies if a run's state changed (not on every tick).
        """
        self._render()
        self._live.push()

    def _render(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._dirty = False
            self._last_render = time.monotonic()
            self.renders += 1
            now = datetime.now(timezone.utc)
            rows = [(entry.run, entry.source.params) for entry in self._entries]
            all_counts = self._pages.status_counts([run for run, _ in rows])
            total = sum(all_counts.values())
            counts = _format_counts(state_counts(all_counts))
            noun = "run" if total == 1 else "runs"
            line = f"{total:,} {noun} · {counts}" if total else "no runs yet"
            stale = [entry.stale_since for entry in self._entries if entry.stale_since]
            if stale:
                line += f" · stale since {format_clock(min(stale))}"
            counts_html = f'<span class="jobmagic-board-counts-text">{html.escape(line)}</span>'
            if self._note:
                note = html.escape(self._note)
                counts_html = f'<pre class="jobmagic-board-note">{note}</pre>{counts_html}'
            metrics = [_latest_metrics(entry.source) for entry in self._entries]
            self._sync_sort_options(metric_names(metrics))
            if self.sort_select.value:
                order = sort_best_first(metrics, self.sort_select.value)
                rows, metrics = [rows[i] for i in order], [metrics[i] for i in order]
            table_html = runs_table_html(rows, now=now, metrics=metrics)
            if self.counts_label.value != counts_html:
                self.counts_label.value = counts_html
            if self.table.value != table_html:
                self.table.value = table_html

    # -- the whole sweep at once ---------------------------------------------------------

    def _sweep_message(self, text: str, *, error: bool = False) -> None:
        kind = "jobmagic-message-error" if error else "jobmagic-message-ok"
        with self._lock:
            if not self._closed and self._actions is not None:
                self.actions_message.value = f'<span class="{kind}">{html.escape(text)}</span>'

    def _sync_sweep_buttons(self) -> None:
        with self._lock:
            if self._closed or self._actions is None:
                return
            busy = self._actions_busy
            self.refresh_all_button.disabled = busy
            self.rerun_failed_button.disabled = busy
            self.terminate_all_button.disabled = busy or self._confirming_terminate
            self.terminate_confirm_box.layout.display = (
                None if self._confirming_terminate else "none"
            )

    def _start_action(self, work: Callable[[], str], name: str) -> bool:
        """Run one sweep action in a worker; False if another is still running."""
        with self._lock:
            # The flag, not only ``disabled``: a second click can arrive before the front end
            # learns the button is disabled, and must not act twice.
            if self._closed or self._actions is None or self._actions_busy:
                return False
            self._actions_busy = True
        self._sync_sweep_buttons()

        def run() -> None:
            try:
                self._sweep_message(work())
            except Exception as exc:
                self._sweep_message(f"{name} failed: {short_error(exc)}", error=True)
            finally:
                with self._lock:
                    self._actions_busy = False
                self._sync_sweep_buttons()

        start_worker(run, name=f"jobmagic-board-{name.lower().replace(' ', '-')}")
        return True

    def refresh_all(self) -> bool:
        """Fetch every run now (the "Refresh all" button); False if an action is running."""
        actions = self._actions
        if actions is None:
            return False

        def work() -> str:
            actions.refresh()
            return f"Refreshed at {format_clock(datetime.now(timezone.utc))}."

        self._sweep_message("Refreshing…")
        return self._start_action(work, "Refresh")

    def ask_terminate_all(self) -> None:
        """The "Terminate all" button: one confirmation for every live run."""
        actions = self._actions
        if actions is None:
            return
        with self._lock:
            if self._closed or self._actions_busy:
                return
            live = len(actions.live)
            self._confirming_terminate = live > 0
            noun = "run" if live == 1 else "runs"
            self.terminate_confirm_text.value = (
                f'<span class="jobmagic-confirm-question">Terminate <b>{live}</b> live {noun}?'
                "</span>"
            )
        if not live:
            self._sweep_message("No live run to terminate.")
        self._sync_sweep_buttons()

    def cancel_terminate_all(self) -> None:
        with self._lock:
            self._confirming_terminate = False
        self._sync_sweep_buttons()

    def confirm_terminate_all(self) -> bool:
        """The "Yes, terminate all" button: ask the server to stop every live run, once."""
        actions = self._actions
        with self._lock:
            if actions is None or not self._confirming_terminate:
                return False
            self._confirming_terminate = False

        def work() -> str:
            answers = actions.terminate()
            refused = [name for name, answer in answers.items() if answer.startswith("not ")]
            text = f"Asked {len(answers) - len(refused)} runs to terminate."
            return text + (f" Not terminated: {', '.join(refused)}." if refused else "")

        self._sweep_message("Terminating…")
        return self._start_action(work, "Terminate")

    def rerun_failed(self) -> bool:
        """The "Rerun failed" button: the failed and terminated runs again, as a new sweep
        whose board opens under this one."""
        actions = self._actions
        if actions is None:
            return False

        def work() -> str:
            result = actions.rerun_failed()
            count = len(result.handles)
            if not count:
                return "No failed or terminated run to rerun."
            board = RunsBoard(list(result.handles), actions=result, note=result.summary())
            with self._lock:
                closed = self._closed
                if not closed:
                    self.output.outputs = (
                        {
                            "output_type": "display_data",
                            "data": board._repr_mimebundle_(),
                            "metadata": {},
                        },
                    )
            if closed:
                board.close()
            self.rerun_result = result
            return f"Triggered {count} runs again; their board is below."

        self._sweep_message("Triggering the failed runs again…")
        return self._start_action(work, "Rerun")

    # -- opening a card ------------------------------------------------------------------

    def _on_open_click(self, _button: widgets.Button | None = None) -> None:
        index = self.select.value
        if index is None:
            return
        self.open(index)

    def open(self, index: int) -> None:
        """Open the run at ``index`` (board order): ``on_open`` or a card under the board."""
        with self._lock:
            source = self._entries[index].source
        if self._on_open is not None:
            self._on_open(source)
        else:
            self.show_card(source)

    def show_card(self, source: RunSource) -> RunCard:
        """Show ``source``'s card in the area under the board, replacing the previous one."""
        card = RunCard(source)
        with self._lock:
            previous, self._card = self._card, card
            if not self._closed:
                # The same output a ``with output: display(card)`` would record, set as a
                # trait so it works from any thread.
                self.output.outputs = (
                    {
                        "output_type": "display_data",
                        "data": card._repr_mimebundle_(),
                        "metadata": {},
                    },
                )
        if previous is not None:
            previous.close()
        return card

    @property
    def card(self) -> RunCard | None:
        """The card opened under the board, if any."""
        return self._card

    # -- lifetime and display ------------------------------------------------------------

    #: The sweep the "Rerun failed" button started last, if any.
    rerun_result: Any = None

    def close(self) -> None:
        """Unsubscribe from every source, stop the pending render, close the widgets."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            timer, self._timer = self._timer, None
            entries = list(self._entries)
            card, self._card = self._card, None
        if timer is not None:
            timer.cancel()
        for entry in entries:
            self._release(entry)
        if card is not None:
            card.close()
        for widget in self._widgets:
            widget.close()
        self._live.forget()

    @property
    def display_id(self) -> str:
        """The id the board's output is displayed (and updated) with."""
        return self._live.display_id

    @property
    def live_output(self) -> LiveOutput:
        return self._live

    def _state_key(self) -> tuple[object, ...]:
        with self._lock:
            rows = tuple(
                (run_state_key(entry.run), tuple(_latest_metrics(entry.source).items()))
                for entry in self._entries
            )
            stale = any(entry.stale_since for entry in self._entries)
            runs = [entry.run for entry in self._entries]
            counts = tuple(sorted(self._pages.status_counts(runs).items()))
            return (rows, stale, self._closed, self._page, counts)

    def _shows_ended(self) -> bool:
        with self._lock:
            if self._closed:
                return True
            if not all(entry.run.is_terminal for entry in self._entries):
                return False
            first = self._page * self._page_size
        return not self._pages.live_elsewhere(first, self._page_size)

    def _paged(self) -> bool:
        return self._pages.total() > self._page_size

    def _page_text(self) -> str:
        """``page 2 of 40 · runs 51–100 of 2,000``, as the pager says it."""
        with self._lock:
            first = self._page * self._page_size
            shown = len(self._entries)
        total = self._pages.total()
        pages = page_count(total, self._page_size)
        return (
            f"page {self._page + 1:,} of {pages:,} · runs {first + 1:,}–{first + shown:,} "
            f"of {total:,}"
        )

    def _sync_sort_options(self, names: list[str]) -> None:
        # Caller holds the lock. Metric names only ever grow, so the choice survives.
        options = [("trigger order", ""), *((name, name) for name in names)]
        if list(self.sort_select.options) != options:
            chosen = self.sort_select.value
            self.sort_select.options = options
            self.sort_select.value = chosen if chosen in names else ""
        self.sort_select.layout.display = "" if names else "none"

    def _entries_snapshot(self) -> list[tuple[JobRun, Any]]:
        with self._lock:
            return [(entry.run, entry.source.params) for entry in self._entries]

    def text(self) -> str:
        """``12 runs: 3 running · 9 finished`` (under the board's note, if it has one);
        with several pages, the counts of every page and which page is shown."""
        if self._paged():
            text = f"{self._summary()} · {self._page_text()}"
        else:
            text = render_runs_text(self._entries_snapshot())
        return f"{self._note}\n{text}" if self._note else text

    def snapshot_html(self) -> str:
        """A static HTML table of the shown runs as they are now (under the note, if any);
        with several pages, the counts of every page and which page this is."""
        with self._lock:
            metrics = [_latest_metrics(entry.source) for entry in self._entries]
        if self._paged():
            table = self._paged_snapshot_html(metrics)
        else:
            table = render_runs_html(self._entries_snapshot(), metrics=metrics)
        if not self._note:
            return table
        return f"<pre class='jobmagic-sweep-summary'>{html.escape(self._note)}</pre>{table}"

    def _summary(self) -> str:
        """``10,000 runs: 5,000 finished · 2,500 failed`` over every page."""
        counts = self.status_counts
        total = sum(counts.values())
        noun = "run" if total == 1 else "runs"
        return f"{total:,} {noun}: {_format_counts(state_counts(counts))}"

    def _paged_snapshot_html(self, metrics: list[dict[str, float]]) -> str:
        # The saved copy of one page: what a reader without widgets needs to know that there
        # are more runs than it shows, and how they stand.
        table = runs_table_html(self._entries_snapshot(), metrics=metrics)
        return (
            f'<div class="jobmagic-snapshot jobmagic-board">{style_block()}'
            f'<div class="jobmagic-board-counts">{html.escape(self._summary())}</div>'
            f'<div class="jobmagic-board-page">{html.escape(self._page_text())}</div>'
            f"{table}</div>"
        )

    def _ipython_display_(self) -> None:
        """Display the board with a display id, so its saved copies follow the runs."""
        self._live.show()

    def __repr__(self) -> str:
        return f"<RunsBoard {self.text()}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live board, plus a static HTML table and a text summary."""
        live = None if self._closed else self.widget
        return bundle_with_snapshots(live, self.snapshot_html(), self.text(), **kwargs)
