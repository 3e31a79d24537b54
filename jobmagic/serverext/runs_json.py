"""The Runs panel's JSON: ledger entries as plain dicts, and its query string read. Pure.

Nothing here touches the network or the disk; the handlers do. Every text (run names,
params, errors, log lines) goes out as JSON strings: the panel sets them as text, never as
HTML. A NaN or infinite metric goes out as ``null`` (JSON has no spelling for it).

>>> from datetime import datetime, timezone
>>> from jobmagic.ledger import AttemptState, LedgerEntry
>>> when = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
>>> entry = LedgerEntry(id=3, state=AttemptState.PENDING, created_at=when, updated_at=when,
...                     target="train", params={"lr": "0.1"})
>>> row = run_row(entry)
>>> row["id"], row["name"], row["status"], row["params"], row["refreshed"]
(3, None, 'PENDING', {'lr': '0.1'}, True)
>>> page_args({"limit": ["20"], "status": ["RUNNING,FAILED"], "q": [b"lr"]})
PageArgs(limit=20, offset=0, statuses=('RUNNING', 'FAILED'), sweep=None, text='lr', app=None)
"""

from __future__ import annotations

import math
import ntpath
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from jobmagic.errors import ObjectiveError
from jobmagic.ledger import LedgerEntry
from jobmagic.models import LogLine
from jobmagic.models.objectives import Objective, parse_objective

__all__ = [
    "DEFAULT_TAIL",
    "MAX_PAGE",
    "MAX_TAIL",
    "PageArgs",
    "QueryError",
    "is_live",
    "iso",
    "log_lines",
    "metric_values",
    "notebook_place",
    "objective_json",
    "page_args",
    "run_row",
    "series_values",
    "tail_arg",
]

#: The most runs one answer holds: the panel pages, so the browser holds one page.
MAX_PAGE = 500
DEFAULT_PAGE = 50
#: Log lines: the tail the details show by default, and the most one answer holds.
DEFAULT_TAIL = 200
MAX_TAIL = 5000


class QueryError(ValueError):
    """A query string the handlers answer with 400, naming the parameter."""


@dataclass(frozen=True)
class PageArgs:
    """What ``GET jobmagic/runs`` was asked for."""

    limit: int = DEFAULT_PAGE
    offset: int = 0
    statuses: tuple[str, ...] | None = None
    sweep: str | None = None
    text: str | None = None
    #: A job: its target, application FQN or id (``%job_runs --app``'s match).
    app: str | None = None


def _one(arguments: Mapping[str, Sequence[Any]], name: str) -> str | None:
    values = arguments.get(name) or []
    if not values:
        return None
    value = values[-1]
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.strip() or None


def _count(arguments: Mapping[str, Sequence[Any]], name: str, default: int, top: int) -> int:
    text = _one(arguments, name)
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        raise QueryError(f"{name} must be a whole number, got {text!r}") from None
    if not 0 <= number <= top:
        raise QueryError(f"{name} must be between 0 and {top}, got {number}")
    return number


def page_args(arguments: Mapping[str, Sequence[Any]]) -> PageArgs:
    """The query string (tornado's ``request.arguments``: name → list of bytes) read."""
    status = _one(arguments, "status")
    statuses = None
    if status is not None:
        statuses = tuple(part.strip().upper() for part in status.split(",") if part.strip())
    return PageArgs(
        limit=_count(arguments, "limit", DEFAULT_PAGE, MAX_PAGE),
        offset=_count(arguments, "offset", 0, 10**9),
        statuses=statuses or None,
        sweep=_one(arguments, "sweep"),
        text=_one(arguments, "q"),
        app=_one(arguments, "app"),
    )


def tail_arg(arguments: Mapping[str, Sequence[Any]]) -> int:
    """``?tail=N`` of ``GET jobmagic/runs/ID/logs``: 1 to :data:`MAX_TAIL` lines.

    >>> tail_arg({}), tail_arg({"tail": [b"20"]})
    (200, 20)
    """
    tail = _count(arguments, "tail", DEFAULT_TAIL, MAX_TAIL)
    if tail == 0:
        raise QueryError("tail must be between 1 and 5000, got 0")
    return tail


