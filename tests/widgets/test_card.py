"""The live run card, asserted through its traits; and the events of a failed or terminated run."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobmagic._ticks import Clock
from jobmagic.config import Settings
from jobmagic.domain import engine
from jobmagic.domain.session import JobSession
from jobmagic.domain.target import Target
from jobmagic.errors import ConflictError, TransportError
from jobmagic.ipython.views import bundle_for
from jobmagic.models import Event, LogLine, RunStatus, Subject
from jobmagic.models.formatting import (
    status_state,
)
from jobmagic.sandbox import SandboxServer
from jobmagic.widgets import (
    RunCard,
    render_run_html,
)
from jobmagic.widgets import _card_logs as card_logs_module
from jobmagic.widgets import card as card_module
from jobmagic.widgets.snapshot import snapshot_bundle
from jobmagic.widgets.static import stylesheet
from tests.widgets.fakes import (
    EVIL,
    WIDGET_MIME,
    FakeSource,
    all_widgets,
    classes,
    html_traits,
    make_run,
    now,
    shown,
    wait_until,
)

# --- the run card ----------------------------------------------------------------------


def test_card_shows_the_run(quiet: None) -> None:
    created = now() - timedelta(minutes=3, seconds=5)
    run = make_run(
        created_at=created,
        total_retries=2,
        triggered_by="u-1",
        triggered_by_subject=Subject(subject_display_name="Ada Lovelace", subject_id="u-1"),
    )
    source = FakeSource(run)
    card = RunCard(source)
    assert "train-k3x9q" in card.name_label.value
    assert "jobmagic-status-running" in classes(card.status_badge)
    assert ">RUNNING<" in card.status_badge.value
    meta = card.meta.value
    assert "sandbox:demo:train v3" in meta
    assert "3 min ago" in meta and "3m 0" in meta  # created, ticking duration
    assert "Ada Lovelace" in meta and ">2<" in meta
    assert "lr" in card.params_table.value and "epochs" in card.params_table.value
    assert 'target="_blank" rel="noopener"' in card.link.value and shown(card.link)
    assert not shown(card.error_box) and not shown(card.stale_note)
    assert not card.terminate_button.disabled and not card.refresh_button.disabled
    assert source.subscribers == 1 and card.subscribed
    # The stable classes the browser tests select on.
    expected = {
        card.box: "jobmagic-card",
        card.name_label: "jobmagic-name",
        card.meta: "jobmagic-meta",
        card.params_table: "jobmagic-params",
        card.error_box: "jobmagic-error",
        card.link: "jobmagic-link",
        card.refresh_button: "jobmagic-refresh",
        card.terminate_button: "jobmagic-terminate",
        card.confirm_button: "jobmagic-confirm",
        card.cancel_button: "jobmagic-cancel",
        card.logs_toggle: "jobmagic-logs-toggle",
        card.logs: "jobmagic-logs",
        card.stale_note: "jobmagic-stale",
        card.message: "jobmagic-message",
    }
    for widget, css_class in expected.items():
        assert css_class in classes(widget), css_class
    # The card's own CSS travels with it, once.
    styles = [w for w in all_widgets(card.widget) if "<style>" in str(getattr(w, "value", ""))]
    assert len(styles) == 1
    card.close()


def test_card_escapes_everything(quiet: None) -> None:
    run = make_run(name=EVIL, status="FAILED", error=EVIL, triggered_by=EVIL, exit_code=1)
    source = FakeSource(run, params={EVIL: EVIL}, application_fqn=EVIL, url="https://x/" + EVIL)
    source.log_lines = [LogLine(EVIL, "stdout")]
    card = RunCard(source)
    card.logs_toggle.value = True
    wait_until(lambda: "&lt;script&gt;" in card.logs.value, what="logs")
    card._on_terminate_click()  # terminal: no confirmation appears
    texts = html_traits(card.widget)
    assert not any("<script" in text for text in texts), [t for t in texts if "<script" in t]
    assert any("&lt;script&gt;" in text for text in texts)
    bundle = card._repr_mimebundle_()
    assert "<script" not in bundle["text/html"]
    assert shown(card.error_box) and "jobmagic-error-text" in card.error_box.value
    card.close()


def test_card_status_class_follows_the_state(quiet: None) -> None:
    source = FakeSource(make_run(status="CREATED"))
    card = RunCard(source)
    seen = []
    for status in ["SCHEDULED", "RUNNING", "TERMINATION_REQUESTED", "TERMINATING", "PAUSED"]:
        source.emit_from_thread(make_run(status=status))
        state_classes = {c for c in classes(card.status_badge) if c.startswith("jobmagic-status-")}
        assert state_classes == {f"jobmagic-status-{status_state(status)}"}, status
        assert f">{status}<" in card.status_badge.value
        seen.append(card.status_badge.value)
    source.emit(make_run(status="TERMINATED"))
    assert {c for c in classes(card.status_badge) if c.startswith("jobmagic-status-")} == {
        "jobmagic-status-terminated"
    }
    card.close()


def test_each_state_has_its_own_colour() -> None:
    css = stylesheet()
    for state in ["queued", "running", "finished", "failed", "terminating", "terminated"]:
        assert f"jobmagic-badge-{state} {{" in css or f"jobmagic-badge-{state}," in css
    rules = {}
    for line in css.splitlines():
        for state in ["queued", "running", "finished", "failed", "terminating", "terminated"]:
            if f".jobmagic-card .jobmagic-badge-{state}," in line:
                rules[state] = line.split("{", 1)[1]
    rules["unknown"] = next(
        line.split("{", 1)[1]
        for line in css.splitlines()
        if ".jobmagic-card .jobmagic-badge-unknown," in line
    )
    assert len(set(rules.values())) == 7, rules


def test_terminal_run_disables_terminate_and_unsubscribes(quiet: None) -> None:
    source = FakeSource(make_run())
    card = RunCard(source)
    assert source.subscribers == 1
    final = make_run(status="FINISHED", exit_code=0, end_time=now(), duration=30.0)
    source.emit_from_thread(final)
    assert card.run == final
    assert card.terminate_button.disabled
    assert source.subscribers == 0 and not card.subscribed
    assert "jobmagic-status-finished" in classes(card.status_badge)
    assert "30.0 s" in card.meta.value and ">0<" in card.meta.value
    # Refresh still works on a finished run.
    assert not card.refresh_button.disabled
    card.close()


def test_card_for_an_ended_run_does_not_subscribe(quiet: None) -> None:
    source = FakeSource(make_run(status="FAILED", error="OOMKilled", exit_code=137))
    card = RunCard(source)
    assert source.subscribe_calls == 0
    assert card.terminate_button.disabled
    assert "OOMKilled" in card.error_box.value and shown(card.error_box)
    card.close()


def test_duration_is_recomputed_on_every_update(quiet: None) -> None:
    source = FakeSource(make_run(created_at=now() - timedelta(seconds=65)))
    card = RunCard(source)
    assert "1m 0" in card.meta.value
    source.emit(make_run(created_at=now() - timedelta(hours=1, seconds=1)))
    assert "1h 00m 0" in card.meta.value
    card.close()


def test_the_cards_times_move_on_with_the_clock_and_are_absolute_once_it_ended(
    quiet: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(manual=True)
    monkeypatch.setattr(card_module, "every_second", clock.subscribe)
    created = datetime(2024, 5, 1, 12, 0, 0, 300000, tzinfo=timezone.utc)
    source = FakeSource(make_run(created_at=created))
    card = RunCard(source)
    assert clock.subscribers == 1
    clock.tick(created + timedelta(seconds=1.7))
    assert "1.7 s" in card.meta.value and "(just now)" in card.meta.value
    # Sixteen minutes on, with no poll in between: the clock alone re-renders the times.
    clock.tick(created + timedelta(minutes=16, seconds=0.7))
    assert "16m 00s" in card.meta.value and "(16 min ago)" in card.meta.value
    assert "just now" not in card.meta.value
    end = created + timedelta(seconds=62)
    source.emit(make_run(status="FINISHED", exit_code=0, created_at=created, end_time=end))
    # Ended: the API's times give the one duration, and no relative time is left to age.
    meta = card.meta.value
    assert "1m 02s" in meta and "ago" not in meta and "just now" not in meta
    assert clock.subscribers == 0
    card.close()


def test_stale_note_appears_and_disappears(quiet: None) -> None:
    source = FakeSource(make_run())
    card = RunCard(source)
    assert not shown(card.stale_note) and card.stale_note.value == ""
    since = datetime(2024, 5, 1, 10, 11, 12, tzinfo=timezone.utc)
    source.emit_from_thread(None, since)
    clock = since.astimezone().strftime("%H:%M:%S")
    assert shown(card.stale_note) and f"stale since {clock}" in card.stale_note.value
    source.emit_from_thread(None, None)
    assert not shown(card.stale_note) and card.stale_note.value == ""
    card.close()


def test_refresh_runs_in_a_worker_and_updates_the_card(quiet: None) -> None:
    source = FakeSource(make_run())
    source.gate = threading.Event()
    source.refresh_result = make_run(status="FINISHED", exit_code=0, duration=3.0)
    card = RunCard(source)
    card.refresh_button.click()
    # The click returned at once; the request is still in flight.
    assert card.refresh_button.disabled
    card.refresh_button.click()  # ignored while in flight
    source.gate.set()
    wait_until(lambda: not card.refresh_button.disabled, what="refresh to finish")
    assert source.refresh_calls == 1
    assert "jobmagic-status-finished" in classes(card.status_badge)
    assert "Refreshed at" in card.message.value
    assert source.subscribers == 0 and card.terminate_button.disabled
    card.close()


def test_refresh_error_is_a_short_message(quiet: None) -> None:
    source = FakeSource(make_run())
    source.refresh_result = TransportError(
        "GET /runs failed: connection refused (Bearer tfy_abc12345)"
    )
    card = RunCard(source)
    card.refresh_button.click()
    wait_until(lambda: "Refresh failed" in card.message.value, what="error message")
    assert "connection refused" in card.message.value
    assert "tfy_abc12345" not in card.message.value and "Traceback" not in card.message.value
    assert "jobmagic-message-error" in card.message.value
    wait_until(lambda: not card.refresh_button.disabled)
    card.close()


def test_terminate_asks_first_and_cancel_restores(quiet: None) -> None:
    source = FakeSource(make_run())
    card = RunCard(source)
    assert not shown(card.confirm_box)
    card.terminate_button.click()
    assert shown(card.confirm_box)
    assert "Terminate <b>train-k3x9q</b>?" in card.confirm_text.value
    assert card.terminate_button.disabled
    assert source.terminate_calls == 0
    card.cancel_button.click()
    assert not shown(card.confirm_box) and not card.terminate_button.disabled
    assert source.terminate_calls == 0
    card.close()


def test_terminate_confirmed_calls_terminate_exactly_once(quiet: None) -> None:
    source = FakeSource(make_run())
    source.gate = threading.Event()
    card = RunCard(source)
    card.terminate_button.click()
    card.confirm_button.click()
    card.confirm_button.click()  # a double click on "Yes"
    card.terminate_button.click()  # and another try while it is in flight
    assert not shown(card.confirm_box) and card.terminate_button.disabled
    assert "Terminating train-k3x9q" in card.message.value
    source.gate.set()
    wait_until(lambda: "requested" in card.message.value, what="terminate outcome")
    assert source.terminate_calls == 1
    assert "Termination of train-k3x9q requested" in card.message.value
    assert card.terminate_button.disabled  # already asked; the state will follow
    source.emit(make_run(status="TERMINATING"))
    assert "jobmagic-status-terminating" in classes(card.status_badge)
    source.emit(make_run(status="TERMINATED"))
    assert card.terminate_button.disabled and source.subscribers == 0
    card.close()


def test_terminate_error_shows_the_message_and_allows_a_retry(quiet: None) -> None:
    source = FakeSource(make_run())
    source.terminate_result = ConflictError(
        "POST /jobs/terminate failed with HTTP 409: run already ended.", status_code=409
    )
    card = RunCard(source)
    card.terminate_button.click()
    card.confirm_button.click()
    wait_until(lambda: "Terminate failed" in card.message.value, what="error")
    assert "run already ended" in card.message.value
    wait_until(lambda: not card.terminate_button.disabled, what="button back")
    assert source.terminate_calls == 1
    card.close()


def test_confirmation_disappears_when_the_run_ends(quiet: None) -> None:
    source = FakeSource(make_run())
    card = RunCard(source)
    card.terminate_button.click()
    source.emit(make_run(status="FINISHED"))
    assert not shown(card.confirm_box) and card.terminate_button.disabled
    card.confirm_button.click()
    time.sleep(0.05)
    assert source.terminate_calls == 0
    card.close()


def test_logs_are_fetched_when_opened_and_throttled(
    quiet: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = FakeSource(make_run())
    source.log_lines = [LogLine(f"line {i}\n", "stdout") for i in range(300)]
    source.log_lines.append(LogLine("Traceback: boom", "stderr"))
    card = RunCard(source)
    assert not shown(card.logs) and source.log_calls == []
    source.emit()  # closed panel: no fetch
    assert source.log_calls == []
    card.logs_toggle.value = True
    assert shown(card.logs)
    wait_until(lambda: "line 299" in card.logs.value, what="logs")
    assert source.log_calls == [200]
    assert "line 100" not in card.logs.value and "line 101" in card.logs.value
    assert '<span class="jobmagic-log-stderr">Traceback: boom</span>' in card.logs.value
    # Ticks right after a fetch do not fetch again (at most one fetch per ~2 s)…
    source.emit()
    source.emit()
    time.sleep(0.05)
    assert source.log_calls == [200]
    # …but once the interval has passed, the next tick does.
    monkeypatch.setattr(card_logs_module, "LOG_REFRESH_SECONDS", 0.0)
    source.log_lines.append(LogLine("line new", "stdout"))
    source.emit()
    wait_until(lambda: "line new" in card.logs.value, what="refetch")
    assert len(source.log_calls) == 2
    card.close()


def test_logs_fetch_once_more_when_the_run_ends(quiet: None) -> None:
    source = FakeSource(make_run())
    source.log_lines = [LogLine("starting", "stdout")]
    card = RunCard(source)
    card.logs_toggle.value = True
    wait_until(lambda: "starting" in card.logs.value)
    source.log_lines.append(LogLine("done", "stdout"))
    source.emit(make_run(status="FINISHED"))  # within 2 s, but the final state forces it
    wait_until(lambda: "done" in card.logs.value, what="final logs")
    assert len(source.log_calls) == 2
    card.logs_toggle.value = False
    assert not shown(card.logs)
    card.close()


def test_logs_error_is_shown_in_the_panel(quiet: None) -> None:
    source = FakeSource(make_run())
    source.logs_error = TransportError("GET /logs timed out")
    card = RunCard(source)
    card.logs_toggle.value = True
    wait_until(lambda: "Could not fetch logs" in card.logs.value)
    assert "timed out" in card.logs.value
    card.close()


def test_no_log_lines_yet(quiet: None) -> None:
    source = FakeSource(make_run(status="CREATED"))
    card = RunCard(source)
    card.logs_toggle.value = True
    wait_until(lambda: "No log lines yet" in card.logs.value)
    card.close()


def test_close_unsubscribes_and_closes_widgets(quiet: None) -> None:
    source = FakeSource(make_run())
    card = RunCard(source)
    assert card.widget.comm is not None
    card.close()
    assert source.subscribers == 0 and card.closed
    assert card.widget.comm is None and card.status_badge.comm is None
    source.emit(make_run(status="FINISHED"))  # a late tick is ignored, not an error
    card.close()  # idempotent
    bundle = card._repr_mimebundle_()
    assert WIDGET_MIME not in bundle and "text/html" in bundle


def test_card_mimebundle_has_widget_html_and_text(quiet: None) -> None:
    source = FakeSource(make_run(status="FINISHED", exit_code=0, duration=12.3))
    card = RunCard(source)
    bundle = card._repr_mimebundle_(include=None, exclude=None)
    assert set(bundle) >= {WIDGET_MIME, "text/html", "text/plain"}
    assert bundle[WIDGET_MIME]["model_id"] == card.widget.model_id
    assert bundle["text/plain"] == (
        "JobRun train-k3x9q · FINISHED · sandbox:demo:train v3 · 12.3 s · exit 0"
    )
    assert "\n" not in bundle["text/plain"]
    assert "jobmagic-snapshot" in bundle["text/html"] and "<script" not in bundle["text/html"]
    assert "train-k3x9q" in repr(card)
    card.close()


def test_card_updates_from_many_threads_at_once(quiet: None) -> None:
    source = FakeSource(make_run())
    card = RunCard(source)
    statuses = ["RUNNING", "SCHEDULED", "RUNNING", "TERMINATING"] * 10
    threads = [threading.Thread(target=source.emit, args=(make_run(status=s),)) for s in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    state_classes = {c for c in classes(card.status_badge) if c.startswith("jobmagic-status-")}
    assert len(state_classes) == 1
    card.close()


# --- events of a run that failed or was terminated --------------------------------------


BACKOFF = Event(
    reason="BackOff",
    type="Warning",
    message=f"Back-off restarting failed container (exit code 3) {EVIL}",
    last_timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc),
)
SCHEDULED = Event(reason="Scheduled", type="Normal", message="Successfully assigned")


@pytest.mark.parametrize(
    ("status", "shown"), [("FAILED", True), ("TERMINATED", True), ("FINISHED", False)]
)
def test_the_card_shows_events_under_the_error_of_a_failed_or_terminated_run(
    quiet: None, status: str, shown: bool
) -> None:
    source = FakeSource(make_run(status="RUNNING"))
    card = RunCard(source)
    assert card.events_box.value == "" and card.events_box.layout.display == "none"
    # The source has fetched the events by the time it tells its views of the end.
    source.events = [SCHEDULED, BACKOFF]
    source.emit(make_run(status=status, exit_code=3, error="boom"))
    snapshot = card.snapshot_html()
    if shown:
        assert "BackOff" in card.events_box.value and "Scheduled" in card.events_box.value
        assert card.events_box.layout.display is None
        assert "jobmagic-event-warning" in card.events_box.value
        assert EVIL not in card.events_box.value and "&lt;script&gt;" in card.events_box.value
        # Under the error, in the widget as in the static snapshot.
        children = list(card.box.children)
        assert children.index(card.events_box) == children.index(card.error_box) + 1
        assert snapshot.index("boom") < snapshot.index("BackOff")
    else:
        assert card.events_box.value == "" and "BackOff" not in snapshot
    card.close()


def test_the_card_reads_events_from_its_source_without_fetching(quiet: None) -> None:
    source = FakeSource(make_run(status="FAILED", exit_code=3, error="boom"))
    source.events = [BACKOFF]
    card = RunCard(source)
    assert "BackOff" in card.events_box.value
    assert source.refresh_calls == 0 and source.log_calls == []
    assert "BackOff" in render_run_html(source.run, events=source.events)
    assert "BackOff" not in render_run_html(source.run)
    card.close()


def test_a_failed_runs_card_and_snapshot_show_its_events_fetched_once(
    sandbox: SandboxServer, tmp_path: Path, quiet: None
) -> None:
    """Over real parts: the sandbox's events reach the card of a real session's handle."""
    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            poll_interval=0.1,
            ledger_path=str(tmp_path / "ledger.db"),
        )
    )
    try:
        failed = engine.trigger(session, Target("sandbox:demo:fail"), {})
        card = RunCard(failed)
        finished = engine.trigger(session, Target("sandbox:demo:hello"), {})
        assert failed.wait(timeout=30).status == RunStatus.FAILED
        assert finished.wait(timeout=30).status == RunStatus.FINISHED
        # The handle fetched the events before telling the card of the end.
        wait_until(lambda: "BackOff" in card.events_box.value, what="events on the card")
        assert [event.reason for event in failed.events][-2:] == ["Error", "BackOff"]
        assert "exit code 3" in card.events_box.value
        snapshot = snapshot_bundle(failed)["text/html"]
        for text in ("Events", "Error", "BackOff", "exit code 3"):
            assert text in snapshot and text in card.snapshot_html()
        assert finished.events == ()
        failed.refresh()  # a refresh of an ended run does not ask again
        assert sandbox.stats()["events"] == 1
        card.close()
        # A handle attached after the end fetches them when first shown, and only then.
        attached = session.attach(failed.name, Target("sandbox:demo:fail"))
        assert attached.events == ()
        for _ in range(2):
            assert "BackOff" in bundle_for(attached)["text/html"]
        assert attached.events == failed.events
        assert sandbox.stats()["events"] == 2
    finally:
        session.close()
