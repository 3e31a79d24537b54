"""Parsing the magics' command lines into plain data (no I/O, no shell).

Every mistake becomes a :class:`~IPython.core.error.UsageError` with one short
sentence, so the cell fails without a traceback and nothing is sent.

>>> parse_trigger_line("sandbox:demo:train --wait -o run").wait
True
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NoReturn

from IPython.core.error import UsageError

from jobmagic.models import RunStatus

__all__ = [
    "JobRunArgs",
    "JobRunsArgs",
    "TriggerArgs",
    "parse_duration_or_date",
    "parse_job_run_line",
    "parse_job_runs_line",
    "parse_trigger_line",
    "split_line",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%{self.prog}: {message}. See %{self.prog}? for the flags.")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"%{self.prog}: stopped.")


def split_line(line: str) -> list[str]:
    """Split a magic line like a shell would, with a clear error for unbalanced quotes."""
    import shlex

    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"Could not read the magic line ({exc}). Check its quotes.") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _variable(text: str) -> str:
    if not _IDENTIFIER.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python variable name")
    return text


@dataclass(frozen=True)
class TriggerArgs:
    """What a ``%%trigger_job`` / ``%trigger_job`` line asks for."""

    target: str | None = None
    application_id: str | None = None
    deployment_id: str | None = None
    assignments: tuple[str, ...] = ()
    command: str | None = None
    alias: str | None = None
    wait: bool = False
    timeout: float | None = None
    logs: bool = False
    cancel_on_interrupt: bool = False
    out: str | None = None
    dry_run: bool = False
    grid: bool = False
    concurrency: int | None = None
    quiet: bool = False


def _trigger_parser() -> _Parser:
    parser = _Parser(prog="trigger_job", add_help=False)
    parser.add_argument("words", nargs="*")
    parser.add_argument("--application-id", dest="application_id")
    parser.add_argument("--deployment-id", dest="deployment_id")
    parser.add_argument("--command", "-c", dest="command")
    parser.add_argument("--alias")
    parser.add_argument("--wait", "-w", action="store_true")
    parser.add_argument("--timeout", type=_positive_float)
    parser.add_argument("--logs", action="store_true")
    parser.add_argument("--cancel-on-interrupt", dest="cancel_on_interrupt", action="store_true")
    parser.add_argument("--out", "-o", dest="out", type=_variable)
    parser.add_argument("--dry-run", dest="dry_run", action="store_true")
    parser.add_argument("--grid", action="store_true")
    parser.add_argument("--concurrency", type=_positive_int)
    parser.add_argument("--quiet", "-q", action="store_true")
    return parser


def parse_trigger_line(line: str, *, cell: bool = True) -> TriggerArgs:
    """Parse the line of ``%%trigger_job`` (``cell=True``) or ``%trigger_job``.

    The first word without ``=`` is the target; in the one-line form the rest
    are ``name=value`` params.
    """
    namespace = _trigger_parser().parse_args(split_line(line))
    words: list[str] = namespace.words
    target = words[0] if words and "=" not in words[0] else None
    assignments = tuple(words[1:] if target else words)
    if cell and assignments:
        raise UsageError(
            f"%%trigger_job: unexpected {assignments[0]!r} on the magic line. "
            "Params go in the cell body, one `name: value` per line."
        )
    extra = [w for w in assignments if "=" not in w]
    if extra:
        raise UsageError(
            f"%trigger_job: {extra[0]!r} is neither the target nor a name=value param. "
            "Name one target, then params as name=value."
        )
    if namespace.timeout is not None and not namespace.wait:
        raise UsageError("--timeout only applies with --wait; add --wait or drop --timeout.")
    if namespace.logs and not namespace.wait:
        raise UsageError("--logs streams logs while waiting; add --wait, or open the card's Logs.")
    if namespace.cancel_on_interrupt and not namespace.wait:
        raise UsageError("--cancel-on-interrupt only applies with --wait.")
    if namespace.concurrency is not None and not namespace.grid:
        raise UsageError("--concurrency only applies to --grid sweeps.")
    return TriggerArgs(
        target=target,
        application_id=namespace.application_id,
        deployment_id=namespace.deployment_id,
        assignments=assignments,
        command=namespace.command,
        alias=namespace.alias,
        wait=namespace.wait,
        timeout=namespace.timeout,
        logs=namespace.logs,
        cancel_on_interrupt=namespace.cancel_on_interrupt,
        out=namespace.out,
        dry_run=namespace.dry_run,
        grid=namespace.grid,
        concurrency=namespace.concurrency,
        quiet=namespace.quiet,
    )


@dataclass(frozen=True)
class JobRunArgs:
    name: str
    app: str | None = None
    application_id: str | None = None
    out: str | None = None


def parse_job_run_line(line: str) -> JobRunArgs:
    """``%job_run NAME --app TARGET [-o VAR]``."""
    parser = _Parser(prog="job_run", add_help=False)
    parser.add_argument("name")
    parser.add_argument("--app")
    parser.add_argument("--application-id", dest="application_id")
    parser.add_argument("--out", "-o", dest="out", type=_variable)
    namespace = parser.parse_args(split_line(line))
    if bool(namespace.app) == bool(namespace.application_id):
        raise UsageError(
            "%job_run: say which job the run belongs to with --app FQN_OR_NAME "
            "or --application-id ID (one of them)."
        )
    return JobRunArgs(
        name=namespace.name,
        app=namespace.app,
        application_id=namespace.application_id,
        out=namespace.out,
    )


@dataclass(frozen=True)
class JobRunsArgs:
    all: bool = False
    app: str | None = None
    statuses: tuple[RunStatus, ...] = ()
    since: datetime | None = None
    refresh: bool = False
    table: bool = False
    out: str | None = None
    limit: int | None = None
    reconcile: bool = False


def parse_duration_or_date(text: str, *, now: datetime | None = None) -> datetime:
    """``2h``, ``30m``, ``1d``, ``45s`` or ``1w`` ago, or an ISO date(time) -> aware UTC."""
    now = now or datetime.now(timezone.utc)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match:
        amount = float(match.group(1))
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
        return now - timedelta(seconds=amount * unit)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a duration (30m, 2h, 7d) nor a date (2026-11-01)."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a bare date means the user's local midnight
    return parsed.astimezone(timezone.utc)


def _status(text: str) -> RunStatus:
    value = text.strip().upper()
    if value not in RunStatus.__members__:
        known = ", ".join(RunStatus.__members__)
        raise argparse.ArgumentTypeError(f"{text!r} is not a run status ({known})")
    return RunStatus(value)


def parse_job_runs_line(line: str) -> JobRunsArgs:
    """``%job_runs [--all] [--app T] [--status S …] [--since 2h] [--refresh] [--reconcile]
    [--table] [-o V]``."""
    parser = _Parser(prog="job_runs", add_help=False)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--app")
    parser.add_argument("--status", nargs="+", type=_status, default=[])
    parser.add_argument("--since")
    parser.add_argument("--refresh", action="store_true")
    parser.add_argument("--reconcile", action="store_true")
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--limit", type=_positive_int)
    parser.add_argument("--out", "-o", dest="out", type=_variable)
    namespace = parser.parse_args(split_line(line))
    return JobRunsArgs(
        all=namespace.all,
        app=namespace.app,
        statuses=tuple(namespace.status),
        since=parse_duration_or_date(namespace.since) if namespace.since else None,
        refresh=namespace.refresh,
        table=namespace.table,
        out=namespace.out,
        limit=namespace.limit,
        reconcile=namespace.reconcile,
    )
