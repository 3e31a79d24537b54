"""Plain columns to typed arrays, whole columns at a time: times, durations, codes, text, status."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from itertools import chain
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobmagic.models import RunStatus, iso_to_datetime

if TYPE_CHECKING:
    pass


__all__ = [
    "KNOWN_STATUSES",
    "MAX_MS",
    "MAX_SECONDS",
    "NS_PER_MS",
    "STATUS_ORDER",
    "duration_array",
    "ints",
    "params_columns",
    "status_categorical",
    "text_array",
    "times",
]

# The nine API statuses in the order the API documents them (queued → running → outcome →
# the termination path → unknown); the status Categorical sorts by this order.
STATUS_ORDER: tuple[str, ...] = tuple(RunStatus.__members__)
KNOWN_STATUSES = frozenset(STATUS_ORDER)

NS_PER_MS = 1_000_000
# datetime64[ns] spans about ±292 years around 1970; anything outside is garbage, not a time.
MAX_MS = 9.2e12
MAX_SECONDS = 9.2e9


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


def times(values: list[Any]) -> pd.DatetimeIndex:
    """ms numbers / datetimes / ISO text, mixed -> datetime64[ns, UTC] (NaT if missing)."""
    if set(map(type, values)) <= _DATETIME_TYPES:
        ns = _datetimes_ns(values)  # JobRun input
    else:
        try:
            # Numbers and numeric text (the API's ms), the common case: one C loop.
            ns = _ns_from_float(np.asarray(values, dtype=np.float64), NS_PER_MS, MAX_MS)
        except (TypeError, ValueError):
            at = [i for i, v in enumerate(values) if isinstance(v, datetime)]
            rest = [None if isinstance(v, datetime) else v for v in values]
            floats = np.fromiter(map(_ms_or_nan, rest), dtype=np.float64, count=len(rest))
            ns = _ns_from_float(floats, NS_PER_MS, MAX_MS)
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


def duration_array(values: list[Any]) -> np.ndarray:
    """Seconds (numbers or text) -> timedelta64[ns] with NaT for missing."""
    ns = _ns_from_float(_floats(values, _seconds_or_nan), 1_000_000_000, MAX_SECONDS)
    return ns.view("timedelta64[ns]")


def ints(values: list[Any]) -> pd.arrays.IntegerArray:
    floats = _floats(values)
    missing = ~np.isfinite(floats) | (np.abs(floats) > 2.0**62)
    return pd.arrays.IntegerArray(np.where(missing, 0.0, floats).astype(np.int64), missing)


def text_array(
    values: list[Any], *, blank_is_missing: bool = False
) -> pd.api.extensions.ExtensionArray:
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


def status_categorical(values: list[Any]) -> pd.Categorical:
    seen = dict.fromkeys(values)  # distinct values in first-seen order, in C
    if any(not isinstance(v, str) or not v for v in seen):
        # Missing or non-text status: the API calls that UNKNOWN, so does JobRun.
        values = [v if isinstance(v, str) and v else "UNKNOWN" for v in values]
        seen = dict.fromkeys(values)
    # str(): a RunStatus pseudo-member for a new value becomes its plain text.
    extra = [str(v) for v in seen if v not in KNOWN_STATUSES]
    return pd.Categorical(values, categories=[*STATUS_ORDER, *extra])


def params_columns(params: list[Any], n: int) -> dict[str, list[Any]]:
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
