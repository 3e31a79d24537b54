"""Card, board and form are one kind of live view: their outputs are built in one place.

How a view becomes an output (its bundle, its twin outputs with a display id, the record a
view nested in a board's output area is shown with, and what closing does to them) is
:class:`LiveView`'s alone, so changing how outputs are built (e.g. for a notebook reopened
without its kernel) is a change there, and shows in every view at once.

The twin outputs are read here as a front end receives them: through a real
``InteractiveShell`` whose display publisher is IPython's capturing one (each output's data,
display id and whether it is an update). How front ends then choose between the two is
proved in real JupyterLab, Notebook 7 and nbconvert pages (tests/browser/test_saved_notebooks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from jobmagic import _ticks
from jobmagic.models import LogLine, ParamSpec
from jobmagic.widgets import RunsBoard, TriggerFormView
from jobmagic.widgets._stylesheet import LIVE_CLASS, TWIN_CLASS, twin_rules
from jobmagic.widgets.card import RunCard
from jobmagic.widgets.live import live_outputs
from jobmagic.widgets.live_view import LiveView
from jobmagic.widgets.static import stylesheet
from tests.widgets.fakes import WIDGET_MIME, FakeSource, classes, make_run, wait_until


def _card(source: FakeSource) -> LiveView:
    return RunCard(source)


def _board(source: FakeSource) -> LiveView:
    return RunsBoard([source])


def _form(source: FakeSource) -> LiveView:
    return TriggerFormView(
        [ParamSpec("lr", default="0.1")], on_submit=lambda _v, _c: source, card=RunCard
    )


VIEWS: dict[str, Callable[[FakeSource], LiveView]] = {
    "card": _card,
    "board": _board,
    "form": _form,
}
#: What only the base may define: a view that overrode one would build its outputs its own way.
OUTPUT_MEMBERS = (
    "_repr_mimebundle_",
    "_ipython_display_",
    "display_data",
    "twin_bundle",
    "widget_output",
    "close",
)


@pytest.fixture
def frontend() -> Iterator[CapturingDisplayPublisher]:
    """A real shell whose display publisher keeps every output, as a notebook front end."""
    shell = InteractiveShell.instance()
    original = shell.display_pub
    publisher = CapturingDisplayPublisher()
    shell.display_pub = publisher
    yield publisher
    shell.display_pub = original
    InteractiveShell.clear_instance()


@pytest.fixture(autouse=True)
def one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every render in this thread at one second, as during a clock's tick: two renders of a
    live run a second apart would show two durations."""
    monkeypatch.setattr(_ticks._batch, "now", _ticks.clock_now(), raising=False)


def _display_id(output: Mapping[str, Any]) -> str | None:
    return (output.get("transient") or {}).get("display_id")


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


@pytest.mark.parametrize("kind", VIEWS)
def test_a_view_is_shown_as_its_static_twin_then_its_widget_alone(
    kind: str, quiet: None, frontend: CapturingDisplayPublisher
) -> None:
    source = FakeSource(make_run("lv-3", "RUNNING"))
    view = VIEWS[kind](source)
    try:
        view._ipython_display_()
        twin, widget = frontend.outputs
        # 1. The copies, marked as the twin, with the display id: all a saved notebook needs.
        assert _display_id(twin) == view.display_id and not twin["update"]
        assert WIDGET_MIME not in twin["data"]
        assert (
            twin["data"]["text/html"] == f'<div class="{TWIN_CLASS}">{view.snapshot_html()}</div>'
        )
        assert twin["data"]["text/plain"] == view.text()
        # 2. The widget alone, with no display id (never updated) and no text of its own, and
        # its root marked as what the twin rules hide the copy for.
        assert _display_id(widget) is None
        assert widget["data"] == {
            WIDGET_MIME: view._repr_mimebundle_()[WIDGET_MIME],
            "text/plain": "",
        }
        assert LIVE_CLASS in classes(view.widget)
    finally:
        view.close()


def test_updates_replace_the_twin_only(quiet: None, frontend: CapturingDisplayPublisher) -> None:
    source = FakeSource(make_run("lv-4", "RUNNING"))
    card = RunCard(source)
    card._ipython_display_()
    source.emit(make_run("lv-4", "FINISHED", exit_code=0))
    updates = [o for o in frontend.outputs if o["update"]]
    assert updates, "the run's end was sent"
    for update in updates:
        assert _display_id(update) == card.display_id
        assert WIDGET_MIME not in update["data"]
        assert update["data"]["text/html"].startswith(f'<div class="{TWIN_CLASS}">')
    assert "FINISHED" in updates[-1]["data"]["text/html"]
    assert "FINISHED" in updates[-1]["data"]["text/plain"]
    card.close()


def test_a_closed_view_shows_its_copy_alone_unmarked(
    quiet: None, frontend: CapturingDisplayPublisher
) -> None:
    card = RunCard(FakeSource(make_run("lv-5", "FINISHED", exit_code=0)))
    card.close()
    assert card.widget_output() == {}
    card._ipython_display_()
    (only,) = frontend.outputs
    # No widget follows, so nothing marks it a twin: the rules never hide the next output.
    assert only["data"] == {"text/html": card.snapshot_html(), "text/plain": card.text()}


