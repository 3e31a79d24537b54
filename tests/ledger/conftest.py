"""The ledger tests' fixtures: a home of their own, and small file systems of their own
(tmpfs, mounted by root) to make read-only and full for real."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real home: HOME and JOBMAGIC_HOME point into tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JOBMAGIC_HOME", str(tmp_path / "jobmagic-home"))
    return tmp_path / "jobmagic-home"


class Tmpfs:
    """A tmpfs mounted at ``path`` for one test; :meth:`read_only` and :meth:`fill` change
    it as a disk would change under a running kernel."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _mount(self, *args: str) -> None:
        subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)

    def read_only(self) -> None:
        self._mount("-o", "remount,ro", str(self.path))

    def writable(self) -> None:
        self._mount("-o", "remount,rw", str(self.path))

    def fill(self) -> Path:
        """Write a file until the disk is full; returns it (delete it to free the space)."""
        filler = self.path / "filler"
        fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            for size in (65536, 512, 1):  # to the last byte
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)
        return filler


def _must_run_here() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A 4 MB tmpfs of this test's own, unmounted after it. Mounting needs root: elsewhere
    the test is skipped, except in CI (which runs as root), where it fails instead."""
    reason = None
    if os.geteuid() != 0:
        reason = "mounting a tmpfs needs root (run the suite as root, as CI does)"
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if reason is None:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            reason = f"cannot mount a tmpfs here: {done.stderr.strip()}"
    if reason is not None:
        if _must_run_here():
            pytest.fail(f"CI=true, so this test must run: {reason}")
        pytest.skip(reason)
    try:
        yield Tmpfs(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)
