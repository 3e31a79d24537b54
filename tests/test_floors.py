"""The floors pyproject.toml declares are the versions CI proves: constraints/floors.txt pins
each one exactly (`make test-floors` runs the suite on them), so neither can move alone."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
#: Declared floors the floor job does not pin, with why.
UNPINNED = {"httpx[socks]": "the socks extra: an optional proxy scheme, not in the floor venv"}


def _declared() -> dict[str, Version]:
    """The runtime and the sandbox/plot extras' floors (not the demo's or the dev tools')."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    plot = text.index("\nplot = [")
    runtime = text[text.index("dependencies = [") : text.index("\n", plot + 1)]
    floors = {}
    for requirement in re.findall(r'"([^"]+)"', runtime):
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)>=([0-9][^;,\s]*)", requirement)
        if match and match.group(1) not in UNPINNED:
            floors[match.group(1).lower()] = Version(match.group(2))
    return floors


def _pinned() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints" / "floors.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = Version(match.group(2))
    return pins


def test_every_declared_floor_is_pinned_exactly_in_the_floor_job() -> None:
    declared, pinned = _declared(), _pinned()
    assert declared, "no floors read from pyproject.toml"
    assert {name: pinned.get(name) for name in declared} == declared
    assert set(pinned) == set(declared), "a pin without a declared floor"
