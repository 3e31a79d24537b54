"""The writes of a :class:`~jobmagic.ledger.Ledger`: an attempt before its trigger is sent,
its outcome after, fresh runs, and runs copied in (imported, or recovered from a damaged
file)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger._commits import Commits
from jobmagic.ledger._connections import same_file, transaction
from jobmagic.ledger._entries import AttemptState, LedgerEntry, iso_text, utcnow
from jobmagic.ledger._recover import (
    Copied,
    LedgerRecovery,
    copy_attempts,
    copy_sweeps,
    read_attempts,
)
from jobmagic.ledger._statements import (
    ACKNOWLEDGE,
    FAILURE,
    IMPORT,
    INSERT_ATTEMPT,
    acknowledged_values,
    attempt_values,
    failure_values,
    import_values,
    update_run_rows,
)
from jobmagic.models import JobRun

__all__ = ["LedgerWrites"]


class LedgerWrites(Commits):
    """The writing half of a Ledger (see the Ledger for what it promises)."""

    # -- one statement

    def _write_one(
        self, sql: str, values: tuple[Any, ...], attempt_id: int | None = None
    ) -> sqlite3.Cursor:
        """One statement, committed by itself (or part of the open :meth:`batch`); about
        ``attempt_id``, whose acknowledgement left for later is written first.

        A single statement needs no BEGIN IMMEDIATE: it takes the write lock as it starts,
        waiting out the busy timeout, and is all or nothing on its own; one call instead of
        three is a third of a trigger's ledger time.
        """
        cursor = self._run_write(lambda conn: conn.execute(sql, values), attempt_id)
        if attempt_id is not None and cursor.rowcount == 0 and self._adopt(attempt_id):
            cursor = self._run_write(lambda conn: conn.execute(sql, values), attempt_id)
        return cursor

    # -- writes

    def record_attempt(
        self,
        *,
        host: str | None,
        target: str | None,
        application_id: str | None = None,
        deployment_id: str | None = None,
        application_fqn: str | None = None,
        params: Mapping[str, str] | None = None,
        command: str | None = None,
        alias: str | None = None,
        session_id: str | None = None,
        notebook: str | None = None,
        kernel_id: str | None = None,
        rerun_of: str | None = None,
        sweep: str | None = None,
    ) -> int:
        """Write a ``pending`` attempt and commit it; call *before* sending the trigger.

        Returns the attempt id to pass to ``record_acknowledged`` /
        ``record_rejected`` / ``record_unknown``. ``rerun_of`` names the run this attempt
        repeats (``RunHandle.rerun``); ``sweep`` the sweep it belongs to
        (:meth:`add_sweep`). Raises ``ValueError`` if any
        value looks like a bearer token (there is no token parameter on purpose).

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite3") as ledger:
        ...     ledger.record_attempt(host="h", target="my-cluster:ws:train", params={"lr": "1"})
        1
        """
        texts = (
            host,
            target,
            application_id,
            deployment_id,
            application_fqn,
            command,
            alias,
            session_id,
            notebook,
            kernel_id,
            rerun_of,
            sweep,
        )
        values = attempt_values(texts, params)
        cursor = self._write_one(INSERT_ATTEMPT, values)
        attempt_id = cursor.lastrowid
        assert attempt_id is not None  # an INSERT into a rowid table always sets it
        if attempt_id > self._highest_id:
            self._highest_id = attempt_id
        return attempt_id

    def record_acknowledged(
        self,
        attempt_id: int,
        run: JobRun,
        raw: Mapping[str, Any] | None = None,
        *,
        reconciled: str | None = None,
        wait: bool = True,
    ) -> None:
        """The server started ``run``: store it (``raw`` API JSON if given) and commit.

        The attempt's application/deployment ids are filled from the run when
        the attempt did not know them (a trigger by FQN or by deployment id).
        ``reconciled`` says how a run was matched to an attempt whose answer was lost
        (:meth:`record_reconciled`); it is kept where the error was.

        With ``wait=False`` it is written a moment later, off the caller's path (a thread
        does it while the caller waits on the network; any read of this ledger first). If
        the process dies before, the attempt stays ``pending`` and reconcile finds its run.
        """
        if not wait and reconciled is None:
            with self._lock:
                self._unwritten[attempt_id] = (run, raw)
            self._later.wake()
            return
        cursor = self._write_one(
            ACKNOWLEDGE, acknowledged_values(attempt_id, run, raw, reconciled), attempt_id
        )
        self._require_row(cursor, attempt_id)

    def record_rejected(self, attempt_id: int, error: BaseException | str) -> None:
        """The server refused the trigger: no run exists. Stores the error's type and text."""
        self._record_failure(attempt_id, AttemptState.REJECTED, error)

    def record_unknown(self, attempt_id: int, error: BaseException | str | None = None) -> None:
        """The answer was lost: the request may have started a run. Check before retrying."""
        self._record_failure(attempt_id, AttemptState.UNKNOWN, error)

    def record_reconciled(self, attempt_id: int, run: JobRun, note: str) -> None:
        """An attempt whose answer was lost, matched to the run it started on the server.

        Acknowledged like an answered trigger; ``note`` (how it was matched) replaces the
        error, so the row still says that the answer had been lost.
        """
        self.record_acknowledged(attempt_id, run, reconciled=note)

    def record_not_created(self, attempt_id: int, reason: str) -> None:
        """The server has no run this attempt could have started: safe to trigger again."""
        self._record_failure(attempt_id, AttemptState.NOT_CREATED, reason)

    def record_ambiguous(self, attempt_id: int, candidates: Sequence[str], reason: str) -> None:
        """Several runs could be this attempt's; they are kept for a person to choose."""
        self._record_failure(attempt_id, AttemptState.AMBIGUOUS, reason, candidates)

    def _record_failure(
        self,
        attempt_id: int,
        state: AttemptState,
        error: BaseException | str | None,
        candidates: Sequence[str] = (),
    ) -> None:
        cursor = self._write_one(
            FAILURE, failure_values(attempt_id, state, error, candidates), attempt_id
        )
        self._require_row(cursor, attempt_id)

    def update_runs(self, runs: Iterable[JobRun | tuple[str, JobRun]]) -> int:
        """Store fresh JobRuns of known runs, matched by (application id, run name).

        Items are ``(application_id, run)`` pairs or bare JobRuns. A bare
        JobRun is matched by its ``application_id`` when it has one, else by
        run name alone, unless attempts of several applications share that
        name (then it is skipped rather than guessed). All in one transaction;
        fields of the stored JSON that JobRun does not model are kept.
        Returns how many attempts changed.
        """
        pairs: list[tuple[str | None, JobRun]] = []
        for item in runs:
            if isinstance(item, JobRun):
                pairs.append((item.application_id, item))
            else:
                pairs.append((item[0], item[1]))
        pairs = [(app, run) for app, run in pairs if run.name]
        if not pairs:
            return 0
        now = iso_text(utcnow())

        def work(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return update_run_rows(conn, pairs, now)

        return self._run_write(work, flush_all=True)

    def import_entries(self, entries: Iterable[LedgerEntry]) -> int:
        """Write many settled attempts in one transaction (their ``id`` is not kept).

        For copying runs from another ledger, and for building large ledgers for tests and
        benchmarks: a trigger is written with :meth:`record_attempt` instead, one commit
        before it is sent. The same bearer-token refusal applies. Returns how many were written.
        """
        # Streamed (100,000 entries build a benchmark's ledger), so not replayed on a new
        # file if this one is found damaged meanwhile: that is raised, nothing written.
        rows = (import_values(entry) for entry in entries)

        def work(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return conn.executemany(IMPORT, rows).rowcount

        return self._run_write(work, flush_all=True, again=False)

    # -- recovery

    def recover(self, damaged: Path | str) -> LedgerRecovery:
        """Copy every readable attempt of ``damaged`` (a file moved aside, or any ledger
        file of any schema) into this ledger, skipping those it already holds.

        Ids are kept where free. The answer counts what was copied and what could not be
        read, and names the attempts (``to_reconcile``) whose outcome is still to be
        settled against the server: pass them to ``JobSession.reconcile``.

        >>> import tempfile, pathlib
        >>> from jobmagic.ledger import Ledger
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with Ledger(folder / "old.sqlite3") as old:
        ...     _ = old.record_attempt(host="h", target="train")
        >>> with Ledger(folder / "new.sqlite3") as ledger:
        ...     summary = ledger.recover(folder / "old.sqlite3")
        >>> summary.recovered, summary.to_reconcile
        (1, (1,))
        """
        source = Path(damaged).expanduser()
        if same_file(source, self.path):
            raise LedgerError(
                f"{source} is this ledger's own file; recover reads another one (the file a "
                "damaged ledger was moved aside to).",
                reason=LedgerReason.UNUSABLE,
                path=self.path,
            )
        readout = read_attempts(source)
        copied = self._copy(readout.rows, readout.sweeps)
        if copied.highest > self._highest_id:
            self._highest_id = copied.highest
        return LedgerRecovery(
            source=source,
            schema_version=readout.version,
            recovered=len(copied.ids),
            already_present=copied.present,
            unreadable=readout.unreadable + copied.refused,
            to_reconcile=copied.unsettled,
            partial=copied.partial,
        )

    def _copy(
        self, rows: Sequence[Mapping[str, Any]], sweeps: Sequence[Mapping[str, Any]] = ()
    ) -> Copied:
        def work(conn: sqlite3.Connection) -> Copied:
            with transaction(conn):
                copy_sweeps(conn, sweeps)
                return copy_attempts(conn, rows)

        return self._run_write(work, flush_all=True)

    def _adopt(self, attempt_id: int) -> bool:
        """Copy ``attempt_id`` from the file this object moved aside, if it was written there
        (a trigger whose attempt was recorded before the damage was found); whether it was."""
        if not self._moved or attempt_id > self._moved[-1][1]:
            return False
        try:
            rows = read_attempts(self._moved[-1][0], (attempt_id,)).rows
            return bool(rows) and bool(self._copy(rows).ids)
        except LedgerError:
            return False
