"""Runs as a typed pandas DataFrame, and a Gantt-style picture of them.

>>> df = runs_to_dataframe([
...     {"name": "train-a", "status": "FINISHED", "createdAt": 1700000000000, "duration": 12.5,
...      "exitCode": 0, "params": {"lr": "0.1"}},
...     JobRun(name="train-b", status=RunStatus.RUNNING),
... ])
>>> list(df["name"]), str(df["duration"][0]), df["params.lr"].tolist()
(['train-a', 'train-b'], '0 days 00:00:12.500000', ['0.1', <NA>])

Inputs, mixed freely in one iterable:

- :class:`~jobmagic.models.JobRun` objects (no params);
- raw API dicts — the camelCase JobRun JSON. A top-level ``"params"`` mapping,
  if present, gives the run's params (the API's JobRun has none; it is how a
  caller attaches the params it sent), and ``"rerun_of"`` the run it repeats;
- :class:`~jobmagic.ledger.LedgerEntry` objects; an entry whose trigger was
  never acknowledged has no run, so its row shows the attempt: no name,
  status ``PENDING`` / ``REJECTED`` / ``UNKNOWN`` / ``NOT-CREATED`` / ``AMBIGUOUS`` (the
  attempt state), the attempt's time as ``created_at``, and its error;
- run handles: any object with a ``.run`` (JobRun) and, optionally, a
  ``.params`` mapping.

This module imports pandas and numpy at import time; import it lazily from
code that must stay light (``%load_ext``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from itertools import chain, repeat
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobmagic.ledger import LedgerEntry, LedgerQuery
from jobmagic.models import JobRun, RunStatus, iso_to_datetime

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from jobmagic.api._client import JobsClient
    from jobmagic.ledger import Ledger

__all__ = [
    "BASE_COLUMNS",
    "STATUS_COLORS",
    "STATUS_ORDER",
    "ledger_frame",
    "plot_timeline",
    "runs_to_dataframe",
    "style_runs",
]

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
)

# The nine API statuses in the order the API documents them (queued → running → outcome →
# the termination path → unknown); the status Categorical sorts by this order.
STATUS_ORDER: tuple[str, ...] = tuple(RunStatus.__members__)
_KNOWN_STATUSES = frozenset(STATUS_ORDER)

_NS_PER_MS = 1_000_000
# datetime64[ns] spans about ±292 years around 1970; anything outside is garbage, not a time.
_MAX_MS = 9.2e12
_MAX_SECONDS = 9.2e9


# --- collecting columns: one pass per field, no pandas, no per-row objects -------------
#
# Columns are built with one list comprehension per field rather than one tuple per row:
# a comprehension allocates nothing but its list, while 100k row tuples would also wake the
# cyclic garbage collector again and again (it scans every live dict and JobRun).
#
# The 14 columns, in order: the 13 base values (raw: ms numbers, datetimes, text, …)
# then each row's params mapping (or None).
_Columns = list[list[Any]]
_WIDTH = 14


def _dict_columns(items: list[Mapping[str, Any]], *, exact: bool = False) -> _Columns:
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
    ]


def _run_columns(
    runs: list[JobRun], params: list[Any] | None = None, rerun_of: list[Any] | None = None
) -> _Columns:
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
    ]


def _collect(runs: Iterable[Any]) -> _Columns:
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
            )
            if None in columns[10]:
                # The command the handle sent, for runs whose JobRun does not say.
                sent = [getattr(item, "command", None) for item in items]
                columns[10] = _first_given(columns[10], sent)
            return columns
    return _mixed_columns(items)


def _first_given(values: list[Any], fallback: list[Any]) -> list[Any]:
    return [v if v is not None else f for v, f in zip(values, fallback, strict=True)]


def _mixed_columns(items: list[Any]) -> _Columns:
    # Sort items into dicts, runs (with params) and bare attempts, build each group's
    # columns in bulk, then put the values back in input order.
    dict_at: list[int] = []
    dicts: list[Mapping[str, Any]] = []
    run_at: list[int] = []
    runs: list[JobRun] = []
    run_params: list[Any] = []
    run_reruns: list[Any] = []
    run_commands: list[str | None] = []
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
        elif isinstance(getattr(item, "run", None), JobRun):
            run_at.append(index)
            runs.append(item.run)
            run_params.append(getattr(item, "params", None))
            run_reruns.append(getattr(item, "rerun_of", None))
            run_commands.append(getattr(item, "command", None))
        else:
            raise TypeError(
                f"runs_to_dataframe: item {index} is a {type(item).__name__}; expected a "
                "JobRun, an API dict, a LedgerEntry or a run handle (an object with .run "
                "and .params)"
            )
    columns: _Columns = [[None] * len(items) for _ in range(_WIDTH)]
    groups: list[tuple[list[int], _Columns]] = []
    if dicts:
        groups.append((dict_at, _dict_columns(dicts)))
    if runs:
        part = _run_columns(runs, run_params, run_reruns)
        part[10] = _first_given(part[10], run_commands)
        groups.append((run_at, part))
    if attempts:
        groups.append((attempt_at, [list(c) for c in zip(*attempts, strict=True)]))
    for positions, part in groups:
        for column, values in zip(columns, part, strict=True):
            for position, value in zip(positions, values, strict=True):
                column[position] = value
    return columns


# --- vectorised conversions ----------------------------------------------------------


def _floats(values: Iterable[Any], parse: Callable[[Any], float] | None = None) -> np.ndarray:
    """Numbers (or numeric strings, None) -> float64 with NaN for missing/unparsable."""
    seq = values if isinstance(values, (list, tuple)) else list(values)
    try:
        # numpy converts numbers, numeric strings and None (-> NaN) in one C loop.
        return np.asarray(seq, dtype=np.float64)
    except (TypeError, ValueError):
        convert = parse or _float_or_nan
        return np.fromiter((convert(v) for v in seq), dtype=np.float64, count=len(seq))


def _float_or_nan(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _ms_or_nan(value: Any) -> float:
    """One odd time value -> ms since the epoch: numeric or ISO-8601 text."""
    number = _float_or_nan(value)
    if math.isnan(number) and isinstance(value, str):
        parsed = iso_to_datetime(value)
        return math.nan if parsed is None else parsed.timestamp() * 1000.0
    return number


def _ns_from_float(values: np.ndarray, unit: int, limit: float) -> np.ndarray:
    """Float amounts of ``unit`` ns -> int64 ns, exact for whole numbers; NaT where unusable."""
    bad = ~np.isfinite(values) | (np.abs(values) > limit)
    clean = np.where(bad, 0.0, values)
    whole = clean.astype(np.int64)
    # Whole part in integers (float64 cannot hold ns since 1970 exactly), fraction rounded.
    ns = whole * unit + np.rint((clean - whole) * unit).astype(np.int64)
    ns[bad] = np.iinfo(np.int64).min  # NaT
    return ns


def _datetimes_ns(values: list[Any]) -> np.ndarray:
    """datetime objects (or None) -> int64 ns since the epoch, exactly; naive means UTC."""
    try:
        # The quickest exact route for same-offset datetimes (JobRun's are all UTC).
        index = pd.DatetimeIndex(values)
    except (TypeError, ValueError):
        index = pd.DatetimeIndex(pd.to_datetime(values, utc=True))  # mixed offsets
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return np.asarray(index.as_unit("ns").asi8)


_DATETIME_TYPES = frozenset({datetime, pd.Timestamp, type(None)})


def _times(values: list[Any]) -> pd.DatetimeIndex:
    """ms numbers / datetimes / ISO text, mixed -> datetime64[ns, UTC] (NaT if missing)."""
    if set(map(type, values)) <= _DATETIME_TYPES:
        ns = _datetimes_ns(values)  # JobRun input
    else:
        try:
            # Numbers and numeric text (the API's ms), the common case: one C loop.
            ns = _ns_from_float(np.asarray(values, dtype=np.float64), _NS_PER_MS, _MAX_MS)
        except (TypeError, ValueError):
            at = [i for i, v in enumerate(values) if isinstance(v, datetime)]
            rest = [None if isinstance(v, datetime) else v for v in values]
            floats = np.fromiter(map(_ms_or_nan, rest), dtype=np.float64, count=len(rest))
            ns = _ns_from_float(floats, _NS_PER_MS, _MAX_MS)
            if at:
                ns[at] = _datetimes_ns([values[i] for i in at])
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize(timezone.utc)


def _seconds_or_nan(value: Any) -> float:
    number = _float_or_nan(value)
    if math.isnan(number) and isinstance(value, str) and value.strip():
        # Text such as "0:05:12" or "1h 2m" from an older server: pandas can read it.
        try:
            return float(pd.Timedelta(value.strip()).total_seconds())
        except (ValueError, TypeError):
            return math.nan
    return number


def _durations(values: list[Any]) -> np.ndarray:
    """Seconds (numbers or text) -> timedelta64[ns] with NaT for missing."""
    ns = _ns_from_float(_floats(values, _seconds_or_nan), 1_000_000_000, _MAX_SECONDS)
    return ns.view("timedelta64[ns]")


def _ints(values: list[Any]) -> pd.arrays.IntegerArray:
    floats = _floats(values)
    missing = ~np.isfinite(floats) | (np.abs(floats) > 2.0**62)
    return pd.arrays.IntegerArray(np.where(missing, 0.0, floats).astype(np.int64), missing)


def _text(values: list[Any], *, blank_is_missing: bool = False) -> pd.api.extensions.ExtensionArray:
    if any(type(v) is list for v in values):
        # A command the API sent as argv: show it as one line, like JobRun does.
        values = [" ".join(map(str, v)) if type(v) is list else v for v in values]
    array = pd.array(values, dtype="string")
    if blank_is_missing and "" in values:
        equal: Any = array == ""  # a BooleanArray: NA where the value is missing
        blank = equal.to_numpy(dtype=bool, na_value=False)
        if blank.any():
            array[blank] = pd.NA
    return array


def _status(values: list[Any]) -> pd.Categorical:
    seen = dict.fromkeys(values)  # distinct values in first-seen order, in C
    if any(not isinstance(v, str) or not v for v in seen):
        # Missing or non-text status: the API calls that UNKNOWN, so does JobRun.
        values = [v if isinstance(v, str) and v else "UNKNOWN" for v in values]
        seen = dict.fromkeys(values)
    # str(): a RunStatus pseudo-member for a new value becomes its plain text.
    extra = [str(v) for v in seen if v not in _KNOWN_STATUSES]
    return pd.Categorical(values, categories=[*STATUS_ORDER, *extra])


def _params_columns(params: list[Any], n: int) -> dict[str, list[Any]]:
    """One list per param name (first-seen order), None where a run lacks it."""
    # type() first: an ABC isinstance check per run would double the cost of this line.
    present = [p if type(p) is dict or isinstance(p, Mapping) else _NO_PARAMS for p in params]
    # Every name, in order of first appearance: one C-level walk over all the keys.
    names = list(dict.fromkeys(chain.from_iterable(present)))
    if not names:
        return {}
    total = sum(map(len, present))
    if len(names) * n <= 3 * total:
        # Few names shared by most runs (a sweep): one C-speed lookup per run and name.
        return {name: [p.get(name) for p in present] for name in names}
    # Many sparse names: touching only the values that exist is cheaper.
    columns: dict[str, list[Any]] = {name: [None] * n for name in names}
    for index, mapping in enumerate(present):
        for key, value in mapping.items():
            columns[key][index] = value
    return columns


_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


def runs_to_dataframe(
    runs: Iterable[Any],
    *,
    params: bool = True,
    metrics: bool = False,
    metric_patterns: Mapping[str, Any] | None = None,
    client: JobsClient | None = None,
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
    per application (:mod:`jobmagic.metrics`), and from their logs by ``metric_patterns``
    (``{"acc": r"acc=([0-9.]+)"}``). ``client`` is the one to ask (default: the runs'
    session's).

    >>> df = runs_to_dataframe([{"name": "r1", "status": "PAUSED", "exitCode": "1"}])
    >>> df["status"].cat.categories[-1], df["exit_code"].dtype
    ('PAUSED', Int64Dtype())
    """
    if metrics:
        runs = list(runs)  # read twice: once for the columns, once for the metrics
    data = _typed_columns(_collect(runs), params=params)
    if metrics:
        from jobmagic.metrics import metric_columns, patterns_or_setting

        patterns = patterns_or_setting(metric_patterns)
        found = metric_columns(runs, client=client, metric_patterns=patterns)
        for key, values in found.items():
            data[key] = np.asarray(values, dtype="float64")
    return _frame(data)


