"""Why the ledger cannot be used, and what to do about it: every SQLite or OS error becomes a
:class:`LedgerError` with a :class:`LedgerReason` and a hint that fits.

SQLite's own words are often just "disk I/O error" or "unable to open database file", and
"if it is damaged, move it aside" is wrong advice for a healthy file on a read-only or full
disk: the reason comes from SQLite's result code and the OS's errno, and where those do not
tell (an I/O error, a file that cannot be opened) from the file system itself.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from jobmagic.errors import LedgerError, LedgerReason

# LedgerError and LedgerReason live with every other error (jobmagic.errors); named here
# too, so the imports written before they moved keep working.
__all__ = ["LedgerError", "LedgerReason", "is_damage", "ledger_error", "reason_of"]


# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_NOMEM = 7
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_AUTH = 23
_SQLITE_NOTADB = 26

_BY_CODE = {
    _SQLITE_CORRUPT: LedgerReason.DAMAGED,
    _SQLITE_NOTADB: LedgerReason.DAMAGED,
    _SQLITE_FULL: LedgerReason.FULL,
    _SQLITE_BUSY: LedgerReason.LOCKED,
    _SQLITE_LOCKED: LedgerReason.LOCKED,
}
#: Codes that name no cause of their own: the file system is asked (see :func:`_probe`).
_VAGUE = {
    _SQLITE_READONLY: LedgerReason.READ_ONLY,
    _SQLITE_IOERR: LedgerReason.IO_ERROR,
    _SQLITE_NOMEM: LedgerReason.IO_ERROR,
    _SQLITE_CANTOPEN: LedgerReason.IO_ERROR,
    _SQLITE_PERM: LedgerReason.NO_ACCESS,
    _SQLITE_AUTH: LedgerReason.NO_ACCESS,
}
#: Before Python 3.11 an sqlite3.Error carries no code: SQLite's fixed texts stand in for it.
_BY_TEXT = (
    ("malformed", _SQLITE_CORRUPT),
    ("not a database", _SQLITE_NOTADB),
    ("database or disk is full", _SQLITE_FULL),
    ("database is locked", _SQLITE_BUSY),
    ("is locked", _SQLITE_LOCKED),
    ("readonly database", _SQLITE_READONLY),
    ("disk i/o error", _SQLITE_IOERR),
    ("unable to open", _SQLITE_CANTOPEN),
)
_BY_ERRNO = {
    errno.EROFS: LedgerReason.READ_ONLY,
    errno.ENOSPC: LedgerReason.FULL,
    errno.EDQUOT: LedgerReason.FULL,
    errno.EACCES: LedgerReason.NO_ACCESS,
    errno.EPERM: LedgerReason.NO_ACCESS,
}


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    return next((code for words, code in _BY_TEXT if words in text), None)


def is_damage(exc: BaseException) -> bool:
    """Whether SQLite says the file is corrupt (or no database at all).

    >>> is_damage(sqlite3.DatabaseError("database disk image is malformed"))
    True
    >>> is_damage(sqlite3.OperationalError("database is locked"))
    False
    """
    return isinstance(exc, sqlite3.Error) and _sqlite_code(exc) in (
        _SQLITE_CORRUPT,
        _SQLITE_NOTADB,
    )


def reason_of(exc: BaseException, path: Path) -> LedgerReason:
    """The reason behind ``exc``, met using the ledger at ``path``.

    >>> reason_of(OSError(errno.ENOSPC, "No space left on device"), Path("/tmp/l.sqlite3"))
    <LedgerReason.FULL: 'full'>
    """
    if isinstance(exc, LedgerError):
        return exc.reason
    if isinstance(exc, sqlite3.Error):
        code = _sqlite_code(exc)
        if code in _BY_CODE:
            return _BY_CODE[code]
        if code in _VAGUE:
            return _probe(path) or _VAGUE[code]
        return LedgerReason.UNUSABLE
    if isinstance(exc, OSError):
        known = _BY_ERRNO.get(exc.errno) if exc.errno is not None else None
        return known or _probe(path) or LedgerReason.IO_ERROR
    return LedgerReason.UNUSABLE


def _probe(path: Path) -> LedgerReason | None:
    """What the file system says about the ledger's folder: read-only, full, or closed to
    this user; ``None`` when none of these (the error is then the disk's own)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return LedgerReason.READ_ONLY
    if stats.f_bavail == 0:
        return LedgerReason.FULL
    for place in (folder, path):
        if place.exists() and not os.access(place, os.W_OK):
            return LedgerReason.NO_ACCESS
    return None


_WHAT = {
    LedgerReason.READ_ONLY: "it is on a read-only file system",
    LedgerReason.FULL: "the disk is full",
    LedgerReason.DAMAGED: "the file is damaged",
    LedgerReason.LOCKED: "another program holds it locked",
    LedgerReason.NO_ACCESS: "this user may not write there",
    LedgerReason.IO_ERROR: "the disk reported an error",
    LedgerReason.UNUSABLE: "SQLite refused",
}

_ELSEWHERE = (
    "point jobmagic at a writable folder (JOBMAGIC_HOME, or `%config JobMagic.ledger_path = '...'`)"
)


def hint_for(reason: LedgerReason, path: Path) -> str:
    """The advice for ``reason``: never to move a healthy file aside.

    >>> "move" in hint_for(LedgerReason.FULL, Path("/x/ledger.sqlite3"))
    False
    """
    if reason is LedgerReason.READ_ONLY:
        return (
            f"The file itself is fine: make {path.parent} writable again, or {_ELSEWHERE}; "
            "`Ledger(path, read_only=True)` can still read it."
        )
    if reason is LedgerReason.FULL:
        return (
            f"The file itself is fine and nothing was written: free some space on the disk "
            f"holding {path.parent}, then try again."
        )
    if reason is LedgerReason.NO_ACCESS:
        return (
            f"The file itself is fine: give this user write access to {path} and its folder, "
            f"or {_ELSEWHERE}."
        )
    if reason is LedgerReason.LOCKED:
        return (
            "Close the other program that has it open (a database browser, a stuck "
            "process), then try again; the file itself is fine."
        )
    if reason is LedgerReason.DAMAGED:
        return (
            "The next jobmagic that writes to it (a trigger in a kernel) moves it aside, "
            "keeping every byte, and starts a new one; `%jobmagic ledger recover PATH` then "
            "copies every readable run from the old file."
        )
    if reason is LedgerReason.IO_ERROR:
        return (
            "Check the disk (and `dmesg`); the file was left as it is. If the error stays, "
            f"{_ELSEWHERE}."
        )
    return "This looks like a bug in jobmagic: please report it with the message above."


def ledger_error(path: Path, exc: BaseException, doing: str) -> LedgerError:
    """``exc`` (an sqlite3.Error or OSError met while ``doing`` "opened", "written" or
    "read") as a LedgerError with its reason and hint.

    >>> error = ledger_error(Path("/x/l.sqlite3"), OSError(errno.EROFS, "Read-only"), "opened")
    >>> error.reason, str(error).split(":")[0]
    (<LedgerReason.READ_ONLY: 'read-only'>, 'The run ledger /x/l.sqlite3 cannot be opened')
    """
    if isinstance(exc, LedgerError):
        return exc
    reason = reason_of(exc, path)
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return LedgerError(
        f"The run ledger {path} cannot be {doing}: {_WHAT.get(reason, reason.value)} ({detail}).",
        reason=reason,
        hint=hint_for(reason, path),
        path=path,
    )
