"""The runs board: counts, rows, coalesced updates, cards opened under the table."""

from __future__ import annotations

import time
from datetime import datetime, timezone

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
    assert "5 runs · 1 queued · 2 running · 1 finished · 1 failed" in board.counts_label.value
    assert board.counts == {"queued": 1, "running": 2, "finished": 1, "failed": 1}
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
    wait_until(lambda: "50 runs · 50 finished" in board.counts_label.value, what="final render")
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
    assert "1 running" in board.counts_label.value
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
    assert "200 runs · 50 queued · 50 running · 50 finished · 50 failed" in (
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
    assert bundle["text/plain"] == "1 run: 1 running"
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
