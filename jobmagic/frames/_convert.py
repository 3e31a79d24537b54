"""Runs -> a typed DataFrame: :func:`runs_to_dataframe` for anything that holds runs, and
:func:`ledger_frame` straight from the ledger's columns (see :mod:`jobmagic.frames`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobmagic._ticks import clock_now
from jobmagic.api.metrics import RunMetrics, run_key
from jobmagic.frames._columns import BASE_COLUMNS, Columns, collect, ledger_row_columns
from jobmagic.frames._dtypes import (
    duration_array,
    ints,
    params_columns,
    status_categorical,
    text_array,
    times,
)
from jobmagic.frames._mlcolumns import has_ml_runs, ml_columns
from jobmagic.frames._sources import ClientSource, PatternSource, fetch_for
from jobmagic.ledger import LedgerQuery
from jobmagic.models import RunStatus
from jobmagic.models.metrics import RunKey
from jobmagic.models.ml import MLRun

if TYPE_CHECKING:
    from jobmagic.ledger import Ledger

__all__ = ["frame_with_metrics", "ledger_frame", "ml_runs_frame", "runs_to_dataframe"]

#: Statuses a run does not leave (RunStatus.is_terminal, as plain text for a whole column).
_ENDED = [status.value for status in RunStatus if status.is_terminal]


def runs_to_dataframe(
    runs: Iterable[Any],
    *,
    params: bool = True,
    metrics: bool = False,
    metric_patterns: PatternSource = None,
    client: ClientSource = None,
) -> pd.DataFrame:
    """Runs (JobRuns, API dicts, LedgerEntries, run handles, MLRuns, mixed) -> a typed DataFrame.

    Columns: ``name application_name status created_at end_time duration
    exit_code total_retries deployment_version triggered_by command error rerun_of sweep``,
    then ``params.<name>`` per param, in order of first appearance (when
    ``params`` is true). Types: ``created_at``/``end_time``
    ``datetime64[ns, UTC]``; ``duration`` ``timedelta64[ns]`` (end − created
    when both are known, to the millisecond, else the API's seconds); ``exit_code`` and
    ``total_retries`` nullable ``Int64``; ``status`` a Categorical of the nine
    statuses in lifecycle order plus any unknown value seen; all text and
    params columns the ``string`` dtype (missing = ``<NA>``).
    ``triggered_by`` is the friendliest name of who triggered the run; ``rerun_of`` the
    name of the run this one repeats (:meth:`jobmagic.RunHandle.rerun`), else missing;
    ``sweep`` the name of the sweep the run belongs to (ledger entries and run handles
    know it; an API dict may carry a ``"sweep"`` key), else missing.

    With ``metrics=True``, the run's ML run and outcomes follow, named as MLflow's
    ``search_runs`` names them: ``ml_run_id`` (MLflow's ``run_id``: the ML run the job run
    logged to, the newest if several; ``name`` stays the job run's), one float
    ``metrics.<name>`` column per metric holding each run's latest value (NaN where a run
    has none), then ``tags.<key>`` per tag of that ML run (text). Metrics come from the
    runs' ML runs, found with one search per application (:mod:`jobmagic.api.metrics`),
    and from their logs by ``metric_patterns`` (``{"acc": r"acc=([0-9.]+)"}``; default: the
    run handles' ``%config JobMagic.metric_patterns``). ``client`` is the one to ask
    (default: the run handles' session's).

    :class:`~jobmagic.MLRun` items (what ``JobsClient.search_ml_runs`` returns) are rows of
    their own: ``name`` is the job run that logged them (their tag), ``status``,
    ``created_at`` and ``end_time`` the ML run's, ``params.*`` its params, and they always
    bring ``ml_run_id``, ``metrics.*`` and ``tags.*`` (already in hand: nothing is asked).

    >>> df = runs_to_dataframe([{"name": "r1", "status": "PAUSED", "exitCode": "1"}])
    >>> df["status"].cat.categories[-1], df["exit_code"].dtype
    ('PAUSED', Int64Dtype())
    """
    items = runs if isinstance(runs, list) else list(runs)
    fetched = fetch_for(items, client=client, metric_patterns=metric_patterns) if metrics else None
    return _build(items, params=params, fetched=fetched, ml=metrics or has_ml_runs(items))


def frame_with_metrics(
    items: Sequence[Any], *, client: ClientSource = None, metric_patterns: PatternSource = None
) -> tuple[pd.DataFrame, dict[RunKey, RunMetrics]]:
    """``runs_to_dataframe(items, metrics=True)`` and the metrics it found, by run, so views
    of the same runs (a board's handles) need no second search."""
    items = list(items)
    fetched = fetch_for(items, client=client, metric_patterns=metric_patterns)
    frame = _build(items, params=True, fetched=fetched, ml=True)
    found = {
        key: result
        for key, result in zip((run_key(i) for i in items), fetched, strict=True)
        if key is not None
    }
    return frame, found


def ml_runs_frame(ml_runs: Iterable[MLRun]) -> pd.DataFrame:
    """``runs_to_dataframe`` of ML runs, with ``ml_run_id`` even when there are none."""
    return _build(list(ml_runs), params=True, fetched=None, ml=True)


def _build(
    items: list[Any], *, params: bool, fetched: Sequence[RunMetrics] | None, ml: bool
) -> pd.DataFrame:
    data = _typed_columns(collect(items), params=params)
    if ml:
        # MLflow's order: the run's id first (beside jobmagic's own columns), then params,
        # metrics and tags.
        extra = ml_columns(items, fetched)
        ordered = {name: data.pop(name) for name in BASE_COLUMNS}
        ordered["ml_run_id"] = extra.pop("ml_run_id")
        ordered.update(data)
        ordered.update(extra)
        data = ordered
    return _frame(data)


def _frame(data: dict[str, Any]) -> pd.DataFrame:
    n = len(data["name"])
    # copy=False: every column is a fresh array built above; no need to copy it again.
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


def _typed_columns(columns: Columns, *, params: bool) -> dict[str, Any]:
    """The 15 raw columns -> the frame's typed columns (see :func:`runs_to_dataframe`)."""
    n = len(columns[0])
    (
        names,
        applications,
        statuses,
        created,
        ended,
        durations,
        exit_codes,
        retries,
        versions,
        triggered_by,
        commands,
        errors,
        reruns,
        row_params,
        sweeps,
    ) = columns

    created_at = times(created)
    end_time = times(ended)
    # JobRun.duration_seconds, by columns: end - created (ms precision) where both ends
    # are known, else the server's duration (whole seconds from real servers).
    span = (end_time - created_at).to_numpy(dtype="timedelta64[ns]")
    span = np.where(span < np.timedelta64(0, "ns"), np.timedelta64(0, "ns"), span)
    duration = np.where(np.isnat(span), duration_array(durations), span)
    # A live run's duration is created -> now, at the second every view shows (JobRun.elapsed):
    # a server's whole-second `duration` of a live run stands still between polls.
    status = status_categorical(statuses)
    created_ns = created_at.to_numpy(dtype="datetime64[ns]")
    live = ~np.isin(np.asarray(status, dtype=object), _ENDED) & np.isnat(span)
    live &= ~np.isnat(created_ns)
    if live.any():
        now = np.datetime64(clock_now().replace(tzinfo=None), "ns")
        duration = np.where(live, np.maximum(now - created_ns, np.timedelta64(0, "ns")), duration)

    data: dict[str, Any] = {
        "name": text_array(names, blank_is_missing=True),
        "application_name": text_array(applications),
        "status": status,
        "created_at": created_at,
        "end_time": end_time,
        "duration": duration,
        "exit_code": ints(exit_codes),
        "total_retries": ints(retries),
        "deployment_version": text_array(versions),
        "triggered_by": text_array(triggered_by),
        "command": text_array(commands),
        "error": text_array(errors, blank_is_missing=True),
        "rerun_of": text_array(reruns),
        "sweep": text_array(sweeps),
    }
    if params:
        for key, values in params_columns(row_params, n).items():
            data[f"params.{key}"] = text_array(values)
    return data


# --- straight from the ledger --------------------------------------------------------

#: What :func:`ledger_frame` reads of each attempt: no ids, hosts or session columns.
_LEDGER_COLUMNS = (
    "run_json",
    "params_json",
    "command",
    "rerun_of",
    "sweep",
    "state",
    "created_at",
    "run_name",
    "application_fqn",
    "error_type",
    "error",
)


def ledger_frame(
    ledger: Ledger, query: LedgerQuery | None = None, *, params: bool = True
) -> pd.DataFrame:
    """The attempts ``query`` matches, newest first, as :func:`runs_to_dataframe` makes of
    ``ledger.entries(...)`` (the same columns, dtypes and values), in a fraction of the time.

    Reads only the columns the frame shows and parses each row's JSON once, with no JobRun
    or LedgerEntry per row; then builds each column in one go.

    >>> import tempfile, pathlib
    >>> from jobmagic.ledger import Ledger
    >>> from jobmagic.models import JobRun, RunStatus
    >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
    ...     attempt = ledger.record_attempt(host="h", target="train", params={"lr": "0.1"})
    ...     ledger.record_acknowledged(attempt, JobRun(name="train-x1", status=RunStatus.FAILED))
    ...     ledger_frame(ledger)[["name", "status", "params.lr"]].values.tolist()
    [['train-x1', 'FAILED', '0.1']]
    """
    rows = ledger.rows(query or LedgerQuery(), _LEDGER_COLUMNS)
    return _frame(_typed_columns(ledger_row_columns(rows), params=params))
