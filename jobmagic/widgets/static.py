"""Static HTML and text views of runs: what a notebook shows where widgets do not run.

GitHub, nbviewer, nbconvert and VS Code without a widget manager render the
``text/html`` (or ``text/plain``) part of an output bundle. These functions
build that part: self-contained, every value shown through
:func:`jobmagic.models.text.view_html` (a run's control characters and terminal escapes
never reach the page; the rest is HTML-escaped), no JavaScript, colours from JupyterLab's
CSS variables with fallbacks and dark-theme selectors (the approach of xarray's
``formatting_html``). The live widgets reuse the same fragments and stylesheet, so both
look alike.

>>> from jobmagic.models import JobRun
>>> run = JobRun(name="train-k3x9q", status=RunStatus.FINISHED, duration=12.3, exit_code=0)
>>> render_run_text(run, application_fqn="sandbox:demo:train")
'JobRun train-k3x9q · FINISHED · sandbox:demo:train · 12.3 s · exit 0'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType

from jobmagic.models import Event, JobRun, LogLine, RunStatus
from jobmagic.models.formatting import (
    application_label,
    count_states,
    format_clock,
    format_counts,
    format_duration,
    format_params,
    meta_rows,
    safe_url,
    shows_events,
    status_state,
)
from jobmagic.models.metrics import MetricGoals
from jobmagic.models.text import view_html, view_text
from jobmagic.widgets._metrics_html import (
    best_values,
    metric_cells,
    metric_head_cells,
    metric_names,
    metrics_html,
)
from jobmagic.widgets._stylesheet import style_block, stylesheet

__all__ = [
    "badge_html",
    "error_html",
    "events_html",
    "link_html",
    "log_lines_html",
    "logs_details_html",
    "meta_html",
    "params_html",
    "render_run_html",
    "render_run_text",
    "render_runs_html",
    "render_runs_text",
    "runs_table_html",
    "style_block",
    "stylesheet",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_EMPTY_SERIES: Mapping[str, Sequence[float]] = MappingProxyType({})
_EMPTY_METRICS: Mapping[str, float] = MappingProxyType({})

#: A board row: a run and the params it was sent with (or a bare run).
RunEntry = JobRun | tuple[JobRun, Mapping[str, str]]


def _e(text: object) -> str:
    # One path for every value: a run's escapes and control characters never reach HTML.
    return view_html(text)


# --- fragments (shared with the live widgets) ---------------------------------------


def badge_html(status: RunStatus | str | None, *, extra_class: str = "") -> str:
    """A coloured status pill: ``<span class="jobmagic-badge jobmagic-badge-running">``."""
    state = status_state(status)
    text = str(status) if status else "UNKNOWN"
    classes = f"jobmagic-badge jobmagic-badge-{state}"
    if extra_class:
        classes = f"{extra_class} {classes}"
    return f'<span class="{classes}" title="{_e(state)}">{_e(text)}</span>'


def _kv_table(rows: Iterable[tuple[str, str]], css_class: str) -> str:
    body = "".join(f"<tr><th>{_e(key)}</th><td>{_e(value)}</td></tr>" for key, value in rows)
    return f'<table class="jobmagic-kv {css_class}"><tbody>{body}</tbody></table>'


def meta_html(
    run: JobRun,
    *,
    application_fqn: str | None = None,
    now: datetime | None = None,
    relative: bool = True,
) -> str:
    """Application and version, created, ended, duration, triggered by, exit code, retries."""
    rows = meta_rows(run, application_fqn=application_fqn, now=now, relative=relative)
    return _kv_table(rows, "jobmagic-meta")


def params_html(params: Mapping[str, str]) -> str:
    """The params that were sent, as a compact key/value table."""
    if not params:
        return '<span class="jobmagic-muted">No params were sent.</span>'
    return _kv_table(((str(k), str(v)) for k, v in params.items()), "jobmagic-params-table")


def error_html(error: str | None) -> str:
    """The run's error in an error style; empty when there is none."""
    if not error:
        return ""
    return f'<div class="jobmagic-error-text">{_e(error)}</div>'


def events_html(events: Sequence[Event]) -> str:
    """A run's pod events (time, reason, message), Warnings marked; empty when none.

    >>> "BackOff" in events_html([Event(reason="BackOff", type="Warning", message="exit 3")])
    True
    """
    if not events:
        return ""
    rows = []
    for event in events:
        kind = "warning" if event.is_warning else "normal"
        rows.append(
            f'<tr class="jobmagic-event jobmagic-event-{kind}">'
            f'<td class="jobmagic-event-time">{_e(format_clock(event.time))}</td>'
            f'<td class="jobmagic-event-reason" title="{_e(event.type or "")}">'
            f"{_e(event.reason)}</td>"
            f'<td class="jobmagic-event-message">{_e(event.message)}</td></tr>'
        )
    return (
        '<div class="jobmagic-section">Events</div>'
        f'<table class="jobmagic-events-table"><tbody>{"".join(rows)}</tbody></table>'
    )


