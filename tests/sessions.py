"""Helpers for tests that need their own sandbox jobs, a JobSession or a shell on it.

Fixtures differ in scope and in the jobs they serve; the steps do not, so they live here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jobmagic.config import Settings
from jobmagic.domain.session import JobSession
from jobmagic.sandbox import SandboxServer


@contextmanager
def sandbox_serving(jobs_yaml: str, root: Path, **options: Any) -> Iterator[SandboxServer]:
    """A sandbox in this process serving the jobs of ``jobs_yaml``, its data under ``root``."""
    jobs = root / "jobs.yaml"
    jobs.write_text(jobs_yaml)
    with SandboxServer(root / "sandbox", jobs_file=jobs, **options) as server:
        yield server


@contextmanager
def session_on(server: SandboxServer, ledger_path: Path) -> Iterator[JobSession]:
    """A JobSession pointed at ``server`` with its own ledger and no cards, closed after."""
    session = JobSession(
        Settings(
            host=server.host,
            api_key=server.token,
            ledger_path=str(ledger_path),
            show_cards=False,
        )
    )
    try:
        yield session
    finally:
        session.close()


@contextmanager
def shell_on(
    server: SandboxServer, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    """A real InteractiveShell with jobmagic loaded and pointed at ``server``."""
    monkeypatch.setenv("TFY_HOST", server.host)
    monkeypatch.setenv("TFY_API_KEY", server.token)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jobmagic")
    shell.run_line_magic("config", f"JobMagic.ledger_path = {str(ledger_path)!r}")
    shell.run_line_magic("config", "JobMagic.poll_interval = 0.2")
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "jobmagic")
        InteractiveShell.clear_instance()


def until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it gives something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
