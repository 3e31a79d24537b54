"""Formatting shared by the live widgets and the static snapshots: pure functions, plain text.

Nothing here escapes HTML or imports ipywidgets; the renderers in
:mod:`jobmagic.widgets.static` escape what these return. Text a run brings (params, errors)
comes back cleaned of control characters by :func:`jobmagic.models.text.view_text`.

>>> format_duration(65)
'1m 05s'
>>> status_state("TERMINATION_REQUESTED")
'terminating'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from jobmagic._ticks import clock_now
from jobmagic.errors import JobmagicError
from jobmagic.models.jobs import JobRun, RunStatus
from jobmagic.models.text import view_text

__all__ = [
    "BADGE_CSS",
    "MISSING",
    "STATES",
    "STATUS_ORDER",
    "application_label",
    "count_states",
    "css_token",
    "format_clock",
    "format_counts",
    "format_duration",
    "format_local_time",
    "format_params",
    "format_relative",
    "format_version",
    "meta_rows",
    "order_counts",
    "run_state_key",
    "safe_url",
    "short_error",
    "shows_events",
    "status_name",
    "status_state",
]

#: The visual states a status maps to (the badges' colours and the rows' CSS classes).
STATES: tuple[str, ...] = (
    "queued",
    "running",
    "terminating",
    "finished",
    "failed",
    "terminated",
    "unknown",
)

#: The API's run statuses, in the order counts name them (a run's life, then its endings).
STATUS_ORDER: tuple[str, ...] = tuple(status.value for status in RunStatus)

_STATE_OF: dict[str, str] = {
    RunStatus.CREATED.value: "queued",
    RunStatus.SCHEDULED.value: "queued",
    RunStatus.RUNNING.value: "running",
    RunStatus.FINISHED.value: "finished",
    RunStatus.FAILED.value: "failed",
    RunStatus.TERMINATION_REQUESTED.value: "terminating",
    RunStatus.TERMINATING.value: "terminating",
    RunStatus.TERMINATED.value: "terminated",
}

#: Each visual state's badge colours as inline CSS (JupyterLab's variables, with the
#: fallbacks the cards use), for tables styled outside the cards' stylesheet.
BADGE_CSS: dict[str, str] = {
    "queued": "background-color: var(--jp-layout-color3, #cfd8dc); "
    "color: var(--jp-ui-font-color1, #263238)",
    "running": "background-color: var(--jp-brand-color1, #1976d2); color: #ffffff",
    "finished": "background-color: var(--jp-success-color1, #2e7d32); color: #ffffff",
    "failed": "background-color: var(--jp-error-color1, #c62828); color: #ffffff",
    "terminating": "background-color: var(--jp-warn-color1, #ef6c00); color: #1a1a1a",
    "terminated": "color: var(--jp-warn-color0, #bf360c); "
    "box-shadow: inset 0 0 0 1px var(--jp-warn-color1, #ef6c00)",
    "unknown": "color: var(--jp-content-font-color2, rgba(0, 0, 0, 0.6)); "
    "box-shadow: inset 0 0 0 1px var(--jp-content-font-color2, rgba(0, 0, 0, 0.6))",
}

#: Shown where a value is not known (yet).
MISSING = "—"


def status_state(status: RunStatus | str | None) -> str:
    """The visual state of a status; ``unknown`` for UNKNOWN and values never heard of.

    >>> status_state("RUNNING"), status_state("PAUSED")
    ('running', 'unknown')
    """
    if status is None:
        return "unknown"
    value = status.value if isinstance(status, RunStatus) else str(status)
    return _STATE_OF.get(value, "unknown")


def shows_events(run: JobRun) -> bool:
    """True when a view shows ``run``'s pod events (under its error): failed or terminated,
    the endings that ask "why?".

    >>> shows_events(JobRun(name="r", status=RunStatus.FAILED))
    True
    """
    return run.status.ended_unsuccessfully


def format_duration(seconds: float | None) -> str:
    """``12.3 s`` under a minute, then ``1m 05s``, ``2h 03m 04s``, ``1d 02h 03m``.

    >>> format_duration(12.34), format_duration(3725), format_duration(None)
    ('12.3 s', '1h 02m 05s', '—')
    """
    if seconds is None or seconds != seconds:  # None or NaN
        return MISSING
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        # One decimal, but never round 59.96 up to "60.0 s".
        return f"{min(seconds, 59.9):.1f} s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def _now(now: datetime | None) -> datetime:
    # The clock's second, as every view shows live times (jobmagic._ticks).
    return now if now is not None else clock_now()


def format_relative(when: datetime | None, now: datetime | None = None) -> str:
    """``just now``, ``42 s ago``, ``3 min ago``, ``2 h ago``, ``3 d ago`` (``in …`` if ahead).

    >>> from datetime import timedelta
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> format_relative(t - timedelta(minutes=3), now=t)
    '3 min ago'
    """
    if when is None:
        return ""
    delta = (_now(now) - when).total_seconds()
    ahead = delta < 0
    delta = abs(delta)
    # Clocks of client and server differ by a little; that is still "now".
    if delta < 5:
        return "just now"
    if delta < 60:
        amount = f"{int(delta)} s"
    elif delta < 3600:
        amount = f"{int(delta // 60)} min"
    elif delta < 86400:
        amount = f"{int(delta // 3600)} h"
    else:
        amount = f"{int(delta // 86400)} d"
    return f"in {amount}" if ahead else f"{amount} ago"


def format_local_time(when: datetime | None) -> str:
    """An aware datetime in the machine's local time zone: ``2024-05-01 14:03:12``."""
    if when is None:
        return MISSING
    aware = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return aware.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_clock(when: datetime | None) -> str:
    """Local wall-clock time only: ``14:03:12``."""
    if when is None:
        return MISSING
    aware = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return aware.astimezone().strftime("%H:%M:%S")


