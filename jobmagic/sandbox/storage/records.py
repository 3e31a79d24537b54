"""What the sandbox stores, as records: a run, one line of its logs, one event of its pod."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobmagic.models import RunStatus

__all__ = ["TERMINAL", "EventRecord", "LogRecord", "RunRecord", "run_from_row"]

#: The statuses a run never leaves.
TERMINAL = tuple(status.value for status in RunStatus if status.is_terminal)


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``: everything the API shows about a run, plus the process id."""

    id: str
    name: str
    application_id: str
    application_name: str
    deployment_id: str
    deployment_version: str
    created_at_ms: int
    end_time_ms: int | None
    status: str
    command: str
    params: Mapping[str, str]
    exit_code: int | None
    error: str | None
    triggered_by: str
    pid: int | None = None
    pid_start: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class LogRecord:
    """One log line: its run, nanosecond time, stream (``stdout``/``stderr``) and text."""

    run_id: str
    time_ns: int
    stream: str
    line: str


@dataclass(frozen=True)
class RunStart:
    """A run's process started: its pid, start time (clock ticks, to spot pid reuse) and the
    events of its start, stored with the RUNNING status."""

    run_id: str
    pid: int
    pid_start: int | None
    events: Sequence[EventRecord] = ()


@dataclass(frozen=True)
class RunEnd:
    """A run's end as the runner records it (see ``Store.finish_run``)."""

    run_id: str
    status: str
    end_time_ms: int
    exit_code: int | None
    error: str | None
    events: Sequence[EventRecord] = ()


@dataclass(frozen=True)
class EventRecord:
    """One Kubernetes-like event of a run's pod, as the runner records it.

    ``type`` is ``Normal`` or ``Warning``; ``category`` the spec's ``chart.category``;
    ``on_container`` says the event is about the job's container rather than the pod.
    ``seq`` and ``run_name`` are filled in when the event is read back.
    """

    run_id: str
    time_ms: int
    reason: str
    type: str
    message: str
    category: str = "General"
    on_container: bool = False
    seq: int = 0
    run_name: str = ""


def run_from_row(row: sqlite3.Row) -> RunRecord:
    """A row of ``runs`` (read with ``sqlite3.Row``) as a :class:`RunRecord`."""
    params = json.loads(row["params_json"])
    return RunRecord(
        id=row["id"],
        name=row["name"],
        application_id=row["application_id"],
        application_name=row["application_name"],
        deployment_id=row["deployment_id"],
        deployment_version=row["deployment_version"],
        created_at_ms=row["created_at_ms"],
        end_time_ms=row["end_time_ms"],
        status=row["status"],
        command=row["command"],
        params=params if isinstance(params, dict) else {},
        exit_code=row["exit_code"],
        error=row["error"],
        triggered_by=row["triggered_by"],
        pid=row["pid"],
        pid_start=row["pid_start"],
    )
