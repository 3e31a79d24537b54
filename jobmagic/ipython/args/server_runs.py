"""The command lines of ``%job_runs --server …`` and ``%job_rerun``, parsed into plain data.

Pure, with the parser class and value checks of :mod:`jobmagic.ipython.args.lines`: the
``--server`` flags are added to ``%job_runs``'s one parser (so its help lists them), and
``%job_rerun`` has its own.

>>> parse_job_rerun_line("train-ab12c --app sandbox:demo:train lr=0.2 --wait").assignments
('lr=0.2',)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from jobmagic.ipython.args.lines import (
    Parser,
    UsageError,
    add_wait_flags,
    built,
    split_line,
    variable,
)

__all__ = [
    "JobRerunArgs",
    "ServerRunsArgs",
    "add_server_flags",
    "job_rerun_parser",
    "parse_job_rerun_line",
    "server_args",
]

#: ``%job_runs`` flags that read the ledger: meaningless with ``--server``.
_LEDGER_ONLY = ("all", "refresh", "stored", "reconcile", "sweep")


@dataclass(frozen=True)
class ServerRunsArgs:
    """What ``%job_runs --server`` asks the API for, besides ``%job_runs``'s own filters."""

    triggered_by: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    search: str | None = None


def _version(text: str) -> str:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a deployment version number")
    return text.strip()


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--server`` and the filters only the server applies to ``%job_runs``'s parser."""
    add = parser.add_argument
    add(
        "--server",
        action="store_true",
        help="List the job's runs on the server (--app needed), also those started outside "
        "jobmagic, newest first (the 50 newest unless --limit); params are read back from "
        "each run's command.",
    )
    add(
        "--triggered-by",
        dest="triggered_by",
        nargs="+",
        default=[],
        metavar="WHO",
        help=(
            "With --server: only runs triggered by these users, named as the API records "
            "them in triggeredBy (an id or e-mail, as in run.run.triggered_by), not the "
            "display name the board shows."
        ),
    )
    add(
        "--version",
        dest="versions",
        nargs="+",
        type=_version,
        default=[],
        metavar="N",
        help="With --server: only runs of these deployment versions.",
    )
    add(
        "--search",
        metavar="PREFIX",
        help="With --server: only runs whose name starts with PREFIX.",
    )


def server_args(namespace: argparse.Namespace) -> ServerRunsArgs | None:
    """The server listing a parsed ``%job_runs`` line asks for, or None without ``--server``;
    a server-only filter without it, or a ledger-only flag with it, is refused."""
    server_only = [
        flag
        for flag, given in (
            ("--triggered-by", namespace.triggered_by),
            ("--version", namespace.versions),
            ("--search", namespace.search),
        )
        if given
    ]
    if not namespace.server:
        if server_only:
            raise UsageError(
                f"%job_runs: {server_only[0]} filters the server's listing; add --server "
                "(and --app TARGET)."
            )
        return None
    ledger_only = [f"--{flag}" for flag in _LEDGER_ONLY if getattr(namespace, flag, False)]
    if ledger_only:
        raise UsageError(
            f"%job_runs: {ledger_only[0]} reads jobmagic's ledger, --server the server's "
            "listing; use one of them."
        )
    if not namespace.app:
        raise UsageError(
            "%job_runs --server: say whose runs to list with --app FQN_OR_NAME "
            "(e.g. --app sandbox:demo:train)."
        )
    return ServerRunsArgs(
        triggered_by=tuple(namespace.triggered_by),
        versions=tuple(namespace.versions),
        search=namespace.search,
    )


@dataclass(frozen=True)
class JobRerunArgs:
    """What a ``%job_rerun`` line asks for."""

    name: str
    app: str | None = None
    application_id: str | None = None
    assignments: tuple[str, ...] = ()
    command: str | None = None
    alias: str | None = None
    wait: bool = False
    timeout: float | None = None
    logs: bool = False
    cancel_on_interrupt: bool = False
    out: str | None = None
    quiet: bool = False


def job_rerun_parser() -> Parser:
    parser = Parser(prog="job_rerun")
    add = parser.add_argument
    add(
        "name",
        metavar="NAME",
        help="The run to trigger again, as its card or the runs board names it.",
    )
    add(
        "assignments",
        nargs="*",
        metavar="name=value",
        help="The params to change; the others keep the run's values.",
    )
    add("--app", metavar="TARGET", help="The run's job, by FQN or name (or --application-id).")
    add(
        "--application-id",
        dest="application_id",
        metavar="ID",
        help="The run's job, by application id (instead of --app).",
    )
    add(
        "--command",
        "-c",
        dest="command",
        metavar="CMD",
        help="Run this command instead of the run's own (no params are sent with it).",
    )
    add("--alias", metavar="NAME", help="Start the new run's name with NAME.")
    add_wait_flags(parser, run="the new run")
    add(
        "--out",
        "-o",
        dest="out",
        type=variable,
        metavar="VAR",
        help="Store the new run's handle in the variable VAR.",
    )
    add("--quiet", "-q", action="store_true", help="Display no card; the handle is still returned.")
    return parser


def parse_job_rerun_line(line: str) -> JobRerunArgs:
    """``%job_rerun NAME --app TARGET [name=value …] [--command CMD] [--wait …] [-o VAR]``."""
    namespace = built(job_rerun_parser).parse_intermixed_args(split_line(line))
    words: list[str] = [namespace.name, *namespace.assignments]
    names = [word for word in words if "=" not in word]
    if len(names) != 1:
        problem = "no run name" if not names else f"{len(names)} run names ({', '.join(names)})"
        raise UsageError(
            f"%job_rerun: got {problem}. Name one run, then the params to change as "
            "name=value: %job_rerun train-ab12c --app sandbox:demo:train lr=0.2"
        )
    if bool(namespace.app) == bool(namespace.application_id):
        raise UsageError(
            "%job_rerun: say which job the run belongs to with --app FQN_OR_NAME "
            "or --application-id ID (one of them)."
        )
    assignments = tuple(word for word in words if "=" in word)
    if namespace.command and assignments:
        raise UsageError(
            "%job_rerun: --command replaces the job's command, so params would be ignored: "
            "give either --command or name=value changes."
        )
    if (namespace.timeout is not None or namespace.logs) and not namespace.wait:
        raise UsageError("%job_rerun: --timeout and --logs apply with --wait; add --wait.")
    return JobRerunArgs(
        name=names[0],
        app=namespace.app,
        application_id=namespace.application_id,
        assignments=assignments,
        command=namespace.command,
        alias=namespace.alias,
        wait=namespace.wait,
        timeout=namespace.timeout,
        logs=namespace.logs,
        cancel_on_interrupt=namespace.cancel_on_interrupt,
        out=namespace.out,
        quiet=namespace.quiet,
    )
