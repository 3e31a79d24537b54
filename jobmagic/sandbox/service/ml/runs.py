"""The sandbox's ML runs: repos, runs, params, tags and metrics, kept in the sandbox's SQLite.

What a job's code logs through TrueFoundry's experiment tracking (``truefoundry.ml``, or plain
HTTP) lands here, and ``POST /runs/search`` finds it again by tag, param or metric
(:mod:`~jobmagic.sandbox.service.ml.search` is the grammar). Shapes follow
``truefoundry-sdk`` 0.6.0's ``Run``, ``RunInfo``, ``RunData``, ``Metric`` and ``MlRepo``
models (snake_case, unlike the Jobs API; :mod:`.shapes` builds them and :mod:`.fields` reads
request bodies). Each metric's latest value (highest step, then newest) is kept beside its
history, so a search of a thousand runs reads one row per metric instead of every point.

Tables are created ``IF NOT EXISTS`` when the service opens a store, like the store's own,
so an older sandbox file gains them on first use. A repo named :data:`DEMO_REPO` exists out
of the box.

>>> import tempfile, pathlib
>>> from jobmagic.sandbox.storage.store import Store
>>> runs = MLRuns(Store(pathlib.Path(tempfile.mkdtemp()) / "db"))
>>> repo = runs.list_repos(name=DEMO_REPO)["data"][0]
>>> run = runs.create_run({"experiment_id": repo["id"], "name": "r1",
...                        "tags": [{"key": "job", "value": "train-1"}]})["run"]
>>> for step, loss in enumerate([0.9, 0.5, 0.2], 1):
...     _ = runs.log_metric(run["info"]["run_id"], {"key": "loss", "value": loss,
...                                                  "timestamp": 1000 + step, "step": step})
>>> found = runs.search({"filter": "tags.job = 'train-1' and metrics.loss < 0.3"})["runs"]
>>> [m["value"] for m in found[0]["data"]["metrics"]]
[0.2]
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jobmagic.sandbox.errors import ApiProblem
from jobmagic.sandbox.service import render
from jobmagic.sandbox.service.ml import fields, shapes
from jobmagic.sandbox.service.ml.search import (
    Condition,
    Order,
    SearchError,
    parse_filter,
    parse_order_by,
)
from jobmagic.sandbox.storage.store import Store

__all__ = ["DEMO_REPO", "MAX_RESULTS", "MLRuns"]

#: The ML repo every sandbox has; the demo ``train`` job logs to it.
DEMO_REPO = "demo"
MAX_RESULTS = 50_000
_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
_VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ml_repos (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ml_runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    experiment_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time_ms INTEGER NOT NULL,
    end_time_ms INTEGER,
    description TEXT,
    UNIQUE (experiment_id, name)
);
CREATE TABLE IF NOT EXISTS ml_tags (
    run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS ml_tags_by_value ON ml_tags (key, value);
CREATE TABLE IF NOT EXISTS ml_params (
    run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS ml_metrics (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    step INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ml_metrics_by_key ON ml_metrics (run_id, key, step, timestamp_ms);
CREATE TABLE IF NOT EXISTS ml_latest (
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    step INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
);
"""

# The latest value is the one with the highest step, then the newest timestamp; a later
# write of the same point replaces it (>=), as a re-logged value would.
_UPSERT_LATEST = """
INSERT INTO ml_latest (run_id, key, value, timestamp_ms, step) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (run_id, key) DO UPDATE SET
    value = excluded.value, timestamp_ms = excluded.timestamp_ms, step = excluded.step
WHERE excluded.step > ml_latest.step
   OR (excluded.step = ml_latest.step AND excluded.timestamp_ms >= ml_latest.timestamp_ms)
"""

