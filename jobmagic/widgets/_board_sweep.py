"""A sweep board's buttons: refresh all, terminate all (after one confirmation), rerun failed.

Each action blocks on HTTP, so it runs in a worker thread, one at a time; its answer shows
in the message line under the buttons.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

import ipywidgets as widgets

from jobmagic.models.formatting import format_clock, short_error
from jobmagic.models.metrics import MetricGoals
from jobmagic.models.text import view_html
from jobmagic.widgets._source import RunSource
from jobmagic.widgets._threads import start_worker

__all__ = ["SweepActions", "SweepButtons"]


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

    def run_labels(self) -> Mapping[str, str]:
        """A word to show beside a run's status, by run name (a search's ``pruned``)."""
        ...

    @property
    def goals(self) -> MetricGoals:
        """Which way each metric ranks: the sweep's objective over the user's table."""
        ...


def _button(description: str, css_class: str, **kwargs: Any) -> widgets.Button:
    widget = widgets.Button(description=description, **kwargs)
    widget.add_class(css_class)
    return widget


class SweepButtons:
    """The buttons that act on a whole sweep, its confirmation and its message line.

    ``show_rerun(result)`` shows the sweep "Rerun failed" started (its board, under this
    one); it is called from the worker thread.
    """

    def __init__(
        self, actions: SweepActions, *, show_rerun: Callable[[SweepActions], None]
    ) -> None:
        self._actions = actions
        self._show_rerun = show_rerun
        self._lock = threading.RLock()
        self._busy = False
        self._confirming = False
        self._closed = False
        #: The sweep the "Rerun failed" button started last, if any.
        self.rerun_result: Any = None
        self._build()

    def _build(self) -> None:
        self.refresh_all_button = _button(
            "Refresh all", "jobmagic-board-refresh", icon="refresh", tooltip="Fetch every run now"
        )
        self.terminate_all_button = _button(
            "Terminate all", "jobmagic-board-terminate", icon="stop", tooltip="Stop every live run"
        )
        self.rerun_failed_button = _button(
            "Rerun failed",
            "jobmagic-board-rerun-failed",
            icon="repeat",
            tooltip="Trigger the failed and terminated runs again, as a new sweep",
        )
        self.terminate_confirm_text = widgets.HTML()
        self.terminate_confirm_text.add_class("jobmagic-board-confirm-text")
        self.terminate_confirm_button = _button(
            "Yes, terminate all", "jobmagic-board-confirm", button_style="danger"
        )
        self.terminate_cancel_button = _button("Cancel", "jobmagic-board-cancel")
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
        row = widgets.HBox(
            [self.refresh_all_button, self.terminate_all_button, self.rerun_failed_button]
        )
        row.add_class("jobmagic-board-actions")
        #: What the board lays out, in order.
        self.rows: list[widgets.Widget] = [row, self.terminate_confirm_box, self.actions_message]
        self.widgets: list[widgets.Widget] = [
            *self.rows,
            self.refresh_all_button,
            self.terminate_all_button,
            self.rerun_failed_button,
            self.terminate_confirm_text,
            self.terminate_confirm_button,
            self.terminate_cancel_button,
        ]
        self.refresh_all_button.on_click(lambda _b: self.refresh_all())
        self.terminate_all_button.on_click(lambda _b: self.ask_terminate_all())
        self.terminate_confirm_button.on_click(lambda _b: self.confirm_terminate_all())
        self.terminate_cancel_button.on_click(lambda _b: self.cancel_terminate_all())
        self.rerun_failed_button.on_click(lambda _b: self.rerun_failed())

    def close(self) -> None:
        """Act no more: no message is shown after this (the widgets are the board's to close)."""
        with self._lock:
            self._closed = True

    # -- state ---------------------------------------------------------------------------

    def _message(self, text: str, *, error: bool = False) -> None:
        kind = "jobmagic-message-error" if error else "jobmagic-message-ok"
        with self._lock:
            if not self._closed:
                self.actions_message.value = f'<span class="{kind}">{view_html(text)}</span>'

    def _sync(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.refresh_all_button.disabled = self._busy
            self.rerun_failed_button.disabled = self._busy
            self.terminate_all_button.disabled = self._busy or self._confirming
            self.terminate_confirm_box.layout.display = None if self._confirming else "none"

    def _start(self, work: Callable[[], str], name: str) -> bool:
        """Run one action in a worker; False if another is still running."""
        with self._lock:
            # The flag, not only ``disabled``: a second click can arrive before the front end
            # learns the button is disabled, and must not act twice.
            if self._closed or self._busy:
                return False
            self._busy = True
        self._sync()

        def run() -> None:
            try:
                self._message(work())
            except Exception as exc:
                self._message(f"{name} failed: {short_error(exc)}", error=True)
            finally:
                with self._lock:
                    self._busy = False
                self._sync()

        start_worker(run, name=f"jobmagic-board-{name.lower().replace(' ', '-')}")
        return True

    # -- the actions ---------------------------------------------------------------------

    def refresh_all(self) -> bool:
        """Fetch every run now (the "Refresh all" button); False if an action is running."""

        def work() -> str:
            self._actions.refresh()
            return f"Refreshed at {format_clock(datetime.now(timezone.utc))}."

        self._message("Refreshing…")
        return self._start(work, "Refresh")

    def ask_terminate_all(self) -> None:
        """The "Terminate all" button: one confirmation for every live run."""
        with self._lock:
            if self._closed or self._busy:
                return
            live = len(self._actions.live)
            self._confirming = live > 0
            noun = "run" if live == 1 else "runs"
            self.terminate_confirm_text.value = (
                f'<span class="jobmagic-confirm-question">Terminate <b>{live}</b> live {noun}?'
                "</span>"
            )
        if not live:
            self._message("No live run to terminate.")
        self._sync()

    def cancel_terminate_all(self) -> None:
        with self._lock:
            self._confirming = False
        self._sync()

    def confirm_terminate_all(self) -> bool:
        """The "Yes, terminate all" button: ask the server to stop every live run, once."""
        with self._lock:
            if not self._confirming:
                return False
            self._confirming = False

        def work() -> str:
            answers = self._actions.terminate()
            refused = [name for name, answer in answers.items() if answer.startswith("not ")]
            text = f"Asked {len(answers) - len(refused)} runs to terminate."
            return text + (f" Not terminated: {', '.join(refused)}." if refused else "")

        self._message("Terminating…")
        return self._start(work, "Terminate")

    def rerun_failed(self) -> bool:
        """The "Rerun failed" button: the failed and terminated runs again, as a new sweep
        shown by ``show_rerun``."""

        def work() -> str:
            result = self._actions.rerun_failed()
            count = len(result.handles)
            if not count:
                return "No failed or terminated run to rerun."
            self._show_rerun(result)
            self.rerun_result = result
            return f"Triggered {count} runs again; their board is below."

        self._message("Triggering the failed runs again…")
        return self._start(work, "Rerun")
