"""The views: run card, runs board, trigger form, static snapshots — without a front end.

Widgets are asserted through their traits (what the front end would render).
Their data comes from ``FakeSource``, an in-memory implementation of the
``RunSource`` protocol: the views make no HTTP calls, so none is needed here.
Button actions run in worker threads; tests wait for them with deadlines. One test
drives a real session's handle against the sandbox: the events a card shows for a
failed run come from the real ``GET /events``, fetched once by the handle.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from jobmagic.config import Settings
from jobmagic.errors import ConflictError, ParamsError, TransportError
from jobmagic.models import Event, JobRun, LogLine, ParamSpec, RunStatus, Subject
from jobmagic.sandbox import SandboxServer
from jobmagic.session import JobSession, Target
from jobmagic.widgets import (
    RunCard,
    RunsBoard,
    RunSource,
    TriggerFormView,
    render_run_html,
    render_run_text,
    render_runs_html,
)
from jobmagic.widgets import card as card_module
from jobmagic.widgets._format import (
    count_states,
    format_counts,
    format_duration,
    format_relative,
    safe_url,
    short_error,
    status_state,
)
from jobmagic.widgets._pages import PAGE_SIZE
from jobmagic.widgets.snapshot import snapshot_bundle
from jobmagic.widgets.static import RunEntry, render_runs_text, stylesheet

EVIL = "<script>alert(1)</script>"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(autouse=True)
def _home(isolated_home: Path) -> Path:
    return isolated_home


# --- helpers ---------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def now() -> datetime:
    return datetime.now(timezone.utc)


def make_run(name: str = "train-k3x9q", status: str = "RUNNING", **kwargs: Any) -> JobRun:
    defaults: dict[str, Any] = {
        "application_name": "train",
        "deployment_version": "3",
        "created_at": now() - timedelta(seconds=30),
    }
    defaults.update(kwargs)
    return JobRun(name=name, status=RunStatus(status), **defaults)


class FakeSource:
    """An in-memory RunSource; ``emit`` plays the tracker's part."""

    def __init__(
        self,
        run: JobRun,
        *,
        params: Mapping[str, str] | None = None,
        application_fqn: str | None = "sandbox:demo:train",
        url: str | None = "https://app.example.com/deployments/d1/runs/train-k3x9q",
    ) -> None:
        self._run = run
        self._params = dict(params if params is not None else {"lr": "0.1", "epochs": "2"})
        self._fqn = application_fqn
        self._url = url
        self._lock = threading.Lock()
        self.callbacks: list[Callable[[JobRun, datetime | None], None]] = []
        self.subscribe_calls = 0
        self.refresh_calls = 0
        self.terminate_calls = 0
        self.log_calls: list[int | None] = []
        self.refresh_result: JobRun | Exception | None = None
        self.terminate_result: str | Exception = "Termination of train-k3x9q requested"
        self.log_lines: list[LogLine] = []
        self.logs_error: Exception | None = None
        self.events: list[Event] = []  # a real source fills these when the run ends
        # When set, refresh/terminate/logs block until the test opens the gate.
        self.gate: threading.Event | None = None

    @property
    def run(self) -> JobRun:
        return self._run

    @property
    def params(self) -> Mapping[str, str]:
        return self._params

    @property
    def application_fqn(self) -> str | None:
        return self._fqn

    @property
    def url(self) -> str | None:
        return self._url

    def _block(self) -> None:
        if self.gate is not None:
            assert self.gate.wait(5), "test never opened the gate"

    def refresh(self) -> JobRun:
        with self._lock:
            self.refresh_calls += 1
        self._block()
        result = self.refresh_result
        if isinstance(result, Exception):
            raise result
        if result is not None:
            self._run = result
        return self._run

    def terminate(self) -> str:
        with self._lock:
            self.terminate_calls += 1
        self._block()
        if isinstance(self.terminate_result, Exception):
            raise self.terminate_result
        return self.terminate_result

    def logs(self, tail: int | None = None) -> list[LogLine]:
        with self._lock:
            self.log_calls.append(tail)
        self._block()
        if self.logs_error is not None:
            raise self.logs_error
        return self.log_lines[-tail:] if tail else list(self.log_lines)

    def subscribe(self, callback: Callable[[JobRun, datetime | None], None]) -> Callable[[], None]:
        with self._lock:
            self.subscribe_calls += 1
            self.callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self.callbacks:
                    self.callbacks.remove(callback)

        return unsubscribe

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self.callbacks)

    def emit(self, run: JobRun | None = None, stale_since: datetime | None = None) -> None:
        """What the tracker does on a tick: new state, then every listener."""
        if run is not None:
            self._run = run
        with self._lock:
            callbacks = list(self.callbacks)
        for callback in callbacks:
            callback(self._run, stale_since)

    def emit_from_thread(self, run: JobRun | None = None, stale: datetime | None = None) -> None:
        thread = threading.Thread(target=self.emit, args=(run, stale), name="fake-tracker")
        thread.start()
        thread.join(5)


