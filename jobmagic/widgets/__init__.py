"""Views of runs: the live run card, the runs board, the trigger form, static snapshots and
text views.

Views only: they make no HTTP calls and import no domain module; they get their data and
actions from a :class:`RunSource` (a :class:`jobmagic.RunHandle` in practice). Which view
shows which object is the IPython layer's choice (:mod:`jobmagic.ipython.display`). The
widget classes import ipywidgets, so they load on first use; the static renderers
(:mod:`jobmagic.widgets.static`) never do.

>>> from jobmagic.models import JobRun, RunStatus
>>> render_run_text(JobRun(name="train-x1", status=RunStatus.FINISHED))
'JobRun train-x1 · FINISHED'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobmagic._lazy import lazy_attributes
from jobmagic.widgets._source import RunSource
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
    "render_run_html",
    "render_run_text",
    "render_runs_html",
]

# Importing ipywidgets costs ~0.2 s; the text views and static renderers only need the formatters.
_LAZY = {
    "RunCard": "jobmagic.widgets.card",
    "RunsBoard": "jobmagic.widgets.board",
    "TriggerFormView": "jobmagic.widgets.form",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