def link_html(url: str | None, *, css_class: str = "jobmagic-link") -> str:
    """A link to the run's page that opens in a new tab; empty unless ``url`` is http(s)."""
    safe = safe_url(url)
    if safe is None:
        return ""
    return (
        f'<a class="{css_class}" href="{_e(safe)}" target="_blank" rel="noopener">'
        "Open in TrueFoundry ↗</a>"
    )


def log_lines_html(lines: Sequence[LogLine], *, tail: int | None = None) -> str:
    """Log lines in a scrolling ``<pre>``; stderr lines marked so they can be coloured."""
    if not lines:
        return '<span class="jobmagic-muted">No log lines yet.</span>'
    parts = []
    for line in lines:
        text = _e(line.log.rstrip("\n"))
        if line.stream == "stderr":
            text = f'<span class="jobmagic-log-stderr">{text}</span>'
        parts.append(text)
    head = f"last {len(lines)} lines" if tail is not None and len(lines) >= tail else ""
    note = f'<div class="jobmagic-muted">{_e(head)}</div>' if head else ""
    body = "\n".join(parts)
    return (
        f'{note}<div class="jobmagic-log-scroll"><pre class="jobmagic-log-lines">{body}</pre></div>'
    )


def logs_details_html(lines: Sequence[LogLine], *, tail: int | None = None) -> str:
    """The Logs panel's lines as a static copy keeps them: folded under "Logs" (a
    ``<details>``: opens without JavaScript); empty when the panel showed none.

    >>> logs_details_html([LogLine("epoch=1", "stdout")]).startswith("<details")
    True
    """
    if not lines:
        return ""
    noun = "line" if len(lines) == 1 else "lines"
    return (
        '<details class="jobmagic-logs-details">'
        f'<summary class="jobmagic-section">Logs · last {len(lines)} {noun}</summary>'
        f"{log_lines_html(lines, tail=tail)}</details>"
    )


def _entries(items: Iterable[RunEntry]) -> list[tuple[JobRun, Mapping[str, str]]]:
    return [item if isinstance(item, tuple) else (item, _EMPTY) for item in items]


def _label(labels: Mapping[str, str] | None, name: str) -> str:
    word = labels.get(name) if labels else None
    return f' <span class="jobmagic-run-label">{_e(word)}</span>' if word else ""


