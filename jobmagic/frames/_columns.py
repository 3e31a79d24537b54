"""Runs of any kind (handles, JobRuns, API dicts, ledger entries or rows) as plain columns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from itertools import repeat
from typing import TYPE_CHECKING, Any

from jobmagic.ledger import LedgerEntry
from jobmagic.models import JobRun
from jobmagic.models.ml import MLRun

if TYPE_CHECKING:
    pass


__all__ = ["BASE_COLUMNS", "Columns", "collect", "ledger_row_columns"]


BASE_COLUMNS: tuple[str, ...] = (
    "name",
    "application_name",
    "status",
    "created_at",
    "end_time",
    "duration",
    "exit_code",
    "total_retries",
    "deployment_version",
    "triggered_by",
    "command",
    "error",
    "rerun_of",
    "sweep",
)


# --- collecting columns: one pass per field, no pandas, no per-row objects -------------
#
# Columns are built with one list comprehension per field rather than one tuple per row:
# a comprehension allocates nothing but its list, while 100k row tuples would also wake the
# cyclic garbage collector again and again (it scans every live dict and JobRun).
#
# The 15 columns, in order: the first 13 base values (raw: ms numbers, datetimes, text, …),
# each row's params mapping (or None), then its sweep's name (the last base column).
Columns = list[list[Any]]
_WIDTH = 15


def _dict_columns(items: list[Mapping[str, Any]], *, exact: bool = False) -> Columns:
    """Columns of API dicts; ``exact``: every item is a plain dict (a faster lookup)."""

    def column(key: str) -> list[Any]:
        if exact:
            # dict.get mapped in C: no Python frame per item.
            return list(map(dict.get, items, repeat(key)))  # type: ignore[arg-type]
        return [item.get(key) for item in items]

    subjects = column("triggeredBySubject")
    triggered_by = column("triggeredBy")
    if any(subjects):
        # The friendliest name, as JobRun.triggered_by_label gives it.
        triggered_by = [
            (
                s.get("subjectDisplayName") or s.get("subjectSlug") or s.get("subjectId") or t
                # type() first: an ABC isinstance check per row costs twice the lookups.
                if type(s) is dict or isinstance(s, Mapping)
                else t
            )
            for s, t in zip(subjects, triggered_by, strict=True)
        ]
    return [
        column("name"),
        column("applicationName"),
        column("status"),
        column("createdAt"),
        column("endTime"),
        column("duration"),
        column("exitCode"),
        column("totalRetries"),
        column("deploymentVersion"),
        triggered_by,
        column("command"),
        column("error"),
        # Like "params", not API JSON: the run a caller's dict says this one repeats.
        column("rerun_of"),
        column("params"),
        column("sweep"),
    ]


def _run_columns(
    runs: list[JobRun],
    params: list[Any] | None = None,
    rerun_of: list[Any] | None = None,
    sweeps: list[Any] | None = None,
) -> Columns:
    return [
        [r.name for r in runs],
        [r.application_name for r in runs],
        [r.status for r in runs],
        [r.created_at for r in runs],
        [r.end_time for r in runs],
        [r.duration for r in runs],
        [r.exit_code for r in runs],
        [r.total_retries for r in runs],
        [r.deployment_version for r in runs],
        # JobRun.triggered_by_label, inlined: a property call per run costs twice as much.
        [
            (s.subject_display_name or s.subject_slug or s.subject_id or r.triggered_by)
            if (s := r.triggered_by_subject) is not None
            else r.triggered_by
            for r in runs
        ],
        [r.command for r in runs],
        [r.error for r in runs],
        rerun_of if rerun_of is not None else [None] * len(runs),
        params if params is not None else [None] * len(runs),
        sweeps if sweeps is not None else [None] * len(runs),
    ]


def _ml_run_row(run: MLRun) -> list[Any]:
    """An ML run as a row: the job run that logged it (its tag) is the row's name; the ML
    run's own id and tags are the frame's ``ml_run_id`` and ``tags.*`` columns."""
    return [
        run.job_run_name,
        None,
        run.status,
        run.start_time_ms,
        run.end_time_ms,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        run.params,
        None,
    ]


def _attempt_row(entry: LedgerEntry) -> list[Any]:
    """A ledger attempt the server never acknowledged: it has no run, only the attempt."""
    fqn = entry.application_fqn
    error = entry.error
    if entry.error_type and error:
        error = f"{entry.error_type}: {error}"
    return [
        entry.run_name,
        fqn.rsplit(":", 1)[-1] if fqn else None,
        entry.state.value.upper(),
        entry.created_at,
        None,
        None,
        None,
        None,
        None,
        None,
        entry.command,
        error,
        entry.rerun_of,
        entry.params,
        entry.sweep,
    ]


def collect(runs: Iterable[Any]) -> Columns:
    items = runs if isinstance(runs, list) else list(runs)
    kinds = {type(item) for item in items}
    if kinds == {dict}:
        return _dict_columns(items, exact=True)
    if kinds == {JobRun}:
        return _run_columns(items)
    if len(kinds) == 1 and not issubclass(next(iter(kinds)), (Mapping, LedgerEntry)):
        # All run handles of one class: unwrap them in bulk.
        inner: list[Any] = [getattr(item, "run", None) for item in items]
        if all(type(run) is JobRun for run in inner):
            columns = _run_columns(
                inner,
                [getattr(item, "params", None) for item in items],
                [getattr(item, "rerun_of", None) for item in items],
                [getattr(item, "sweep", None) for item in items],
            )
            if None in columns[10]:
                # The command the handle sent, for runs whose JobRun does not say.
                sent = [getattr(item, "command", None) for item in items]
                columns[10] = _first_given(columns[10], sent)
            return columns
    return _mixed_columns(items)


def _first_given(values: list[Any], fallback: list[Any]) -> list[Any]:
    return [v if v is not None else f for v, f in zip(values, fallback, strict=True)]


def _mixed_columns(items: list[Any]) -> Columns:
    # Sort items into dicts, runs (with params) and bare attempts, build each group's
    # columns in bulk, then put the values back in input order.
    dict_at: list[int] = []
    dicts: list[Mapping[str, Any]] = []
    run_at: list[int] = []
    runs: list[JobRun] = []
    run_params: list[Any] = []
    run_reruns: list[Any] = []
    run_commands: list[str | None] = []
    run_sweeps: list[Any] = []
    attempt_at: list[int] = []
    attempts: list[list[Any]] = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            dict_at.append(index)
            dicts.append(item)
        elif isinstance(item, JobRun):
            run_at.append(index)
            runs.append(item)
            run_params.append(None)
            run_reruns.append(None)
            run_commands.append(None)
            run_sweeps.append(None)
        elif isinstance(item, MLRun):
            attempt_at.append(index)  # a row of its own, like an attempt's
            attempts.append(_ml_run_row(item))
        elif isinstance(item, LedgerEntry):
            if item.run is None:
                attempt_at.append(index)
                attempts.append(_attempt_row(item))
            else:
                run_at.append(index)
                runs.append(item.run)
                run_params.append(item.params)
                run_reruns.append(item.rerun_of)
                run_commands.append(item.command)  # what was sent, if the run has none
                run_sweeps.append(getattr(item, "sweep", None))
        elif isinstance(getattr(item, "run", None), JobRun):
            run_at.append(index)
            runs.append(item.run)
            run_params.append(getattr(item, "params", None))
            run_reruns.append(getattr(item, "rerun_of", None))
            run_commands.append(getattr(item, "command", None))
            run_sweeps.append(getattr(item, "sweep", None))
        else:
            raise TypeError(
                f"runs_to_dataframe: item {index} is a {type(item).__name__}; expected a "
                "JobRun, an API dict, a LedgerEntry, an MLRun or a run handle (an object "
                "with .run and .params)"
            )
    columns: Columns = [[None] * len(items) for _ in range(_WIDTH)]
    groups: list[tuple[list[int], Columns]] = []
    if dicts:
        groups.append((dict_at, _dict_columns(dicts)))
    if runs:
        part = _run_columns(runs, run_params, run_reruns, run_sweeps)
        part[10] = _first_given(part[10], run_commands)
        groups.append((run_at, part))
    if attempts:
        groups.append((attempt_at, [list(c) for c in zip(*attempts, strict=True)]))
    for positions, part in groups:
        for column, values in zip(columns, part, strict=True):
            for position, value in zip(positions, values, strict=True):
                column[position] = value
    return columns


def ledger_row_columns(rows: list[tuple[Any, ...]]) -> Columns:
    """The raw columns of ledger rows read as :data:`_LEDGER_COLUMNS` (pure)."""
    if not rows:
        return [[] for _ in range(_WIDTH)]
    (run_texts, params_texts, commands, reruns, sweeps, *attempt_columns) = map(
        list, zip(*rows, strict=True)
    )
    runs = _json_objects(run_texts)
    params = [_str_params(p) for p in _json_objects(params_texts)]
    if None in runs:
        # Attempts the server never acknowledged: rows of their own, put back in place.
        attempt_at = [i for i, run in enumerate(runs) if run is None]
        run_at = [i for i, run in enumerate(runs) if run is not None]
        columns: Columns = [[None] * len(rows) for _ in range(_WIDTH)]
        attempts = [_raw_attempt_row([c[i] for c in attempt_columns]) for i in attempt_at]
        groups = [(attempt_at, [list(c) for c in zip(*attempts, strict=True)])]
        if run_at:
            groups.append((run_at, _dict_columns([runs[i] for i in run_at], exact=True)))
        for positions, part in groups:
            for column, values in zip(columns, part, strict=True):
                for position, value in zip(positions, values, strict=True):
                    column[position] = value
    else:
        columns = _dict_columns(runs, exact=True)
    # What a LedgerEntry lends its run: the command sent (when the run's JSON has none), the
    # run it repeats, the params sent, its sweep.
    columns[10] = _first_given(columns[10], commands)
    columns[12] = reruns
    columns[13] = params
    columns[14] = sweeps
    return columns


def _json_objects(texts: list[str | None]) -> list[Any]:
    """Each text's JSON object, or None (missing, damaged or not an object), in one parse."""
    try:
        # One C call for every row: half the time of a json.loads per row.
        values = json.loads("[" + ",".join(text or "null" for text in texts) + "]")
    except ValueError:
        values = None
    if values is None or len(values) != len(texts):
        # A damaged row (the ledger reads it as missing): parse row by row.
        values = [_json_or_none(text) for text in texts]
    return [value if type(value) is dict else None for value in values]


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _str_params(data: dict[str, Any] | None) -> dict[str, str]:
    if data is None:
        return {}
    if all(type(value) is str for value in data.values()):
        return data
    return {str(k): v if isinstance(v, str) else str(v) for k, v in data.items()}


def _raw_attempt_row(attempt: list[Any]) -> list[Any]:
    """:func:`_attempt_row` of a raw ledger row (state, created_at, run_name, fqn, error…)."""
    state, created_at, run_name, fqn, error_type, error = attempt
    if error_type and error:
        error = f"{error_type}: {error}"
    created = None
    if created_at:
        # Fixed-width ISO UTC, as the ledger writes it (before 3.11 fromisoformat reads no Z).
        created = datetime.fromisoformat(created_at.rstrip("Z")).replace(tzinfo=timezone.utc)
    return [
        run_name,
        fqn.rsplit(":", 1)[-1] if fqn else None,
        str(state).upper(),
        created,
        None,
        None,
        None,
        None,
        None,
        None,
        None,  # the command, the run repeated, the params and the sweep: filled in for all
        error,
        None,
        None,
        None,
    ]
