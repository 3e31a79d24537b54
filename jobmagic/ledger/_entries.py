"""What one attempt row becomes (a LedgerEntry), and what is never written (a bearer token)."""

from __future__ import annotations

import enum
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from jobmagic.errors import LedgerError
from jobmagic.models import JobRun, RunStatus

__all__ = [
    "AttemptState",
    "LedgerEntry",
    "LedgerError",
    "dumps_redacted",
    "entry_from_row",
    "iso_text",
    "loads_mapping",
    "parse_iso",
    "redact",
    "refuse_bearer",
    "refuse_bearers",
    "utcnow",
    "value_list",
]


class AttemptState(str, enum.Enum):
    """Where a trigger attempt stands (see the module docstring)."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    NOT_CREATED = "not-created"
    AMBIGUOUS = "ambiguous"

    def __str__(self) -> str:
        return str(self.value)


# --- secrets ------------------------------------------------------------------------

_BEARER = re.compile(r"bearer\s+\S+", re.IGNORECASE)


def _looks_like_bearer(value: str) -> bool:
    return value.lstrip()[:7].lower() == "bearer "


def refuse_bearer(field_name: str, value: Any) -> None:
    # The value is deliberately not part of the message: it may be the secret.
    if isinstance(value, str) and _looks_like_bearer(value):
        raise ValueError(
            f"refusing to store {field_name!r} in the run ledger: it looks like a bearer token"
        )


def refuse_bearers(names: Iterable[str], values: Iterable[Any]) -> None:
    """:func:`refuse_bearer` for each name and value, in one call (a trigger writes a dozen)."""
    for name, value in zip(names, values, strict=True):
        refuse_bearer(name, value)


def redact(text: str) -> str:
    """Error text and server JSON are kept, minus anything shaped like ``Bearer <token>``."""
    return _BEARER.sub("Bearer …", text)


def dumps_redacted(data: Any) -> str:
    # default=str: a server may send something json cannot round-trip; keep its text.
    return redact(json.dumps(data, default=str, separators=(",", ":"), ensure_ascii=False))


# --- time ---------------------------------------------------------------------------


def iso_text(moment: datetime) -> str:
    """``2026-12-07T04:08:21.000123Z``: fixed width and always UTC, so text order is time
    order (the indexes rely on it).

    >>> iso_text(datetime(2026, 12, 7, 4, 8, 21, tzinfo=timezone.utc))
    '2026-12-07T04:08:21.000000Z'
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    elif moment.utcoffset():
        moment = moment.astimezone(timezone.utc)
    # isoformat, not strftime: a fifth of the time, and this runs on every ledger write.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_iso(text: str) -> datetime:
    if text.endswith("Z"):
        # fromisoformat is ~10x quicker than strptime (a 100k-row listing spent 12 s there);
        # before Python 3.11 it does not read "Z", hence the slice.
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- entries ------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One trigger attempt as the ledger remembers it.

    ``run`` is the last JobRun seen (at acknowledgement, then refreshed by the
    tracker); it is ``None`` until the server acknowledged the trigger.
    ``runs_to_dataframe`` accepts entries directly.
    """

    id: int
    state: AttemptState
    created_at: datetime
    updated_at: datetime
    host: str | None = None
    target: str | None = None
    application_id: str | None = None
    deployment_id: str | None = None
    application_fqn: str | None = None
    run_name: str | None = None
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    command: str | None = None
    alias: str | None = None
    session_id: str | None = None
    notebook: str | None = None
    kernel_id: str | None = None
    run: JobRun | None = None
    error_type: str | None = None
    error: str | None = None
    #: The server runs an ``ambiguous`` attempt may have started.
    candidates: tuple[str, ...] = ()
    #: The name of the run (of the same application) this attempt triggered again.
    rerun_of: str | None = None
    #: The name of the sweep this attempt belongs to (:meth:`Ledger.add_sweep`).
    sweep: str | None = None

    @property
    def status(self) -> RunStatus | None:
        """The run's last known status, or ``None`` when no run was acknowledged."""
        return None if self.run is None else self.run.status


def loads_mapping(text: str | None) -> dict[str, Any] | None:
    # A row edited by hand or cut short must not make the whole ledger unreadable.
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def entry_from_row(row: sqlite3.Row | Sequence[Any]) -> LedgerEntry:
    """A row of the ledger's ``COLUMNS`` (a ``sqlite3.Row`` or a plain tuple, in that
    order) as an entry."""
    # By position: a tuple row costs no Row object, and even a Row reads faster so (a
    # 10,000-run sweep is read in one go).
    (
        attempt_id,
        state,
        created_at,
        updated_at,
        host,
        target,
        application_id,
        deployment_id,
        application_fqn,
        run_name,
        params_json,
        command,
        alias,
        session_id,
        notebook,
        kernel_id,
        run_json,
        _run_status,
        error_type,
        error,
        candidates_json,
        rerun_of,
        sweep,
    ) = tuple(row)
    data = loads_mapping(run_json)
    run = JobRun.from_api(data) if data is not None else None
    params = loads_mapping(params_json) or {}
    return LedgerEntry(
        id=int(attempt_id),
        state=AttemptState(state),
        created_at=parse_iso(created_at),
        updated_at=parse_iso(updated_at),
        host=host,
        target=target,
        application_id=application_id,
        deployment_id=deployment_id,
        application_fqn=application_fqn,
        run_name=run_name,
        params={str(k): v if isinstance(v, str) else str(v) for k, v in params.items()},
        command=command,
        alias=alias,
        session_id=session_id,
        notebook=notebook,
        kernel_id=kernel_id,
        run=run,
        error_type=error_type,
        error=error,
        candidates=loads_names(candidates_json),
        rerun_of=rerun_of,
        sweep=sweep,
    )


def loads_names(text: str | None) -> tuple[str, ...]:
    try:
        names = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(str(name) for name in names) if isinstance(names, list) else ()


def value_list(items: str | Iterable[str] | None) -> list[str] | None:
    if items is None:
        return None
    if isinstance(items, str):
        return [items]
    return [str(item.value) if isinstance(item, enum.Enum) else str(item) for item in items]
