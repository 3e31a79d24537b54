"""The ledger's file and its schema: forward-only migrations, the columns an entry reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from jobmagic._version import __version__
from jobmagic.config import jobmagic_home
from jobmagic.errors import LedgerError, LedgerReason

__all__ = [
    "BUSY_TIMEOUT_S",
    "COLUMNS",
    "LEDGER_FILENAME",
    "MIGRATIONS",
    "ROW_COLUMNS",
    "SCHEMA_VERSION",
    "default_ledger_path",
    "migrate",
    "newer_schema_error",
    "schema_writer",
]


LEDGER_FILENAME = "ledger.sqlite3"
BUSY_TIMEOUT_S = 10.0


# --- schema -------------------------------------------------------------------------
# Forward-only: each entry upgrades the file from version i to i + 1 and is never edited
# once released (a file written by an old jobmagic must upgrade the same way everywhere).
# PRAGMA user_version holds how many entries have been applied.

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: one row per trigger attempt.
    (
        """
        CREATE TABLE attempts (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            state           TEXT NOT NULL,
            created_at      TEXT NOT NULL,   -- ISO-8601 UTC, fixed width: sorts as text
            updated_at      TEXT NOT NULL,
            host            TEXT,
            target          TEXT,
            application_id  TEXT,
            deployment_id   TEXT,
            application_fqn TEXT,
            run_name        TEXT,
            params_json     TEXT NOT NULL DEFAULT '{}',
            command         TEXT,
            alias           TEXT,
            session_id      TEXT,
            notebook        TEXT,
            kernel_id       TEXT,
            run_json        TEXT,            -- the JobRun as API JSON (camelCase)
            run_status      TEXT,            -- copied out of run_json for filtering
            error_type      TEXT,
            error           TEXT
        )
        """,
    ),
    # 2: the lookups the tracker and %job_runs make on every tick / call.
    (
        "CREATE INDEX attempts_by_run ON attempts (application_id, run_name)",
        "CREATE INDEX attempts_by_session ON attempts (session_id, created_at)",
        "CREATE INDEX attempts_by_created ON attempts (created_at)",
    ),
    # 3: reconciling unknown outcomes: the runs an ambiguous attempt may have started, and
    # a quick way to the attempts still to settle however large the ledger grows.
    (
        "ALTER TABLE attempts ADD COLUMN candidates_json TEXT",
        "CREATE INDEX attempts_by_state ON attempts (state)",
    ),
    # 4: a rerun names the run it repeats (same application), so the card and the DataFrame
    # can say "rerun of train-ab12c"; a run name, not an attempt id, because the run repeated
    # may have been started outside jobmagic and have no attempt here.
    ("ALTER TABLE attempts ADD COLUMN rerun_of TEXT",),
    # 5: a board's counts per status over the whole ledger, and its status filter, read from
    # this index alone (covering) instead of every row's JSON.
    ("CREATE INDEX attempts_by_status ON attempts (run_status, state)",),
    # 6: sweeps that outlive their kernel: one row per named sweep (its job, objective and
    # space as canonical JSON), and each attempt names the sweep it belongs to. The second
    # index covers a sweep's counts per status and its runs' keys, so a listing of every
    # sweep reads no attempt row.
    (
        """
        CREATE TABLE sweeps (
            name            TEXT PRIMARY KEY,
            kind            TEXT NOT NULL,   -- 'grid' | 'runs' | 'search'
            host            TEXT,
            application_id  TEXT,
            application_fqn TEXT,
            target          TEXT,
            objective       TEXT,            -- 'loss:min', or NULL
            space_json      TEXT NOT NULL DEFAULT '{}',  -- sorted keys: compared as text
            notebook        TEXT,
            created_at      TEXT NOT NULL
        )
        """,
        "CREATE INDEX sweeps_by_created ON sweeps (created_at)",
        # Which jobmagic first wrote each schema version: a jobmagic meeting a newer file
        # than it knows can then name the release to upgrade to.
        """
        CREATE TABLE schema_versions (
            version         INTEGER PRIMARY KEY,
            jobmagic        TEXT NOT NULL,
            applied_at      TEXT NOT NULL
        )
        """,
        "ALTER TABLE attempts ADD COLUMN sweep TEXT",
        "CREATE INDEX attempts_by_sweep ON attempts (sweep, created_at)",
        "CREATE INDEX attempts_by_sweep_status ON attempts "
        "(sweep, run_status, state, application_id, run_name) WHERE sweep IS NOT NULL",
    ),
    # 7: each run's latest value of each metric, so listings rank runs without asking the
    # server; a cache, refreshed when the values change.
    (
        """
        CREATE TABLE run_metrics (
            application_id  TEXT NOT NULL,
            run_name        TEXT NOT NULL,
            name            TEXT NOT NULL,
            value           REAL,            -- NULL: the run logged NaN
            step            INTEGER,
            updated_at      TEXT NOT NULL,
            PRIMARY KEY (application_id, run_name, name)
        ) WITHOUT ROWID
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

