"""Which attempts a read wants, as SQL: filters, newest first, a page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobmagic.ledger._entries import iso_text, value_list

__all__ = ["LedgerQuery", "like_pattern", "text_clause", "value_tuple"]


@dataclass(frozen=True)
class LedgerQuery:
    """Which attempts to read: every field given narrows the set (``None`` = any).

    ``app`` matches an attempt's target, application FQN or application id (what
    ``%job_runs --app`` was given); ``statuses`` are run statuses and match only attempts with
    a run; ``states`` are attempt states; ``since`` keeps attempts created at or after it;
    ``with_run`` keeps only attempts with (True) or without (False) a run; ``sweep`` keeps
    the attempts of the sweep of that name; ``text`` keeps those whose run name, target,
    application FQN, sweep or a param value contains it (case-insensitive for ASCII, as
    SQL ``LIKE``; ``%`` and ``_`` in it are plain characters). ``limit`` keeps
    only the newest ``limit`` matching attempts, so pages and counts are of those
    (``%job_runs --limit``). Results are always newest first.

    >>> LedgerQuery(session_id="s1").where()
    ('session_id = ?', ['s1'])
    >>> print(LedgerQuery(text="50%").where()[1][0])
    %50\\%%
    """

    session_id: str | None = None
    application_id: str | None = None
    app: str | None = None
    statuses: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None
    since: datetime | None = None
    with_run: bool | None = None
    limit: int | None = None
    sweep: str | None = None
    text: str | None = None
    #: Only these attempts (by id): a caller's own index already narrowed them down.
    ids: tuple[int, ...] | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition (``""`` for all) and its arguments; ``limit`` is not part of it."""
        clauses: list[str] = []
        args: list[Any] = []
        if self.session_id is not None:
            clauses.append("session_id = ?")
            args.append(self.session_id)
        if self.application_id is not None:
            clauses.append("application_id = ?")
            args.append(self.application_id)
        if self.sweep is not None:
            clauses.append("sweep = ?")
            args.append(self.sweep)
        if self.app is not None:
            clauses.append("(target = ? OR application_fqn = ? OR application_id = ?)")
            args.extend([self.app] * 3)
        for column, wanted in (("run_status", self.statuses), ("state", self.states)):
            if wanted is not None:
                clauses.append(f"{column} IN ({', '.join('?' * len(wanted))})" if wanted else "0")
                args.extend(wanted)
        if self.with_run is not None:
            # run_status is written with run_json, and lives in an index: no JSON is read.
            clauses.append(f"run_status IS {'NOT ' if self.with_run else ''}NULL")
        if self.since is not None:
            clauses.append("created_at >= ?")
            args.append(iso_text(self.since))
        if self.ids is not None:
            # One parameter however many ids: a JSON array, read by json_each.
            clauses.append("id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(list(self.ids)))
        if self.text:
            sql, text_args = text_clause(self.text)
            clauses.append(sql)
            args.extend(text_args)
        return " AND ".join(clauses), args

    def select(
        self, columns: str, *, offset: int = 0, size: int | None = None
    ) -> tuple[str, list[Any]]:
        """``SELECT columns`` of the matching attempts, newest first, from ``offset``.

        ``size`` rows at most, and never past the query's own ``limit``.
        """
        where, args = self.where()
        sql = f"SELECT {columns} FROM attempts" + (f" WHERE {where}" if where else "")
        sql += " ORDER BY created_at DESC, id DESC"
        bound = _page_bound(self.limit, offset, size)
        if bound is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if bound is None else bound, offset]
        return sql, args


#: Where ``text`` is looked for: the run's names and each param value (not the keys).
_TEXT_CLAUSE = (
    "(run_name LIKE ? ESCAPE '\\' OR target LIKE ? ESCAPE '\\' "
    "OR application_fqn LIKE ? ESCAPE '\\' OR sweep LIKE ? ESCAPE '\\' "
    "OR ({prefilter}EXISTS (SELECT 1 FROM json_each(params_json) "
    "WHERE json_each.value LIKE ? ESCAPE '\\')))"
)
#: Text every JSON writer leaves as it is (printable ASCII but a quote or a backslash): the
#: params' JSON text then contains it, a cheap test sparing most rows the JSON parse.
_PLAIN_IN_JSON = re.compile(r"[ !#-\[\]-~]*")


def text_clause(text: str) -> tuple[str, list[str]]:
    """The condition ``text`` adds to a query, and its arguments.

    >>> [text_clause(text)[0].count("?") for text in ('a"b', "é", "ab")]
    [5, 5, 6]
    """
    pattern = like_pattern(text)
    if _PLAIN_IN_JSON.fullmatch(text):
        sql = _TEXT_CLAUSE.format(prefilter="params_json LIKE ? ESCAPE '\\' AND ")
    else:
        sql = _TEXT_CLAUSE.format(prefilter="")
    return sql, [pattern] * sql.count("?")


def like_pattern(text: str) -> str:
    """A ``LIKE … ESCAPE '\\'`` pattern matching any value that contains ``text``.

    >>> like_pattern("a_b%c")
    '%a\\\\_b\\\\%c%'
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page_bound(limit: int | None, offset: int, size: int | None) -> int | None:
    """How many rows a page from ``offset`` may hold under the query's ``limit``."""
    room = None if limit is None else max(0, int(limit) - offset)
    if size is None:
        return room
    return int(size) if room is None else min(int(size), room)


def value_tuple(items: str | Iterable[str] | None) -> tuple[str, ...] | None:
    values = value_list(items)
    return None if values is None else tuple(values)


#: Columns :meth:`Ledger.rows` may read (its column names are put into the SQL text).
