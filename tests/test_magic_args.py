"""Parsing the magics' lines: every flag, and every mistake as a short UsageError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from IPython.core.error import UsageError

from jobmagic.ipython.args.parsers import (
    parse_duration_or_date,
    parse_job_run_line,
    parse_job_runs_line,
    parse_trigger_line,
)
from jobmagic.models import RunStatus


def test_every_trigger_flag() -> None:
    args = parse_trigger_line(
        "c:w:train --wait --timeout 30 --logs --cancel-on-interrupt -o run --alias nightly -q"
    )
    assert args.target == "c:w:train"
    assert (args.wait, args.timeout, args.logs, args.cancel_on_interrupt) == (
        True,
        30.0,
        True,
        True,
    )
    assert (args.out, args.alias, args.quiet) == ("run", "nightly", True)
    grid = parse_trigger_line("--application-id app-1 --grid --concurrency 4 --dry-run")
    assert (grid.target, grid.application_id, grid.grid, grid.concurrency, grid.dry_run) == (
        None,
        "app-1",
        True,
        4,
        True,
    )
    short = parse_trigger_line("--deployment-id dep-1 -w -c 'python x.py --fast'")
    assert (short.deployment_id, short.wait, short.command) == ("dep-1", True, "python x.py --fast")


def test_one_line_form_takes_assignments() -> None:
    args = parse_trigger_line("c:w:hello name=Ada greeting='hi there' --wait", cell=False)
    assert args.target == "c:w:hello"
    assert args.assignments == ("name=Ada", "greeting=hi there")


@pytest.mark.parametrize(
    ("line", "cell", "fragment"),
    [
        ("c:w:a --bogus", True, "unrecognized arguments: --bogus"),
        ("c:w:a --timeout 5", True, "--timeout only applies with --wait"),
        ("c:w:a --wait --timeout -1", True, "must be more than 0"),
        ("c:w:a --logs", True, "add --wait"),
        ("c:w:a --concurrency 3", True, "only applies to --grid"),
        ("c:w:a --grid --concurrency 0", True, "at least 1"),
        ("c:w:a -o 1abc", True, "not a Python variable name"),
        ("c:w:a lr=0.1", True, "Params go in the cell body"),
        ("c:w:a stray", False, "neither the target nor a name=value"),
        ("c:w:a 'unclosed", True, "Check its quotes"),
    ],
)
def test_mistakes_are_short_usage_errors(line: str, cell: bool, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_trigger_line(line, cell=cell)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_job_run_needs_its_job() -> None:
    args = parse_job_run_line("train-abc12 --app c:w:train -o r")
    assert (args.name, args.app, args.out) == ("train-abc12", "c:w:train", "r")
    with pytest.raises(UsageError, match="--app"):
        parse_job_run_line("train-abc12")


def test_job_runs_flags() -> None:
    args = parse_job_runs_line(
        "--all --app c:w:t --status running failed --since 2h --refresh -o df"
    )
    assert args.all and args.refresh and args.out == "df"
    assert args.statuses == (RunStatus.RUNNING, RunStatus.FAILED)
    assert args.since is not None
    assert timedelta(hours=1.99) < datetime.now(timezone.utc) - args.since < timedelta(hours=2.01)
    with pytest.raises(UsageError, match="not a run status"):
        parse_job_runs_line("--status SLEEPY")


def test_since_accepts_durations_and_dates() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    assert parse_duration_or_date("30m", now=now) == now - timedelta(minutes=30)
    assert parse_duration_or_date("7d", now=now) == now - timedelta(days=7)
    assert parse_duration_or_date("2026-11-01T00:00:00+00:00") == datetime(
        2026, 11, 1, tzinfo=timezone.utc
    )
    with pytest.raises(UsageError, match="neither a duration"):
        parse_duration_or_date("yesterday")


def test_job_rerun_takes_the_same_wait_flags_as_trigger_job() -> None:
    """One definition of --wait and its companions serves both magics."""
    from jobmagic.ipython.args.parsers import parse_job_rerun_line, parser

    args = parse_job_rerun_line("train-ab12c --app a:b:c --wait --timeout 5 --cancel-on-interrupt")
    assert (args.wait, args.timeout, args.cancel_on_interrupt) == (True, 5.0, True)
    flags = {"--wait", "--timeout", "--logs", "--cancel-on-interrupt"}
    for magic in ("trigger_job", "job_rerun"):
        assert flags <= {o for a in parser(magic)._actions for o in a.option_strings}
