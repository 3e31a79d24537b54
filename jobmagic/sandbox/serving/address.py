"""The address file: how other processes find a running sandbox (standard library only).

While a sandbox is up, ``<data_dir>/sandbox.json`` (mode 0600, it holds the token) says
``{host, port, token, pid, embedded}``; it is removed when the sandbox stops.
``embedded`` is true when the sandbox runs inside another program (a test, a notebook
kernel) — then ``jobmagic sandbox stop`` must not signal that process.

>>> import tempfile
>>> read_sandbox_address(tempfile.mkdtemp()) is None
True
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobmagic.models import API_PREFIX

__all__ = [
    "ADDRESS_FILE",
    "SandboxAddress",
    "pid_alive",
    "read_sandbox_address",
    "remove_address_file",
    "write_address_file",
]

ADDRESS_FILE = "sandbox.json"


@dataclass(frozen=True)
class SandboxAddress:
    """Where a running sandbox listens. ``repr`` never shows the token."""

    host: str
    port: int
    token: str = field(repr=False)
    pid: int
    embedded: bool = False

    @property
    def api_url(self) -> str:
        return self.host + API_PREFIX


def pid_alive(pid: int) -> bool:
    """True if a process with this id runs (it may belong to another user); a zombie —
    dead, waiting for its parent to reap it — does not count."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False  # no /proc (not Linux): trust kill(pid, 0)


def read_sandbox_address(data_dir: str | Path) -> SandboxAddress | None:
    """The address of the sandbox using ``data_dir``, or None if none is running there."""
    path = Path(data_dir).expanduser() / ADDRESS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        address = SandboxAddress(
            host=str(data["host"]),
            port=int(data["port"]),
            token=str(data["token"]),
            pid=int(data["pid"]),
            embedded=bool(data.get("embedded", False)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return address if pid_alive(address.pid) else None


def write_address_file(data_dir: str | Path, address: SandboxAddress) -> Path:
    """Write the address file atomically, readable by its owner only."""
    directory = Path(data_dir)
    path = directory / ADDRESS_FILE
    temporary = directory / f".{ADDRESS_FILE}.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    # Created 0600 from the start: the token is never readable by others, not even briefly.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(address), handle)
    os.replace(temporary, path)
    return path


def remove_address_file(data_dir: str | Path, *, pid: int, port: int) -> None:
    """Remove the address file if it still describes this sandbox (pid and port)."""
    path = Path(data_dir) / ADDRESS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if int(data.get("pid", -1)) == pid and int(data.get("port", -1)) == port:
            path.unlink()
    except (OSError, ValueError, TypeError):
        pass
