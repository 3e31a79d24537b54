"""Views of runs: the live run card, the runs board, the trigger form, static snapshots and
text views — and :func:`bundle_for`, the one way any jobmagic object is shown.

Views only: they make no HTTP calls, and get their data and actions from a
:class:`RunSource` (a :class:`jobmagic.RunHandle` in practice). The widget
classes import ipywidgets, so they load on first use; the static renderers
(:mod:`jobmagic.widgets.static`) never do.

>>> from jobmagic.widgets import bundle_for
>>> run = jobmagic.trigger("sandbox:demo:hello", {"name": "Ada"})
>>> sorted(bundle_for(run))     # cards off: its static copy (on: the live card's view too)
['text/html', 'text/plain']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobmagic._lazy import lazy_attributes
from jobmagic.widgets._source import RunSource
from jobmagic.widgets.bundles import bundle_for, show
from jobmagic.widgets.static import render_run_html, render_run_text, render_runs_html

if TYPE_CHECKING:
    from jobmagic.widgets.board import RunsBoard
    from jobmagic.widgets.card import RunCard
    from jobmagic.widgets.form import TriggerFormView

__all__ = [
    "RunCard",
    "RunSource",
    "RunsBoard",
    "TriggerFormView",
    "bundle_for",
    "render_run_html",
    "render_run_text",
    "render_runs_html",
    "show",
]

# Importing ipywidgets costs ~0.2 s; the text views and bundle_for only need the formatters.
_LAZY = {
    "RunCard": "jobmagic.widgets.card",
    "RunsBoard": "jobmagic.widgets.board",
    "TriggerFormView": "jobmagic.widgets.form",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
