"""Displayed outputs that follow their view: one ``display_id`` each, replaced as runs change.

A saved notebook keeps each output's ``text/html`` and ``text/plain`` as last sent, so a
view displayed once would show the state it had at display time forever. Every card,
board and status line is therefore displayed with a ``display_id`` (:meth:`LiveOutput.show`)
and its whole bundle re-sent with IPython's ``update_display`` whenever its *state key*
(status, exit code, end time… — not the ticking duration) changes.

Where updates land:

* JupyterLab and Notebook 7 route an ``update_display_data`` by its display id to the
  output that showed it, whatever cell is running, so the view's own (tracker) thread may
  push at once.
* nbclient and papermill only record messages whose parent is the cell they are running.
  A thread's message carries the kernel's latest request, so it is recorded only while a
  cell runs. A ``post_run_cell`` hook therefore re-sends, from the kernel's main thread at
  the end of every cell, each view whose state changed since it was last sent *during* a
  cell. A view whose runs all ended and whose last state was delivered that way is
  forgotten: it costs nothing afterwards.
* A terminal IPython prints every update, so there nothing is updated (its progress is the
  wait line's own ``\\r`` line).

A view with widgets is shown as *twin outputs*: its static copy (``text/html`` and
``text/plain``, the output with the display id, the only one ever updated), then its widget
alone (the widget view and an empty ``text/plain``, never updated: the widget keeps itself
current). Front ends choose the widget view over any other part of the same output, and a
notebook reopened without its kernel has no model for it; two outputs let the stylesheet
(:mod:`jobmagic.widgets._stylesheet`) show whichever of the two can be shown.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["LiveOutput", "current_shell", "flush_live_outputs", "live_outputs", "updates_supported"]

_lock = threading.RLock()
_live: dict[str, LiveOutput] = {}
# True between pre_run_cell and post_run_cell on the main thread: a message sent now carries
# the running cell's parent header, so nbclient and papermill record it.
_in_cell = False


def current_shell() -> Any | None:
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance() if InteractiveShell.initialized() else None


def updates_supported(shell: Any) -> bool:
    """False where an update would be printed again (terminal IPython's plain publisher)."""
    from IPython.core.displaypub import DisplayPublisher

    return shell is not None and type(shell.display_pub) is not DisplayPublisher


def _pre_run_cell(*_args: Any) -> None:
    global _in_cell
    with _lock:
        _in_cell = True


def _post_run_cell(*_args: Any) -> None:
    global _in_cell
    with _lock:
        try:
            flush_live_outputs()
        finally:
            _in_cell = False


def _hook(shell: Any) -> None:
    with _lock:
        # Marked on the shell itself: a later shell may reuse a cleared one's id().
        if getattr(shell, "_jobmagic_live_hooks", False):
            return
        shell._jobmagic_live_hooks = True
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)


def live_outputs() -> list[LiveOutput]:
    """The outputs still followed (their views have live runs or undelivered changes)."""
    with _lock:
        return list(_live.values())


def flush_live_outputs() -> int:
    """Re-send every followed output whose state changed; forget the finished ones.

    Called at the end of each cell (main thread); returns how many were sent.
    """
    sent = 0
    for output in live_outputs():
        if output.push(from_cell_end=True):
            sent += 1
    return sent


class LiveOutput:
    """One displayed output of a view, kept true by ``update_display``.

    ``bundle()`` builds the view's whole output bundle as it is now; ``state()`` is a cheap,
    hashable summary of what the static copies show (changes only when they should be
    re-sent); ``done()`` says the view shows only ended runs.

    ``widget()``, when given, is the view's widget output (its widget view and an empty
    ``text/plain``), shown once right after the copies (see the module's docstring), or
    nothing (an empty dict) when the view has no widget to show.

    ``min_interval`` spaces out the updates a view sends between its final one: JupyterLab
    re-renders a widget output on each, and a 200-run board changes many times a second. A
    change held back is sent by a one-shot timer, and the final state is never held back.
    """

    def __init__(
        self,
        bundle: Callable[[], dict[str, Any]],
        state: Callable[[], Hashable],
        done: Callable[[], bool],
        *,
        widget: Callable[[], dict[str, Any]] | None = None,
        min_interval: float = 0.0,
    ) -> None:
        self._bundle = bundle
        self._widget = widget
        self._state = state
        self._done = done
        self._min_interval = min_interval
        self._last_sent_at = float("-inf")
        self._timer: threading.Timer | None = None
        self.display_id = f"jobmagic-{uuid.uuid4().hex}"
        self._sent: Hashable = None  # state of the last update sent (to Lab, at once)
        self._recorded: Hashable = None  # state of the last one sent while a cell ran
        self.updates = 0
        self._shown = False

    @property
    def shown(self) -> bool:
        return self._shown

    @property
    def following(self) -> bool:
        """True while updates are sent for this output (shown, updatable, not yet final)."""
        with _lock:
            return _live.get(self.display_id) is self

    def show(self) -> None:
        """Display the view now, with this output's display id, and follow it.

        Where the view has a widget, its widget output follows at once, in the same cell (the
        two must be adjacent; a terminal, where no widget renders, gets the copies alone).
        """
        from IPython.display import display

        state = self._state()
        shell = current_shell()
        display(self._bundle(), raw=True, display_id=self.display_id)
        widget = self._widget() if self._widget is not None else {}
        if widget and updates_supported(shell):
            display(widget, raw=True)
        with _lock:
            self._shown = True
            self._sent = self._recorded = state
            if not updates_supported(shell):
                return
            if not self._done():
                _live[self.display_id] = self
        _hook(shell)

    def push(self, *, from_cell_end: bool = False) -> bool:
        """Send an update if the state changed since it was last sent; True if one was sent.

        Any thread may call it. At a cell's end (``from_cell_end``) a state that was sent only
        between cells is sent again, so nbclient and papermill record it.
        """
        from IPython.display import update_display

        with _lock:
            if not self._shown or not updates_supported(current_shell()):
                return False
            state = self._state()
            last = self._recorded if from_cell_end else self._sent
            sent = False
            wait = self._last_sent_at + self._min_interval - time.monotonic()
            if state != last and wait > 0 and not from_cell_end and not self._done():
                self._send_later(wait)
                return False
            if state != last:
                update_display(self._bundle(), raw=True, display_id=self.display_id)
                self.updates += 1
                self._last_sent_at = time.monotonic()
                self._sent = state
                if _in_cell:
                    self._recorded = state
                sent = True
            if self._recorded == state and self._done():
                _live.pop(self.display_id, None)
            elif self._shown:
                _live.setdefault(self.display_id, self)
            return sent

    def _send_later(self, delay: float) -> None:
        # Caller holds the lock. One pending timer at most: it sends the state as it is then.
        if self._timer is not None:
            return

        def fire() -> None:
            with _lock:
                self._timer = None
            self.push()

        self._timer = threading.Timer(delay, fire)
        self._timer.daemon = True
        self._timer.start()

    def forget(self) -> None:
        """Stop following (the view was closed)."""
        with _lock:
            _live.pop(self.display_id, None)
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
