"""A session: what one kernel (or one script) shares — settings, client, ledger, tracker.

The extension owns exactly one per shell; :func:`jobmagic.trigger` outside
IPython makes its own. Everything that triggers goes through the one engine
(:func:`jobmagic.domain.engine.trigger`), which writes the ledger *before* sending.

>>> from jobmagic.domain import engine
>>> session = JobSession(Settings(host=sandbox.host, api_key=sandbox.token))
>>> run = engine.trigger(session, Target("sandbox:demo:hello"), {"name": "Ada"})
>>> run.wait(timeout=60).status.value
'FINISHED'
>>> session.close()
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmagic.api.endpoints import run_page_url
from jobmagic.config import Credentials, Settings
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.reconcile import CLOCK_SKEW, UNSETTLED, Verdict, attempt_window, settle
from jobmagic.domain.rerun import RerunFields, rerun, rerun_fields
from jobmagic.domain.target import ResolvedTarget, Target, command_text
from jobmagic.domain.tracker import Tracker
from jobmagic.errors import ConfigError, JobmagicError, LedgerError, LedgerReason, ParamsError
from jobmagic.ledger import Ledger, LedgerEntry, LedgerRecovery
from jobmagic.models import JobRun

logger = logging.getLogger("jobmagic")

if TYPE_CHECKING:
    from jobmagic.api import JobsClient

__all__ = ["JobSession", "Recovered"]


@dataclass(frozen=True)
class Recovered:
    """What :meth:`JobSession.recover_ledger` did: the copy, and the verdicts of the copied
    attempts settled against the server (``settled`` is False when no server was set)."""

    summary: LedgerRecovery
    verdicts: tuple[Verdict, ...]
    settled: bool = True

    def __str__(self) -> str:
        if not self.summary.to_reconcile:
            return str(self.summary)
        if not self.settled:
            return f"{self.summary} No server is set: `%job_runs --reconcile` settles them later."
        found = sum(1 for v in self.verdicts if v.run is not None)
        missing = len(self.verdicts) - found
        return f"{self.summary} Settled: {found} found on the server, {missing} not."


#: How long a looked-up target's ids are trusted before the next trigger looks again.
RESOLVE_TTL_SECONDS = 30.0


class JobSession:
    """Settings, one lazily built client, the run ledger, and the tracker."""

    def __init__(
        self,
        settings: Settings | Callable[[], Settings] | None = None,
        *,
        credentials: Credentials | None = None,
        notebook: str | None = None,
    ):
        fixed: Settings = settings if isinstance(settings, Settings) else Settings()
        self._settings_source: Callable[[], Settings] = (
            settings if callable(settings) else (lambda: fixed)
        )
        self._explicit_credentials = credentials
        self._lock = threading.RLock()
        # The shared client and the settings it was built for, as one pair: a reader
        # without the lock never sees one's client with another's key.
        self._client: tuple[tuple[Any, ...], JobsClient] | None = None
        self._ledger: Ledger | None = None
        self._tracker: Tracker | None = None
        self._closed = False
        self.session_id = uuid.uuid4().hex
        self.notebook = notebook
        # Fixed for the life of the process: looked up once, not per trigger (a sweep makes
        # hundreds).
        self.kernel_id = _kernel_id()
        self.handles: list[RunHandle] = []
        self._credentials: tuple[tuple[Any, ...], Credentials] | None = None
        # Looked-up targets by (target, host), each with when it stops being trusted.
        self._resolved: dict[Target, tuple[str, float, ResolvedTarget]] = {}

    # -- settings and plumbing -----------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings_source()

    def credentials(self) -> Credentials:
        return self._credentials_for(self.settings)

    def _credentials_for(self, settings: Settings) -> Credentials:
        if self._explicit_credentials is not None:
            return self._explicit_credentials
        # Resolving reads the environment and TrueFoundry's file: kept until one of the
        # places it looks changes (a cell's %config, os.environ, `tfy login`).
        key = _credentials_key(settings)
        cached = self._credentials
        if cached is not None and cached[0] == key:
            return cached[1]
        credentials = settings.resolve()
        self._credentials = (key, credentials)
        return credentials

    def forget_target(self, target: Target) -> None:
        """Drop what :meth:`resolve` remembers of ``target``: the next trigger looks it up."""
        with self._lock:
            self._resolved.pop(target, None)

    def use_credentials(self, credentials: Credentials | None) -> None:
        """Point this session somewhere else (the sandbox, say); None goes back to settings."""
        with self._lock:
            self._explicit_credentials = credentials
            self._resolved.clear()  # another server: its jobs have other ids

    @property
    def host(self) -> str:
        return self.client.host

    @property
    def show_cards(self) -> bool:
        return self.settings.show_cards

    def new_client(self) -> JobsClient:
        """A fresh client with the current settings (the tracker's thread owns its own)."""
        return _build_client(self.credentials(), self.settings)

    @property
    def client(self) -> JobsClient:
        """The shared client, rebuilt when the host, token or TLS settings change."""
        settings = self.settings
        credentials = self._credentials_for(settings)
        key = (credentials, settings.request_timeout, settings.verify)
        current = self._client
        if current is not None and current[0] == key:
            return current[1]  # the usual case, several times per trigger: no lock needed
        with self._lock:
            current = self._client
            if current is None or current[0] != key:
                if current is not None:
                    current[1].close()
                current = self._client = (key, _build_client(credentials, settings))
            return current[1]

    @property
    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                settings = self.settings
                self._ledger = Ledger(settings.ledger_path, fsync=settings.ledger_fsync)
            return self._ledger

    @property
    def tracker(self) -> Tracker:
        with self._lock:
            if self._tracker is None:
                self._closed = False
                self._tracker = Tracker(
                    self.new_client,
                    interval=lambda: self.settings.poll_interval,
                    on_runs=self.record_runs,
                )
            return self._tracker

    def record_runs(self, runs: Iterable[JobRun]) -> None:
        """Store refreshed statuses in the ledger (called by the tracker each tick)."""
        if self._closed:
            return  # a tick that outlived close() must not reopen the ledger
        runs = [run for run in runs if run.application_id or run.name]
        if runs:
            self.ledger.update_runs(runs)

    def close(self) -> None:
        """Stop the tracker and close the client and ledger; safe to call twice."""
        with self._lock:
            tracker = self._tracker
        # Not under the lock: a tick in progress takes it to store its statuses, and must be
        # let finish for the thread to stop.
        if tracker is not None and not tracker.shutdown():
            logger.warning("jobmagic's run tracker did not stop in time; closing anyway")
        with self._lock:
            self._closed = True
            self._tracker = None  # stopped for good; a session used again builds a new one
            if self._client is not None:
                self._client[1].close()
                self._client = None
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

    # -- what users do -------------------------------------------------------------------

    def resolve(self, target: Target) -> ResolvedTarget:
        """Turn a target into ids, looking an FQN or name up as TrueFoundry's SDK does."""
        if not target.app:
            return ResolvedTarget(target, None, target.application_id, target.deployment_id)
        client = self.client
        now = time.monotonic()
        with self._lock:
            remembered = self._resolved.get(target)
        if remembered is not None and remembered[0] == client.host and remembered[1] > now:
            return remembered[2]
        # A redeploy changes the deployment id: the lookup is trusted for a short while, and
        # a trigger the server refuses as unknown (404/409) looks again (engine.trigger_one).
        app = client.find_app(target.app, refresh=True)
        if not app.deployment_id:
            raise ConfigError(
                f"Job {target.app!r} has no deployment to trigger yet. Deploy it first."
            )
        resolved = ResolvedTarget(target, app, app.id, app.deployment_id)
        with self._lock:
            self._resolved[target] = (
                client.host,
                now + RESOLVE_TTL_SECONDS,
                replace(resolved, remembered=True),
            )
        return resolved

    def handle_for(
        self,
        resolved: ResolvedTarget,
        run: JobRun,
        *,
        params: Mapping[str, str] | None = None,
        command: str | Sequence[str] | None = None,
        application_fqn: str | None = None,
        host: str | None = None,
        rerun_of: str | None = None,
    ) -> RunHandle:
        app_id = resolved.application_id or run.application_id
        handle = RunHandle(
            self,
            run,
            application=resolved.application,
            application_id=app_id,
            deployment_id=resolved.deployment_id or run.deployment_id,
            params=params,
            command=command_text(command),
            url=run_page_url(host or self.host, app_id),
            application_fqn=application_fqn,
            rerun_of=rerun_of,
        )
        self.handles.append(handle)
        return handle

    def handles_for_entries(self, entries: Sequence[LedgerEntry]) -> list[RunHandle]:
        """Run handles of ledger entries that have a run (a board of ``%job_runs`` rows).

        A run already shown (a card, an earlier board) keeps its one handle: every view of it
        is then kept current by the same tracker updates, and ``%jobmagic`` counts it once.
        """
        known: dict[tuple[str | None, str | None], RunHandle] = {
            (h.application_id, h.name): h for h in self.handles
        }
        handles: list[RunHandle] = []
        for entry in entries:
            if entry.run is None:
                continue
            existing = known.get((entry.application_id, entry.run_name))
            if existing is not None:
                if entry.run.is_terminal and not existing.run.is_terminal:
                    existing.take(entry.run)  # the ledger just learnt it ended
                handles.append(existing)
                continue
            resolved = ResolvedTarget(
                Target(application_id=entry.application_id or "?"),
                None,
                entry.application_id,
                entry.deployment_id,
            )
            handles.append(
                self.handle_for(
                    resolved,
                    entry.run,
                    params=entry.params,
                    command=entry.command,
                    application_fqn=entry.application_fqn,
                    rerun_of=entry.rerun_of,
                )
            )
        return handles

    def recover_ledger(self, path: str | Path | None = None) -> Recovered:
        """Copy every readable run of a damaged ledger (``path``, else the newest file the
        ledger moved aside) into this session's ledger, then settle the copied attempts of
        this host whose outcome was never known against the server (no trigger is sent)."""
        ledger = self.ledger
        damaged = Path(path) if path is not None else next(iter(ledger.damaged_files()), None)
        if damaged is None:
            raise LedgerError(
                f"There is no damaged ledger beside {ledger.path} to recover.",
                reason=LedgerReason.MISSING,
                hint="Give the damaged file's path: %jobmagic ledger recover PATH.",
            )
        summary = ledger.recover(damaged)
        try:
            host = self.host
        except JobmagicError:
            return Recovered(summary, (), settled=False)  # no server to ask: they stay as they are
        ids = [i for i in summary.to_reconcile if ledger.get(i).host in (None, host)]
        return Recovered(summary, tuple(self.reconcile(ids)) if ids else (), settled=True)

    def rerun(
        self,
        handle: RunHandle,
        changes: Mapping[str, str],
        *,
        command: str | None = None,
        alias: str | None = None,
    ) -> RunHandle:
        """``handle.rerun(...)``: :func:`jobmagic.domain.rerun.rerun` with this session."""
        return rerun(self, handle, changes, command=command, alias=alias)

    def rerun_fields(self, handle: RunHandle) -> RerunFields:
        """``handle.rerun_fields()``: :func:`jobmagic.domain.rerun.rerun_fields` here."""
        return rerun_fields(self, handle)

    def reconcile(
        self,
        attempts: Iterable[int] | None = None,
        *,
        wait: bool = False,
        poll: float = 1.0,
        skew: timedelta | None = None,
    ) -> list[Verdict]:
        """Settle attempts whose outcome is unknown against what the server lists.

        ``attempts`` are ledger ids; by default every ``pending``, ``unknown`` or
        ``ambiguous`` attempt on this host. Each becomes ``acknowledged`` (the run it
        started was found), ``not-created`` (safe to trigger again) or ``ambiguous``;
        one whose window is still open stays as it is, unless ``wait``, which looks
        again every ``poll`` seconds until every window has closed. Never sends a trigger.
        ``skew`` is how far the server's clock may be from ours (default 5 s).
        One run listing per application (paged back only as far as the attempts reach).
        """
        skew = CLOCK_SKEW if skew is None else skew
        ledger = self.ledger
        if attempts is None:
            host = self.host
            entries = [e for e in ledger.entries(states=UNSETTLED) if e.host in (None, host)]
        else:
            entries = [ledger.get(attempt_id) for attempt_id in attempts]
            entries = [e for e in entries if e.state in UNSETTLED]
        verdicts: dict[int, Verdict] = {}
        while entries:
            for verdict in settle(self.client, ledger, entries, skew=skew):
                verdicts[verdict.attempt_id] = verdict
            entries = [e for e in entries if not verdicts[e.id].decided]
            if not wait or not entries:
                break
            if max(attempt_window(e, skew=skew)[1] for e in entries) < _utcnow():
                wait = False  # one last look: every window has closed now
                continue
            time.sleep(poll)
            entries = [ledger.get(e.id) for e in entries]
            entries = [e for e in entries if e.state in UNSETTLED]  # another kernel's doing
        return list(verdicts.values())

    def attach(self, name: str, target: Target) -> RunHandle:
        """A handle for a run that already exists."""
        resolved = self.resolve(target)
        if not resolved.application_id:
            raise ParamsError(
                "To attach a run, name its job by FQN, name or --application-id "
                "(a deployment id does not say which job's runs to look in)."
            )
        run = self.client.get_run(resolved.application_id, name)
        return self.handle_for(resolved, resolved.with_ids(run))


def _credentials_key(settings: Settings) -> tuple[Any, ...]:
    """Everything :meth:`Settings.resolve` reads, cheaply: a change to any means resolve again."""
    env_host, env_token = os.environ.get("TFY_HOST"), os.environ.get("TFY_API_KEY")
    stamp: tuple[int, int, int] | None = None
    # TrueFoundry's file is read only for what comes from nowhere earlier; when the host and
    # the token are both set, it does not count (and this runs on every trigger).
    if not ((settings.host or env_host) and (settings.api_key or env_token)):
        # os.path, not pathlib: the same file as config.truefoundry_credentials_path().
        path = os.path.join(os.path.expanduser("~"), ".truefoundry", "credentials.json")
        try:
            stat = os.stat(path)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None
    return (
        settings.host,
        settings.api_key,
        settings.allow_insecure_http,
        env_host,
        env_token,
        stamp,
    )


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _build_client(credentials: Credentials, settings: Settings) -> JobsClient:
    from jobmagic.api import JobsClient

    return JobsClient(
        credentials=credentials, timeout=settings.request_timeout, verify=settings.verify
    )


def _kernel_id() -> str | None:
    """The Jupyter kernel's id when running in one (from its connection file name)."""
    if "ipykernel" not in sys.modules:
        return None  # not in a kernel; and importing ipykernel just to learn that is slow
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())
    except Exception:
        return None
    return name.removeprefix("kernel-").removesuffix(".json") or None
