"""Parsing the magics' command lines into plain data (no I/O, no shell).

Every mistake becomes a :class:`~IPython.core.error.UsageError` with one short
sentence, so the cell fails without a traceback and nothing is sent.

>>> parse_trigger_line("sandbox:demo:train --wait -o run").wait
True
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core import error as _ipython_errors

from jobmagic.ipython.args.help import HelpAction, closest, option_strings

if TYPE_CHECKING:
    from jobmagic.ipython.args.server_runs import ServerRunsArgs
    from jobmagic.models import RunStatus

__all__ = [
    "PARSERS",
    "JobRunArgs",
    "JobRunsArgs",
    "TriggerArgs",
    "UsageError",
    "parse_duration_or_date",
    "parse_job_run_line",
    "parse_job_runs_line",
    "parse_jobmagic_line",
    "parse_trigger_line",
    "parser",
    "split_line",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(_ipython_errors.UsageError):
    """IPython's UsageError (one short paragraph, no traceback, the cell fails) that also
    reaches the notebook's clients.

    IPython shows a plain UsageError by printing it to stderr, so the cell's error as
    papermill and nbclient report it (``ename``/``evalue`` and the traceback lines) is
    empty and a CI log says nothing. This subclass goes through the ordinary traceback path
    instead, with ``_render_traceback_`` giving the message as the whole traceback: the
    notebook still shows one paragraph, and ``evalue`` carries the same text.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"UsageError: {self}"]


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting.

    ``-h``/``--help`` raises :class:`~jobmagic.ipython.args.help.HelpRequested` with the generated
    help; an unknown flag's error names the closest real one.
    """

    def __init__(self, prog: str, **kwargs: Any):
        kwargs["add_help"] = False  # ours raises HelpRequested instead of exiting
        # No prefix abbreviations: `--wa` is a typo to correct, not a flag to guess at.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(prog=prog, **kwargs)
        self.add_argument("-h", "--help", action=HelpAction)

    def error(self, message: str) -> NoReturn:
        raise UsageError(
            f"%{self.prog}: {message}{self._did_you_mean(message)}. "
            f"See %{self.prog}? for the flags."
        )

    def _did_you_mean(self, message: str) -> str:
        unknown = re.findall(r"(?<!\S)(--?[A-Za-z][\w-]*)", message.partition(":")[2])
        if not message.startswith("unrecognized arguments") or not unknown:
            return ""
        flag = unknown[0].partition("=")[0]
        match = closest(flag, option_strings(self), n=1)
        return f" (did you mean {match[0]}?)" if match else ""

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"%{self.prog}: stopped.")


def expand_variables(line: str, namespace: Mapping[str, Any]) -> str:
    """IPython's ``$name`` / ``{expression}`` expansion of a magic line, in linear time.

    IPython expands a magic's whole line with one formatter call whose cost grows with the
    square of the line's length (15 s for a plain 40 KB line, before any magic code runs).
    The same formatter applied word by word — only to the words that can hold a variable —
    gives the same result in time proportional to the line. A word that cannot be expanded
    stays as written, as IPython leaves a line it cannot expand.

    >>> expand_variables("app lr=$lr tag={name.upper()} '$kept' x=1", {"lr": 0.1, "name": "a"})
    "app lr=0.1 tag=A '$kept' x=1"
    """
    from IPython.utils.text import DollarFormatter

    formatter = DollarFormatter()
    out: list[str] = []
    for word, space in _words(line):
        if "$" in word or "{" in word:
            # IPython's own rule: what cannot be expanded stays as written.
            with contextlib.suppress(Exception):
                word = formatter.vformat(word, args=[], kwargs=namespace)
        out.append(word + space)
    return "".join(out)


def _words(line: str) -> Iterator[tuple[str, str]]:
    """The line's words and the white space after each; a word runs on through quotes and
    ``{…}``, so an expression or a quoted string is never cut."""
    start, depth, quote, index = 0, 0, "", 0
    length = len(line)
    while index < length:
        char = line[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char.isspace() and depth == 0:
            end = index
            while index < length and line[index].isspace():
                index += 1
            yield line[start:end], line[end:index]
            start = index
            continue
        index += 1
    yield line[start:], ""


_SHELL_SPACE = re.compile(r"[ \t\r\n]+")


def split_line(line: str) -> list[str]:
    """Split a magic line like a shell would, with a clear error for unbalanced quotes.

    >>> split_line("app lr=0.1 'name=a b'")
    ['app', 'lr=0.1', 'name=a b']
    """
    if not any(char in line for char in "'\"\\"):
        # Without quotes or escapes a shell splits at shlex's white space (not at every
        # Unicode space, as str.split does); shlex itself takes ~50 µs a word.
        return [word for word in _SHELL_SPACE.split(line) if word]
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
    parser = _Parser(prog="trigger_job")
    parser.add_argument(
        "words",
        nargs="*",
        metavar="TARGET [name=value ...]",
        help="The job: an application FQN (cluster:workspace:app) or name; in the one-line "
        "form, then its params as name=value (the cell form takes them from the body).",
    )
    add = parser.add_argument
    add(
        "--application-id",
        dest="application_id",
        metavar="ID",
        help="Trigger the application with this id instead of naming a TARGET.",
    )
    add(
        "--deployment-id",
        dest="deployment_id",
        metavar="ID",
        help="Trigger this deployment (a version of the job) instead of naming a TARGET.",
    )
    add(
        "--command",
        "-c",
        dest="command",
        metavar="CMD",
        help="Run this command instead of the job's own; no params are sent with it.",
    )
    add(
        "--alias",
        metavar="NAME",
        help="Start the run's name with NAME (1-40 lowercase letters, digits, dashes).",
    )
    add(
        "--wait",
        "-w",
        action="store_true",
        help="Block until the run ends, with a status line; the cell fails unless it FINISHED.",
    )
    add(
        "--timeout",
        type=_positive_float,
        metavar="S",
        help="With --wait: stop waiting after S seconds (the run keeps going). "
        "Default: JobMagic.wait_timeout, 0 for no limit.",
    )
    add("--logs", action="store_true", help="With --wait: print the run's logs as they come.")
    add(
        "--cancel-on-interrupt",
        dest="cancel_on_interrupt",
        action="store_true",
        help="With --wait: interrupting the kernel also terminates the run.",
    )
    add(
        "--out",
        "-o",
        dest="out",
        type=_variable,
        metavar="VAR",
        help="Store the run's handle (with --grid, the SweepResult) in the variable VAR.",
    )
    add(
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="Show the request that would be sent (token masked) and send nothing.",
    )
    add(
        "--grid",
        action="store_true",
        help="Sweep: each param takes a list of values; one run per combination.",
    )
    add(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="With --grid: at most N triggers in flight. Default: JobMagic.concurrency (8).",
    )
    add("--quiet", "-q", action="store_true", help="Display no card or board.")
    return parser


def parse_trigger_line(line: str, *, cell: bool = True) -> TriggerArgs:
    """Parse the line of ``%%trigger_job`` (``cell=True``) or ``%trigger_job``.

    The first word without ``=`` is the target; in the one-line form the rest
    are ``name=value`` params, before, between or after the flags.
    """
    # Intermixed: `X --wait lr=0.1` puts params after flags, and argparse's plain parse
    # would refuse them as "unrecognized arguments".
    words_and_flags = split_line(line)
    namespace = _plain_trigger_words(words_and_flags) or parser(
        "trigger_job"
    ).parse_intermixed_args(words_and_flags)
    words: list[str] = namespace.words
    # The target is the first word that is not a param, wherever the params are.
    target = next((word for word in words if "=" not in word), None)
    rest = list(words)
    if target is not None:
        rest.remove(target)
    assignments = tuple(rest)
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


def _job_run_parser() -> _Parser:
    parser = _Parser(prog="job_run")
    parser.add_argument(
        "name", metavar="NAME", help="The run's name, as its card or %job_runs shows it."
    )
    parser.add_argument(
        "--app", metavar="TARGET", help="The run's job, by FQN or name (or give --application-id)."
    )
    parser.add_argument(
        "--application-id",
        dest="application_id",
        metavar="ID",
        help="The run's job, by application id (instead of --app).",
    )
    parser.add_argument(
        "--out",
        "-o",
        dest="out",
        type=_variable,
        metavar="VAR",
        help="Store the run's handle in the variable VAR.",
    )
    return parser


def parse_job_run_line(line: str) -> JobRunArgs:
    """``%job_run NAME --app TARGET [-o VAR]``."""
    namespace = parser("job_run").parse_args(split_line(line))
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
    stored: bool = False
    table: bool = False
    out: str | None = None
    limit: int | None = None
    reconcile: bool = False
    #: Add the runs' metrics (``metrics.<name>`` columns).
    metrics: bool = False
    #: With ``--server``: the server's listing and its own filters (see jobmagic.ipython.args.server_runs).
    server: ServerRunsArgs | None = None


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
    from jobmagic.models import RunStatus

    value = text.strip().upper()
    if value not in RunStatus.__members__:
        known = ", ".join(RunStatus.__members__)
        raise argparse.ArgumentTypeError(f"{text!r} is not a run status ({known})")
    return RunStatus(value)


def _job_runs_parser() -> _Parser:
    parser = _Parser(prog="job_runs")
    add = parser.add_argument
    add("--all", action="store_true", help="Every run in the ledger, not only this session's.")
    add("--app", metavar="TARGET", help="Only the runs of this job (FQN, name or application id).")
    add(
        "--status",
        nargs="+",
        type=_status,
        default=[],
        metavar="S",
        help="Only runs in these statuses (RUNNING, FAILED, …).",
    )
    add(
        "--since",
        metavar="WHEN",
        help="Only runs triggered since then: a duration ago (30m, 2h, 7d) or a date.",
    )
    add(
        "--refresh",
        action="store_true",
        help="Ask the server for live statuses and fail if it cannot be reached.",
    )
    add(
        "--stored",
        action="store_true",
        help="Show the ledger's stored statuses without asking the server.",
    )
    add(
        "--reconcile",
        action="store_true",
        help="First settle triggers whose outcome is unknown against the server.",
    )
    add("--table", action="store_true", help="Show a styled DataFrame instead of the live board.")
    add(
        "--metrics",
        action="store_true",
        help="Add each run's metrics (metrics.<name> columns): one search per job.",
    )
    add("--limit", type=_positive_int, metavar="N", help="At most N runs, newest first.")
    add(
        "--out",
        "-o",
        dest="out",
        type=_variable,
        metavar="VAR",
        help="Store the runs' DataFrame in the variable VAR.",
    )
    from jobmagic.ipython.args.server_runs import add_server_flags  # it imports this module

    add_server_flags(parser)
    return parser


def parse_job_runs_line(line: str) -> JobRunsArgs:
    """``%job_runs [--all] [--app T] [--status S …] [--since 2h] [--refresh | --stored]
    [--reconcile] [--table] [-o V]``."""
    from jobmagic.ipython.args.server_runs import server_args  # it imports this module

    namespace = parser("job_runs").parse_args(split_line(line))
    if namespace.refresh and namespace.stored:
        raise UsageError(
            "%job_runs: --refresh asks the server, --stored does not; use one of them."
        )
    return JobRunsArgs(
        all=namespace.all,
        app=namespace.app,
        statuses=tuple(namespace.status),
        since=parse_duration_or_date(namespace.since) if namespace.since else None,
        refresh=namespace.refresh,
        stored=namespace.stored,
        table=namespace.table,
        out=namespace.out,
        limit=namespace.limit,
        reconcile=namespace.reconcile,
        metrics=namespace.metrics,
        server=server_args(namespace),
    )


def _job_rerun_parser() -> _Parser:
    from jobmagic.ipython.args.server_runs import job_rerun_parser  # it imports this module

    return job_rerun_parser()


def _jobmagic_parser() -> _Parser:
    parser = _Parser(prog="jobmagic")
    parser.add_argument(
        "topic",
        nargs="?",
        choices=["sandbox"],
        metavar="sandbox",
        help="Manage the local sandbox. Without it: where jobmagic points, where the token "
        "came from, the version and the ledger.",
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=["start", "stop", "status"],
        metavar="start|stop|status",
        help="start a local sandbox and point this session at it; stop it; or say whether it runs.",
    )
    return parser


def parse_jobmagic_line(line: str) -> list[str]:
    """``%jobmagic [sandbox start|stop|status]``: the words, checked against the parser."""
    words = split_line(line)
    parser("jobmagic").parse_args(words)
    return words


#: The parser of each magic, by name: help (``%magic?``, ``-h``) and completion of flags are
#: generated from these, so a magic's parser is registered here once and used everywhere.
PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "trigger_job": _trigger_parser,
    "job_run": _job_run_parser,
    "job_runs": _job_runs_parser,
    "job_rerun": _job_rerun_parser,
    "jobmagic": _jobmagic_parser,
}


@functools.cache
def parser(name: str) -> argparse.ArgumentParser:
    """The parser of magic ``name``, built once: building one costs more than parsing a line.

    Shared, so callers only parse with it (argparse restores what parsing changes); whoever
    needs to change a parser builds their own from :data:`PARSERS`.
    """
    return PARSERS[name]()


#: The flags a plain trigger line may carry and still skip argparse: each sets one field.
_PLAIN_FLAGS = {
    "-q": "quiet",
    "--quiet": "quiet",
    "-w": "wait",
    "--wait": "wait",
    "--dry-run": "dry_run",
    "--grid": "grid",
    "--logs": "logs",
    "--cancel-on-interrupt": "cancel_on_interrupt",
}


def _plain_trigger_words(words: list[str]) -> argparse.Namespace | None:
    """What argparse would make of ``words`` if they are only words and switches, else None.

    Most trigger lines are a target and ``-q`` or ``--wait``: this reads them without
    argparse (a millisecond a cell). Anything else, a flag taking a value, ``--``, a word
    starting with ``-``, ``-h``, goes to the parser, which also explains the mistakes.
    """
    found = argparse.Namespace(
        words=[],
        application_id=None,
        deployment_id=None,
        command=None,
        alias=None,
        wait=False,
        timeout=None,
        logs=False,
        cancel_on_interrupt=False,
        out=None,
        dry_run=False,
        grid=False,
        concurrency=None,
        quiet=False,
    )
    for word in words:
        if not word.startswith("-"):
            found.words.append(word)
        elif word in _PLAIN_FLAGS:
            setattr(found, _PLAIN_FLAGS[word], True)
        else:
            return None
    return found
