"""One way to show any jobmagic object: :func:`bundle_for` gives its output bundle, and
:func:`show` displays it with a display id, so its saved copies follow it to its end.

A run handle is its live card (with cards off, its static copy); a sweep's result is its
runs board under the summary of what failed; anything else (a card, a board, a form, a text
view) is shown as it shows itself. Handles and sweep results know no views: the shell's
display formatters call these (:func:`jobmagic.ipython.display.register`). Nothing here
imports ipywidgets until a widget is shown.

>>> run = jobmagic.trigger("sandbox:demo:hello", {"name": "Ada"})
>>> bundle_for(run.wait(timeout=60) and run)["text/plain"]
'JobRun hello-... · FINISHED · sandbox:demo:hello v1 · ... s · exit 0'
"""

from __future__ import annotations

from typing import Any

from jobmagic.domain.handle import RunHandle
from jobmagic.domain.sweeps import SweepResult
from jobmagic.models.text import view_html, view_text
from jobmagic.widgets.snapshot import SnapshotView, snapshot_bundle

__all__ = ["bundle_for", "show"]


def bundle_for(obj: Any, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """``obj``'s output bundle: the widget view where there is one, plus the static
    ``text/html`` and ``text/plain`` that viewers without widgets show instead."""
    if isinstance(obj, RunHandle):
        obj.prepare_display()
        if not obj.shows_card:
            return snapshot_bundle(obj)
        from jobmagic.widgets.card import RunCard

        return RunCard(obj)._repr_mimebundle_(include=include, exclude=exclude)
    if isinstance(obj, SweepResult):
        return _sweep_bundle(obj, include, exclude)
    own = getattr(obj, "_repr_mimebundle_", None)
    if callable(own):
        return dict(own(include=include, exclude=exclude) or {})
    text = obj.text() if callable(getattr(obj, "text", None)) else repr(obj)
    own_html = getattr(obj, "_repr_html_", None)
    page = own_html() if callable(own_html) else f"<pre>{view_html(text)}</pre>"
    return {"text/plain": view_text(text), "text/html": page}


def show(obj: Any) -> None:
    """Display ``obj`` as :func:`bundle_for` describes it, with a display id where it can
    change (a run, a sweep's board), so the notebook's saved copy is replaced as it does."""
    if isinstance(obj, RunHandle):
        _show_run(obj)
    elif isinstance(obj, SweepResult):
        _show_sweep(obj)
    elif callable(getattr(obj, "_ipython_display_", None)):
        obj._ipython_display_()
    else:
        from IPython.display import display

        display(bundle_for(obj), raw=True)


def _show_run(handle: RunHandle) -> None:
    handle.prepare_display()
    if not handle.shows_card:
        SnapshotView(handle).show()
        return
    from jobmagic.widgets.card import RunCard

    RunCard(handle)._ipython_display_()


def _show_sweep(result: SweepResult) -> None:
    if not result.handles:
        from IPython.display import display

        display(bundle_for(result), raw=True)
        return
    from jobmagic.widgets.board import RunsBoard

    RunsBoard(result.handles, actions=result, note=result.summary())._ipython_display_()


def _sweep_bundle(result: SweepResult, include: Any, exclude: Any) -> dict[str, Any]:
    """The summary over the runs board (its buttons act on the whole sweep); its failures'
    messages come from the server, cleaned as every run text is (:mod:`jobmagic.models.text`)."""
    text = view_text(result.summary())
    summary_html = f"<pre class='jobmagic-sweep-summary'>{view_html(text)}</pre>"
    if not result.handles:
        return {"text/plain": text, "text/html": summary_html}
    from jobmagic.widgets.board import RunsBoard

    bundle = RunsBoard(result.handles, actions=result)._repr_mimebundle_(
        include=include, exclude=exclude
    )
    bundle["text/plain"] = text + "\n" + str(bundle.get("text/plain", ""))
    bundle["text/html"] = summary_html + str(bundle.get("text/html", ""))
    return bundle
