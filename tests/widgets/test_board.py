"""The runs board: counts, rows, coalesced updates, cards opened under the table."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from jobmagic._ticks import Clock
from jobmagic.widgets import (
    RunsBoard,
    RunSource,
)
from jobmagic.widgets.pages import PAGE_SIZE
from tests.widgets.fakes import (
    EVIL,
    WIDGET_MIME,
    FakeSource,
    classes,
    html_traits,
    make_run,
    wait_until,
)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The boards' clock, ticked by the test (the kernel's would redraw at any second)."""
    manual = Clock(manual=True)
    monkeypatch.setattr("jobmagic.widgets._board_rows.every_second", manual.subscribe)
    return manual


# --- the runs board --------------------------------------------------------------------


def test_board_counts_and_rows(quiet: None) -> None:
    sources = [
        FakeSource(make_run("a-1", "RUNNING"), params={"lr": "0.1"}),
        FakeSource(make_run("a-2", "RUNNING"), params={"lr": "0.2"}),
        FakeSource(make_run("a-3", "FINISHED", exit_code=0, duration=4.0)),
        FakeSource(make_run("a-4", "FAILED", exit_code=2, duration=1.0)),
        FakeSource(make_run("a-5", "CREATED")),
    ]
    board = RunsBoard(sources)
    # Named as the API and the badges name them: a CREATED badge is counted as CREATED.
    assert "5 runs · 1 CREATED · 2 RUNNING · 1 FINISHED · 1 FAILED" in board.counts_label.value
    assert board.counts == {"CREATED": 1, "RUNNING": 2, "FINISHED": 1, "FAILED": 1}
    assert board.table.value.count(">CREATED</span>") == 1
    table = board.table.value
    assert table.count('<tr class="jobmagic-row') == 5
    assert "lr=0.2" in table and "4.0 s" in table and ">2</td>" in table
    assert "jobmagic-badge-failed" in table
    # Ended runs are not listened to; live ones are.
    assert [s.subscribers for s in sources] == [1, 1, 0, 0, 1]
    assert [label for label, _ in board.select.options] == ["a-1", "a-2", "a-3", "a-4", "a-5"]
    assert board.select.value == 0  # "Open card" works without choosing first
    assert "jobmagic-board" in classes(board.widget)
    board.close()
    assert all(s.subscribers == 0 for s in sources)


def test_board_coalesces_updates_and_shows_the_last_one(quiet: None) -> None:
    sources = [FakeSource(make_run(f"s-{i}", "RUNNING")) for i in range(50)]
    board = RunsBoard(sources, min_interval=0.2)
    first = board.renders
    # A whole tick: 50 callbacks, then the runs end.
    for source in sources:
        source.emit_from_thread()
    for i, source in enumerate(sources):
        source.emit(make_run(f"s-{i}", "FINISHED", exit_code=0, duration=1.0))
    wait_until(lambda: "50 runs · 50 FINISHED" in board.counts_label.value, what="final render")
    assert board.renders - first <= 3, board.renders - first
    assert all(s.subscribers == 0 for s in sources)
    assert board.subscriptions == 0
    board.close()


def test_board_renders_only_when_something_changed(quiet: None) -> None:
    # No creation time: the duration does not tick, so a repeated state changes nothing.
    source = FakeSource(make_run("q-1", "SCHEDULED", created_at=None))
    board = RunsBoard([source], min_interval=0.0)
    before = board.renders
    source.emit()
    source.emit()
    time.sleep(0.05)
    assert board.renders == before
    source.emit(make_run("q-1", "RUNNING", created_at=None))
    wait_until(lambda: board.renders == before + 1)
    assert "1 RUNNING" in board.counts_label.value
    board.close()


def test_board_with_200_runs_renders_in_one_update(quiet: None) -> None:
    sources = [
        FakeSource(
            make_run(f"sweep-{i:03d}", ["RUNNING", "FINISHED", "FAILED", "CREATED"][i % 4]),
            params={"lr": f"0.{i}", "epochs": str(i % 7), "model": "resnet50"},
        )
        for i in range(200)
    ]
    board = RunsBoard(sources)
    board.render()  # one update: one trait for the counts, one for the table
    # The table shows its first page; the counts are over every run.
    assert board.table.value.count('<tr class="jobmagic-row') == PAGE_SIZE
    assert "200 runs · 50 CREATED · 50 RUNNING · 50 FINISHED · 50 FAILED" in (
        board.counts_label.value
    )
    board.close()


def test_board_add_appends_a_run(quiet: None) -> None:
    board = RunsBoard([], min_interval=0.0)
    assert "no runs yet" in board.counts_label.value
    source = FakeSource(make_run("late-1", "RUNNING"))
    board.add(source)
    wait_until(lambda: "late-1" in board.table.value)
    assert source.subscribers == 1
    assert [label for label, _ in board.select.options] == ["late-1"]
    board.select.value = 0
    board.add(FakeSource(make_run("late-2", "CREATED")))
    assert board.select.value == 0 and len(board.select.options) == 2
    board.close()


