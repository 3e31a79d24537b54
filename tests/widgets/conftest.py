"""Fixtures of the view tests: a private home, and a check that a view printed nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _home(isolated_home: Path) -> Path:
    return isolated_home


@pytest.fixture
def quiet(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Fail the test if a view prints anything (from any thread)."""
    yield
    out, err = capsys.readouterr()
    assert out == "" and err == "", (out, err)
