"""The params tests' fixture: each parser test runs three ways."""

from __future__ import annotations

import pytest

from jobmagic.params import _compose, _lines


@pytest.fixture(params=["lines", "libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test three ways: the line fast path first (the default), libyaml alone, and the
    pure-Python parser alone."""
    if request.param != "lines":
        monkeypatch.setattr(_lines, "ENABLED", False)
    if request.param == "python":
        monkeypatch.setattr(_compose, "FAST_LOADER", None)
    elif _compose.FAST_LOADER is None:
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)