def test_the_twin_rules_travel_with_every_copy_and_every_live_widget() -> None:
    rules = twin_rules()
    assert rules in stylesheet()
    # One rule hides a twin's following row unless it holds a live widget; one hides the twin
    # while it does. Both look only at a copy that is an output's own content.
    hide_widget, hide_twin = rules.splitlines()
    twin = f".jp-OutputArea-child:has(> .jp-OutputArea-output > .{TWIN_CLASS})"
    assert hide_widget.startswith(f"{twin} + .jp-OutputArea-child:not(:has(.{LIVE_CLASS}))")
    assert hide_twin.startswith(f"{twin}:has(+ .jp-OutputArea-child .{LIVE_CLASS})")
    card = RunCard(FakeSource(make_run("lv-6", "FINISHED", exit_code=0)))
    assert rules in card.snapshot_html() and rules in card.style.value
    card.close()


# --- a card's "Run again": the rerun's card under the source card, not in it ---------------


@dataclass(frozen=True)
class _Fields:
    specs: list[ParamSpec]
    values: dict[str, str]
    command: str | None = None


class _RerunnableSource(FakeSource):
    """A FakeSource whose "Run again" starts another FakeSource (a new, live run)."""

    def __init__(self, run: Any, params: Mapping[str, str]) -> None:
        super().__init__(run, params=params)
        self.can_rerun = True
        self.started: list[FakeSource] = []

    def rerun_fields(self) -> _Fields:
        return _Fields([ParamSpec(k, default=v) for k, v in self.params.items()], dict(self.params))

    def rerun(
        self, params: Mapping[str, str] | None = None, /, *, command: str | None = None
    ) -> FakeSource:
        new = FakeSource(
            make_run(f"lv-rerun-{len(self.started) + 1}", "RUNNING"),
            params={**self.params, **(params or {})},
        )
        self.started.append(new)
        return new


def test_run_again_puts_the_new_card_under_the_source_card_and_in_its_copy(
    quiet: None, frontend: CapturingDisplayPublisher
) -> None:
    source = _RerunnableSource(make_run("lv-src", "FINISHED", exit_code=0), {"lr": "0.1"})
    card = RunCard(source)
    card._ipython_display_()
    card.rerun_button.click()
    wait_until(lambda: card.rerun_form is not None, what="the Run again form")
    form = card.rerun_form
    form.fields["lr"].value = "0.3"
    form.trigger_button.click()
    wait_until(lambda: bool(card.reruns), what="the rerun's card")
    (rerun,) = card.reruns
    (started,) = source.started
    assert rerun.source is started and started.params == {"lr": "0.3"}
    # Under the source card's box, in the same output; not in the card's box, nor the form.
    assert list(card.widget.children) == [card.box, card.reruns_box]
    assert list(card.reruns_box.children) == [rerun.widget]
    assert "jobmagic-card" in classes(card.box) and "jobmagic-card" in classes(rerun.box)
    wait_until(lambda: bool(form.cards), what="the form's note")
    assert "its card is below" in form.cards[0].widget.value
    assert all(c.widget is not rerun.widget for c in form.cards)
    # The source card's saved copy lists the rerun's under its own, and follows it.
    twin = [o for o in frontend.outputs if _display_id(o) == card.display_id][-1]["data"]
    assert twin["text/html"].index("lv-src") < twin["text/html"].index("lv-rerun-1")
    assert twin["text/plain"].splitlines()[1].startswith("JobRun lv-rerun-1 · RUNNING")
    assert card.live_output.following  # a live rerun keeps the source card's copy followed
    started.emit(make_run("lv-rerun-1", "FINISHED", exit_code=0))
    last = [o for o in frontend.outputs if _display_id(o) == card.display_id][-1]["data"]
    assert last["text/plain"].splitlines()[1].startswith("JobRun lv-rerun-1 · FINISHED")
    card.close()
    assert rerun.closed and started.subscribers == 0


def test_the_logs_panel_s_lines_are_kept_in_the_card_s_copy_folded(
    quiet: None, frontend: CapturingDisplayPublisher
) -> None:
    source = FakeSource(make_run("lv-logs", "FINISHED", exit_code=0))
    source.log_lines = [LogLine("epoch=1 loss=0.5", "stdout"), LogLine("<oops>", "stderr")]
    card = RunCard(source)
    card._ipython_display_()
    assert "<details" not in card.snapshot_html()  # a panel never opened keeps nothing
    card.logs_toggle.value = True
    wait_until(lambda: "<details" in card.snapshot_html(), what="the copy's logs")
    copy = [o for o in frontend.outputs if _display_id(o) == card.display_id][-1]["data"]
    html = copy["text/html"]
    assert '<details class="jobmagic-logs-details">' in html and "Logs · last 2 lines" in html
    assert "epoch=1 loss=0.5" in html and "&lt;oops&gt;" in html and "<oops>" not in html
    card.close()