def format_version(version: str | None) -> str:
    """``"3"`` → ``"v3"``; a version that already reads like one is kept."""
    if not version:
        return ""
    return version if version[:1] in ("v", "V") else f"v{version}"


def format_params(params: Mapping[str, str], *, limit: int = 120) -> str:
    """Params on one line, ``lr=0.1 epochs=2``, cleaned (:func:`view_text`) and cut at
    ``limit`` characters.

    >>> format_params({"lr": "0.1", "epochs": "2"})
    'lr=0.1 epochs=2'
    >>> format_params({"note": "two\\nlines\\x1b[31m", "x": "\\x00"})
    'note=two lines x=␀'
    """
    text = " ".join(f"{key}={value}" for key, value in params.items())
    return view_text(text, limit=limit, one_line=True)


def application_label(run: JobRun, application_fqn: str | None) -> str:
    """``sandbox:demo:train v1``: the application and the deployment version, if known."""
    app = application_fqn or run.application_name or ""
    version = format_version(run.deployment_version)
    return " ".join(part for part in (app, version) if part)


def meta_rows(
    run: JobRun,
    *,
    application_fqn: str | None = None,
    now: datetime | None = None,
    relative: bool = True,
) -> list[tuple[str, str]]:
    """The card's facts as (label, text) pairs, in display order; plain text, not escaped.

    ``relative`` adds "(3 min ago)" to the creation time of a run that can still change: a
    live card re-renders it every second while the run lives. Once the run has ended its
    times are absolute only, so no copy of it (a card the kernel no longer updates, a saved
    notebook) says "just now" a week later.

    >>> t = datetime(2024, 5, 1, 12, 0, 30, tzinfo=timezone.utc)
    >>> live = JobRun(name="r", status=RunStatus.RUNNING, created_at=t)
    >>> dict(meta_rows(live, now=t.replace(minute=3)))["Created"].endswith("(3 min ago)")
    True
    >>> ended = JobRun(name="r", status=RunStatus.FINISHED, created_at=t, end_time=t)
    >>> "ago" in dict(meta_rows(ended, now=t.replace(minute=3)))["Created"]
    False
    """
    now = _now(now)
    created = format_local_time(run.created_at)
    ago = format_relative(run.created_at, now) if relative and not run.is_terminal else ""
    if ago:
        created = f"{created} ({ago})"
    retries = run.total_retries
    return [
        ("Application", application_label(run, application_fqn) or MISSING),
        ("Created", created),
        ("Ended", format_local_time(run.end_time)),
        ("Duration", format_duration(run.elapsed(now))),
        ("Triggered by", run.triggered_by_label or MISSING),
        ("Exit code", MISSING if run.exit_code is None else str(run.exit_code)),
        ("Retries", MISSING if retries is None else str(retries)),
    ]


