"""Parsing the magics' command lines into plain data (no I/O, no shell).

Every mistake becomes a :class:`~IPython.core.error.UsageError` with one short
sentence, so the cell fails without a traceback and nothing is sent.

>>> parse_trigger_line("sandbox:demo:train --wait -o run").wait
True
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from jobmagic.ipython.args.lines import (
    Parser,
    UsageError,
    add_wait_flags,
    built,
    expand_variables,
    parse_duration_or_date,
    positive_int,
    split_line,
    variable,
)
from jobmagic.ipython.args.server_runs import (
    JobRerunArgs,
    ServerRunsArgs,
    add_server_flags,
    job_rerun_parser,
    parse_job_rerun_line,
    server_args,
)

if TYPE_CHECKING:
    # Deferred: the models' dataclasses are not needed to load the extension.
    from jobmagic.models.jobs import RunStatus

__all__ = [
    "PARSERS",
    "JobRerunArgs",
    "JobRunArgs",
    "JobRunsArgs",
    "TriggerArgs",
    "UsageError",
    "expand_variables",
    "parse_duration_or_date",
    "parse_job_rerun_line",
    "parse_job_run_line",
    "parse_job_runs_line",
    "parse_jobmagic_line",
    "parse_trigger_line",
    "parser",
    "split_line",
]


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
    #: The sweep's name (``--name``); made up when not given.
    name: str | None = None
    #: The metric the sweep's runs are ranked by, with its goal: ``loss``, ``accuracy:max``.
    objective: str | None = None
    #: ``--search SAMPLER`` (tpe, random, grid): the body is a search space.
    search: str | None = None
    trials: int | None = None
    pruner: str | None = None


def _trigger_parser() -> Parser:
    parser = Parser(prog="trigger_job")
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
    add_wait_flags(parser)
    add(
        "--out",
        "-o",
        dest="out",
        type=variable,
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
        type=positive_int,
        metavar="N",
        help="With --grid or --search: at most N runs in flight. Default: "
        "JobMagic.concurrency (8).",
    )
    add(
        "--search",
        choices=("tpe", "random", "grid"),
        metavar="SAMPLER",
        help="Search with Optuna (pip install 'jobmagic[search]'): tpe, random or grid. The "
        "body is the space: a value is fixed, a list is choices, {low: 1e-4, high: 0.1, log: "
        "true} or {low: 1, high: 5, step: 1} a range. Needs --objective.",
    )
    add(
        "--trials",
        type=positive_int,
        metavar="N",
        help="With --search: how many runs to add to the study (with grid: the grid's "
        "untried points by default).",
    )
    add(
        "--pruner",
        choices=("median", "none"),
        help="With --search: stop runs whose metric falls behind the median at the same "
        "step (median, the default), or never (none).",
    )
    add(
        "--name",
        metavar="NAME",
        help="With --grid or --search: the sweep's name in the ledger "
        "(jobmagic.load_sweep(NAME), %%job_runs --sweep NAME); made up when not given. The "
        "same name, job, grid and objective add runs to that sweep.",
    )
    add(
        "--objective",
        metavar="METRIC[:min|max]",
        help="With --grid or --search: the metric that ranks the sweep's runs (the board's ★ "
        "and sort, .best()), e.g. loss or accuracy:max; the goal defaults by the name's last token "
        "and %%config JobMagic.metric_goals.",
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
    if namespace.concurrency is not None and not (namespace.grid or namespace.search):
        raise UsageError("--concurrency only applies to --grid sweeps and --search.")
    _check_search_flags(namespace, cell)
    for flag in ("name", "objective"):
        if getattr(namespace, flag) is not None and not (namespace.grid or namespace.search):
            raise UsageError(f"--{flag} applies to sweeps: add --grid (one run is no sweep).")
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
        name=namespace.name,
        objective=namespace.objective,
        search=namespace.search,
        trials=namespace.trials,
        pruner=namespace.pruner,
    )


def _check_search_flags(namespace: argparse.Namespace, cell: bool) -> None:
    """What --search takes and refuses (one short sentence each)."""
    if namespace.search is None:
        for flag in ("trials", "pruner"):
            if getattr(namespace, flag) is not None:
                raise UsageError(f"--{flag} only applies with --search.")
        return
    if not cell:
        raise UsageError("--search reads its space from the cell body: use %%trigger_job.")
    for flag, given in (
        ("--grid", namespace.grid),
        ("--command", namespace.command),
        ("--dry-run", namespace.dry_run),
    ):
        if given:
            raise UsageError(f"{flag} does not go with --search.")
    if namespace.search != "grid" and namespace.trials is None:
        raise UsageError("--search needs --trials N: how many runs to add.")


@dataclass(frozen=True)
class JobRunArgs:
    name: str
    app: str | None = None
    application_id: str | None = None
    out: str | None = None


def _job_run_parser() -> Parser:
    parser = Parser(prog="job_run")
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
        type=variable,
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
    #: With ``--server``: the server's listing and its own filters (see ``server_runs``).
    server: ServerRunsArgs | None = None
    #: Only the runs of the sweep of this name (from any session), ranked by its objective.
    sweep: str | None = None


def _status(text: str) -> RunStatus:
    from jobmagic.models import RunStatus

    value = text.strip().upper()
    if value not in RunStatus.__members__:
        known = ", ".join(RunStatus.__members__)
        raise argparse.ArgumentTypeError(f"{text!r} is not a run status ({known})")
    return RunStatus(value)


def _job_runs_parser() -> Parser:
    parser = Parser(prog="job_runs")
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
    add("--limit", type=positive_int, metavar="N", help="At most N runs, newest first.")
    add(
        "--sweep",
        metavar="NAME",
        help="The runs of the sweep NAME (from any session; jobmagic.sweeps() lists them), "
        "ranked by its objective.",
    )
    add(
        "--out",
        "-o",
        dest="out",
        type=variable,
        metavar="VAR",
        help="Store the runs' DataFrame in the variable VAR.",
    )
    add_server_flags(parser)
    return parser


def parse_job_runs_line(line: str) -> JobRunsArgs:
    """``%job_runs [--all] [--app T] [--status S …] [--since 2h] [--refresh | --stored]
    [--reconcile] [--table] [-o V]``."""
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
        sweep=namespace.sweep,
    )


def _jobmagic_parser() -> Parser:
    parser = Parser(prog="jobmagic")
    parser.add_argument(
        "topic",
        nargs="?",
        choices=["sandbox", "ledger"],
        metavar="sandbox|ledger",
        help="Manage the local sandbox, or recover a damaged ledger. Without it: where "
        "jobmagic points, where the token came from, the version and the ledger.",
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=["start", "stop", "status", "recover"],
        metavar="start|stop|status|recover",
        help="sandbox start: start a local sandbox and point this session at it; stop it; or "
        "say whether it runs. ledger recover [PATH]: copy every readable run of a damaged "
        "ledger (default: the newest one moved aside) into the ledger, and settle them.",
    )
    parser.add_argument("path", nargs="?", metavar="PATH", help=argparse.SUPPRESS)
    return parser


def parse_jobmagic_line(line: str) -> list[str]:
    """``%jobmagic [sandbox start|stop|status | ledger recover [PATH]]``: the words, checked
    against the parser."""
    words = split_line(line)
    parser("jobmagic").parse_args(words)
    return words


#: The parser of each magic, by name: help (``%magic?``, ``-h``) and completion of flags are
#: generated from these, so a magic's parser is registered here once and used everywhere.
PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "trigger_job": _trigger_parser,
    "job_run": _job_run_parser,
    "job_runs": _job_runs_parser,
    "job_rerun": job_rerun_parser,
    "jobmagic": _jobmagic_parser,
}


def parser(name: str) -> argparse.ArgumentParser:
    """The parser of magic ``name``, built once (:func:`built`)."""
    return built(PARSERS[name])


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
        name=None,
        objective=None,
        search=None,
        trials=None,
        pruner=None,
    )
    for word in words:
        if not word.startswith("-"):
            found.words.append(word)
        elif word in _PLAIN_FLAGS:
            setattr(found, _PLAIN_FLAGS[word], True)
        else:
            return None
    return found
