"""Times that stay true (issue 23, point 7): one duration for a run in every view, moving on
with one clock; relative times only while a run lives; statuses named as the API names them;
``--wait`` polling at most once a second, timed to land just after the run's expected end.

No assertion on how long something took: the views are given a clock the test ticks, and the
wait's requests are counted by the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from jobmagic._ticks import Clock, clock_now
from jobmagic.domain.end_estimate import EndEstimates, next_poll_time
from jobmagic.domain.progress import sweep_progress_text
from jobmagic.models import JobRun, RunStatus
from jobmagic.models.formatting import format_duration, meta_rows
from jobmagic.sandbox import SandboxServer
from jobmagic.widgets import RunsBoard
from jobmagic.widgets import card as card_module
from jobmagic.widgets._board_text import board_counts_line, runs_summary
from jobmagic.widgets.card import RunCard
from jobmagic.widgets.static import render_run_html, render_run_text, runs_table_html
from jobmagic.widgets.text_views import StatusLine, WaitLine
from tests.widgets.fakes import FakeSource, make_run

T = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)


@pytest.fixture
def quiet(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Fail the test if a view prints anything (from any thread)."""
    yield
    out, err = capsys.readouterr()
    assert out == "" and err == "", (out, err)


# --- one duration -------------------------------------------------------------------------