COLUMNS = (
    "id, state, created_at, updated_at, host, target, application_id, deployment_id, "
    "application_fqn, run_name, params_json, command, alias, session_id, notebook, kernel_id, "
    "run_json, run_status, error_type, error, candidates_json, rerun_of, sweep"
)


def default_ledger_path() -> Path:
    """``<JOBMAGIC_HOME>/ledger.sqlite3`` (``~/.jobmagic/ledger.sqlite3`` by default)."""
    return jobmagic_home() / LEDGER_FILENAME


def newer_schema_error(
    path: Path | None, version: int, known: int | None = None, written_by: str | None = None
) -> LedgerError:
    """The error for a file whose schema ``version`` is newer than this jobmagic's;
    ``written_by`` is the jobmagic release that wrote that schema, where the file says
    (:func:`schema_writer`).

    >>> error = newer_schema_error(None, 9, 7, "0.4.0")
    >>> error.reason.value
    'newer-schema'
    >>> print(error.hint)  # doctest: +ELLIPSIS
    Upgrade jobmagic to 0.4.0 or later (`pip install -U 'jobmagic>=0.4.0'`), or point it at ...
    """
    known = SCHEMA_VERSION if known is None else known
    where = "" if path is None else f" {path}"
    by = f"jobmagic {written_by}" if written_by else "a newer jobmagic"
    upgrade = (
        f"Upgrade jobmagic to {written_by} or later (`pip install -U 'jobmagic>={written_by}'`)"
        if written_by
        else f"Upgrade jobmagic to a release that reads ledger schema {version}"
    )
    return LedgerError(
        f"The run ledger{where} was written by {by} (ledger schema {version}); this jobmagic "
        f"{__version__} reads schema {known} and older.",
        reason=LedgerReason.NEWER_SCHEMA,
        hint=f"{upgrade}, or point it at another ledger file (JOBMAGIC_HOME, "
        "`%config JobMagic.ledger_path`); the file itself is fine.",
        path=path,
    )


def schema_writer(conn: sqlite3.Connection, version: int) -> str | None:
    """The jobmagic release that first wrote schema ``version`` to this file, if it says
    (files written before schema 6 do not)."""
    try:
        row = conn.execute(
            "SELECT jobmagic FROM schema_versions WHERE version = ?", (version,)
        ).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Sequence[str]] = MIGRATIONS,
    *,
    path: Path | None = None,
) -> int:
    """Bring the file up to ``len(migrations)``; safe when several processes open at once."""
    # BEGIN IMMEDIATE takes the write lock before reading the version, so two processes
    # opening a new file cannot both apply migration 1.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(migrations):
            raise newer_schema_error(path, version, len(migrations), schema_writer(conn, version))
        for number in range(version, len(migrations)):
            for statement in migrations[number]:
                conn.execute(statement)
        if version < len(migrations):
            _note_writer(conn, len(migrations))
            # user_version lives in the file header, so it commits with the DDL above.
            conn.execute(f"PRAGMA user_version = {len(migrations):d}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(migrations)


def _note_writer(conn: sqlite3.Connection, version: int) -> None:
    """Write down that this jobmagic brought the file to ``version`` (once the table exists)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'"
    ).fetchone()
    if exists:
        now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")
        conn.execute(
            "INSERT OR IGNORE INTO schema_versions (version, jobmagic, applied_at) "
            "VALUES (?, ?, ?)",
            (version, __version__, now + "Z"),
        )


ROW_COLUMNS = frozenset(name.strip() for name in COLUMNS.split(","))