def _frame(data: dict[str, Any]) -> pd.DataFrame:
    n = len(data["name"])
    # copy=False: every column is a fresh array built above; no need to copy it again.
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


def _typed_columns(columns: _Columns, *, params: bool) -> dict[str, Any]:
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

    created_at = _times(created)
    end_time = _times(ended)
    # JobRun.duration_seconds, by columns: end - created (ms precision) where both ends
    # are known, else the server's duration (whole seconds from real servers).
    span = (end_time - created_at).to_numpy(dtype="timedelta64[ns]")
    span = np.where(span < np.timedelta64(0, "ns"), np.timedelta64(0, "ns"), span)
    duration = np.where(np.isnat(span), _durations(durations), span)

    data: dict[str, Any] = {
        "name": _text(names, blank_is_missing=True),
        "application_name": _text(applications),
        "status": _status(statuses),
        "created_at": created_at,
        "end_time": end_time,
        "duration": duration,
        "exit_code": _ints(exit_codes),
        "total_retries": _ints(retries),
        "deployment_version": _text(versions),
        "triggered_by": _text(triggered_by),
        "command": _text(commands),
        "error": _text(errors, blank_is_missing=True),
        "rerun_of": _text(reruns),
    }
    if params:
        for key, values in _params_columns(row_params, n).items():
            data[f"params.{key}"] = _text(values)
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
    >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
    ...     attempt = ledger.record_attempt(host="h", target="train", params={"lr": "0.1"})
    ...     ledger.record_acknowledged(attempt, JobRun(name="train-x1", status=RunStatus.FAILED))
    ...     ledger_frame(ledger)[["name", "status", "params.lr"]].values.tolist()
    [['train-x1', 'FAILED', '0.1']]
    """
    rows = ledger.rows(query or LedgerQuery(), _LEDGER_COLUMNS)
    return _frame(_typed_columns(ledger_row_columns(rows), params=params))


def ledger_row_columns(rows: list[tuple[Any, ...]]) -> _Columns:
    """The raw columns of ledger rows read as :data:`_LEDGER_COLUMNS` (pure)."""
    if not rows:
        return [[] for _ in range(_WIDTH)]
    (run_texts, params_texts, commands, reruns, *attempt_columns) = map(
        list, zip(*rows, strict=True)
    )
    runs = _json_objects(run_texts)
    params = [_str_params(p) for p in _json_objects(params_texts)]
    if None in runs:
        # Attempts the server never acknowledged: rows of their own, put back in place.
        attempt_at = [i for i, run in enumerate(runs) if run is None]
        run_at = [i for i, run in enumerate(runs) if run is not None]
        columns: _Columns = [[None] * len(rows) for _ in range(_WIDTH)]
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
    # run it repeats, the params sent.
    columns[10] = _first_given(columns[10], commands)
    columns[12] = reruns
    columns[13] = params
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
        None,  # the command, the run repeated and the params: filled in for every row
        error,
        None,
        None,
    ]


# --- colours ------------------------------------------------------------------------

# Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
STATUS_COLORS: dict[str, str] = {
    "CREATED": "#56B4E9",  # sky blue: queued
    "SCHEDULED": "#56B4E9",
    "RUNNING": "#0072B2",  # blue
    "FINISHED": "#009E73",  # bluish green
    "FAILED": "#D55E00",  # vermillion
    "TERMINATION_REQUESTED": "#E69F00",  # orange: on its way out
    "TERMINATING": "#E69F00",
    "TERMINATED": "#999999",  # grey
    "UNKNOWN": "#CC79A7",  # reddish purple
}
_OTHER_COLOR = "#CC79A7"  # statuses this version does not know look like UNKNOWN


# --- a styled table ------------------------------------------------------------------


#: A styled table shows at most this many rows; the frame itself keeps them all.
TABLE_ROWS = 200


def style_runs(frame: pd.DataFrame, *, rows: int = TABLE_ROWS) -> Any:
    """A frame from :func:`runs_to_dataframe`, styled for a notebook (``%job_runs --table``).

    A frame longer than ``rows`` shows its first ``rows`` rows, and its caption says how
    many there are (styling and saving 100,000 rows of HTML takes seconds and megabytes;
    the frame, e.g. ``-o df``, still holds every row).

    Status cells take the run cards' badge colours; run names stay on one line; commands
    and errors longer than :data:`TABLE_TEXT_LIMIT` characters are shortened (the whole
    text is in the frame); times read
    ``2026-01-02 13:04:05`` (UTC), durations ``42.0 s`` or ``1:02:03``; missing
    values are blank; text is HTML-escaped (a run name cannot inject markup).
    Returns a pandas ``Styler``, or the frame unchanged if jinja2 (which
    Styler needs) is not installed.

    >>> html = style_runs(runs_to_dataframe([{"name": "<b>x</b>", "status": "FAILED"}])).to_html()
    >>> "&lt;b&gt;x&lt;/b&gt;" in html and "#c62828" in html
    True
    """
    try:
        import jinja2  # noqa: F401  (Styler's renderer; imported here to fail early and softly)
    except ImportError:
        return frame
    total = len(frame)
    if total > rows:
        frame = frame.head(rows)
    styler = frame.style.format(na_rep="", escape="html")
    if total > rows:
        noun = "run" if total == 1 else "runs"
        styler = styler.set_caption(
            f"The first {rows:,} of {total:,} {noun}; the DataFrame holds them all."
        )
    times = [c for c in ("created_at", "end_time") if c in frame]
    if times:
        styler = styler.format(_format_time, subset=times, na_rep="")
    if "duration" in frame:
        styler = styler.format(_format_duration, subset=["duration"], na_rep="")
    long_text = [c for c in ("command", "error") if c in frame]
    if long_text:
        styler = styler.format(_shorten, subset=long_text, na_rep="", escape="html")
    if "name" in frame:
        styler = styler.set_properties(subset=["name"], **{"white-space": "nowrap"})
    if "status" in frame:
        # Styler.map is pandas >= 2.1; applymap before that.
        cell_map = getattr(styler, "map", None) or styler.applymap
        styler = cell_map(_status_css, subset=["status"])
    return styler


#: Beyond this many characters a command or error is cut in the styled table.
TABLE_TEXT_LIMIT = 60


def _shorten(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= TABLE_TEXT_LIMIT else text[: TABLE_TEXT_LIMIT - 1] + "…"


def _format_time(value: Any) -> str:
    if value is None or value is pd.NaT:
        return ""
    return str(pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S"))


def _format_duration(value: Any) -> str:
    if value is None or value is pd.NaT:
        return ""
    seconds = pd.Timedelta(value).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _status_css(value: Any) -> str:
    """The card's badge colours for a status cell (one look for the same facts)."""
    from jobmagic.widgets._format import BADGE_CSS, status_state

    if not isinstance(value, str):
        return ""
    return f"{BADGE_CSS[status_state(value)]}; font-weight: 600; white-space: nowrap"


