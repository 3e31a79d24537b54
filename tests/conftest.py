"""Shared pytest fixtures.

Sandbox fixtures (the local control plane every client test talks to over real sockets):

- ``sandbox``: a fresh in-process :class:`~jobmagic.sandbox.SandboxServer` per test, with
  HOME and JOBMAGIC_HOME pointed at temporary folders. Use it when a test needs a clean
  state (counts runs, restarts the server, sets faults it does not want to clean up).
- ``shared_sandbox``: one server for the whole session (fast), reset per test: faults
  cleared and request stats zeroed before each test. Runs of earlier tests remain, so do not
  count a job's runs — filter on the names your test triggered.
- ``sandbox_client``: an ``httpx.Client`` for ``sandbox``, with its token and base URL
  ``…/api/svc/v1`` set (proxies from the environment ignored).

All of them stop the server (and its child processes) when done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from jobmagic.sandbox import SandboxServer

#: A short grace period keeps terminate tests quick (SIGKILL follows SIGTERM after it).
SANDBOX_GRACE_PERIOD = 1.0


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and JOBMAGIC_HOME in ``tmp_path``: nothing a test does lands in the real home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("JOBMAGIC_HOME", str(home / ".jobmagic"))
    return home


@pytest.fixture
def sandbox(tmp_path: Path, isolated_home: Path) -> Iterator[SandboxServer]:
    """A fresh sandbox serving the demo jobs, data in ``tmp_path / "sandbox"``."""
    from jobmagic.sandbox import SandboxServer

    with SandboxServer(tmp_path / "sandbox", grace_period=SANDBOX_GRACE_PERIOD) as server:
        yield server


@pytest.fixture(scope="session")
def _shared_sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    from jobmagic.sandbox import SandboxServer

    data_dir = tmp_path_factory.mktemp("shared-sandbox")
    with SandboxServer(data_dir, grace_period=SANDBOX_GRACE_PERIOD) as server:
        yield server


@pytest.fixture
def shared_sandbox(_shared_sandbox_server: SandboxServer) -> SandboxServer:
    """The session-wide sandbox, with faults cleared and stats zeroed for this test."""
    _shared_sandbox_server.clear_faults()
    _shared_sandbox_server.reset_stats()
    return _shared_sandbox_server


@pytest.fixture
def sandbox_client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An httpx client for ``sandbox``: base URL ``…/api/svc/v1``, bearer token set."""
    import httpx

    with httpx.Client(
        base_url=sandbox.api_url,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        trust_env=False,
        timeout=10.0,
    ) as client:
        yield client
