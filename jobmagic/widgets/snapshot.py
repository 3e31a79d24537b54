"""A run shown without widgets (cards turned off): its static copy, kept true as it runs.

>>> run = jobmagic.trigger("sandbox:demo:hello", {"name": "Ada"})
>>> view = SnapshotView(run)    # shown once, then kept true as the run goes on
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from jobmagic.models import JobRun
from jobmagic.models.formatting import run_state_key, shows_events
from jobmagic.widgets._source import RunSource
from jobmagic.widgets.live import LiveOutput
from jobmagic.widgets.static import render_run_html, render_run_text

__all__ = ["SnapshotView", "snapshot_bundle"]


def snapshot_bundle(source: RunSource) -> dict[str, Any]:
    """A run's static copies as they are now: ``text/plain`` and escaped ``text/html``."""
    kwargs: dict[str, Any] = {
        "params": source.params,
        "application_fqn": source.application_fqn,
        "url": source.url,
        "rerun_of": source.rerun_of,
    }
    return {
        "text/plain": render_run_text(source.run, **kwargs),
        "text/html": render_run_html(
            source.run, events=source.events, metrics=source.metric_series, **kwargs
        ),
    }


class SnapshotView:
    """The ``text/html`` + ``text/plain`` of one run, displayed with a display id and
    re-sent when the run's status changes or it ends (no ipywidgets involved)."""

    def __init__(self, source: RunSource) -> None:
        self._source = source
        self._live = LiveOutput(self.bundle, self._state_key, lambda: source.run.is_terminal)
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def display_id(self) -> str:
        return self._live.display_id

    def _state_key(self) -> tuple[object, ...]:
        run = self._source.run
        return (run_state_key(run), len(self._source.events) if shows_events(run) else 0)

    def bundle(self) -> dict[str, Any]:
        """The run's static copies as they are now."""
        return snapshot_bundle(self._source)

    def show(self) -> None:
        """Display the copy; follow the run while an update can reach the output."""
        self._live.show()
        if self._source.run.is_terminal or not self._live.following:
            return
        self._unsubscribe = self._source.subscribe(self._on_update)

    def _on_update(self, run: JobRun, _stale_since: datetime | None) -> None:
        self._live.push()
        if run.is_terminal and self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            unsubscribe()