# --- the timeline --------------------------------------------------------------------

# Over: the terminal statuses, plus REJECTED and NOT-CREATED (ledger attempts that started
# no run).
_OVER = frozenset({"FINISHED", "FAILED", "TERMINATED", "REJECTED", "NOT-CREATED"})
# Beyond this many bars, names would overlap: the y axis goes unlabelled instead.
_MAX_LABELLED = 80


def plot_timeline(
    runs: Iterable[Any],
    *,
    label: str | None = None,
    ax: Axes | None = None,
    now: datetime | None = None,
) -> Figure:
    """A Gantt-style chart: one bar per run from creation to end, coloured by status.

    Runs still going are drawn up to ``now`` (default: the current time).
    ``label`` names a param whose value labels each bar (``lr=0.1``) instead
    of the run name. Draws on ``ax`` if given, else on a new Figure; returns
    the Figure (Jupyter displays it). Runs with no creation time are skipped.
    Accepts what :func:`runs_to_dataframe` accepts. Needs matplotlib.

    >>> fig = plot_timeline([{"name": "a", "status": "FINISHED", "createdAt": 0, "duration": 60}])
    >>> len(fig.axes[0].patches)
    1
    """
    try:
        from matplotlib import dates as mdates
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise ImportError("plot_timeline needs matplotlib: pip install 'jobmagic[plot]'") from exc

    frame = runs_to_dataframe(runs, params=label is not None)
    frame = frame[frame["created_at"].notna()]
    frame = frame.sort_values("created_at", kind="stable").reset_index(drop=True)

    now_ts = pd.Timestamp(now or datetime.now(timezone.utc))
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    statuses = frame["status"].astype(str)
    start = frame["created_at"]
    end = frame["end_time"]
    # A run that can still change and has no end is drawn up to now; one that is over
    # ends at end_time, else created + duration, else is a sliver at its start.
    end = end.mask(end.isna() & ~statuses.isin(_OVER), now_ts)
    end = end.fillna(start + frame["duration"]).fillna(start)

    count = len(frame)
    if ax is None:
        height = min(24.0, max(2.5, 0.32 * count + 1.4))  # grows with the runs, within reason
        figure = _notebook_figure_class()(figsize=(9.0, height), layout="constrained")
        ax = figure.add_subplot()
    else:
        # A SubFigure's .figure is its root Figure, which is what gets displayed.
        owner: Any = ax.figure
        figure = owner if isinstance(owner, Figure) else owner.figure

    # matplotlib's date numbers are days; strip the tz after converting so it is UTC days.
    left = mdates.date2num(start.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())
    right = mdates.date2num(end.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())
    width = right - left
    if len(width):
        # Zero-length runs would be invisible: give every bar at least a sliver.
        span = float(right.max() - left.min()) or 1.0 / 24.0
        width = np.maximum(width, span / 200.0)
    colors = [STATUS_COLORS.get(s, _OTHER_COLOR) for s in statuses]
    positions = np.arange(len(frame))
    ax.barh(positions, width, left=left, color=colors, height=0.6, edgecolor="none")

    if count <= _MAX_LABELLED:
        ax.set_yticks(positions, labels=_bar_labels(frame, label))
    else:
        ax.set_yticks([])
        ax.set_ylabel("runs, oldest first")  # too many to name each one legibly
    ax.invert_yaxis()  # earliest run at the top, like a schedule
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
    ax.set_xlabel("time (UTC)")
    ax.grid(axis="x", alpha=0.3)
    # Statuses present, in lifecycle order; outside the plot so no bar is hidden.
    seen = set(statuses)
    present = [str(s) for s in frame["status"].cat.categories if s in seen]
    if present:
        handles = [Patch(color=STATUS_COLORS.get(s, _OTHER_COLOR), label=s) for s in present]
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            title="status",
            frameon=False,
        )
    ax.set_title(f"{count} run{'s' if count != 1 else ''}" + (f" by {label}" if label else ""))
    return figure


