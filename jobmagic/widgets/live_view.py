"""What every live widget view is: a widget, its static copies, and one followed output.

A card, a board and a trigger form each show a widget where widgets run and an escaped
HTML snapshot plus a text line where they do not (GitHub, nbconvert, a notebook reopened
without its kernel). :class:`LiveView` is where those parts become outputs: shown in a
notebook, a view is two adjacent outputs (:meth:`LiveView._ipython_display_`), its static
copy with a display id — kept true by a :class:`~jobmagic.widgets.live.LiveOutput` — then its
widget alone, and the stylesheet shows the widget while it is rendered and the copy wherever
it is not (:func:`~jobmagic.widgets._stylesheet.twin_rules`). A reopened, scheduled or
exported notebook so shows each view as it last was, with no front-end setting and without
jobmagic installed. Where one bundle is asked for (a view nested in another's ``Output``
area, IPython's mime-bundle formatter) it is :meth:`LiveView._repr_mimebundle_`: the widget
view with the copies. :meth:`LiveView.close` ends all that. A view supplies only what
differs: its widget, its snapshots, a state key and whether it shows only ended runs.

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
>>> note.twin_bundle()  # a closed view's copy is followed by no widget: not a twin
{'text/html': '<b>done</b>', 'text/plain': 'done'}
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from typing import Any

from jobmagic.widgets._stylesheet import LIVE_CLASS, TWIN_CLASS
from jobmagic.widgets.live import LiveOutput

__all__ = ["WIDGET_VIEW", "LiveView"]

#: The widget view's mime type: front ends that run widgets choose it over all others.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class LiveView(ABC):
    """A widget view shown as one output that follows it (see the module's docstring).

    Subclasses call ``super().__init__()`` before anything that may update the output, set
    :attr:`widget` (the root of their ipywidgets tree), guard their own state with
    :attr:`_lock`, and call :meth:`_update_outputs` after a change a saved copy should show.
    A view whose copies include another's (a card's reruns) hears of that one's changes
    through :meth:`on_output_change`.
    """

    #: The root widget of the view (an ipywidgets ``Box`` in practice).
    widget: Any

    def __init__(self, *, min_interval: float = 0.0) -> None:
        # Reentrant: an update applied under the lock may call helpers that take it again.
        self._lock = threading.RLock()
        self._closed = False
        self._change_listeners: list[Callable[[], object]] = []
        self._live = LiveOutput(
            self.twin_bundle,
            self._output_state,
            self._output_done,
            widget=self.widget_output,
            min_interval=min_interval,
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
        # The class the twin rules know a rendered widget by (idempotent).
        self.widget.add_class(LIVE_CLASS)
        return dict(self.widget._repr_mimebundle_(**kwargs) or {})

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, plus static HTML and text for viewers without widgets."""
        # The static copies last: they replace the widget's own ``text/plain`` repr.
        return {**self._widget_bundle(**kwargs), **self._static_bundle()}

    def twin_bundle(self) -> dict[str, Any]:
        """The first of the view's twin outputs: its static copies, the HTML marked as the
        twin of the widget output that follows it (unmarked once the view is closed: then no
        live widget follows, and the copy is all there is to show)."""
        bundle = self._static_bundle()
        if not self._closed:
            bundle["text/html"] = f'<div class="{TWIN_CLASS}">{bundle["text/html"]}</div>'
        return bundle

    def widget_output(self) -> dict[str, Any]:
        """The second twin output: the widget view alone, or nothing once closed.

        Its ``text/plain`` is empty: a reader that never renders widgets (an untrusted
        notebook, GitHub, nbconvert without widget state) shows nothing here, not the copy's
        text a second time.
        """
        view = self._widget_bundle().get(WIDGET_VIEW)
        return {WIDGET_VIEW: view, "text/plain": ""} if view is not None else {}

    def _ipython_display_(self) -> None:
        """Display the view as its twin outputs; the copy has a display id, so what a saved
        notebook keeps follows the view to its end."""
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
        sent = self._live.push()
        for listener in list(self._change_listeners):
            listener()
        return sent

    def on_output_change(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` (outside the view's lock) after each change of the view's
        copies: a view that shows this one's copies in its own re-sends them."""
        self._change_listeners.append(listener)

    def close(self) -> None:
        """Close the view: release what it holds (:meth:`_release`), stop following it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()
        self._live.forget()
