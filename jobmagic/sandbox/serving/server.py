"""Running the sandbox in this process: :class:`SandboxServer`, uvicorn in a background thread.
As its own OS process (what ``jobmagic sandbox`` runs): :mod:`jobmagic.sandbox.serving.process`.

In-process, for tests and tools::

    with SandboxServer(tmp_path) as sandbox:
        httpx.get(f"{sandbox.api_url}/apps", headers={"Authorization": f"Bearer {sandbox.token}"})
        sandbox.set_faults(Fault.drop("trigger", after=True))
        sandbox.stats()["trigger"]

Only one sandbox may use a data dir at a time (a lock file enforces it): a second one would
take the first one's running runs for orphans.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import uvicorn

from jobmagic.models import API_PREFIX
from jobmagic.sandbox.errors import SandboxError
from jobmagic.sandbox.processes.runner import Runner
from jobmagic.sandbox.service import render
from jobmagic.sandbox.service.catalog import JobCatalog, JobSpec, load_jobs
from jobmagic.sandbox.service.operations import SandboxService
from jobmagic.sandbox.serving.address import (
    SandboxAddress,
    read_sandbox_address,
    remove_address_file,
    write_address_file,
)
from jobmagic.sandbox.serving.http_stack import event_loop, http_implementation, protocol_class
from jobmagic.sandbox.storage.private import private_dir, touch_private
from jobmagic.sandbox.storage.records import TERMINAL
from jobmagic.sandbox.storage.store import Store
from jobmagic.sandbox.web.app import create_app
from jobmagic.sandbox.web.connections import ConnectionRegistry
from jobmagic.sandbox.web.context import AppContext
from jobmagic.sandbox.web.faults import Fault, FaultPlan, RequestStats, to_faults

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DB_FILE", "DEFAULT_GRACE_PERIOD", "LOCK_FILE", "SandboxServer", "generate_token"]

logger = logging.getLogger("jobmagic.sandbox")

DEFAULT_GRACE_PERIOD = 3.0
LOOPBACK = "127.0.0.1"
DB_FILE = "sandbox.db"
LOCK_FILE = "sandbox.lock"
_TOKEN_RE = re.compile(r"[!-~]{8,512}")  # what fits in an Authorization header unchanged


def generate_token() -> str:
    """A fresh token: ``tfy_`` (so TrueFoundry's SDKs treat it as a personal access token)
    followed by 43 URL-safe random characters."""
    return "tfy_" + secrets.token_urlsafe(32)


class _DataDirLock:
    """An exclusive ``flock`` on ``<data_dir>/sandbox.lock``; released by the OS on a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = touch_private(self.path)  # held while serving
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                running = read_sandbox_address(self.path.parent)
                who = f" (pid {running.pid}, {running.host})" if running else ""
                raise SandboxError(
                    f"Another sandbox is using {self.path.parent}{who}. Stop it, or give "
                    "this one another data dir."
                ) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None


def _bind(port: int) -> socket.socket:
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket names its protocol. Without it every answer (headers, then
    # body) waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        raise SandboxError(f"Cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc}") from None
    return sock


class SandboxServer:
    """The sandbox served by uvicorn in a background thread, on 127.0.0.1.

    ``port=0`` picks a free port; ``token=None`` generates one. ``embedded=True`` (the
    default) tells ``jobmagic sandbox stop`` that this process is not the sandbox's own,
    so it must not be signalled. ``log_time_step_ns`` makes the times of log lines
    multiples of it, so lines printed within one step share a time (1: every line apart).

    Attributes once started: ``host`` (``http://127.0.0.1:PORT``), ``api_url``, ``port``,
    ``token``, ``data_dir``, ``jobs``, ``connections`` (the live client connections).
    :meth:`stop` terminates every running child and marks
    its run TERMINATED (``error="sandbox stopped"``).
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        token: str | None = None,
        port: int = 0,
        jobs_file: str | Path | None = None,
        grace_period: float = DEFAULT_GRACE_PERIOD,
        log_level: str = "warning",
        access_log: bool = False,
        embedded: bool = True,
        log_time_step_ns: int = 1,
    ) -> None:
        if token is not None and not _TOKEN_RE.fullmatch(token):
            raise ValueError("A sandbox token must be 8-512 printable ASCII characters, no spaces.")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.token = token or generate_token()
        self.port = port
        self.grace_period = grace_period
        self.embedded = embedded
        self.log_time_step_ns = log_time_step_ns
        self.catalog = JobCatalog(tuple(load_jobs(jobs_file)))
        self._log_level = log_level
        self._access_log = access_log
        self._faults = FaultPlan()
        self._stats = RequestStats()
        self._lock = _DataDirLock(self.data_dir / LOCK_FILE)
        self._socket: socket.socket | None = None
        self._store: Store | None = None
        self._runner: Runner | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.connections = ConnectionRegistry()
        self.recovered_runs: list[str] = []

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SandboxServer {self.host} {state} data_dir={str(self.data_dir)!r}>"

    # --- where -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.host + API_PREFIX

    @property
    def jobs(self) -> tuple[JobSpec, ...]:
        return self.catalog.jobs

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def address(self) -> SandboxAddress:
        return SandboxAddress(
            host=self.host,
            port=self.port,
            token=self.token,
            pid=os.getpid(),
            embedded=self.embedded,
        )

    # --- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Serve; returns once the server accepts requests. Raises :class:`SandboxError`."""
        if self._thread is not None:
            raise SandboxError("This SandboxServer was already started.")
        private_dir(self.data_dir)
        self._lock.acquire()
        try:
            self._socket = _bind(self.port)
            self.port = self._socket.getsockname()[1]
            self._store = Store(self.data_dir / DB_FILE)
            self._runner = Runner(
                self._store,
                grace_period=self.grace_period,
                log_time_step_ns=self.log_time_step_ns,
            )
            self.recovered_runs = self._runner.recover()
            service = SandboxService(
                self._store,
                self._runner,
                self.catalog,
                default_cwd=self.data_dir,
                public_host=self.host,
            )
            app = create_app(
                AppContext(service, self.token, self._faults, self._stats, self.connections)
            )
            http, loop = http_implementation(), event_loop()
            # Which stack serves says much about the throughput to expect (httptools and
            # uvloop, the `sandbox` extra, or the pure-Python fallbacks).
            logger.debug("serving HTTP with %s on the %s event loop", http, loop)
            config = uvicorn.Config(
                app,
                host=LOOPBACK,
                port=self.port,
                http=protocol_class(self.connections, http),
                loop=loop,
                lifespan="off",
                log_config=None,  # leave the host program's logging alone
                log_level=self._log_level,
                access_log=self._access_log,
                server_header=False,
                timeout_graceful_shutdown=2,
            )
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(
                target=self._serve, name=f"jobmagic-sandbox-{self.port}", daemon=True
            )
            self._thread.start()
            self._wait_started(timeout)
            write_address_file(self.data_dir, self.address)
        except BaseException:
            self._teardown()
            raise
        return self

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # SystemExit included: uvicorn exits on startup errors
            self._error = exc

    def _wait_started(self, timeout: float) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise SandboxError(f"The sandbox server did not start: {self._error!r}")
            if time.monotonic() > deadline:
                raise SandboxError(f"The sandbox server did not start within {timeout} s")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving, terminate running children, close the store, remove the address file."""
        self._teardown()

    def _teardown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._runner is not None:
            self._runner.stop()
        if self._store is not None:
            self._store.close()
        if self._socket is not None:
            self._socket.close()
            remove_address_file(self.data_dir, pid=os.getpid(), port=self.port)
        self._lock.release()
        self._server = self._runner = self._store = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- faults and stats --------------------------------------------------------------

    def set_faults(self, *faults: Fault | Mapping[str, Any]) -> None:
        """Replace the active faults, e.g. ``set_faults(Fault.status(503, "trigger", times=2))``."""
        self._faults.replace(to_faults(faults))

    def add_faults(self, *faults: Fault | Mapping[str, Any]) -> None:
        """Add faults to the active ones."""
        self._faults.add(to_faults(faults))

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[Fault]:
        """The faults still active (used-up ones are gone)."""
        return self._faults.active()

    def stats(self) -> dict[str, int]:
        """Requests received per endpoint key (counted before faults and auth)."""
        return self._stats.snapshot()

    def peak_in_flight(self) -> dict[str, int]:
        """The most requests of each endpoint in flight at once since the last reset."""
        return self._stats.peaks()

    def reset_stats(self) -> None:
        self._stats.reset()

    # --- looking at runs directly (server-side truth, no HTTP) ------------------------

    def get_run(self, application_id: str, name: str) -> dict[str, Any] | None:
        """A run as the API would show it, read straight from the store; None if absent."""
        store = self._require_store()
        record = store.get_run(application_id, name)
        return render.run_json(record) if record else None

    def runs(self, application_id: str) -> list[dict[str, Any]]:
        """All runs of an application, newest first, read straight from the store."""
        records, _total = self._require_store().list_runs(application_id, limit=1_000_000)
        return [render.run_json(record) for record in records]

    def run_pid(self, application_id: str, name: str) -> int | None:
        """The process id of a run's (first) process, if it started; for tests."""
        record = self._require_store().get_run(application_id, name)
        return record.pid if record else None

    def wait_for_run(
        self,
        application_id: str,
        name: str,
        *,
        statuses: tuple[str, ...] = TERMINAL,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """Poll the store until the run's status is one of ``statuses``; its JSON."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(application_id, name)
            if run is not None and run["status"] in statuses:
                return run
            if time.monotonic() > deadline:
                state = run["status"] if run else "absent"
                raise TimeoutError(f"run {name} is still {state} after {timeout} s")
            time.sleep(0.02)

    def _require_store(self) -> Store:
        if self._store is None:
            raise SandboxError("The sandbox is not running.")
        return self._store
