"""The views' pure parts: formatting, static snapshots, and bundle_for (the one display path,
which a shell's display formatters use once registered)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from jobmagic.errors import ConflictError
from jobmagic.models import JobRun, RunStatus, Subject
from jobmagic.models.formatting import (
    count_states,
    format_counts,
    format_duration,
    format_relative,
    safe_url,
    short_error,
    status_state,
)
from jobmagic.widgets import (
    RunSource,
    render_run_html,
    render_run_text,
    render_runs_html,
)
from jobmagic.widgets.static import RunEntry, render_runs_text, stylesheet
from tests.widgets.fakes import EVIL, FakeSource, make_run


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


def test_counts_name_statuses_as_the_api_does_in_the_order_of_a_runs_life() -> None:
    names = ["FAILED", "RUNNING", "FINISHED", "RUNNING", "CREATED", "PAUSED", "SCHEDULED"]
    statuses = [RunStatus(s) for s in names]
    counts = count_states(statuses)
    # Six CREATED badges are counted as "6 CREATED", never "6 queued": the badges' words.
    assert counts == {
        "CREATED": 1,
        "SCHEDULED": 1,
        "RUNNING": 2,
        "FINISHED": 1,
        "FAILED": 1,
        "PAUSED": 1,  # a status never heard of keeps its name, after the known ones
    }
    assert format_counts(counts) == (
        "1 CREATED · 1 SCHEDULED · 2 RUNNING · 1 FINISHED · 1 FAILED · 1 PAUSED"
    )
    assert count_states([None]) == {"UNKNOWN": 1}
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
        "import sys, jobmagic.widgets, jobmagic.widgets.static, jobmagic.models.formatting;"
        "import jobmagic.widgets.text_views, jobmagic.widgets.pages, jobmagic.ipython.display;"
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class _OfflineBackend:
    """Just enough of a session for a handle that is only shown (it never asks the server)."""

    def __init__(self, show_cards: bool) -> None:
        from jobmagic.config import Settings

        self.show_cards = show_cards
        self.host = "http://127.0.0.1:1"
        self.settings = Settings()

    @property
    def client(self) -> Any:
        raise AssertionError("a view asked the server")

    @property
    def tracker(self) -> Any:
        raise AssertionError("an ended run is not tracked")

    def record_runs(self, runs: Any) -> None:
        pass

    def rerun(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a view reran a run")

    def rerun_fields(self, handle: Any) -> Any:
        raise AssertionError("a view asked for a rerun form")


def test_bundle_for_is_the_one_way_a_run_and_a_sweep_are_shown(quiet: None) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from jobmagic.domain.handle import RunHandle
    from jobmagic.domain.sweeps import SweepResult
    from jobmagic.ipython.display import register
    from jobmagic.ipython.views import bundle_for

    shell = InteractiveShell.instance()
    register(shell)  # what %load_ext and jobmagic.trigger in a shell do
    assert shell.display_formatter is not None
    formatter = shell.display_formatter.mimebundle_formatter

    def shown(obj: Any) -> Any:
        return formatter(obj)[0]  # (data, metadata), as IPython's formatters answer

    run = make_run(status="FINISHED", exit_code=0, duration=3.0)
    static = RunHandle(_OfflineBackend(show_cards=False), run, params={"lr": "0.1"})
    bundle = bundle_for(static)
    assert set(bundle) == {"text/plain", "text/html"}  # cards off: the static copy only
    assert shown(static) == bundle
    assert "<th>lr</th><td>0.1</td>" in bundle["text/html"]
    assert "FINISHED" in bundle["text/plain"]
    carded = RunHandle(_OfflineBackend(show_cards=True), run, params={"lr": "0.1"})
    assert "application/vnd.jupyter.widget-view+json" in bundle_for(carded)
    sweep = SweepResult(handles=[static])
    swept = shown(sweep)
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
    roots: tuple[str, ...] = (
        ".jobmagic-card",
        ".jobmagic-snapshot",
        ".jobmagic-board",
        ".jobmagic-form",
    )
    # The twin rules choose between a view's two outputs: scoped to rows holding its copy.
    roots += (".jobmagic-twin",)
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
    assert "1 RUNNING · 1 FINISHED · 1 FAILED" in page
    assert page.count('<tr class="jobmagic-row') == 3
    assert "<script" not in page
    assert "lr=0.1" in page and "5.0 s" in page
    assert render_runs_text(runs) == "3 runs: 1 RUNNING · 1 FINISHED · 1 FAILED"