def all_widgets(root: widgets.Widget) -> Iterator[widgets.Widget]:
    yield root
    for child in getattr(root, "children", ()):
        yield from all_widgets(child)


def html_traits(root: widgets.Widget) -> list[str]:
    """Every string a front end would render as HTML or text in this widget tree."""
    texts = []
    for widget in all_widgets(root):
        for trait in ("value", "description", "placeholder", "tooltip"):
            value = getattr(widget, trait, None)
            if isinstance(value, str):
                texts.append(value)
    return texts


def shown(widget: widgets.Widget) -> bool:
    return widget.layout.display != "none"


def classes(widget: widgets.Widget) -> set[str]:
    return set(widget._dom_classes)


@pytest.fixture
def quiet(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Fail the test if a view prints anything (from any thread)."""
    yield
    out, err = capsys.readouterr()
    assert out == "" and err == "", (out, err)


def test_fake_source_implements_the_protocol() -> None:
    source: RunSource = FakeSource(make_run())  # mypy checks the protocol here
    assert source.run.name == "train-k3x9q"


# --- pure formatting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0.0 s"),
        (12.34, "12.3 s"),
        (59.99, "59.9 s"),
        (65, "1m 05s"),
        (3725, "1h 02m 05s"),
        (2 * 86400 + 3 * 3600 + 4 * 60, "2d 03h 04m"),
        (-3, "0.0 s"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_relative() -> None:
    t = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert format_relative(t - timedelta(seconds=2), now=t) == "just now"
    assert format_relative(t - timedelta(seconds=42), now=t) == "42 s ago"
    assert format_relative(t - timedelta(minutes=3, seconds=10), now=t) == "3 min ago"
    assert format_relative(t - timedelta(hours=5), now=t) == "5 h ago"
    assert format_relative(t - timedelta(days=3), now=t) == "3 d ago"
    assert format_relative(t + timedelta(minutes=2), now=t) == "in 2 min"
    assert format_relative(None, now=t) == ""


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("CREATED", "queued"),
        ("SCHEDULED", "queued"),
        ("RUNNING", "running"),
        ("FINISHED", "finished"),
        ("FAILED", "failed"),
        ("TERMINATION_REQUESTED", "terminating"),
        ("TERMINATING", "terminating"),
        ("TERMINATED", "terminated"),
        ("UNKNOWN", "unknown"),
        ("PAUSED", "unknown"),
    ],
)
def test_status_state(status: str, state: str) -> None:
    assert status_state(RunStatus(status)) == state
    assert status_state(status) == state


def test_counts_and_their_order() -> None:
    statuses = [RunStatus(s) for s in ["FAILED", "RUNNING", "FINISHED", "RUNNING", "CREATED"]]
    assert count_states(statuses) == {"queued": 1, "running": 2, "finished": 1, "failed": 1}
    assert format_counts(count_states(statuses)) == "1 queued · 2 running · 1 finished · 1 failed"
    assert format_counts({}) == "no runs"


def test_short_error_masks_secrets_and_names_foreign_types() -> None:
    assert short_error(ConflictError("Run already ended.", status_code=409)) == "Run already ended."
    text = short_error(RuntimeError("header Authorization: Bearer tfy_secret123456 refused"))
    assert "tfy_secret123456" not in text and text.startswith("RuntimeError: ")
    assert "secret" not in short_error(ValueError("api_key=supersecret&x=1"))
    assert short_error(KeyError()) == "KeyError"
    assert len(short_error(ValueError("x" * 5000))) <= 400


def test_safe_url_only_allows_http() -> None:
    assert safe_url("https://example.com/a?b=1") == "https://example.com/a?b=1"
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("/relative") is None
    assert safe_url(None) is None


def test_static_modules_do_not_import_ipywidgets() -> None:
    code = (
        "import sys, jobmagic.widgets, jobmagic.widgets.static, jobmagic.widgets._format;"
        "import jobmagic.widgets.text_views, jobmagic.widgets.bundles;"
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class _OfflineBackend:
    """Just enough of a session for a handle that is only shown (it never asks the server)."""

    def __init__(self, show_cards: bool) -> None:
        self.show_cards = show_cards
        self.host = "http://127.0.0.1:1"

    @property
    def client(self) -> Any:
        raise AssertionError("a view asked the server")

    @property
    def tracker(self) -> Any:
        raise AssertionError("an ended run is not tracked")

    def record_runs(self, runs: Any) -> None:
        pass


def test_bundle_for_is_the_one_way_a_run_and_a_sweep_are_shown(quiet: None) -> None:
    from jobmagic.sweeps import SweepResult
    from jobmagic.tracking import RunHandle
    from jobmagic.widgets import bundle_for

    run = make_run(status="FINISHED", exit_code=0, duration=3.0)
    static = RunHandle(_OfflineBackend(show_cards=False), run, params={"lr": "0.1"})
    bundle = bundle_for(static)
    assert set(bundle) == {"text/plain", "text/html"}  # cards off: the static copy only
    assert static._repr_mimebundle_() == bundle
    assert "<th>lr</th><td>0.1</td>" in bundle["text/html"]
    assert "FINISHED" in bundle["text/plain"]
    carded = RunHandle(_OfflineBackend(show_cards=True), run, params={"lr": "0.1"})
    assert "application/vnd.jupyter.widget-view+json" in bundle_for(carded)
    sweep = SweepResult(handles=[static])
    swept = sweep._repr_mimebundle_()
    assert swept.keys() == bundle_for(sweep).keys()  # each call draws a new board
    assert swept["text/plain"].startswith("Triggered 1 of 1 runs")
    assert "jobmagic-sweep-summary" in swept["text/html"]
    empty = bundle_for(SweepResult())
    assert empty == {
        "text/plain": "Triggered 0 of 0 runs in 0.0 s.",
        "text/html": "<pre class='jobmagic-sweep-summary'>Triggered 0 of 0 runs in 0.0 s.</pre>",
    }


# --- static snapshots ------------------------------------------------------------------


def test_render_run_text_is_one_line() -> None:
    run = make_run(status="FINISHED", duration=12.3, exit_code=0, deployment_version="1")
    text = render_run_text(run, application_fqn="sandbox:demo:train")
    assert text == "JobRun train-k3x9q · FINISHED · sandbox:demo:train v1 · 12.3 s · exit 0"
    bare = render_run_text(JobRun(name="x"))
    assert bare == "JobRun x · UNKNOWN"


def test_render_run_html_shows_everything_escaped() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    run = make_run(
        name=EVIL,
        status="FAILED",
        created_at=at,
        end_time=at + timedelta(seconds=65),
        exit_code=3,
        total_retries=1,
        error=f"Traceback: {EVIL}",
        triggered_by_subject=Subject(subject_display_name="Ada <Lovelace>"),
    )
    page = render_run_html(
        run,
        params={EVIL: EVIL, "lr": "0.1"},
        application_fqn="sandbox:demo:train",
        url='https://example.com/r?a=1&b="2"',
        now=at + timedelta(minutes=3),
    )
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "Ada &lt;Lovelace&gt;" in page
    assert "jobmagic-status-failed" in page and ">FAILED<" in page
    assert "sandbox:demo:train v3" in page
    assert "1m 05s" in page
    assert "ago" not in page  # a saved copy must not age: absolute times only
    assert ">3<" in page and ">1<" in page  # exit code, retries
    assert 'target="_blank" rel="noopener"' in page
    assert 'href="https://example.com/r?a=1&amp;b=&quot;2&quot;"' in page
    assert "lr" in page and "0.1" in page
    # Self-contained and theme-aware: a style block, CSS variables with fallbacks, dark selectors.
    assert "<style>" in page and "var(--jp-success-color1, #" in page
    assert '[data-jp-theme-light="false"]' in page and "body.vscode-dark" in page


def test_render_run_html_drops_unsafe_links() -> None:
    page = render_run_html(make_run(), url="javascript:alert(1)")
    assert "javascript:" not in page and "jobmagic-link" not in page.split("</style>")[1]


def test_stylesheet_rules_are_all_scoped() -> None:
    roots = (".jobmagic-card", ".jobmagic-snapshot", ".jobmagic-board", ".jobmagic-form")
    for line in stylesheet().splitlines():
        if "{" not in line or line.startswith("  "):
            continue
        selectors = line.split("{")[0].split(",")
        for selector in selectors:
            assert any(root in selector for root in roots), selector


def test_render_runs_html_table_and_counts() -> None:
    runs: list[RunEntry] = [
        (make_run("a-1", "RUNNING"), {"lr": "0.1"}),
        (make_run("a-2", "FINISHED", exit_code=0, duration=5.0), {"lr": EVIL}),
        make_run("a-3", "FAILED", exit_code=1),
    ]
    page = render_runs_html(runs)
    assert "1 running · 1 finished · 1 failed" in page
    assert page.count('<tr class="jobmagic-row') == 3
    assert "<script" not in page
    assert "lr=0.1" in page and "5.0 s" in page
    assert render_runs_text(runs) == "3 runs: 1 running · 1 finished · 1 failed"


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
        card.widget: "jobmagic-card",
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
    monkeypatch.setattr(card_module, "LOG_REFRESH_SECONDS", 0.0)
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


# --- the trigger form ------------------------------------------------------------------


SPECS = [
    ParamSpec("lr", description="Learning rate", default="0.01"),
    ParamSpec("epochs", description=None, default="10"),
    ParamSpec("model_name", description="Which <model>", default=None),
]


def test_form_fields_from_param_specs(quiet: None) -> None:
    form = TriggerFormView(SPECS, on_submit=lambda v, c: FakeSource(make_run()), title="Trigger x")
    assert list(form.fields) == ["lr", "epochs", "model_name"]
    assert form.fields["lr"].value == "0.01" and form.fields["model_name"].value == ""
    assert form.fields["lr"].placeholder == "Learning rate"
    assert form.fields["lr"].tooltip == "Learning rate"
    assert form.yaml is None
    assert {"jobmagic-form-field", "jobmagic-field-model_name"} <= classes(
        form.fields["model_name"]
    )
    assert "jobmagic-form" in classes(form.widget)
    assert "jobmagic-trigger" in classes(form.trigger_button)
    assert "jobmagic-form-error" in classes(form.error)
    assert "jobmagic-form-history" in classes(form.history_box)
    assert "jobmagic-form-command" in classes(form.command)
    assert not any("<model>" in text for text in html_traits(form.widget) if "<span" in text)
    assert form.values() == {"lr": "0.01", "epochs": "10", "model_name": ""}
    form.close()


def test_form_triggers_and_keeps_history(quiet: None) -> None:
    calls: list[tuple[dict[str, str] | str, str | None]] = []
    made: list[FakeSource] = []

    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        calls.append((values, command))
        source = FakeSource(make_run(f"run-{len(calls)}"), params=dict(values))  # type: ignore[arg-type]
        made.append(source)
        return source

    form = TriggerFormView(SPECS[:2], on_submit=submit)
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 1 and not form.busy, what="first run")
    form.fields["lr"].value = "0.1"
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 2 and not form.busy, what="second run")
    assert calls == [({"lr": "0.01", "epochs": "10"}, None), ({"lr": "0.1", "epochs": "10"}, None)]
    assert form.history == made
    # Newest card first.
    assert [c.source for c in form.cards] == [made[1], made[0]]
    assert form.history_box.children[0] is form.cards[0].widget
    assert "run-2" in form.cards[0].name_label.value
    assert form.error.value == "" and not form.trigger_button.disabled
    bundle = form._repr_mimebundle_()
    assert set(bundle) >= {WIDGET_MIME, "text/html", "text/plain"}
    assert "run-1" in bundle["text/html"] and "2 runs triggered" in bundle["text/plain"]
    form.close()
    assert all(s.subscribers == 0 for s in made)


def test_form_double_click_triggers_once(quiet: None) -> None:
    gate = threading.Event()
    calls = []

    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        calls.append(values)
        assert gate.wait(5)
        return FakeSource(make_run())

    form = TriggerFormView(SPECS, on_submit=submit)
    form.trigger_button.click()
    assert form.trigger_button.disabled and form.busy
    form.trigger_button.click()
    form._on_trigger_click()  # even if the front end still showed the button enabled
    gate.set()
    wait_until(lambda: not form.busy, what="trigger to finish")
    assert len(calls) == 1 and len(form.history) == 1
    assert not form.trigger_button.disabled
    form.close()


def test_form_shows_validation_errors_inline(quiet: None) -> None:
    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        raise ParamsError(f"the value of {EVIL} is empty", line=2, column=7)

    form = TriggerFormView([], on_submit=submit)
    assert form.yaml is not None and "jobmagic-form-yaml" in classes(form.yaml)
    form.yaml.value = "lr: 0.1\nx:\n"
    form.trigger_button.click()
    wait_until(lambda: "line 2, column 7" in form.error.value, what="error")
    assert "&lt;script&gt;" in form.error.value and "<script" not in form.error.value
    assert "Traceback" not in form.error.value
    assert form.history == [] and form.cards == []
    wait_until(lambda: not form.trigger_button.disabled)
    form.close()


def test_form_yaml_body_and_command_override(quiet: None) -> None:
    calls: list[tuple[dict[str, str] | str, str | None]] = []

    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        calls.append((values, command))
        return FakeSource(make_run())

    form = TriggerFormView([], on_submit=submit)
    assert not shown(form.command)
    form.command_toggle.value = True
    assert shown(form.command)
    form.command.value = "  python train.py --lr 0.5  "
    form.yaml.value = "lr: 0.5"  # type: ignore[union-attr]
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 1 and not form.busy)
    form.command_toggle.value = False
    assert not shown(form.command)
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 2 and not form.busy)
    assert calls == [("lr: 0.5", "python train.py --lr 0.5"), ("lr: 0.5", None)]
    form.close()


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
        children = list(card.widget.children)
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
        failed = session.trigger(Target("sandbox:demo:fail"), {})
        card = RunCard(failed)
        finished = session.trigger(Target("sandbox:demo:hello"), {})
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
            assert "BackOff" in attached._repr_mimebundle_()["text/html"]
        assert attached.events == failed.events
        assert sandbox.stats()["events"] == 2
    finally:
        session.close()
