"""What every live widget view is: a widget, its static copies, and one followed output.

A card, a board and a trigger form each show a widget where widgets run and an escaped
HTML snapshot plus a text line where they do not (GitHub, nbconvert, a notebook reopened
without its kernel). :class:`LiveView` is where those parts become an output: the bundle
(:meth:`LiveView._repr_mimebundle_`), its display with a display id and the updates that
keep the saved copies true (a :class:`~jobmagic.widgets.live.LiveOutput`), the record a
view nested in another's ``Output`` area is shown with, and the end of all that on
:meth:`LiveView.close`. A view supplies only what differs: its widget, its snapshots, a
state key and whether it shows only ended runs.

>>> class Note(LiveView):
...     def __init__(self) -> None:
...         super().__init__()
...         self.widget = None  # a real view's ipywidgets tree
...     def snapshot_html(self) -> str:
...         return "<b>done</b>"
...     def text(self) -> str:
...         return "done"
...     def _state_key(self) -> str:
...         return "done"
...     def _shows_ended(self) -> bool:
...         return True
...     def _release(self) -> None:
...         pass
>>> note = Note()
>>> note.close()
>>> note._repr_mimebundle_()
{'text/html': '<b>done</b>', 'text/plain': 'done'}
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable
from typing import Any

from jobmagic.widgets.live import LiveOutput

__all__ = ["LiveView"]


class LiveView(ABC):
    """A widget view shown as one output that follows it (see the module's docstring).

    Subclasses call ``super().__init__()`` before anything that may update the output, set
    :attr:`widget` (the root of their ipywidgets tree), guard their own state with
    :attr:`_lock`, and call :meth:`_update_outputs` after a change a saved copy should show.
    """

    #: The root widget of the view (an ipywidgets ``Box`` in practice).
    widget: Any

    def __init__(self, *, min_interval: float = 0.0) -> None:
        # Reentrant: an update applied under the lock may call helpers that take it again.
        self._lock = threading.RLock()
        self._closed = False
        self._live = LiveOutput(
            self._repr_mimebundle_, self._output_state, self._output_done, min_interval=min_interval
        )

    # -- what a view supplies ------------------------------------------------------------

    @abstractmethod
    def snapshot_html(self) -> str:
        """The escaped HTML copy of the view as it is now (no JavaScript)."""

    @abstractmethod
    def text(self) -> str:
        """The ``text/plain`` copy of the view as it is now."""

    @abstractmethod
    def _state_key(self) -> Hashable:
        """A cheap summary of what the copies show: it changes only when they should be
        re-sent (a run's status or end, not its ticking duration)."""

    @abstractmethod
    def _shows_ended(self) -> bool:
        """True when every run the view shows has ended: its copies will not change again."""

    @abstractmethod
    def _release(self) -> None:
        """Let go of what the open view holds: subscriptions, timers, nested views and its
        widgets. Called once, by :meth:`close`, after the view is marked closed."""

    # -- the one output ------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def display_id(self) -> str:
        """The id the view's output is displayed (and updated) with."""
        return self._live.display_id

    @property
    def live_output(self) -> LiveOutput:
        return self._live

    def _output_state(self) -> Hashable:
        with self._lock:
            return (self._closed, self._state_key())

    def _output_done(self) -> bool:
        return self._closed or self._shows_ended()

    def _static_bundle(self) -> dict[str, Any]:
        """The copies viewers without widgets show: escaped HTML and a text line."""
        return {"text/html": self.snapshot_html(), "text/plain": self.text()}

    def _widget_bundle(self, **kwargs: Any) -> dict[str, Any]:
        """The widget view's part of the bundle; nothing once the view is closed."""
        if self._closed:
            return {}
        return dict(self.widget._repr_mimebundle_(**kwargs) or {})

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, plus static HTML and text for viewers without widgets."""
        # The static copies last: they replace the widget's own ``text/plain`` repr.
        return {**self._widget_bundle(**kwargs), **self._static_bundle()}

    def _ipython_display_(self) -> None:
        """Display the view with a display id, so its saved copies follow it to its end."""
        self._live.show()

    def display_data(self) -> dict[str, Any]:
        """The view as an ``Output`` widget's output record: set as its ``outputs`` trait it
        shows the view from any thread (what ``with output: display(view)`` records)."""
        return {"output_type": "display_data", "data": self._repr_mimebundle_(), "metadata": {}}

    def _update_outputs(self) -> bool:
        """Re-send the view's output if what its copies show changed; True if it was sent.

        Call it outside the view's lock: a cell's end sends every output under the outputs'
        lock, and building the bundle takes the view's.
        """
        return self._live.push()

    def close(self) -> None:
        """Close the view: release what it holds (:meth:`_release`), stop following it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()
        self._live.forget()