def runs_table_html(
    entries: Iterable[RunEntry],
    *,
    now: datetime | None = None,
    metrics: Sequence[Mapping[str, float]] | None = None,
    goals: MetricGoals | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """One table row per run: name, status badge, params, duration, exit code; then one
    column per metric when ``metrics`` (each row's latest values) is given, the best value
    of each column marked where ``goals`` know which way it is better. ``labels`` (by run
    name) add a word beside a run's badge: a search's ``pruned``.

    >>> from jobmagic.models import JobRun
    >>> html = runs_table_html([JobRun(name="t-1", status="TERMINATED")], labels={"t-1": "pruned"})
    >>> '<span class="jobmagic-run-label">pruned</span>' in html
    True
    """
    now = now or datetime.now(timezone.utc)
    rows = []
    listed = _entries(entries)
    latest = list(metrics) if metrics is not None else [_EMPTY_METRICS] * len(listed)
    names = metric_names(latest)
    best = best_values(latest, names, goals)
    for (run, params), values in zip(listed, latest, strict=True):
        state = status_state(run.status)
        exit_code = "" if run.exit_code is None else str(run.exit_code)
        params_text = format_params(params, limit=200)
        rows.append(
            f'<tr class="jobmagic-row jobmagic-row-{state}">'
            f'<td class="jobmagic-col-name"><span class="jobmagic-name-text">{_e(run.name)}'
            f"</span></td>"
            f'<td class="jobmagic-col-status">{badge_html(run.status)}{_label(labels, run.name)}'
            "</td>"
            f'<td class="jobmagic-col-params" title="{_e(params_text)}">{_e(params_text)}</td>'
            f'<td class="jobmagic-col-duration">{_e(format_duration(run.elapsed(now)))}</td>'
            f'<td class="jobmagic-col-exit">{_e(exit_code)}</td>'
            f"{metric_cells(values, names, best)}</tr>"
        )
    head = (
        "<thead><tr><th>Run</th><th>Status</th><th>Params</th><th>Duration</th>"
        f"<th>Exit</th>{metric_head_cells(names)}</tr></thead>"
    )
    return (
        '<div class="jobmagic-board-scroll"><table class="jobmagic-board-table">'
        f"{head}<tbody>{''.join(rows)}</tbody></table></div>"
    )


# --- whole snapshots -------------------------------------------------------------------


def render_run_html(
    run: JobRun,
    *,
    params: Mapping[str, str] = _EMPTY,
    application_fqn: str | None = None,
    url: str | None = None,
    now: datetime | None = None,
    events: Sequence[Event] = (),
    metrics: Mapping[str, Sequence[float]] = _EMPTY_SERIES,
    rerun_of: str | None = None,
    logs: Sequence[LogLine] = (),
) -> str:
    """A self-contained, escaped HTML snapshot of one run (no JavaScript).

    ``metrics`` (``{name: values so far}``) show as the latest value and an inline SVG trend;
    ``rerun_of`` names the run this one repeats; ``logs`` (the lines a card's Logs panel
    showed) come last, folded (:func:`logs_details_html`).

    A failed or terminated run's ``events`` (its pods', as the source fetched them when it
    ended) follow its error: they say why it ended.

    >>> "&lt;b&gt;" in render_run_html(JobRun(name="<b>"))
    True
    """
    name = run.name or "(unnamed run)"
    status_class = f"jobmagic-status jobmagic-status-{status_state(run.status)}"
    exit_text = "" if run.exit_code is None else f" · Exit code: {run.exit_code}"
    link = link_html(url)
    # Without the stylesheet the head reads "train-x · Status: FINISHED · Exit code: 0 ·
    # Open in TrueFoundry ↗": labelled facts, not words run together.
    head = (
        '<div class="jobmagic-head">'
        f'<span class="jobmagic-plain">Run: </span><span class="jobmagic-name">{_e(name)}</span>'
        '<span class="jobmagic-plain"> · Status: </span>'
        f"{badge_html(run.status, extra_class=status_class)}"
        f'<span class="jobmagic-plain">{_e(exit_text)}</span>'
        f"{_rerun_of_html(rerun_of)}"
        f'<span class="jobmagic-plain">{" · " if link else ""}</span>'
        f"{link}</div>"
    )
    error = error_html(run.error)
    error_block = f'<div class="jobmagic-error">{error}</div>' if error else ""
    shown = events_html(events) if shows_events(run) else ""
    events_block = f'<div class="jobmagic-events">{shown}</div>' if shown else ""
    return (
        f'<div class="jobmagic-snapshot">{style_block()}{head}'
        # Absolute times only: a saved copy is read long after "just now".
        f"{meta_html(run, application_fqn=application_fqn, now=now, relative=False)}"
        f"{error_block}{events_block}"
        '<div class="jobmagic-section">Params</div>'
        f'<div class="jobmagic-params">{params_html(params)}</div>'
        f"{_metrics_section(metrics)}{logs_details_html(logs)}</div>"
    )


def _rerun_of_html(rerun_of: str | None) -> str:
    if not rerun_of:
        return ""
    return (
        '<span class="jobmagic-plain"> · </span>'
        f'<span class="jobmagic-rerun-of-text">rerun of {_e(rerun_of)}</span>'
    )


def _metrics_section(metrics: Mapping[str, Sequence[float]]) -> str:
    table = metrics_html(metrics)
    if not table:
        return ""
    return f'<div class="jobmagic-section">Metrics</div><div class="jobmagic-metrics">{table}</div>'


def render_run_text(
    run: JobRun,
    *,
    params: Mapping[str, str] = _EMPTY,
    application_fqn: str | None = None,
    url: str | None = None,
    now: datetime | None = None,
    rerun_of: str | None = None,
) -> str:
    """One line: ``JobRun train-k3x9q · FINISHED · sandbox:demo:train v1 · 12.3 s · exit 0``
    (then ``· rerun of train-ab12c`` for a rerun)."""
    parts = [f"JobRun {run.name or '(unnamed run)'}", str(run.status)]
    app = application_label(run, application_fqn)
    if app:
        parts.append(app)
    elapsed = run.elapsed(now)
    if elapsed is not None:
        parts.append(format_duration(elapsed))
    if run.exit_code is not None:
        parts.append(f"exit {run.exit_code}")
    if rerun_of:
        parts.append(f"rerun of {rerun_of}")
    return view_text(" · ".join(parts), one_line=True)


def render_runs_html(
    runs_with_params: Iterable[RunEntry],
    *,
    now: datetime | None = None,
    metrics: Sequence[Mapping[str, float]] | None = None,
    goals: MetricGoals | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A self-contained HTML snapshot of many runs: counts per status, then one table.

    Items are ``(run, params)`` pairs or bare JobRuns; ``metrics`` as in
    :func:`runs_table_html`.
    """
    entries = _entries(runs_with_params)
    counts = format_counts(count_states(run.status for run, _ in entries))
    noun = "run" if len(entries) == 1 else "runs"
    return (
        f'<div class="jobmagic-snapshot jobmagic-board">{style_block()}'
        f'<div class="jobmagic-board-counts">{len(entries)} {noun}: {_e(counts)}</div>'
        f"{runs_table_html(entries, now=now, metrics=metrics, goals=goals, labels=labels)}"
        "</div>"
    )


def render_runs_text(runs_with_params: Iterable[RunEntry]) -> str:
    """``12 runs: 3 running · 5 finished · 1 failed``."""
    entries = _entries(runs_with_params)
    counts = format_counts(count_states(run.status for run, _ in entries))
    noun = "run" if len(entries) == 1 else "runs"
    return f"{len(entries)} {noun}: {counts}"
