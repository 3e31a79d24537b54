"""The Runs panel's JSON: ledger entries as plain dicts, and its query string read. Pure.

Nothing here touches the network or the disk; the handlers do. Every text (run names,
params, errors) goes out as JSON strings: the panel sets them as text, never as HTML.

>>> from datetime import datetime, timezone
>>> from jobmagic.ledger import AttemptState, LedgerEntry
>>> when = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
>>> entry = LedgerEntry(id=3, state=AttemptState.PENDING, created_at=when, updated_at=when,
...                     target="train", params={"lr": "0.1"})
>>> row = run_row(entry)
>>> row["id"], row["name"], row["status"], row["params"]
(3, None, 'PENDING', {'lr': '0.1'})
>>> page_args({"limit": ["20"], "status": ["RUNNING,FAILED"]})
PageArgs(limit=20, offset=0, statuses=('RUNNING', 'FAILED'), sweep=None, text=None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobmagic.ledger import LedgerEntry

__all__ = ["MAX_PAGE", "PageArgs", "QueryError", "page_args", "run_row"]

#: The most runs one answer holds: the panel pages, so the browser holds one page.
MAX_PAGE = 500
DEFAULT_PAGE = 50


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
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def run_row(entry: LedgerEntry) -> dict[str, Any]:
    """One run as the panel lists it: identity, status, times, params; no token, no HTML."""
    run = entry.run
    status = str(run.status) if run is not None else entry.state.value.upper()
    return {
        "id": entry.id,
        "name": entry.run_name,
        "status": status,
        "state": entry.state.value,
        "application": entry.application_fqn or entry.target,
        "application_id": entry.application_id,
        "host": entry.host,
        "sweep": getattr(entry, "sweep", None),
        "notebook": entry.notebook,
        "rerun_of": entry.rerun_of,
        "params": dict(entry.params),
        "created_at": _iso(run.created_at if run and run.created_at else entry.created_at),
        "ended_at": _iso(run.end_time if run is not None else None),
        "exit_code": run.exit_code if run is not None else None,
        "error": (run.error if run is not None and run.error else None) or entry.error,
    }
