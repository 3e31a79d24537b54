"""Runs -> a typed DataFrame: :func:`runs_to_dataframe` for anything that holds runs, and
:func:`ledger_frame` straight from the ledger's columns (see :mod:`jobmagic.frames`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobmagic.api.metrics import RunMetrics, metric_columns, run_key
from jobmagic.frames._columns import Columns, collect, ledger_row_columns
from jobmagic.frames._dtypes import (
    duration_array,
    ints,
    params_columns,
    status_categorical,
    text_array,
    times,
)
from jobmagic.frames._sources import ClientSource, PatternSource, fetch_for
from jobmagic.ledger import LedgerQuery
from jobmagic.models.metrics import RunKey

if TYPE_CHECKING:
    from jobmagic.ledger import Ledger

__all__ = ["frame_with_metrics", "ledger_frame", "runs_to_dataframe"]


def runs_to_dataframe(
    runs: Iterable[Any],
    *,
    params: bool = True,
    metrics: bool = False,
    metric_patterns: PatternSource = None,
    client: ClientSource = None,
) -> pd.DataFrame:
    """Runs (JobRuns, API dicts, LedgerEntries, run handles, mixed) -> a typed DataFrame.

    Columns: ``name application_name status created_at end_time duration
    exit_code total_retries deployment_version triggered_by command error rerun_of``,
    then ``params.<name>`` per param, in order of first appearance (when
    ``params`` is true). Types: ``created_at``/``end_time``
    ``datetime64[ns, UTC]``; ``duration`` ``timedelta64[ns]`` (end − created
    when both are known, to the millisecond, else the API's seconds); ``exit_code`` and
    ``total_retries`` nullable ``Int64``; ``status`` a Categorical of the nine
    statuses in lifecycle order plus any unknown value seen; all text and
    params columns the ``string`` dtype (missing = ``<NA>``).
    ``triggered_by`` is the friendliest name of who triggered the run; ``rerun_of`` the
    name of the run this one repeats (:meth:`jobmagic.RunHandle.rerun`), else missing.

    With ``metrics=True``, one float ``metrics.<name>`` column per metric holds each run's
    latest value (NaN where a run has none): from the runs' ML runs, found with one search
    per application (:mod:`jobmagic.domain.metrics`), and from their logs by ``metric_patterns``
    (``{"acc": r"acc=([0-9.]+)"}``; default: the run handles' ``%config
    JobMagic.metric_patterns``). ``client`` is the one to ask (default: the run handles'
    session's; a function giving one is called only if needed).

    >>> df = runs_to_dataframe([{"name": "r1", "status": "PAUSED", "exitCode": "1"}])
    >>> df["status"].cat.categories[-1], df["exit_code"].dtype
    ('PAUSED', Int64Dtype())
    """
    if metrics:
        runs = list(runs)  # read twice: once for the columns, once for the metrics
    data = _typed_columns(collect(runs), params=params)
    if metrics:
        fetched = fetch_for(runs, client=client, metric_patterns=metric_patterns)
        for key, values in metric_columns(fetched=fetched).items():
            data[key] = np.asarray(values, dtype="float64")
    return _frame(data)


def frame_with_metrics(
    items: Sequence[Any], *, client: ClientSource = None, metric_patterns: PatternSource = None
) -> tuple[pd.DataFrame, dict[RunKey, RunMetrics]]:
    """``runs_to_dataframe(items, metrics=True)`` and the metrics it found, by run, so views
    of the same runs (a board's handles) need no second search."""
    fetched = fetch_for(items, client=client, metric_patterns=metric_patterns)
    frame = runs_to_dataframe(items)
    for name, values in metric_columns(fetched=fetched).items():
        frame[name] = np.asarray(values, dtype="float64")
    found = {
        key: result
        for key, result in zip((run_key(i) for i in items), fetched, strict=True)
        if key is not None
    }
    return frame, found


def _frame(data: dict[str, Any]) -> pd.DataFrame:
    n = len(data["name"])
    # copy=False: every column is a fresh array built above; no need to copy it again.
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


def _typed_columns(columns: Columns, *, params: bool) -> dict[str, Any]:
    """The 14 raw columns -> the frame's typed columns (see :func:`runs_to_dataframe`)."""
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
    ) = columns

    created_at = times(created)
    end_time = times(ended)
    # JobRun.duration_seconds, by columns: end - created (ms precision) where both ends
    # are known, else the server's duration (whole seconds from real servers).
    span = (end_time - created_at).to_numpy(dtype="timedelta64[ns]")
    span = np.where(span < np.timedelta64(0, "ns"), np.timedelta64(0, "ns"), span)
    duration = np.where(np.isnat(span), duration_array(durations), span)

    data: dict[str, Any] = {
        "name": text_array(names, blank_is_missing=True),
        "application_name": text_array(applications),
        "status": status_categorical(statuses),
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
