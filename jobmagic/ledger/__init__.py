"""The run ledger: every trigger, written down before it is sent.

A trigger is recorded as an *attempt* in a local SQLite file and committed
before the request goes out, then updated with the outcome:

``pending``       written, the request is about to be sent (or was, and the kernel died)
``acknowledged``  the server answered with a run; its name and JobRun are stored
``rejected``      the server said no (validation, auth, …): no run exists
``unknown``       the answer was lost or unclear (5xx): a run may exist; check before retrying

An ``unknown`` or ``pending`` attempt is settled against the server by
:meth:`jobmagic.domain.session.JobSession.reconcile`, which leaves it ``acknowledged`` (the run it
started was found), ``not-created`` (no such run, safe to retry) or ``ambiguous`` (several
runs match; ``candidates`` names them).

So runs survive a kernel restart or crash, and ``%job_runs --all`` can list
them later with the params that were sent. Tokens are never stored.

>>> import tempfile, pathlib
>>> from jobmagic.models import JobRun, RunStatus
>>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "ledger.sqlite3") as ledger:
...     attempt = ledger.record_attempt(host="http://127.0.0.1:8000", target="train",
...                                     application_id="app-1", params={"lr": "0.1"})
...     ledger.record_acknowledged(attempt, JobRun(name="train-x1", status=RunStatus.RUNNING))
...     [(e.state.value, e.run_name, dict(e.params)) for e in ledger.entries()]
[('acknowledged', 'train-x1', {'lr': '0.1'})]

A damaged ledger is never written to and never lost. Each process checks the file once,
before its first write (``PRAGMA quick_check``); a file found damaged then, or by SQLite at
any later read or write, is moved aside to ``<name>.damaged-<UTC stamp>`` with its
``-wal``/``-shm``, a new ledger is started and the work goes on. :meth:`Ledger.pop_notices`
gives the :class:`LedgerNotice` to show the user, and :meth:`Ledger.recover` copies every
readable run of the old file back (a :class:`LedgerRecovery` names those to reconcile).
``Ledger(path, read_only=True)`` only reads, and reports damage without moving anything.
Every failure is a :class:`LedgerError` whose ``reason`` (:class:`LedgerReason`: read-only,
full, damaged, locked, newer schema, …) and ``hint`` say what happened and what to do.

Sweeps and the metric cache: :meth:`Ledger.add_sweep` stores a named sweep
(:class:`SweepRecord`: its job, objective, space, notebook and creation time), attempts
name their sweep (``record_attempt(sweep=…)``, :meth:`Ledger.sweep_entries`), and
:meth:`Ledger.set_metrics` caches each run's latest metric values, so
:meth:`Ledger.sweep_summaries` (:class:`SweepSummary`) ranks every sweep from the file alone.

>>> with Ledger(pathlib.Path(tempfile.mkdtemp()) / "ledger.sqlite3") as ledger:
...     _ = ledger.add_sweep(SweepRecord("lr-scan", "grid", objective="loss:min"))
...     attempt = ledger.record_attempt(host="h", target="train", application_id="app-1",
...                                     sweep="lr-scan")
...     ledger.record_acknowledged(attempt, JobRun(name="train-x2", status=RunStatus.FINISHED))
...     _ = ledger.set_metrics([("app-1", "train-x2", "loss", 0.25, 10)])
...     [(s.record.name, s.counts, s.best) for s in ledger.sweep_summaries()]
[('lr-scan', {'FINISHED': 1}, 0.25)]

The schema grows by forward-only migrations (``PRAGMA user_version``); a file of a newer
schema is refused (reason ``newer-schema``), untouched, naming the jobmagic that wrote it.

Concurrency: the file is in WAL mode with a busy timeout, every write is one
``BEGIN IMMEDIATE`` transaction, and one ``Ledger`` object may be shared by
threads (a lock serialises its single connection). Several processes (two
kernels) may write to the same file at once. Open one ``Ledger`` per process.
"""

from __future__ import annotations

from jobmagic._lazy import lazy_attributes
from jobmagic.errors import LedgerError, LedgerReason
from jobmagic.ledger._damage import LedgerNotice
from jobmagic.ledger._entries import AttemptState, LedgerEntry
from jobmagic.ledger._ledger import Ledger
from jobmagic.ledger._query import LedgerQuery
from jobmagic.ledger._recover import LedgerRecovery
from jobmagic.ledger._schema import LEDGER_FILENAME, SCHEMA_VERSION, default_ledger_path
from jobmagic.ledger._sweeps import SweepRecord, SweepSummary

__all__ = [
    "LEDGER_FILENAME",
    "SCHEMA_VERSION",
    "AttemptState",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerNotice",
    "LedgerQuery",
    "LedgerReason",
    "LedgerRecovery",
    "SweepRecord",
    "SweepSummary",
    "default_ledger_path",
]

# Tab completion offers the public names, not what the package imported for itself.
__getattr__, __dir__ = lazy_attributes(__name__, {}, globals())