def iso(moment: datetime | None) -> str | None:
    """A moment as the panel reads it (``…Z``), or ``None``."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def series_values(values: Sequence[float]) -> list[float | None]:
    """A metric's history as JSON can carry it: NaN and infinities become ``None``.

    >>> series_values([1.0, float("inf")])
    [1.0, None]
    """
    return [_number(float(value)) for value in values]


def metric_values(values: Mapping[str, float]) -> dict[str, float | None]:
    """Metrics as JSON can carry them: NaN and infinities become ``None``.

    >>> metric_values({"loss": 0.5, "acc": float("nan")})
    {'loss': 0.5, 'acc': None}
    """
    return {name: _number(float(value)) for name, value in values.items()}


def objective_json(objective: str | None, metrics: Mapping[str, float]) -> dict[str, Any] | None:
    """A sweep's objective (``"loss:min"``) with the run's cached value of it, or ``None``
    when the sweep has none (or names no known direction).

    >>> objective_json("loss:min", {"loss": 0.25})
    {'metric': 'loss', 'goal': 'min', 'value': 0.25}
    >>> objective_json(None, {"loss": 0.25}) is None
    True
    """
    if not objective:
        return None
    try:
        parsed: Objective = parse_objective(objective)
    except ObjectiveError:
        return None
    value = metrics.get(parsed.metric)
    return {
        "metric": parsed.metric,
        "goal": str(parsed.goal),
        "value": None if value is None else _number(float(value)),
    }


def is_live(entry: LedgerEntry) -> bool:
    """True for a run the server may still change (acknowledged, not ended)."""
    return entry.run is not None and not entry.run.is_terminal


def run_row(
    entry: LedgerEntry,
    *,
    metrics: Mapping[str, float] | None = None,
    objective: str | None = None,
    refreshed: bool = True,
) -> dict[str, Any]:
    """One run as the panel lists it: identity, status, times, params, cached metrics and
    the objective of its sweep; ``refreshed`` is False for a live run whose stored status
    nobody keeps current here (no credentials for its host). No token, no HTML."""
    run = entry.run
    status = str(run.status) if run is not None else entry.state.value.upper()
    cached = dict(metrics or {})
    return {
        "id": entry.id,
        "name": entry.run_name,
        "status": status,
        "state": entry.state.value,
        "live": is_live(entry),
        "refreshed": refreshed,
        "application": entry.application_fqn or entry.target,
        "application_id": entry.application_id,
        "host": entry.host,
        "sweep": entry.sweep,
        "notebook": entry.notebook,
        "rerun_of": entry.rerun_of,
        "params": dict(entry.params),
        "metrics": metric_values(cached),
        "objective": objective_json(objective, cached),
        "created_at": iso(run.created_at if run and run.created_at else entry.created_at),
        "ended_at": iso(run.end_time if run is not None else None),
        "updated_at": iso(entry.updated_at),
        "duration": None if run is None else run.duration_seconds,
        "exit_code": run.exit_code if run is not None else None,
        "error": (run.error if run is not None and run.error else None) or entry.error,
    }


def notebook_place(notebook: str | None, root_dir: str) -> dict[str, Any] | None:
    """Where the run's notebook is for the panel: ``path`` relative to the server's
    ``root_dir`` (``/``-separated, what Lab opens) when inside it, else the absolute path
    with ``in_root`` False (no link); ``None`` when the ledger does not know it.

    The ledger keeps the kernel's ``JPY_SESSION_NAME``: an absolute path as Jupyter
    Server sets it, or the session's path relative to the root.

    >>> notebook_place("/home/u/work/a/b.ipynb", "/home/u/work")
    {'path': 'a/b.ipynb', 'in_root': True}
    >>> notebook_place("/tmp/x.ipynb", "/home/u/work")
    {'path': '/tmp/x.ipynb', 'in_root': False}
    >>> notebook_place("a/b.ipynb", "/home/u/work")
    {'path': 'a/b.ipynb', 'in_root': True}
    >>> notebook_place(None, "/home/u/work") is None
    True
    """
    if not notebook:
        return None
    flavour = ntpath if ntpath.isabs(notebook) and not posixpath.isabs(notebook) else posixpath
    if not flavour.isabs(notebook):
        relative = PurePath(notebook).as_posix()
        inside = not relative.startswith("../") and relative != ".."
        return {"path": relative, "in_root": inside}
    path = flavour.normpath(notebook)
    root = flavour.normpath(root_dir)
    try:
        common = flavour.commonpath([path, root])
    except ValueError:  # another drive
        common = ""
    if common == root and path != root:
        return {"path": flavour.relpath(path, root).replace("\\", "/"), "in_root": True}
    return {"path": notebook, "in_root": False}


def log_lines(lines: Sequence[LogLine]) -> list[dict[str, Any]]:
    """Log lines as the details show them: text, stream, time (ns).

    >>> log_lines([LogLine("<b>hi</b>", "stdout", 5)])
    [{'log': '<b>hi</b>', 'stream': 'stdout', 'time_ns': 5}]
    """
    return [{"log": line.log, "stream": line.stream, "time_ns": line.time_ns} for line in lines]