def _bar_labels(frame: pd.DataFrame, label: str | None) -> list[str]:
    names = frame["name"].fillna("?").tolist()
    column = f"params.{label}" if label else None
    if column is None or column not in frame:
        return [str(n) for n in names]
    values = frame[column].tolist()
    # A run without that param keeps its name, so no bar is left unlabelled.
    labels = [
        f"{label}={v}" if v is not pd.NA else str(n) for v, n in zip(values, names, strict=True)
    ]
    # Two runs with the same value (a grid's other axis differs) must not share a label.
    repeated = {text for text in labels if labels.count(text) > 1}
    return [
        f"{text} · {name}" if text in repeated and text != str(name) else text
        for text, name in zip(labels, names, strict=True)
    ]


_FIGURE_CLASS: type[Figure] | None = None


def _notebook_figure_class() -> type[Figure]:
    """A Figure that shows itself as a PNG in any notebook front end, with no ``%matplotlib``.

    A Figure made without pyplot has no display of its own: IPython would show
    ``<Figure size 900x396 with 1 Axes>``. Where the inline backend is active its PNG
    formatter (registered for Figure) still wins, so the picture is never shown twice.
    """
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from matplotlib.figure import Figure

        class NotebookFigure(Figure):
            """A matplotlib Figure with ``_repr_png_``."""

            def _repr_png_(self) -> bytes:
                import io

                buffer = io.BytesIO()
                self.savefig(buffer, format="png", dpi=100)
                return buffer.getvalue()

        NotebookFigure.__module__ = __name__
        NotebookFigure.__qualname__ = "NotebookFigure"
        _FIGURE_CLASS = NotebookFigure
    return _FIGURE_CLASS
