"""Files and folders only their owner can read (standard library only).

jobmagic's rule for what it writes: files 0600, folders it creates 0700. Logs may hold job
output and params, the address file holds the token; none is anyone else's business.

>>> import tempfile, pathlib, stat
>>> folder = private_dir(pathlib.Path(tempfile.mkdtemp()) / "a" / "b")
>>> oct(stat.S_IMODE(folder.stat().st_mode)), oct(stat.S_IMODE(folder.parent.stat().st_mode))
('0o700', '0o700')
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

__all__ = ["DIR_MODE", "FILE_MODE", "open_private_append", "private_dir", "touch_private"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and any missing parents 0700; folders that exist are left as they are
    (they may be shared on purpose, like ``/tmp``)."""
    folder = Path(path)
    for ancestor in [*reversed(folder.parents), folder]:
        if not ancestor.exists():
            # FileExistsError: another process made it at the same moment.
            with contextlib.suppress(FileExistsError):
                ancestor.mkdir(mode=DIR_MODE)
    return folder


def _open_private(path: Path, flags: int) -> int:
    # Created 0600 (never readable by others, not even briefly), and an existing file from
    # an older jobmagic that used the umask is narrowed to 0600 too.
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    if os.name == "posix":
        try:
            os.fchmod(fd, FILE_MODE)
        except BaseException:
            os.close(fd)
            raise
    return fd


def open_private_append(path: str | Path) -> IO[bytes]:
    """``open(path, "ab")``, but the file is (and stays) 0600."""
    return os.fdopen(_open_private(Path(path), os.O_WRONLY | os.O_APPEND), "ab")


def touch_private(path: str | Path) -> IO[str]:
    """``open(path, "a+")`` for a lock file, 0600."""
    return os.fdopen(_open_private(Path(path), os.O_RDWR | os.O_APPEND), "a+", encoding="utf-8")
