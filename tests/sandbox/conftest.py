"""The sandbox tests' own fixtures: a sandbox serving the odd jobs of ``CUSTOM_JOBS``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobmagic.sandbox import SandboxServer
from tests.sandbox.sandbox_helpers import CUSTOM_JOBS


@pytest.fixture
def custom_jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs" / "jobs.yaml"
    path.parent.mkdir()
    path.write_text(CUSTOM_JOBS, encoding="utf-8")
    return path


@pytest.fixture
def custom_sandbox(
    tmp_path: Path, isolated_home: Path, custom_jobs: Path
) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "custom", jobs_file=custom_jobs, grace_period=0.5) as server:
        yield server