_ATTRIBUTE_COLUMNS = {
    "run_name": "r.name",
    "status": "r.status",
    "run_id": "r.id",
    # One user serves every request (render.USER), so every run is theirs.
    "user_id": "'" + render.USER["slug"].replace("'", "''") + "'",
    "artifact_uri": "('sandbox://' || r.experiment_id || '/' || r.id || '/artifacts')",
    "start_time": "r.start_time_ms",
    "end_time": "r.end_time_ms",
    "experiment_id": "r.experiment_id",
}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MLRuns:
    """The ML-runs endpoints over the sandbox's store; methods answer JSON-ready dicts."""

    def __init__(self, store: Store) -> None:
        self._store = store
        with store.locked() as db:
            db.create_function("ml_like", 3, _like, deterministic=True)
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO ml_repos (id, name, description, created_at_ms) "
                "VALUES (?, ?, ?, ?)",
                (_new_id(), DEMO_REPO, "Metrics of the sandbox's demo jobs.", _now_ms()),
            )

    # --- repos -----------------------------------------------------------------------

    def list_repos(
        self, *, name: str | None = None, limit: int = 100, offset: int = 0
    ) -> dict[str, Any]:
        where, args = ("WHERE name = ?", [name]) if name else ("", [])
        with self._store.locked() as db:
            total = db.execute(f"SELECT COUNT(*) FROM ml_repos {where}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT *, (SELECT COUNT(*) FROM ml_runs r WHERE r.experiment_id = ml_repos.id)"
                f" AS num_runs FROM ml_repos {where} ORDER BY created_at_ms, name "
                "LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return {
            "data": [shapes.repo_json(row) for row in rows],
            "pagination": {"total": int(total), "offset": offset, "limit": limit},
        }

    def get_repo(self, repo_id: str) -> dict[str, Any]:
        with self._store.locked() as db:
            row = db.execute(
                "SELECT *, (SELECT COUNT(*) FROM ml_runs r WHERE r.experiment_id = ml_repos.id)"
                " AS num_runs FROM ml_repos WHERE id = ?",
                (repo_id,),
            ).fetchone()
        if row is None:
            raise ApiProblem.not_found(f"No ML repo with id {repo_id!r}")
        return {"data": shapes.repo_json(row)}

    # --- runs ------------------------------------------------------------------------

    def create_run(self, body: Any) -> dict[str, Any]:
        """``POST /runs``: a RUNNING run in the repo ``experiment_id``, with its tags."""
        body = fields.body_object(body)
        repo_id = fields.text(body, "experiment_id", required=True)
        name = fields.text(body, "name") or f"run-{secrets.token_hex(4)}"
        start = fields.number(body, "start_time")
        description = fields.text(body, "description")
        tags = fields.pairs(body, "tags")
        run_id = uuid.uuid4().hex
        with self._store.locked() as db:
            if db.execute("SELECT 1 FROM ml_repos WHERE id = ?", (repo_id,)).fetchone() is None:
                raise ApiProblem.not_found(f"No ML repo with id {repo_id!r}")
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT INTO ml_runs (id, experiment_id, name, status, start_time_ms, "
                    "description) VALUES (?, ?, ?, 'RUNNING', ?, ?)",
                    (run_id, repo_id, name, int(start or _now_ms()), description),
                )
                db.executemany(
                    "INSERT OR REPLACE INTO ml_tags VALUES (?, ?, ?)",
                    [(run_id, k, v) for k, v in tags],
                )
                db.execute("COMMIT")
            except sqlite3.IntegrityError:
                db.execute("ROLLBACK")
                raise ApiProblem(
                    409, f"An ML run named {name!r} already exists in this ML repo."
                ) from None
        return {"run": self._runs_json([run_id])[0]}

    def get_run(self, run_id: str) -> dict[str, Any]:
        return {"run": self._run_or_404(run_id)}

    def update_run(self, run_id: str, body: Any) -> dict[str, Any]:
        """``PUT /runs/{id}``: status, end time, description."""
        body = fields.body_object(body)
        self._run_or_404(run_id)
        status = fields.text(body, "status")
        if status is not None and status not in _STATUSES:
            raise ApiProblem.validation(
                [{"field": "status", "message": f"must be one of {', '.join(_STATUSES)}"}]
            )
        end = fields.number(body, "end_time")
        if end is None and status in ("FINISHED", "FAILED", "KILLED"):
            end = _now_ms()
        description = fields.text(body, "description")
        with self._store.locked() as db:
            db.execute(
                "UPDATE ml_runs SET status = COALESCE(?, status), "
                "end_time_ms = COALESCE(?, end_time_ms), "
                "description = COALESCE(?, description) WHERE id = ?",
                (status, None if end is None else int(end), description, run_id),
            )
        return {"run_info": self._run_or_404(run_id)["info"]}

    def log_metric(self, run_id: str, body: Any) -> dict[str, Any]:
        """``POST /runs/{id}/metrics``: one point."""
        self._run_or_404(run_id)
        self._insert_metrics(run_id, [fields.metric_point(fields.body_object(body), "body")])
        return {}

    def log_batch(self, run_id: str, body: Any) -> dict[str, Any]:
        """``POST /runs/{id}/batch``: metrics, params and tags in one transaction."""
        body = fields.body_object(body)
        self._run_or_404(run_id)
        raw_metrics = body.get("metrics") or []
        if not isinstance(raw_metrics, list):
            raise ApiProblem.validation([{"field": "metrics", "message": "must be a list"}])
        metrics = [
            fields.metric_point(fields.body_object(m, f"metrics[{i}]"), f"metrics[{i}]")
            for i, m in enumerate(raw_metrics)
        ]
        params, tags = fields.pairs(body, "params"), fields.pairs(body, "tags")
        with self._store.locked() as db:
            known = dict(db.execute("SELECT key, value FROM ml_params WHERE run_id = ?", (run_id,)))
        changed = [k for k, v in params if k in known and known[k] != v]
        if changed:
            raise ApiProblem(
                400,
                f"Params are set once: {', '.join(changed)} already has another value in "
                "this run. Log a new run for new params.",
            )
        self._insert_metrics(run_id, metrics, params=params, tags=tags)
        return {}

    def set_tag(self, run_id: str, body: Any) -> dict[str, Any]:
        """``PUT /runs/{id}/tags``: one tag, replacing its old value."""
        body = fields.body_object(body)
        self._run_or_404(run_id)
        key, value = (
            fields.text(body, "key", required=True),
            fields.text(body, "value", allow_empty=True),
        )
        with self._store.locked() as db:
            db.execute("INSERT OR REPLACE INTO ml_tags VALUES (?, ?, ?)", (run_id, key, value))
        return {}

    def metric_history(self, run_id: str, key: str) -> dict[str, Any]:
        """``GET /runs/{id}/metrics/history``: every point of one metric, by step then time."""
        self._run_or_404(run_id)
        with self._store.locked() as db:
            rows = db.execute(
                "SELECT key, value, timestamp_ms, step FROM ml_metrics WHERE run_id = ? AND "
                "key = ? ORDER BY step, timestamp_ms, seq",
                (run_id, key),
            ).fetchall()
        return {"metrics": [shapes.metric_json(row) for row in rows]}

    def search(self, body: Any) -> dict[str, Any]:
        """``POST /runs/search``: runs matching ``filter``, ordered, one page at a time."""
        body = fields.body_object(body)
        try:
            conditions = parse_filter(fields.text(body, "filter", allow_empty=True))
            orders = parse_order_by(fields.strings(body, "order_by"))
        except SearchError as exc:
            # The request's field in details, the filter's key at fault in the message.
            raise ApiProblem(
                400,
                f"Bad search: {exc.field}: {exc}",
                details=[{"field": exc.field, "message": str(exc)}],
            ) from None
        limit = fields.integer(body, "max_results", 1000, 1, MAX_RESULTS)
        offset = fields.page_start(body)
        view = fields.text(body, "run_view_type") or "ACTIVE_ONLY"
        if view not in _VIEW_TYPES:
            raise ApiProblem.validation(
                [{"field": "run_view_type", "message": f"must be one of {', '.join(_VIEW_TYPES)}"}]
            )
        where, args = _where(conditions, fields.strings(body, "experiment_ids"), body)
        if view == "DELETED_ONLY":  # the sandbox never deletes ML runs
            where.append("0")
        order_sql, order_args = _order(orders)
        clause = " AND ".join(where) or "1"
        with self._store.locked() as db:
            total = db.execute(f"SELECT COUNT(*) FROM ml_runs r WHERE {clause}", args).fetchone()
            ids = [
                row[0]
                for row in db.execute(
                    f"SELECT r.id FROM ml_runs r WHERE {clause} ORDER BY {order_sql} "
                    "LIMIT ? OFFSET ?",
                    [*args, *order_args, limit, offset],
                )
            ]
        answer: dict[str, Any] = {"runs": self._runs_json(ids), "total": int(total[0])}
        if offset + len(ids) < int(total[0]):
            answer["next_page_token"] = str(offset + len(ids))
        return answer

    # --- reading ---------------------------------------------------------------------

    def _run_or_404(self, run_id: str) -> dict[str, Any]:
        found = self._runs_json([run_id])
        if not found:
            raise ApiProblem.not_found(f"No ML run with id {run_id!r}")
        return found[0]

    def _runs_json(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The Run JSON of ``ids``, in that order: four queries however many runs."""
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        with self._store.locked() as db:
            rows = db.execute(
                f"SELECT r.*, e.name AS repo_name FROM ml_runs r JOIN ml_repos e "
                f"ON e.id = r.experiment_id WHERE r.id IN ({marks})",
                ids,
            ).fetchall()
            tags = _grouped(db.execute(f"SELECT * FROM ml_tags WHERE run_id IN ({marks})", ids))
            params = _grouped(db.execute(f"SELECT * FROM ml_params WHERE run_id IN ({marks})", ids))
            latest = _grouped(
                db.execute(f"SELECT * FROM ml_latest WHERE run_id IN ({marks}) ORDER BY key", ids)
            )
        by_id = {row["id"]: row for row in rows}
        return [
            shapes.run_json(by_id[i], tags.get(i, []), params.get(i, []), latest.get(i, []))
            for i in ids
            if i in by_id
        ]

    def _insert_metrics(
        self,
        run_id: str,
        metrics: Sequence[tuple[str, float, int, int]],
        *,
        params: Sequence[tuple[str, str]] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> None:
        points = [(run_id, key, value, ts, step) for key, value, ts, step in metrics]
        with self._store.locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO ml_metrics (run_id, key, value, timestamp_ms, step) "
                    "VALUES (?, ?, ?, ?, ?)",
                    points,
                )
                db.executemany(_UPSERT_LATEST, points)
                db.executemany(
                    "INSERT OR IGNORE INTO ml_params VALUES (?, ?, ?)",
                    [(run_id, k, v) for k, v in params],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO ml_tags VALUES (?, ?, ?)",
                    [(run_id, k, v) for k, v in tags],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise


# --- SQL from the grammar: pure ---------------------------------------------------------

_TABLES = {"tags": "ml_tags", "params": "ml_params", "metrics": "ml_latest"}
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _where(
    conditions: Iterable[Condition], experiment_ids: Sequence[str], body: Mapping[str, Any]
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    ids = list(experiment_ids)
    single = fields.text(body, "experiment_id")
    if single:
        ids.append(single)
    if ids:
        where.append(f"r.experiment_id IN ({', '.join('?' for _ in ids)})")
        args.extend(ids)
    name = fields.text(body, "name")
    if name:
        where.append("r.name = ?")
        args.append(name)
    for condition in conditions:
        op, value = condition.op, condition.value
        if condition.kind == "attributes":
            column = _ATTRIBUTE_COLUMNS[condition.key]
            if op in ("IS NULL", "IS NOT NULL"):
                where.append(f"{column} {op}")
            elif isinstance(value, tuple):  # IN / NOT IN
                where.append(f"{column} {op} ({', '.join('?' for _ in value)})")
                args.extend(value)
            else:
                where.append(_compare(column, op))
                args.append(value)
            continue
        table = _TABLES[condition.kind]
        exists = f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = ?"
        if op in ("IS NULL", "IS NOT NULL"):
            where.append(f"{'NOT ' if op == 'IS NULL' else ''}{exists})")
            args.append(condition.key)
            continue
        # A run that lacks the key matches neither = nor != (as in MLflow).
        where.append(f"{exists} AND {_compare('x.value', op)})")
        args.extend([condition.key, value])
    return where, args


def _compare(column: str, op: str) -> str:
    if op in ("LIKE", "ILIKE"):
        # SQLite's own LIKE ignores case, MLflow's LIKE does not: both go through _like.
        return f"ml_like({column}, ?, {int(op == 'ILIKE')})"
    return f"{column} {_SQL_OPS[op]} ?"


def _like(value: Any, pattern: Any, ignore_case: int) -> bool:
    """SQL LIKE (``%`` any run, ``_`` one character) on text, case-sensitive unless asked."""
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    regex = "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _order(orders: Sequence[Order]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    for order in orders:
        direction = "DESC" if order.descending else "ASC"
        if order.kind == "attributes":
            expression = _ATTRIBUTE_COLUMNS[order.key]
        else:
            expression = (
                f"(SELECT x.value FROM {_TABLES[order.kind]} x WHERE x.run_id = r.id AND x.key = ?)"
            )
            args.append(order.key)
        # Runs without the value go last either way, as MLflow sorts them.
        parts.append(f"({expression}) IS NULL, {expression} {direction}")
        if order.kind != "attributes":
            args.append(order.key)
    parts.append("r.start_time_ms DESC, r.seq DESC")
    return ", ".join(parts), args


# --- helpers -------------------------------------------------------------------------


def _new_id() -> str:
    return uuid.uuid4().hex[:24]


def _grouped(rows: Iterable[sqlite3.Row]) -> dict[str, list[sqlite3.Row]]:
    groups: dict[str, list[sqlite3.Row]] = {}
    for row in rows:
        groups.setdefault(row["run_id"], []).append(row)
    return groups
