"""Static HTML and text views of runs: what a notebook shows where widgets do not run.

GitHub, nbviewer, nbconvert and VS Code without a widget manager render the
``text/html`` (or ``text/plain``) part of an output bundle. These functions
build that part: self-contained, every value escaped, no JavaScript, colours
from JupyterLab's CSS variables with fallbacks and dark-theme selectors (the
approach of xarray's ``formatting_html``). The live widgets reuse the same
fragments and stylesheet, so both look alike.

>>> from jobmagic.models import JobRun
>>> run = JobRun(name="train-k3x9q", status=RunStatus.FINISHED, duration=12.3, exit_code=0)
>>> render_run_text(run, application_fqn="sandbox:demo:train")
'JobRun train-k3x9q · FINISHED · sandbox:demo:train · 12.3 s · exit 0'
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from jobmagic.models import Event, JobRun, LogLine, RunStatus
from jobmagic.widgets._format import (
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
from jobmagic.widgets._metrics_html import (
    best_values,
    metric_cells,
    metric_head_cells,
    metric_names,
    metrics_html,
)

__all__ = [
    "badge_html",
    "bundle_with_snapshots",
    "error_html",
    "events_html",
    "link_html",
    "log_lines_html",
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

# Every rule is scoped under one of jobmagic's own root classes, so nothing
# leaks into the rest of the notebook.
_ROOTS = (".jobmagic-card", ".jobmagic-snapshot", ".jobmagic-board", ".jobmagic-form")
# Where a page says it is dark but may not define JupyterLab's variables.
_DARK = (
    '[data-jp-theme-light="false"]',
    "body.vscode-dark",
    'html[theme="dark"]',
    'body[data-theme="dark"]',
)

_LIGHT_VARS = """
  --jm-fg: var(--jp-content-font-color1, rgba(0, 0, 0, 0.87));
  --jm-muted: var(--jp-content-font-color2, rgba(0, 0, 0, 0.6));
  --jm-border: var(--jp-border-color2, #e0e0e0);
  --jm-bg-alt: var(--jp-layout-color2, #f3f3f3);
  --jm-link: var(--jp-content-link-color, #1565c0);
  --jm-queued-bg: var(--jp-layout-color3, #cfd8dc);
  --jm-queued-fg: var(--jp-ui-font-color1, #263238);
  --jm-running: var(--jp-brand-color1, #1976d2);
  --jm-finished: var(--jp-success-color1, #2e7d32);
  --jm-failed: var(--jp-error-color1, #c62828);
  --jm-warn: var(--jp-warn-color1, #ef6c00);
  --jm-warn-text: var(--jp-warn-color0, #bf360c);
  --jm-error-text: var(--jp-error-color1, #c62828);
"""

_DARK_VARS = """
  --jm-fg: var(--jp-content-font-color1, rgba(255, 255, 255, 0.87));
  --jm-muted: var(--jp-content-font-color2, rgba(255, 255, 255, 0.6));
  --jm-border: var(--jp-border-color2, #454545);
  --jm-bg-alt: var(--jp-layout-color2, #2a2a2a);
  --jm-link: var(--jp-content-link-color, #64b5f6);
  --jm-queued-bg: var(--jp-layout-color3, #546e7a);
  --jm-queued-fg: var(--jp-ui-font-color1, #eceff1);
  --jm-running: var(--jp-brand-color1, #1e88e5);
  --jm-finished: var(--jp-success-color1, #388e3c);
  --jm-failed: var(--jp-error-color1, #e53935);
  --jm-warn: var(--jp-warn-color1, #fb8c00);
  --jm-warn-text: var(--jp-warn-color0, #ffb74d);
  --jm-error-text: var(--jp-error-color1, #ef9a9a);
"""

# ``&`` stands for each root class; see _expand.
_RULES: tuple[tuple[str, str], ...] = (
    (
        "&",
        "color: var(--jm-fg); font-family: var(--jp-ui-font-family, system-ui, -apple-system, "
        "'Segoe UI', Roboto, sans-serif); font-size: var(--jp-ui-font-size1, 13px); "
        "line-height: 1.45;",
    ),
    (
        ".jobmagic-card, .jobmagic-snapshot",
        "border: 1px solid var(--jm-border); border-radius: 4px; padding: 8px 12px; "
        "margin: 2px 0; box-sizing: border-box; max-width: 60em;",
    ),
    (".jobmagic-snapshot", "display: block;"),
    ("& .jobmagic-head", "display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px;"),
    (
        "& .jobmagic-name, & .jobmagic-name-text",
        "font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace);"
        " font-weight: 600; user-select: text; -webkit-user-select: text; cursor: text;",
    ),
    (
        "& .jobmagic-badge",
        "display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 11px; "
        "font-weight: 600; line-height: 18px; letter-spacing: 0.02em; white-space: nowrap; "
        "border: 1px solid transparent; vertical-align: middle;",
    ),
    (
        "& .jobmagic-badge-queued",
        "background: var(--jm-queued-bg); color: var(--jm-queued-fg);",
    ),
    ("& .jobmagic-badge-running", "background: var(--jm-running); color: #fff;"),
    ("& .jobmagic-badge-finished", "background: var(--jm-finished); color: #fff;"),
    ("& .jobmagic-badge-failed", "background: var(--jm-failed); color: #fff;"),
    ("& .jobmagic-badge-terminating", "background: var(--jm-warn); color: #1a1a1a;"),
    (
        "& .jobmagic-badge-terminated",
        "background: transparent; border-color: var(--jm-warn); color: var(--jm-warn-text);",
    ),
    (
        "& .jobmagic-badge-unknown",
        "background: transparent; border: 1px dashed var(--jm-muted); color: var(--jm-muted);",
    ),
    (
        "& table.jobmagic-kv",
        "border-collapse: collapse; border: none; margin: 4px 0; table-layout: auto; "
        "font-size: inherit; color: var(--jm-fg); line-height: 1.45;",
    ),
    (
        "& table.jobmagic-kv tr, & table.jobmagic-kv tr:hover, "
        "& table.jobmagic-board-table tr, & table.jobmagic-board-table tr:hover",
        "background: transparent;",
    ),
    (
        "& table.jobmagic-kv th",
        "text-align: left; font-weight: normal; color: var(--jm-muted); "
        "padding: 1px 14px 1px 0; vertical-align: top; border: none; white-space: nowrap; "
        "font-size: inherit;",
    ),
    (
        "& table.jobmagic-kv td",
        "text-align: left; padding: 1px 0; vertical-align: top; border: none; "
        "color: var(--jm-fg); font-size: inherit; "
        "user-select: text; -webkit-user-select: text; max-width: none;",
    ),
    (
        "& table.jobmagic-params-table td, & table.jobmagic-params-table th",
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); font-size: 12px;",
    ),
    (
        "& .jobmagic-section",
        "font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; "
        "color: var(--jm-muted); margin-top: 6px;",
    ),
    (
        "& .jobmagic-error-text",
        "color: var(--jm-error-text); border-left: 3px solid var(--jm-failed); "
        "background: rgba(211, 47, 47, 0.08); padding: 4px 8px; margin: 6px 0; "
        "white-space: pre-wrap; word-break: break-word; user-select: text; "
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); "
        "font-size: 12px;",
    ),
    (
        "& a.jobmagic-link, & .jobmagic-link a",
        "color: var(--jm-link); text-decoration: none;",
    ),
    ("& a.jobmagic-link:hover, & .jobmagic-link a:hover", "text-decoration: underline;"),
    (
        "& .jobmagic-stale, & .jobmagic-stale-text",
        "color: var(--jm-warn-text); font-style: italic; font-size: 12px;",
    ),
    ("& .jobmagic-muted", "color: var(--jm-muted);"),
    # Labels for readers without this stylesheet (JupyterLab strips <style> from untrusted
    # outputs; GitHub does too): hidden where it applies, read as plain text where not.
    ("& .jobmagic-plain", "display: none;"),
    ("& .jobmagic-message-error", "color: var(--jm-error-text);"),
    ("& .jobmagic-message-ok", "color: var(--jm-muted);"),
    (
        # column-reverse starts the scroll area at its bottom: the newest lines show first,
        # without JavaScript.
        "& .jobmagic-log-scroll",
        "max-height: 22em; overflow: auto; display: flex; flex-direction: column-reverse; "
        "margin: 4px 0; border-radius: 3px; background: var(--jm-bg-alt);",
    ),
    (
        "& pre.jobmagic-log-lines",
        # No scrolling of its own (JupyterLab gives every <pre> overflow: auto): the
        # wrapper scrolls.
        "margin: 0; padding: 6px 8px; overflow: visible; flex-shrink: 0; "
        "background: var(--jm-bg-alt); color: var(--jm-fg); border-radius: 3px; "
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); "
        "font-size: 12px; line-height: 1.35; white-space: pre-wrap; word-break: break-all;",
    ),
    ("& .jobmagic-log-stderr", "color: var(--jm-error-text);"),
    (
        "& table.jobmagic-events-table",
        "border-collapse: collapse; border: none; margin: 2px 0 6px; font-size: 12px;",
    ),
    (
        "& table.jobmagic-events-table td",
        "text-align: left; padding: 1px 10px 1px 0; border: none; vertical-align: top; "
        "color: var(--jm-fg); user-select: text; -webkit-user-select: text;",
    ),
    ("& table.jobmagic-events-table td.jobmagic-event-time", "color: var(--jm-muted);"),
    ("& table.jobmagic-events-table td.jobmagic-event-reason", "font-weight: 600;"),
    ("& tr.jobmagic-event-warning td.jobmagic-event-reason", "color: var(--jm-error-text);"),
    ("& .jobmagic-board-counts", "font-weight: 600; margin: 2px 0 6px;"),
    (
        "& .jobmagic-board-scroll",
        "max-height: 26em; overflow: auto; border: 1px solid var(--jm-border); border-radius: 4px;",
    ),
    (
        "& table.jobmagic-board-table",
        "border-collapse: collapse; border: none; width: 100%; font-size: 12px; margin: 0; "
        "line-height: 1.45;",
    ),
    (
        "& table.jobmagic-board-table th",
        "position: sticky; top: 0; background: var(--jp-layout-color1, inherit); "
        "text-align: left; font-weight: 600; color: var(--jm-muted); "
        "padding: 3px 10px; border: none; border-bottom: 1px solid var(--jm-border);",
    ),
    (
        "& table.jobmagic-board-table td",
        "text-align: left; padding: 2px 10px; border: none; white-space: nowrap; "
        "vertical-align: middle; color: var(--jm-fg);",
    ),
    (
        "& table.jobmagic-board-table td.jobmagic-col-params",
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); "
        "max-width: 32em; overflow: hidden; text-overflow: ellipsis;",
    ),
    ("& .jobmagic-form-title", "font-weight: 600; margin-bottom: 4px;"),
    (".jobmagic-form", "border: 1px solid var(--jm-border); border-radius: 4px; padding: 8px;"),
)


def _expand(selector: str, prefix: str = "") -> str:
    """``& .x`` → ``.jobmagic-card .x, .jobmagic-snapshot .x, …`` (with an optional prefix)."""
    out: list[str] = []
    for part in selector.split(","):
        part = part.strip()
        if "&" in part:
            out.extend(prefix + part.replace("&", root) for root in _ROOTS)
        else:
            out.append(prefix + part)
    return ", ".join(out)


def stylesheet() -> str:
    """The CSS shared by cards, boards, forms and snapshots; every rule is scoped."""
    roots = ", ".join(_ROOTS)
    dark_roots = ", ".join(f"{dark} {root}" for dark in _DARK for root in _ROOTS)
    lines = [f"{roots} {{{_LIGHT_VARS}}}", f"{dark_roots} {{{_DARK_VARS}}}"]
    lines += [f"{_expand(selector)} {{ {body} }}" for selector, body in _RULES]
    return "\n".join(lines)


_STYLE_BLOCK = f"<style>\n{stylesheet()}\n</style>"


def style_block() -> str:
    """``<style>…</style>`` with :func:`stylesheet`; the same text every time (idempotent)."""
    return _STYLE_BLOCK


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


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


def _entries(items: Iterable[RunEntry]) -> list[tuple[JobRun, Mapping[str, str]]]:
    return [item if isinstance(item, tuple) else (item, _EMPTY) for item in items]


def runs_table_html(
    entries: Iterable[RunEntry],
    *,
    now: datetime | None = None,
    metrics: Sequence[Mapping[str, float]] | None = None,
) -> str:
    """One table row per run: name, status badge, params, duration, exit code; then one
    column per metric when ``metrics`` (each row's latest values) is given, the best value
    of each column marked."""
    now = now or datetime.now(timezone.utc)
    rows = []
    listed = _entries(entries)
    latest = list(metrics) if metrics is not None else [_EMPTY_METRICS] * len(listed)
    names = metric_names(latest)
    best = best_values(latest, names)
    for (run, params), values in zip(listed, latest, strict=True):
        state = status_state(run.status)
        exit_code = "" if run.exit_code is None else str(run.exit_code)
        params_text = format_params(params, limit=200)
        rows.append(
            f'<tr class="jobmagic-row jobmagic-row-{state}">'
            f'<td class="jobmagic-col-name"><span class="jobmagic-name-text">{_e(run.name)}'
            f"</span></td>"
            f'<td class="jobmagic-col-status">{badge_html(run.status)}</td>'
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


def bundle_with_snapshots(
    live: Any | None, html_text: str, plain_text: str, **kwargs: Any
) -> dict[str, Any]:
    """An output bundle: ``live``'s widget view (unless it is None: closed) plus the static
    HTML and text that viewers without widgets show instead."""
    bundle: dict[str, Any] = {}
    if live is not None:
        bundle.update(live._repr_mimebundle_(**kwargs) or {})
    bundle["text/html"] = html_text
    bundle["text/plain"] = plain_text
    return bundle


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
) -> str:
    """A self-contained, escaped HTML snapshot of one run (no JavaScript).

    ``metrics`` (``{name: values so far}``) show as the latest value and an inline SVG trend;
    ``rerun_of`` names the run this one repeats.

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
        f"{_metrics_section(metrics)}</div>"
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
    return " · ".join(parts)


def render_runs_html(
    runs_with_params: Iterable[RunEntry],
    *,
    now: datetime | None = None,
    metrics: Sequence[Mapping[str, float]] | None = None,
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
        f"{runs_table_html(entries, now=now, metrics=metrics)}</div>"
    )


def render_runs_text(runs_with_params: Iterable[RunEntry]) -> str:
    """``12 runs: 3 running · 5 finished · 1 failed``."""
    entries = _entries(runs_with_params)
    counts = format_counts(count_states(run.status for run, _ in entries))
    noun = "run" if len(entries) == 1 else "runs"
    return f"{len(entries)} {noun}: {counts}"