def test_a_runs_duration_comes_from_the_apis_times() -> None:
    live = JobRun(name="r", status=RunStatus.RUNNING, created_at=T, duration=0)
    # A live run: created -> now, whatever whole-second duration a server sent with it.
    assert live.elapsed(T + timedelta(seconds=1.2)) == pytest.approx(1.2)
    assert live.elapsed(T + timedelta(seconds=75)) == pytest.approx(75.0)
    ended = JobRun(
        name="r", status=RunStatus.FINISHED, created_at=T, end_time=T + timedelta(seconds=3.5)
    )
    # An ended run: end - created (ms precision), the same however late it is shown.
    assert ended.elapsed(T + timedelta(days=3)) == pytest.approx(3.5)
    assert JobRun(name="r", status=RunStatus.FAILED, duration=7).elapsed() == 7.0
    assert JobRun(name="r", status=RunStatus.FAILED).elapsed() is None
    assert JobRun(name="r", status=RunStatus.CREATED).elapsed() is None


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock every view re-renders on, ticked by the test."""
    manual = Clock(manual=True)
    monkeypatch.setattr(card_module, "every_second", manual.subscribe)
    monkeypatch.setattr("jobmagic.widgets._board_rows.every_second", manual.subscribe)
    return manual


def test_every_view_shows_one_duration_at_one_moment(quiet: None, clock: Clock) -> None:
    run = make_run("t-1", "RUNNING", created_at=T)
    source = FakeSource(run, params={"lr": "0.1"})
    card = RunCard(source)
    board = RunsBoard([source], min_interval=0.0)
    assert clock.subscribers == 2  # the card and the board, each once
    moment = T + timedelta(seconds=61.75)
    clock.tick(moment)
    shown = format_duration(61.75)
    assert shown == "1m 01s"
    # The card, the board, the --wait line, the one-line text and the static copies.
    assert shown in card.meta.value
    assert shown in board.table.value
    assert shown in StatusLine(run, now=moment).text()
    assert shown in render_run_text(run, now=moment)
    assert shown in render_run_html(run, now=moment)
    assert shown in runs_table_html([run], now=moment)
    # The next second moves every view on together, with no poll in between.
    clock.tick(moment + timedelta(seconds=1))
    assert "1m 02s" in card.meta.value and "1m 02s" in board.table.value
    card.close()
    board.close()
    assert clock.subscribers == 0


def test_views_rendered_in_the_same_second_agree() -> None:
    # Between ticks every view computes a live duration at the clock's last whole second.
    assert clock_now(1714564800.1) == clock_now(1714564800.9)
    assert clock_now(1714564801.0) - clock_now(1714564800.9) == timedelta(seconds=1)


def test_a_frame_gives_a_live_run_the_duration_the_views_show() -> None:
    import jobmagic

    created = clock_now() - timedelta(seconds=30)
    live = JobRun(name="live", status=RunStatus.RUNNING, created_at=created, duration=0)
    ended = JobRun(
        name="ended",
        status=RunStatus.FINISHED,
        created_at=created,
        end_time=created + timedelta(seconds=2.5),
        duration=2,
    )
    frame = jobmagic.runs_to_dataframe([live, ended])
    shown = frame.set_index("name")["duration"].dt.total_seconds()
    # The server's duration of a live run (0) stands still; every view counts from created.
    assert shown["live"] >= 30.0 and shown["live"] == pytest.approx(live.elapsed(), abs=1.5)
    assert shown["ended"] == 2.5 == ended.elapsed()


# --- relative times -------------------------------------------------------------------------


def test_relative_times_are_recomputed_while_live_and_gone_once_ended() -> None:
    live = JobRun(name="r", status=RunStatus.RUNNING, created_at=T)
    assert "(just now)" in dict(meta_rows(live, now=T + timedelta(seconds=1)))["Created"]
    later = dict(meta_rows(live, now=T + timedelta(minutes=16)))["Created"]
    assert "(16 min ago)" in later and "just now" not in later
    ended = JobRun(name="r", status=RunStatus.FINISHED, created_at=T, end_time=T)
    rows = dict(meta_rows(ended, now=T + timedelta(seconds=1)))
    # Nothing relative is left to age in a card the kernel no longer updates.
    assert "ago" not in rows["Created"] + rows["Ended"]
    assert "just now" not in rows["Created"] + rows["Ended"]


def test_the_wait_line_moves_on_with_the_clock_it_is_given(quiet: None) -> None:
    shell = InteractiveShell.instance()
    original, shell.display_pub = shell.display_pub, CapturingDisplayPublisher()
    try:
        manual = Clock(manual=True)
        source = FakeSource(make_run("w-1", "RUNNING", created_at=T))
        line = WaitLine(source, clock=manual.subscribe)
        line.show()
        assert manual.subscribers == 1
        manual.tick(T + timedelta(seconds=2))
        manual.tick(T + timedelta(seconds=3))
        end = T + timedelta(seconds=3.5)
        source.emit(make_run("w-1", "FINISHED", created_at=T, end_time=end, exit_code=0))
        manual.tick(T + timedelta(seconds=4))
        sent = [o["data"]["text/plain"] for o in shell.display_pub.outputs]
    finally:
        shell.display_pub = original
        InteractiveShell.clear_instance()
    assert sent == [
        sent[0],  # shown at the real time, before the test's clock ticked
        "w-1 · RUNNING · 2.0 s",
        "w-1 · RUNNING · 3.0 s",
        "w-1 · FINISHED · 3.5 s · exit 0",
    ]
    assert manual.subscribers == 0  # the run ended: the line no longer follows the clock


# --- statuses -------------------------------------------------------------------------------


def test_counts_name_statuses_as_the_badges_and_the_api_do() -> None:
    six_created = {"CREATED": 6}
    assert board_counts_line(six_created) == "6 runs · 6 CREATED"
    assert runs_summary({"FINISHED": 3, "CREATED": 6}) == "9 runs: 6 CREATED · 3 FINISHED"
    statuses = [RunStatus.SCHEDULED, RunStatus.TERMINATION_REQUESTED, RunStatus.TERMINATED]
    assert sweep_progress_text(statuses, 2.0) == (
        "3 runs · 1 SCHEDULED · 1 TERMINATION_REQUESTED · 1 TERMINATED · 2.0 s"
    )


# --- when a wait asks ------------------------------------------------------------------------


def _finished(name: str, seconds: float, command: str = "sleep 2") -> JobRun:
    return JobRun(
        name=name,
        status=RunStatus.FINISHED,
        command=command,
        created_at=T,
        end_time=T + timedelta(seconds=seconds),
    )


def test_the_expected_end_is_learnt_from_finished_runs_of_the_same_command() -> None:
    estimates = EndEstimates()
    page = [_finished("a", 2.0), _finished("b", 2.2), _finished("c", 9.0, command="sleep 9")]
    failed = JobRun(name="d", status=RunStatus.FAILED, command="sleep 2", created_at=T, end_time=T)
    estimates.learn([*page, failed])
    estimates.learn(page)  # the next tick lists them again: learnt once
    live = JobRun(name="e", status=RunStatus.RUNNING, command="sleep 2", created_at=T)
    assert estimates.expected_end(live) == T + timedelta(seconds=2.1)  # median; failed ignored
    assert estimates.margin(live) == pytest.approx(0.05 + 0.2)  # grows with the spread
    other = JobRun(name="f", status=RunStatus.RUNNING, command="sleep 3", created_at=T)
    assert estimates.expected_end(other) is None


def test_polls_never_come_closer_than_the_spacing_and_land_on_the_expected_end() -> None:
    for target in (0.3, 1.0, 1.7, 2.05, 5.5, 9.99):
        polls, last = [], 0.0
        while last < 12:
            last = next_poll_time(last, 1.0, [target])
            polls.append(last)
        gaps = [b - a for a, b in zip([0.0, *polls], polls, strict=False)]
        assert min(gaps) >= 1.0 - 1e-9  # at most one request a second
        if target >= 1.0:
            assert any(abs(poll - target) < 1e-9 for poll in polls)  # one lands on the end


@pytest.fixture
def shell(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("TFY_HOST", sandbox.host)
    monkeypatch.setenv("TFY_API_KEY", sandbox.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jobmagic")
    ip.run_line_magic("config", f"JobMagic.ledger_path = {str(tmp_path / 'ledger.db')!r}")
    ip.run_line_magic("config", "JobMagic.show_cards = False")
    yield ip
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


def test_wait_asks_at_most_once_a_second_and_times_its_polls_by_earlier_runs(
    shell: InteractiveShell, sandbox: SandboxServer
) -> None:
    counts = []
    for _ in range(2):  # the second run of the command can be timed by the first one
        before = sandbox.stats().get("list_runs", 0) + sandbox.stats().get("get_run", 0)
        started = time.monotonic()
        shell.run_line_magic("trigger_job", "sandbox:demo:sleep seconds=2 --wait -q -o run")
        waited = time.monotonic() - started
        after = sandbox.stats().get("list_runs", 0) + sandbox.stats().get("get_run", 0)
        counts.append(after - before)
        assert shell.user_ns["run"].status == RunStatus.FINISHED
        # At most one request a second of waiting (a slower machine only allows more).
        assert 1 <= counts[-1] <= waited
    tracker = shell.user_ns["run"].session.tracker
    app_id = shell.user_ns["run"].application_id
    estimates = tracker._estimates[app_id]
    assert estimates.expected_end(shell.user_ns["run"].run) is not None
