"""Card, board and form are one kind of live view: their outputs are built in one place.

How a view becomes an output (its bundle, its display with a display id, the record a view
nested in a board's output area is shown with, and what closing does to them) is
:class:`LiveView`'s alone, so changing how outputs are built (e.g. for a notebook reopened
without its kernel) is a change there, and shows in every view at once.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobmagic.models import ParamSpec
from jobmagic.widgets import RunsBoard, TriggerFormView
from jobmagic.widgets.card import RunCard
from jobmagic.widgets.live import live_outputs
from jobmagic.widgets.live_view import LiveView
from tests.widgets.fakes import WIDGET_MIME, FakeSource, make_run


def _card(source: FakeSource) -> LiveView:
    return RunCard(source)


def _board(source: FakeSource) -> LiveView:
    return RunsBoard([source])


def _form(source: FakeSource) -> LiveView:
    return TriggerFormView([ParamSpec("lr", default="0.1")], on_submit=print, card=RunCard)


VIEWS: dict[str, Callable[[FakeSource], LiveView]] = {
    "card": _card,
    "board": _board,
    "form": _form,
}
#: What only the base may define: a view that overrode one would build its outputs its own way.
OUTPUT_MEMBERS = ("_repr_mimebundle_", "_ipython_display_", "display_data", "close")


@pytest.mark.parametrize("kind", VIEWS)
def test_every_view_builds_its_output_with_the_base(kind: str, quiet: None) -> None:
    view = VIEWS[kind](FakeSource(make_run("lv-1", "RUNNING")))
    try:
        assert isinstance(view, LiveView)
        overridden = [
            m for m in OUTPUT_MEMBERS if getattr(type(view), m) is not getattr(LiveView, m)
        ]
        assert overridden == []
        bundle = view._repr_mimebundle_()
        # The widget view, then the static copies the view supplies (not the widget's repr).
        assert bundle[WIDGET_MIME]["model_id"] == view.widget.model_id
        assert bundle["text/html"] == view.snapshot_html()
        assert bundle["text/plain"] == view.text()
        record = view.display_data()
        assert record["output_type"] == "display_data"
        assert record["data"][WIDGET_MIME] == bundle[WIDGET_MIME]
    finally:
        view.close()


@pytest.mark.parametrize("kind", VIEWS)
def test_a_closed_view_outputs_only_its_static_copies(kind: str, quiet: None) -> None:
    source = FakeSource(make_run("lv-2", "RUNNING"))
    view = VIEWS[kind](source)
    view.close()
    view.close()  # idempotent
    assert view.closed and view.widget.comm is None
    assert source.subscribers == 0
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}  # no view of a closed widget model
    assert view.display_id not in {output.display_id for output in live_outputs()}
