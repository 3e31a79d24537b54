"""Named sweeps as the ledger keeps them: a :class:`SweepRecord` per sweep, its row, and the
SQL that sums a page of sweeps up (counts per status, best objective value). Pure: the
:class:`~jobmagic.ledger.Ledger` runs the statements."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobmagic.errors import ObjectiveError
from jobmagic.ledger._entries import iso_text, loads_mapping, parse_iso, refuse_bearer, utcnow
from jobmagic.models.objectives import Objective, parse_objective

__all__ = [
    "INSERT_SWEEP",
    "SWEEP_COLUMNS",
    "SweepRecord",
    "SweepSummary",
    "best_sql",
    "canonical_space",
    "counts_sql",
    "objective_of",
    "sweep_from_row",
    "sweep_values",
]

SWEEP_KINDS = frozenset({"grid", "runs", "search"})

SWEEP_COLUMNS = (
    "name, kind, host, application_id, application_fqn, target, objective, space_json, "
    "notebook, created_at"
)
#: A name already taken keeps its row: the caller compares and refuses differences.
INSERT_SWEEP = (
    f"INSERT INTO sweeps ({SWEEP_COLUMNS}) VALUES ({', '.join('?' * 10)}) "
    "ON CONFLICT (name) DO NOTHING"
)


@dataclass(frozen=True)
class SweepRecord:
    """A named sweep as the ledger remembers it: what it runs, its objective
    (``"loss:min"``), its space (decoded JSON) and the notebook it came from.

    >>> SweepRecord("lr-scan", "grid", target="train", space={"lr": [0.1, 0.01]}).kind
    'grid'
    """

    name: str
    kind: str
    host: str | None = None
    application_id: str | None = None
    application_fqn: str | None = None
    target: str | None = None
    objective: str | None = None
    space: Mapping[str, Any] = field(default_factory=dict, hash=False)
    notebook: str | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class SweepSummary:
    """One line of :meth:`Ledger.sweep_summaries`: the sweep, its attempts per run status
    (an attempt without a run under its state in capitals, ``PENDING``, ``REJECTED``…), how
    many attempts it has, and the best cached value of its objective among its runs."""

    record: SweepRecord
    counts: dict[str, int]
    runs: int
    best: float | None


def canonical_space(space: Mapping[str, Any]) -> str:
    """The space as JSON with sorted keys: the same space is the same text.

    >>> canonical_space({"lr": [0.1], "epochs": {"low": 1, "high": 5}})
    '{"epochs":{"high":5,"low":1},"lr":[0.1]}'
    """
    return json.dumps(dict(space), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _refuse_bearer_leaves(name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_bearer_leaves(f"{name}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_bearer_leaves(name, item)
    else:
        refuse_bearer(name, value)


def sweep_values(record: SweepRecord) -> tuple[Any, ...]:
    """The values of :data:`INSERT_SWEEP`; ``ValueError`` for an unknown kind or a text that
    looks like a bearer token, ``TypeError`` for a space JSON cannot hold.

    >>> sweep_values(SweepRecord("s", "runs", created_at=parse_iso("2026-12-07T00:00:00.0Z")))
    ('s', 'runs', None, None, None, None, None, '{}', None, '2026-12-07T00:00:00.000000Z')
    """
    if not record.name:
        raise ValueError("a sweep needs a name")
    if record.kind not in SWEEP_KINDS:
        raise ValueError(f"a sweep's kind is one of {sorted(SWEEP_KINDS)}, not {record.kind!r}")
    texts = {
        "name": record.name,
        "host": record.host,
        "application_id": record.application_id,
        "application_fqn": record.application_fqn,
        "target": record.target,
        "objective": record.objective,
        "notebook": record.notebook,
    }
    for name, value in texts.items():
        refuse_bearer(name, value)
    _refuse_bearer_leaves("space", record.space)
    return (
        record.name,
        record.kind,
        record.host,
        record.application_id,
        record.application_fqn,
        record.target,
        record.objective,
        canonical_space(record.space),
        record.notebook,
        iso_text(record.created_at),
    )


def sweep_from_row(row: sqlite3.Row | Sequence[Any]) -> SweepRecord:
    """A row of :data:`SWEEP_COLUMNS` (in that order) as a :class:`SweepRecord`."""
    (name, kind, host, app_id, fqn, target, objective, space_json, notebook, created) = row
    return SweepRecord(
        name=name,
        kind=kind,
        host=host,
        application_id=app_id,
        application_fqn=fqn,
        target=target,
        objective=objective,
        space=loads_mapping(space_json) or {},
        notebook=notebook,
        created_at=parse_iso(created),
    )


def objective_of(record: SweepRecord, goals: Mapping[str, str] | None = None) -> Objective | None:
    """The sweep's objective (a metric without a goal is looked up in ``goals``, then the
    defaults), or ``None`` when it has none or its direction is unknown.

    >>> objective_of(SweepRecord("s", "runs", objective="uptime"), {"uptime": "max"})
    Objective(metric='uptime', goal='max')
    """
    if not record.objective:
        return None
    try:
        return parse_objective(record.objective, goals=goals)
    except ObjectiveError:
        return None


def counts_sql(names: Sequence[str] | None) -> tuple[str, list[Any]]:
    """Attempts per (sweep, run status, state) of the sweeps ``names`` (all sweeps:
    ``None``), read from the covering index ``attempts_by_sweep_status`` alone, in its
    order (grouping by an expression would sort them all again).

    >>> counts_sql(["a", "b"])[1]
    ['a', 'b']
    """
    sql = (
        "SELECT sweep, run_status, state, COUNT(*) FROM attempts "
        "INDEXED BY attempts_by_sweep_status WHERE sweep IS NOT NULL"
    )
    args: list[Any] = []
    if names is not None:
        sql += f" AND sweep IN ({', '.join('?' * len(names))})"
        args.extend(names)
    return sql + " GROUP BY sweep, run_status, state", args


def best_sql(wanted: Iterable[tuple[str, str]]) -> tuple[str, list[Any]]:
    """The lowest and highest finite cached value of each sweep's objective metric among
    its runs, for ``wanted`` (sweep, metric) pairs: one join through the covering index.

    >>> counts, args = best_sql([("s", "loss")])
    >>> args
    ['s', 'loss']
    """
    pairs = list(wanted)
    args = [item for pair in pairs for item in pair]
    # Infinity bounds: NaN is stored as NULL, and ±inf is no one's best.
    sql = (
        f"WITH wanted(sweep, metric) AS (VALUES {', '.join(['(?, ?)'] * len(pairs))}) "
        "SELECT w.sweep, MIN(m.value), MAX(m.value) FROM wanted AS w "
        "JOIN attempts AS a INDEXED BY attempts_by_sweep_status ON a.sweep = w.sweep "
        "JOIN run_metrics AS m ON m.application_id = a.application_id "
        "AND m.run_name = a.run_name AND m.name = w.metric "
        "WHERE a.sweep IS NOT NULL AND m.value > -9e999 AND m.value < 9e999 "
        "GROUP BY w.sweep"
    )
    return sql, args
