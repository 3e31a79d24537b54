"""The Runs panel's text search, narrowed in memory before SQL decides.

Why: the search (``q=``) matches a run's name, job, sweep or a param value, and SQL's
``LIKE`` has no index to use, so over 100,000 runs every refresh of a filtered panel read
every row: ~80 ms of the server's CPU each time (measured), where a refresh should cost
≤ 50 ms. This keeps each attempt's searchable text, lower-cased, in the server's memory
(~15 MB per 100,000 runs) and catches up on each search by reading only the attempts added
since, and those given a run name since (they were pending, unknown or ambiguous): a search is
then a scan of Python strings (a few ms) that proposes attempts, and the ledger's own
``LIKE`` clause (:class:`~jobmagic.ledger.LedgerQuery` ``text``) still decides which match,
so results are the same as without it. A ledger file replaced (moved aside after damage,
recovered) is read again from the start.

No schema change: the index lives in the one server process, which is also why a trigram
index in the file (FTS5, which not every SQLite has) was not used.

>>> index = TextIndex()
>>> index.add([(1, "acknowledged", "train-a1", "train", None, None, '{"lr": "0.1"}'),
...            (2, "pending", None, "eval", None, "scan", '{"note": "caf\\u00e9"}')])
>>> index.candidates("TRAIN"), index.candidates("0.1"), index.candidates("café")
([1], [1], [2])
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jobmagic.ledger import Ledger

__all__ = ["TextIndex"]

#: Attempt states that may still be given a run name (and so change their text).
_UNSETTLED = frozenset({"pending", "unknown", "ambiguous"})


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _param_values(params_json: str | None) -> list[str]:
    """The param values as the ledger's search reads them (decoded: the file's JSON escapes
    non-ASCII text); the raw text where it is not a JSON object."""
    try:
        params = json.loads(params_json or "{}")
    except ValueError:
        return [params_json or ""]
    if not isinstance(params, dict):
        return [params_json or ""]
    return [_as_sql_text(value) for value in params.values()]


def _as_sql_text(value: Any) -> str:
    """A JSON value as SQLite's ``json_each`` gives it to ``LIKE`` (jobmagic writes text
    values; the rest is for a hand-edited file)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))  # json_each reads true and false as 1 and 0
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))  # objects and arrays as minified JSON


class TextIndex:
    """Each attempt's searchable text, lower-cased, by id; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: tuple[int, int] | None = None
        self._texts: dict[int, str] = {}
        self._newest = 0
        self._unsettled: set[int] = set()

    def add(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Take ``(id, state, run_name, target, application_fqn, sweep, params_json)`` rows
        (:meth:`jobmagic.ledger.Ledger.text_rows`), new or changed."""
        for attempt_id, state, run_name, target, fqn, sweep, params_json in rows:
            fields = [run_name, target, fqn, sweep, *_param_values(params_json)]
            self._texts[attempt_id] = "\x1f".join(f for f in fields if f).lower()
            self._newest = max(self._newest, attempt_id)
            if state in _UNSETTLED:
                self._unsettled.add(attempt_id)
            else:
                self._unsettled.discard(attempt_id)

    def catch_up(self, ledger: Ledger) -> None:
        """Read what was added or may have changed since the last call (everything, the
        first time or when the file was replaced)."""
        with self._lock:
            identity = _identity(ledger.path)
            if identity != self._file:
                self._file, self._texts, self._newest = identity, {}, 0
                self._unsettled = set()
            # Only the attempts that left those states since can have been given a name: the
            # state index says which, without reading their rows.
            still = ledger.ids_in_states(_UNSETTLED)
            settled = self._unsettled - still
            self._unsettled &= still
            self.add(ledger.text_rows(self._newest, settled))

    def candidates(self, text: str) -> list[int]:
        """The ids of the attempts whose text contains ``text`` (case-folded): every
        attempt the ledger's search can match, maybe a few more."""
        needle = text.lower()
        with self._lock:
            return [i for i, body in self._texts.items() if needle in body]
