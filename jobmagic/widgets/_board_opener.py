"""Opening a run from a runs board: the run chooser, "Open card", and the area under the
board where the opened view (a run's card, or the board of a sweep rerun from this one)
shows.

One view at a time: showing another closes the one before, so a view nobody sees stops
listening to its runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import ipywidgets as widgets

from jobmagic.widgets.live_view import LiveView

__all__ = ["RunOpener"]


class RunOpener:
    """The "Run" dropdown (one option per shown row), the "Open card" button, which calls
    ``on_open(index)`` with the chosen row, and the ``output`` area views are shown in.

    >>> opener = RunOpener(on_open=print)
    >>> opener.sync_options(["train-1", "train-2"])
    >>> opener.select.value  # the first run: "Open card" works without choosing
    0
    """

    def __init__(self, on_open: Callable[[int], None]) -> None:
        self._lock = threading.RLock()
        self._shown: LiveView | None = None
        self._closed = False
        self.select = widgets.Dropdown(options=[], description="Run", value=None)
        self.select.add_class("jobmagic-board-select")
        self.open_button = widgets.Button(
            description="Open card", icon="external-link", tooltip="Show this run's card below"
        )
        self.open_button.add_class("jobmagic-board-open")
        self.output = widgets.Output()
        self.output.add_class("jobmagic-board-output")
        self.open_button.on_click(lambda _b: self._on_open_click(on_open))
        self.widgets: list[widgets.Widget] = [self.select, self.open_button, self.output]

    def _on_open_click(self, on_open: Callable[[int], None]) -> None:
        index = self.select.value
        if index is not None:
            on_open(index)

    def sync_options(self, names: Sequence[str]) -> None:
        """One option per shown row; keep the user's choice, else choose the first row."""
        options = [(name, i) for i, name in enumerate(names)]
        with self._lock:
            if self._closed or list(self.select.options) == options:
                return
            chosen = self.select.value
            self.select.options = options
            if chosen is not None and chosen < len(options):
                self.select.value = chosen
            elif options:
                self.select.value = 0

    @property
    def shown(self) -> LiveView | None:
        """The view in the area under the board, if any."""
        return self._shown

    def show(self, view: LiveView) -> None:
        """Show ``view`` in the area, replacing (and closing) the one shown before."""
        with self._lock:
            closed = self._closed
            previous, self._shown = (view, None) if closed else (self._shown, view)
            if not closed:
                # The output a ``with output: display(view)`` would record, set as a trait so
                # it works from any thread.
                self.output.outputs = (view.display_data(),)
        if previous is not None:
            previous.close()

    def close(self) -> None:
        """Close the view shown, and show none after this (the widgets are the board's)."""
        with self._lock:
            self._closed = True
            shown, self._shown = self._shown, None
        if shown is not None:
            shown.close()
