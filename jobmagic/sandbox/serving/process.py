"""A sandbox as its own OS process: start one (:func:`start_sandbox_process`), attach to the
one running for a data dir (:func:`ensure_sandbox_process`), and talk to it over HTTP.

::

    proc = start_sandbox_process(tmp_path)
    try:
        ...  # proc.host, proc.token
    finally:
        proc.stop()

This side needs no web stack: it starts ``python -m jobmagic sandbox`` and reads the address
file the child writes. Where a sandbox lives by default is the caller's business (the CLI
and the magics use ``$JOBMAGIC_HOME/sandbox``): the sandbox does not know jobmagic's config.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from jobmagic.models import API_PREFIX
from jobmagic.sandbox.errors import SandboxError
from jobmagic.sandbox.serving.address import SandboxAddress, pid_alive, read_sandbox_address
from jobmagic.sandbox.storage.private import open_private_append, private_dir
from jobmagic.sandbox.web.faults import Fault, to_faults

__all__ = [
    "LOG_FILE",
    "TOKEN_ENV",
    "SandboxProcess",
    "ensure_sandbox_process",
    "start_sandbox_process",
]

logger = logging.getLogger("jobmagic.sandbox")

#: A token for ``jobmagic sandbox`` can come from this variable (not the command line, where
#: every local user could read it in ``ps``).
TOKEN_ENV = "JOBMAGIC_SANDBOX_TOKEN"
LOG_FILE = "sandbox.log"


class SandboxProcess:
    """A sandbox running as its own OS process (``python -m jobmagic sandbox``).

    ``owned`` is True when this handle started the process; a handle from
    :func:`ensure_sandbox_process` may instead be *attached* to a sandbox someone else
    started (in a terminal, another kernel), which :meth:`stop` leaves running.
    """

    def __init__(
        self,
        address: SandboxAddress,
        data_dir: Path,
        popen: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.popen = popen
        self.host = address.host
        self.port = address.port
        self.token = address.token
        self.pid = address.pid
        self.embedded = address.embedded
        self.data_dir = data_dir
        self.log_path = data_dir / LOG_FILE

    def __repr__(self) -> str:
        how = "owned" if self.owned else "attached"
        return f"<SandboxProcess pid={self.pid} {self.host} {how}>"

    @property
    def owned(self) -> bool:
        return self.popen is not None

    @property
    def api_url(self) -> str:
        return self.host + API_PREFIX

    def alive(self) -> bool:
        """True while the sandbox process runs."""
        if self.popen is not None:
            return self.popen.poll() is None
        return read_sandbox_address(self.data_dir) is not None and pid_alive(self.pid)

    @property
    def label(self) -> str:
        """Where this sandbox's host and token come from, as a person reads it; a caller
        building jobmagic's ``Credentials`` from ``host`` and ``token`` names it so."""
        return f"sandbox ({self.data_dir})"

    def set_faults(self, *faults: Fault | Mapping[str, Any]) -> None:
        """Replace the active faults, over HTTP (``PUT /_sandbox/faults``)."""
        self._admin("PUT", "faults", [fault.to_json() for fault in to_faults(faults)])

    def stats(self) -> dict[str, int]:
        """Requests received per endpoint key, over HTTP (``GET /_sandbox/stats``)."""
        counts = self._admin("GET", "stats")["requests"]
        return {str(endpoint): int(count) for endpoint, count in counts.items()}

    def _admin(self, method: str, name: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.host}/_sandbox/{name}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10.0) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SandboxError(f"The sandbox refused {method} /_sandbox/{name}: {exc}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SandboxError(f"The sandbox at {self.host} did not answer: {exc}") from None

    def stop(self, timeout: float = 15.0, *, force: bool = False) -> int | None:
        """Stop a sandbox this handle started: SIGTERM (children terminated, runs marked),
        SIGKILL if it hangs. An attached handle stops its sandbox only with ``force=True``
        (and never one embedded in another program). Returns the exit code when known."""
        if self.popen is None:
            if force and not self.embedded and self.alive():
                os.kill(self.pid, signal.SIGTERM)
                _wait_until(lambda: not pid_alive(self.pid), timeout)
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM if os.name == "posix" else signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("sandbox pid %d did not stop in %s s; killing it", self.pid, timeout)
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _answers(host: str) -> bool:
    # No proxies: a loopback server must be asked directly, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{host}/_sandbox/health", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_sandbox_process(
    data_dir: str | Path,
    *,
    port: int = 0,
    token: str | None = None,
    jobs_file: str | Path | None = None,
    grace_period: float | None = None,
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
    log_level: str | None = None,
) -> SandboxProcess:
    """Launch ``python -m jobmagic sandbox`` and return once it answers.

    The token goes to the child through ``$JOBMAGIC_SANDBOX_TOKEN``, never its command line;
    without one the child generates it and it is read back from the address file. The
    child's output goes to ``<data_dir>/sandbox.log`` (0600), whose banner never shows the
    token: the child's stdout is not a terminal. ``log_level`` (e.g. ``"debug"``) sets the
    child's logging.
    """
    directory = private_dir(Path(data_dir).expanduser().resolve())
    running = read_sandbox_address(directory)
    if running is not None:
        raise SandboxError(f"A sandbox is already running for {directory} (pid {running.pid}).")
    argv = [sys.executable, "-m", "jobmagic", "sandbox", "--data-dir", str(directory)]
    argv += ["--port", str(port)]
    if jobs_file is not None:
        argv += ["--jobs", str(Path(jobs_file).expanduser().resolve())]
    if grace_period is not None:
        argv += ["--grace", str(grace_period)]
    if log_level is not None:
        argv += ["--log-level", log_level]
    child_env = dict(os.environ if env is None else env)
    child_env.pop(TOKEN_ENV, None)
    if token:
        child_env[TOKEN_ENV] = token
    with open_private_append(directory / LOG_FILE) as log:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=child_env
        )
    deadline = time.monotonic() + timeout
    while True:
        code = popen.poll()
        if code is not None:
            raise SandboxError(
                f"The sandbox process exited with code {code} while starting:\n"
                + _tail(directory / LOG_FILE)
            )
        address = read_sandbox_address(directory)
        if address is not None and address.pid == popen.pid and _answers(address.host):
            return SandboxProcess(address, directory, popen)
        if time.monotonic() > deadline:
            popen.kill()
            popen.wait(5)
            raise SandboxError(
                f"The sandbox process did not answer within {timeout} s:\n"
                + _tail(directory / LOG_FILE)
            )
        time.sleep(0.05)


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    return ""


def ensure_sandbox_process(
    data_dir: str | Path,
    *,
    port: int = 0,
    token: str | None = None,
    jobs_file: str | Path | None = None,
    timeout: float = 20.0,
) -> SandboxProcess:
    """The sandbox for ``data_dir``: attach to the one already running there, or start one
    (then the handle owns it).

    Options other than ``data_dir`` apply only when a new sandbox is started.
    """
    directory = Path(data_dir).expanduser().resolve()
    running = read_sandbox_address(directory)
    if running is not None and _answers(running.host):
        return SandboxProcess(running, directory)
    try:
        return start_sandbox_process(
            directory, port=port, token=token, jobs_file=jobs_file, timeout=timeout
        )
    except SandboxError:
        # Someone else may have started one at the same moment: use theirs if it answers.
        running = read_sandbox_address(directory)
        if running is not None and _answers(running.host):
            return SandboxProcess(running, directory)
        raise
