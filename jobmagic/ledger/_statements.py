"""What the ledger writes: each write's SQL statement and the values it binds.

Pure functions of what a caller passes (except :func:`update_run_rows`, which reads the rows it
updates): the :class:`Ledger` decides where and when they are executed. Every text is
checked for bearer tokens, and every error text and run JSON is redacted, here.

What a trigger sent (``params_json``, ``command``, ``rerun_of``) is written once, by the
attempt's INSERT: no UPDATE here names those columns, so no later write (an answer, a
refresh, a reconcile) can blank them. Views that build handles keep the same rule
(:meth:`jobmagic.domain.handle.RunHandle.take_record`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from jobmagic.ledger._entries import (
    AttemptState,
    LedgerEntry,
    dumps_redacted,
    iso_text,
    loads_mapping,
    redact,
    refuse_bearer,
    refuse_bearers,
    utcnow,
)
from jobmagic.models import JobRun

__all__ = [
    "ACKNOWLEDGE",
    "ATTEMPT_TEXTS",
    "FAILURE",
    "IMPORT",
    "INSERT_ATTEMPT",
    "acknowledged_values",
    "attempt_values",
    "failure_values",
    "import_values",
    "update_run_rows",
]

_PENDING = AttemptState.PENDING.value
_ACKNOWLEDGED = AttemptState.ACKNOWLEDGED.value

#: The texts of an attempt, in record_attempt's order: none may be a bearer token.
ATTEMPT_TEXTS = (
    "host",
    "target",
    "application_id",
    "deployment_id",
    "application_fqn",
    "command",
    "alias",
    "session_id",
    "notebook",
    "kernel_id",
    "rerun_of",
    "sweep",
)
INSERT_ATTEMPT = (
    "INSERT INTO attempts (state, created_at, updated_at, params_json, "
    f"{', '.join(ATTEMPT_TEXTS)}) VALUES ({', '.join('?' * (4 + len(ATTEMPT_TEXTS)))})"
)


def attempt_values(
    texts: Sequence[str | None], params: Mapping[str, Any] | None
) -> tuple[Any, ...]:
    """The values of :data:`INSERT_ATTEMPT` for a ``pending`` attempt whose texts are
    ``texts`` (in :data:`ATTEMPT_TEXTS`' order); ``ValueError`` if any looks like a bearer
    token.

    >>> values = attempt_values(("h", "train", *[None] * 10), {"lr": 0.1})
    >>> values[0], values[3], values[4:6]
    ('pending', '{"lr": "0.1"}', ('h', 'train'))
    """
    refuse_bearers(ATTEMPT_TEXTS, texts)
    clean_params = {
        str(key): value if isinstance(value, str) else str(value)
        for key, value in (params or {}).items()
    }
    refuse_bearers(("params",) * len(clean_params), clean_params)
    refuse_bearers((f"params.{key}" for key in clean_params), clean_params.values())
    now = iso_text(utcnow())
    params_json = json.dumps(clean_params, ensure_ascii=False)
    return (_PENDING, now, now, params_json, *texts)


ACKNOWLEDGE = (
    "UPDATE attempts SET state = ?, updated_at = ?, run_name = ?, run_json = ?, "
    "run_status = ?, application_id = COALESCE(application_id, ?), "
    "deployment_id = COALESCE(deployment_id, ?), error_type = ?, error = ?, "
    "candidates_json = NULL WHERE id = ?"
)


def acknowledged_values(
    attempt_id: int, run: JobRun, raw: Mapping[str, Any] | None, reconciled: str | None
) -> tuple[Any, ...]:
    """The values of :data:`ACKNOWLEDGE` for an attempt whose run is ``run``.

    >>> from jobmagic.models import RunStatus
    >>> values = acknowledged_values(7, JobRun(name="r-1", status=RunStatus.RUNNING), None, None)
    >>> values[0], values[2], values[4], values[-1]
    ('acknowledged', 'r-1', 'RUNNING', 7)
    """
    # The raw JSON wins, and the parsed run fills what it lacks (a trigger response's
    # "data" may carry no name: the name came as jobRunName).
    payload = dumps_redacted(run.to_api() if raw is None else {**run.to_api(), **raw})
    return (
        _ACKNOWLEDGED,
        iso_text(utcnow()),
        run.name or None,
        payload,
        str(run.status.value),
        run.application_id,
        run.deployment_id,
        None if reconciled is None else "reconciled",
        None if reconciled is None else redact(reconciled),
        attempt_id,
    )


FAILURE = (
    "UPDATE attempts SET state = ?, updated_at = ?, error_type = ?, error = ?, "
    "candidates_json = ? WHERE id = ?"
)


def failure_values(
    attempt_id: int,
    state: AttemptState,
    error: BaseException | str | None,
    candidates: Sequence[str] = (),
) -> tuple[Any, ...]:
    """The values of :data:`FAILURE`: an attempt that started no known run, and why.

    >>> failure_values(3, AttemptState.REJECTED, ValueError("no"))[::2]
    ('rejected', 'ValueError', None)
    """
    if isinstance(error, BaseException):
        error_type: str | None = type(error).__name__
        text: str | None = redact(str(error)) or None
    else:
        error_type = None
        text = None if error is None else redact(str(error))
    return (
        state.value,
        iso_text(utcnow()),
        error_type,
        text,
        json.dumps(list(candidates)) if candidates else None,
        attempt_id,
    )


def update_run_rows(
    conn: sqlite3.Connection, pairs: Sequence[tuple[str | None, JobRun]], now: str
) -> int:
    """:meth:`Ledger.update_runs`'s statements, inside its transaction."""
    changed = 0
    for application_id, run in pairs:
        if application_id:
            rows = conn.execute(
                "SELECT id, run_json FROM attempts WHERE application_id = ? AND run_name = ?",
                (application_id, run.name),
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT id, run_json, application_id FROM attempts WHERE run_name = ?",
                (run.name,),
            ).fetchall()
            if len({row["application_id"] for row in rows}) > 1:
                continue  # ambiguous without an application id
        for row in rows:
            previous = loads_mapping(row["run_json"]) or {}
            merged = {**previous, **run.to_api()}
            payload = dumps_redacted(merged)
            if payload == row["run_json"]:
                continue  # nothing new: no write, so a quiet tick costs no commit
            conn.execute(
                "UPDATE attempts SET run_json = ?, run_status = ?, updated_at = ? WHERE id = ?",
                (payload, str(run.status.value), now, row["id"]),
            )
            changed += 1
    return changed


IMPORT = (
    "INSERT INTO attempts (state, created_at, updated_at, host, target, "
    "application_id, deployment_id, application_fqn, run_name, params_json, "
    "command, alias, session_id, notebook, kernel_id, run_json, run_status, "
    "error_type, error, candidates_json, rerun_of, sweep) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def import_values(entry: LedgerEntry) -> tuple[Any, ...]:
    """One entry as the row :meth:`Ledger.import_entries` inserts (:data:`IMPORT`'s values)."""
    texts = {
        "host": entry.host,
        "target": entry.target,
        "application_id": entry.application_id,
        "deployment_id": entry.deployment_id,
        "application_fqn": entry.application_fqn,
        "command": entry.command,
        "alias": entry.alias,
        "session_id": entry.session_id,
        "notebook": entry.notebook,
        "kernel_id": entry.kernel_id,
        "rerun_of": entry.rerun_of,
        "sweep": entry.sweep,
        **{f"params.{key}": value for key, value in entry.params.items()},
    }
    for name, value in texts.items():
        refuse_bearer(name, value)
    run = entry.run
    return (
        entry.state.value,
        iso_text(entry.created_at),
        iso_text(entry.updated_at),
        entry.host,
        entry.target,
        entry.application_id or (run.application_id if run else None),
        entry.deployment_id or (run.deployment_id if run else None),
        entry.application_fqn,
        entry.run_name or (run.name if run else None) or None,
        json.dumps(dict(entry.params), ensure_ascii=False),
        entry.command,
        entry.alias,
        entry.session_id,
        entry.notebook,
        entry.kernel_id,
        None if run is None else dumps_redacted(run.to_api()),
        None if run is None else str(run.status.value),
        entry.error_type,
        None if entry.error is None else redact(entry.error),
        json.dumps(list(entry.candidates)) if entry.candidates else None,
        entry.rerun_of,
        entry.sweep,
    )