def test_board_opens_a_card_under_the_table(quiet: None) -> None:
    sources = [FakeSource(make_run("o-1")), FakeSource(make_run("o-2"))]
    board = RunsBoard(sources)
    board.select.value = 1
    board.open_button.click()
    card = board.card
    assert card is not None and card.source is sources[1]
    (output,) = board.output.outputs
    assert output["data"][WIDGET_MIME]["model_id"] == card.widget.model_id
    assert "o-2" in output["data"]["text/plain"]
    # Opening another replaces (and closes) the first card.
    board.select.value = 0
    board.open_button.click()
    assert card.closed and board.card is not None and board.card.source is sources[0]
    board.close()
    assert all(s.subscribers == 0 for s in sources)


def test_board_custom_on_open(quiet: None) -> None:
    opened: list[RunSource] = []
    sources = [FakeSource(make_run("c-1"))]
    board = RunsBoard(sources, on_open=opened.append)
    board.select.value = 0
    board.open_button.click()
    assert opened == [sources[0]] and board.card is None
    board.close()


def test_board_escapes_and_mimebundle(quiet: None) -> None:
    sources = [FakeSource(make_run(EVIL, "RUNNING"), params={EVIL: EVIL})]
    board = RunsBoard(sources)
    assert not any("<script" in text for text in html_traits(board.widget))
    bundle = board._repr_mimebundle_()
    assert set(bundle) >= {WIDGET_MIME, "text/html", "text/plain"}
    assert "<script" not in bundle["text/html"] and "jobmagic-board-table" in bundle["text/html"]
    assert bundle["text/plain"] == "1 run: 1 RUNNING"
    board.close()


def test_board_stale_note(quiet: None) -> None:
    source = FakeSource(make_run("st-1"))
    board = RunsBoard([source], min_interval=0.0)
    since = datetime(2024, 5, 1, 8, 0, 0, tzinfo=timezone.utc)
    source.emit(None, since)
    clock = since.astimezone().strftime("%H:%M:%S")
    wait_until(lambda: f"stale since {clock}" in board.counts_label.value)
    source.emit(None, None)
    wait_until(lambda: "stale" not in board.counts_label.value)
    board.close()


def test_a_live_rows_duration_moves_on_with_every_second_of_the_clock(
    quiet: None, clock: Clock
) -> None:
    created = datetime(2024, 5, 1, 12, 0, 0, 300000, tzinfo=timezone.utc)
    source = FakeSource(make_run("t-1", "RUNNING", created_at=created))
    board = RunsBoard([source], min_interval=0.0)
    assert clock.subscribers == 1
    clock.tick(created + timedelta(seconds=61.7))
    assert "1m 01s" in board.table.value
    renders = board.renders
    clock.tick(created + timedelta(seconds=62.7))
    # One redraw per second, no poll needed: not the tracker's 2 s steps.
    assert "1m 02s" in board.table.value and board.renders == renders + 1
    # Ended: the exact duration from the API's times; the board stops following the clock.
    source.emit(
        make_run("t-1", "FINISHED", created_at=created, end_time=created + timedelta(seconds=63.5))
    )
    wait_until(lambda: "1m 03s" in board.table.value, what="the end")
    clock.tick(created + timedelta(seconds=70))
    assert clock.subscribers == 0 and "1m 03s" in board.table.value
    board.close()


@pytest.mark.browser
def test_the_static_board_shows_params_whole_under_jupyterlabs_output_css() -> None:
    from tests.browser.lab_support import browser_missing_reason, chromium_page

    missing = browser_missing_reason()
    if missing:
        pytest.skip(missing)
    import sys
    from pathlib import Path

    from jobmagic.widgets.static import render_runs_html

    # JupyterLab's stylesheet, as nbconvert's lab template ships it: output tables are laid
    # out "fixed" there, which gave the params column an equal share and cut it.
    lab_css = Path(sys.prefix) / "share/jupyter/nbconvert/templates/lab/static/index.css"
    if not lab_css.exists():
        pytest.skip("nbconvert's lab template stylesheet is not installed here")
    done = make_run("train-1", "FINISHED", exit_code=0, duration=5.0)
    board = render_runs_html(
        [(done, {"lr": "0.1", "epochs": "5"})] * 3, metrics=[{"loss": 0.1, "accuracy": 0.9}] * 3
    )
    page_html = (
        f"<html><head><style>{lab_css.read_text()}</style></head><body style='width: 600px'>"
        f"<div class='jp-OutputArea-output jp-RenderedHTMLCommon'>{board}</div></body></html>"
    )
    with chromium_page() as page:
        page.set_content(page_html)
        widths = page.evaluate(
            "() => [...document.querySelectorAll('td.jobmagic-col-params')]"
            ".map(td => [td.clientWidth, td.scrollWidth])"
        )
    assert widths and all(shown >= needed for shown, needed in widths), widths