def run_state_key(run: JobRun) -> tuple[object, ...]:
    """What a run's static copies show that can change, except a live run's ticking duration.

    Views re-send their saved copies (``update_display``) when this changes, so a notebook
    shows each run's final status, end time, duration and exit code, without an update per
    second of a running run.
    """
    return (
        run.name,
        str(run.status),
        run.exit_code,
        run.end_time,
        run.error,
        run.duration_seconds if run.is_terminal else None,
        run.total_retries,
    )


def status_name(status: RunStatus | str | None) -> str:
    """A status as the API names it: ``CREATED``, ``RUNNING``…; ``UNKNOWN`` when missing.

    >>> status_name(RunStatus.CREATED), status_name("PAUSED"), status_name(None)
    ('CREATED', 'PAUSED', 'UNKNOWN')
    """
    if status is None:
        return RunStatus.UNKNOWN.value
    return str(status.value if isinstance(status, RunStatus) else status) or "UNKNOWN"


def count_states(statuses: Iterable[RunStatus | str | None]) -> dict[str, int]:
    """How many runs have each status, named as the API names them (the badges' words), in
    :data:`STATUS_ORDER` (statuses never heard of last); only statuses that occur.

    >>> count_states(["FINISHED", "CREATED", RunStatus.CREATED, "PAUSED"])
    {'CREATED': 2, 'FINISHED': 1, 'PAUSED': 1}
    """
    counts: dict[str, int] = {}
    for status in statuses:
        name = status_name(status)
        counts[name] = counts.get(name, 0) + 1
    return order_counts(counts)


def order_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts per status in :data:`STATUS_ORDER`, others after in their own order; no zeros.

    >>> order_counts({"FINISHED": 3, "RUNNING": 0, "CREATED": 2})
    {'CREATED': 2, 'FINISHED': 3}
    """
    known = [name for name in STATUS_ORDER if counts.get(name)]
    others = [name for name in counts if name not in STATUS_ORDER and counts[name]]
    return {name: counts[name] for name in known + others}


def format_counts(counts: Mapping[str, int]) -> str:
    """``3 RUNNING · 5,000 FINISHED · 1 FAILED``; ``no runs`` when empty.

    >>> format_counts({"RUNNING": 3, "FINISHED": 5000, "FAILED": 0})
    '3 RUNNING · 5,000 FINISHED'
    """
    return " · ".join(f"{n:,} {name}" for name, n in counts.items() if n) or "no runs"


_SECRET_PATTERNS = (
    # A bearer token in an echoed header, and anything that looks like a TrueFoundry key.
    (re.compile(r"(?i)(bearer\s+)[^\s'\",;]+"), r"\1…"),
    (re.compile(r"\btfy_[A-Za-z0-9_\-\.]{4,}"), "tfy_…"),
    (re.compile(r"(?i)((?:api[_-]?key|token|authorization)\s*[=:]\s*)[^\s'\",;&]+"), r"\1…"),
)


def short_error(exc: BaseException, *, limit: int = 400) -> str:
    """One short line for a view: the exception's message, secrets masked, no traceback.

    jobmagic's own errors carry a message meant for people; other exceptions
    are prefixed with their type, since their message alone is often cryptic.

    >>> short_error(ValueError("Bearer tfy_abcdef123 rejected"))
    'ValueError: Bearer … rejected'
    """
    message = view_text(exc, one_line=True)
    if not isinstance(exc, JobmagicError):
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    for pattern, replacement in _SECRET_PATTERNS:
        message = pattern.sub(replacement, message)
    return view_text(message or type(exc).__name__, limit=limit)


def safe_url(url: str | None) -> str | None:
    """The URL if it is ``http(s)://``; anything else (``javascript:``, relative) → None."""
    if not url:
        return None
    stripped = url.strip()
    return stripped if re.match(r"(?i)^https?://[^\s]+$", stripped) else None


def css_token(text: str) -> str:
    """A string safe inside a CSS class name: ``lr.max`` → ``lr-max``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text) or "-"
