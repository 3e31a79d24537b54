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
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobmagic.api.endpoints import run_page_url
from jobmagic.config import Credentials, Settings
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.metric_cache import MetricCache
from jobmagic.domain.metrics import fetch_ended, seed_handles
from jobmagic.domain.reconcile import CLOCK_SKEW, UNSETTLED, Verdict, attempt_window, settle
from jobmagic.domain.rerun import RerunFields, rerun, rerun_fields
from jobmagic.domain.server_history import application_of, recorded_handle
from jobmagic.domain.target import ResolvedTarget, Target, command_text
from jobmagic.domain.tracker import Tracker
from jobmagic.errors import ConfigError, JobmagicError, LedgerError, LedgerReason, ParamsError
from jobmagic.ledger import Ledger, LedgerEntry, LedgerRecovery
from jobmagic.models import JobRun
from jobmagic.models.metrics import RunKey

logger = logging.getLogger("jobmagic")

if TYPE_CHECKING:
    from jobmagic.api import JobsClient
    from jobmagic.api.metrics import RunMetrics

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
#: How long boards stop asking for ended runs' metrics after the server was unreachable.
METRICS_PAUSE_SECONDS = 30.0


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
        # Metric values fetched, on their way to the ledger's cache (made on first use).
        self._metric_cache: MetricCache | None = None
        self.session_id = uuid.uuid4().hex
        # Jupyter names the notebook of its kernels; nbclient, papermill and VS Code do not.
        self.notebook = (
            notebook if notebook is not None else os.environ.get("JPY_SESSION_NAME") or None
        )
        # Fixed for the life of the process: looked up once, not per trigger (a sweep makes
        # hundreds).
        self.kernel_id = _kernel_id()
        self.handles: list[RunHandle] = []
        self._credentials: tuple[tuple[Any, ...], Credentials] | None = None
        # Looked-up targets by (target, host), each with when it stops being trusted.
        self._resolved: dict[Target, tuple[str, float, ResolvedTarget]] = {}
        self._metrics_paused_until = -math.inf  # time.monotonic(): see METRICS_PAUSE_SECONDS

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
            cache, self._metric_cache = self._metric_cache, None
        if cache is not None:
            try:
                cache.close()  # before the ledger closes: what the tracker fetched last
            except JobmagicError as exc:
                logger.warning("jobmagic could not cache run metrics in the ledger: %s", exc)
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
        sweep: str | None = None,
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
            sweep=sweep,
        )
        if app_id:
            # Fetched metrics go to the ledger's cache: sweeps() and boards rank without asking.
            handle.metric_state.on_change = partial(self._cache_metrics, app_id, run.name)
        self.handles.append(handle)
        return handle

    def _cache_metrics(self, app_id: str, run_name: str, latest: Mapping[str, float]) -> None:
        """Queue a run's latest metric values for the ledger's cache (written together)."""
        if self._closed:
            return
        with self._lock:
            if self._metric_cache is None:
                self._metric_cache = MetricCache(lambda: self.ledger)
            cache = self._metric_cache
        cache.put(app_id, run_name, latest)

    def flush_metric_cache(self) -> None:
        """Write the metric values queued for the ledger's cache now (before reading it)."""
        cache = self._metric_cache
        if cache is not None:
            cache.flush()

    def handles_for_entries(
        self,
        entries: Sequence[LedgerEntry],
        *,
        metrics: Mapping[RunKey, RunMetrics] | None = None,
        ask_server: bool = True,
    ) -> list[RunHandle]:
        """Run handles of ledger entries that have a run (a board of ``%job_runs`` rows),
        each with the entry's record and its run's metrics.

        A run already shown (a card, an earlier board) keeps its one handle: every view of it
        is then kept current by the same tracker updates, and ``%jobmagic`` counts it once;
        it takes the entry's record (:meth:`RunHandle.take_record`: nothing known is blanked).
        ``metrics`` are ones already fetched (``%job_runs --metrics``' frame); the ended runs
        of this host still without any are fetched (one search per application, and a log
        read per run for ``metric_patterns``), unless ``ask_server`` is False (``--stored``).
        Live runs' metrics are the tracker's, while a view shows them.
        """
        known: dict[tuple[str | None, str | None], RunHandle] = {
            (h.application_id, h.name): h for h in self.handles
        }
        handles: list[RunHandle] = []
        hosts: list[str | None] = []
        # Once per call, not per entry: a 10,000-run sweep spent 0.3 s asking for the host.
        host = self.host if any(entry.run is not None for entry in entries) else None
        targets: dict[str | None, ResolvedTarget] = {}
        for entry in entries:
            if entry.run is None:
                continue
            handle = known.get((entry.application_id, entry.run_name))
            if handle is not None:
                if entry.run.is_terminal and not handle.run.is_terminal:
                    handle.take(entry.run)  # the ledger just learnt it ended
                handle.take_record(
                    params=entry.params,
                    command=entry.command,
                    rerun_of=entry.rerun_of,
                    application_fqn=entry.application_fqn,
                )
            else:
                resolved = targets.get(entry.application_id)
                if resolved is None or resolved.deployment_id != entry.deployment_id:
                    resolved = ResolvedTarget(
                        Target(application_id=entry.application_id or "?"),
                        None,
                        entry.application_id,
                        entry.deployment_id,
                    )
                    targets[entry.application_id] = resolved
                handle = self.handle_for(
                    resolved,
                    entry.run,
                    params=entry.params,
                    command=entry.command,
                    application_fqn=entry.application_fqn,
                    host=host,
                    rerun_of=entry.rerun_of,
                    sweep=entry.sweep,
                )
            if entry.sweep and not handle.sweep:
                handle.sweep = entry.sweep  # a run shown before its sweep was loaded
            handles.append(handle)
            hosts.append(entry.host)
        if metrics:
            seed_handles(handles, metrics)
        if ask_server:
            self._fetch_ended_metrics(handles, hosts)
        return handles

    def _fetch_ended_metrics(
        self, handles: Sequence[RunHandle], hosts: Sequence[str | None]
    ) -> None:
        """:func:`jobmagic.domain.metrics.fetch_ended` for the handles of this host's runs
        (an application id alone may name another server's run: the sandbox's are the same
        everywhere)."""
        if not any(h.run.is_terminal and not h.metric_state.final for h in handles):
            return
        if time.monotonic() < self._metrics_paused_until:
            return  # the server was just found unreachable: a page turn does not wait again
        try:
            client = self.client
            patterns = dict(self.settings.metric_patterns or ())
        except JobmagicError:
            return  # no server set: the board shows what the ledger has
        mine = [h for h, host in zip(handles, hosts, strict=True) if host in (None, client.host)]
        if not fetch_ended(client, mine, patterns):
            self._metrics_paused_until = time.monotonic() + METRICS_PAUSE_SECONDS

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
        """A handle for a run that already exists, with what it was triggered with (see
        :func:`jobmagic.domain.server_history.recorded_handle`)."""
        resolved = self.resolve(target)
        if not resolved.application_id:
            raise ParamsError(
                "To attach a run, name its job by FQN, name or --application-id "
                "(a deployment id does not say which job's runs to look in)."
            )
        client = self.client
        app_id = resolved.application_id
        run = resolved.with_ids(client.get_run(app_id, name))
        # The run's one record: what the ledger says was sent (from any kernel), else the
        # params read back from the server's run; an attach never shows a run as sent empty.
        entry = self.ledger.entries_for_runs(app_id, [name], host=client.host).get(name)
        application = resolved.application
        if entry is None and application is None:
            application = application_of(client, app_id)  # its template reads params back
        return recorded_handle(self, resolved, application, run, entry)


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
