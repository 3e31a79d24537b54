"""The exception hierarchy: catch at the level you care about.

::

    JobmagicError
    ├── ConfigError              no host/token, or an unsafe setting
    ├── APIError                 the server answered with an error status
    │   ├── AuthError            401 / 403
    │   ├── NotFoundError        404
    │   ├── ValidationError      400 / 422 (``details`` says which field)
    │   ├── ConflictError        409 / 417
    │   ├── RateLimitedError     429 (``retry_after`` seconds)
    │   └── ServerError          5xx
    ├── TransportError           the request never got an answer
    │   └── TriggerOutcomeUnknown   a trigger that may have started a run anyway
    ├── ParamsError              a cell body or params that cannot be sent
    ├── ObjectiveError           an objective without a known direction, or misspelled
    ├── AmbiguousTargetError     a job name that several jobs share
    └── LedgerError              the run ledger cannot be used (``reason``: a LedgerReason)

Every error has a ``hint``: what to do about it, where the error's class (or the error
itself) knows, and then the message ends with it; empty where the message alone says it.

A trigger's answer means one of three things (:func:`trigger_outcome`): *acknowledged* (a
readable run), *rejected* (an answer that means no run was made: the statuses in
:data:`TRIGGER_REJECTED_STATUSES`), or *unknown* (anything else that may have reached the
server: a 5xx, a dropped or timed-out answer, a 200 that cannot be read). Unknown outcomes
raise :class:`TriggerOutcomeUnknown`, whatever their cause.

No message ever contains the token: messages are built from the server's
answer and the request's method and path, never from headers.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "TRIGGER_REJECTED_STATUSES",
    "APIError",
    "AmbiguousTargetError",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "JobmagicError",
    "LedgerError",
    "LedgerReason",
    "NotFoundError",
    "ObjectiveError",
    "ParamsError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "TriggerOutcomeUnknown",
    "UnreachableError",
    "ValidationError",
    "error_for_response",
    "trigger_outcome",
]


class JobmagicError(Exception):
    """Base class of every error jobmagic raises on purpose.

    >>> JobmagicError("boom").hint, AuthError.hint.startswith("Check the token")
    ('', True)
    """

    #: What to do about it; the message ends with it when it is not empty.
    hint: str = ""


class ConfigError(JobmagicError):
    """jobmagic is not set up to talk to a host: missing or unsafe settings."""


class ParamsError(JobmagicError, ValueError):
    """Params that cannot be sent; ``line``/``column`` (1-based) point into the cell body."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line is not None and column is not None else ""
        if line is not None and column is None:
            where = f"line {line}: "
        super().__init__(where + message)


class ObjectiveError(JobmagicError, ValueError):
    """An objective that cannot rank runs: a metric whose direction is not known, or a
    goal that is neither ``min`` nor ``max``.

    >>> isinstance(ObjectiveError("no goal"), ValueError)
    True
    """


class APIError(JobmagicError):
    """The server answered with an error status."""

    hint = "Check the request and try again."

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        method: str = "",
        path: str = "",
        code: str | None = None,
        details: list[Any] | None = None,
        server_message: str | None = None,
    ):
        # None: refused here, before anything was sent (a request that could not be built).
        self.status_code = status_code
        self.method = method
        self.path = path
        self.code = code
        self.details = details or []
        self.server_message = server_message
        super().__init__(message)


class AuthError(APIError):
    """401/403: the token is missing, wrong, expired or lacks permission."""

    hint = (
        "Check the token: set TFY_API_KEY, run `tfy login`, or `%config JobMagic.api_key`; "
        "make sure it may access this application."
    )


class NotFoundError(APIError):
    """404: no such application, deployment or run."""

    hint = "Check the FQN, name or id (it is case-sensitive) and the host you point at."


class ValidationError(APIError):
    """400/422: the server rejected the request's content; ``details`` says which field."""

    hint = "Fix the fields named above and send again."


class ConflictError(APIError):
    """409/417: the request conflicts with the run's state (e.g. terminating a finished run)."""

    hint = "Refresh the run to see its current state."


class RateLimitedError(APIError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, if it said."""

    hint = "Wait a moment and try again, or lower --concurrency."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(APIError):
    """5xx: the server failed."""

    hint = (
        "The server had a problem; try again later. "
        "A trigger is never retried after a server error, so no run was duplicated."
    )


class TransportError(JobmagicError):
    """The request got no answer: connection refused, timeout, dropped connection, bad body."""


class UnreachableError(TransportError):
    """The server could not be reached (connection refused, connect timeout) after the
    retries: nothing was sent, so a trigger is safe to send again; a sweep stops sending."""


class TriggerOutcomeUnknown(TransportError):
    """A trigger reached (or may have reached) the server, but its answer says nothing sure.

    The answer was lost, timed out, could not be read, or was a server error (5xx): a run may
    have started. ``status_code`` is the HTTP status when there was one. Check the job's runs
    before triggering again (``%job_runs --reconcile`` matches the attempt to its run):
    retrying blindly can start the job twice.
    """

    def __init__(self, message: str, *, status_code: int | None = None):
        self.status_code = status_code
        #: Set once the attempt was looked for on the server and no run was found
        #: (a :class:`jobmagic.domain.reconcile.Verdict`: not created, ambiguous, or undecided).
        self.verdict: Any = None
        super().__init__(message)


class AmbiguousTargetError(JobmagicError):
    """An application name matched several applications; an FQN picks one.

    >>> error = AmbiguousTargetError("2 jobs are named 'train' (a:b:train, c:d:train). "
    ...                              "Use the FQN to pick one.")
    >>> str(error).endswith(error.hint)
    True
    """

    hint = "Use the FQN to pick one."


class LedgerReason(str, enum.Enum):
    """Why the ledger cannot be used (:attr:`LedgerError.reason`); compares equal to its
    text.

    >>> LedgerReason("read-only") is LedgerReason.READ_ONLY, LedgerReason.FULL == "full"
    (True, True)
    """

    READ_ONLY = "read-only"  # a read-only file system, or a Ledger opened read_only
    FULL = "full"  # the disk (or the user's quota) is full
    DAMAGED = "damaged"  # SQLite found the file corrupt, or it is not a SQLite file at all
    LOCKED = "locked"  # another program held the lock past the busy timeout
    NO_ACCESS = "no-access"  # the OS refuses this user (permissions)
    NEWER_SCHEMA = "newer-schema"  # written by a newer jobmagic
    OLD_SCHEMA = "old-schema"  # a reader cannot upgrade it
    MISSING = "missing"  # a reader found no file
    IO_ERROR = "io-error"  # the disk failed in some other way
    CLOSED = "closed"
    NO_ATTEMPT = "no-attempt"
    UNUSABLE = "unusable"  # anything else SQLite refused

    def __str__(self) -> str:
        return str(self.value)


class LedgerError(JobmagicError):
    """The run ledger cannot be used; ``reason`` (a :class:`LedgerReason`) says why, ``hint``
    what to do, and ``path`` which file, when one is to blame. The message already ends with
    the hint. (``jobmagic.ledger`` turns SQLite's and the OS's errors into these.)

    >>> error = LedgerError("The run ledger is closed.", reason=LedgerReason.CLOSED)
    >>> error.reason == "closed", str(error), error.hint
    (True, 'The run ledger is closed.', '')
    """

    def __init__(
        self,
        message: str,
        *,
        reason: LedgerReason = LedgerReason.UNUSABLE,
        hint: str = "",
        path: Path | None = None,
    ) -> None:
        self.reason = reason
        self.hint = hint
        self.path = path
        super().__init__(f"{message} {hint}" if hint else message)


#: The answers to a trigger that mean the server made no run. Everything else that may have
#: reached the server leaves the outcome unknown: a 5xx can come from a proxy or a crash
#: after the run was created. 429 counts only once its retries are spent.
TRIGGER_REJECTED_STATUSES = frozenset({400, 401, 403, 404, 409, 417, 422, 429})


def trigger_outcome(status_code: int) -> str:
    """``"acknowledged"``, ``"rejected"`` or ``"unknown"`` for a trigger answered with a status.

    >>> [trigger_outcome(s) for s in (200, 422, 429, 500, 502, 418)]
    ['acknowledged', 'rejected', 'rejected', 'unknown', 'unknown', 'unknown']
    """
    if 200 <= status_code < 300:
        return "acknowledged"
    return "rejected" if status_code in TRIGGER_REJECTED_STATUSES else "unknown"


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    417: ConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def error_for_response(
    status_code: int,
    body: Any,
    *,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> APIError:
    """Build the typed error for an error response (pure: no I/O)."""
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    server_message = data.get("message")
    server_message = str(server_message) if server_message else None
    code = data.get("code")
    raw_details = data.get("details")
    details = list(raw_details) if isinstance(raw_details, list) else []
    if status_code >= 500:
        cls: type[APIError] = ServerError
    else:
        cls = _STATUS_ERRORS.get(status_code, APIError)
    parts = [f"{method} {path} failed with HTTP {status_code}"]
    if server_message:
        parts[0] += f": {server_message}"
    detail_text = _format_details(details, already_said=server_message or "")
    if detail_text:
        parts.append(detail_text)
    if cls is RateLimitedError and retry_after is not None:
        parts.append(f"The server asks to wait {retry_after:g} s.")
    hint = _hint(cls, details)
    parts.append(hint)
    message = ". ".join(p.rstrip(".") for p in parts) + "."
    kwargs: dict[str, Any] = dict(
        status_code=status_code,
        method=method,
        path=path,
        code=str(code) if code is not None else None,
        details=details,
        server_message=server_message,
    )
    if cls is RateLimitedError:
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    error = cls(message, **kwargs)
    error.hint = hint  # the advice the message ends with
    return error


def _hint(cls: type[APIError], details: list[Any]) -> str:
    """The class's advice, but never "the fields named above" when no detail names one.

    >>> _hint(ValidationError, [])
    'Fix what the message says and send again.'
    >>> _hint(ValidationError, [{"field": "filter", "message": "bad"}]) == ValidationError.hint
    True
    """
    named = (
        isinstance(item, Mapping) and any(item.get(k) for k in ("field", "property", "path"))
        for item in details
    )
    if cls is ValidationError and not any(named):
        return "Fix what the message says and send again."
    return cls.hint


def _format_details(details: list[Any], *, already_said: str = "") -> str:
    """The details as ``field: problem; …``, each once.

    Servers often build their ``message`` from the same details (the sandbox does): a detail
    the message already says is left out, and so is a repeated one.

    >>> _format_details([{"field": "lr", "message": "bad"}], already_said="lr: bad")
    ''
    """
    pieces: list[str] = []
    for item in details[:5]:
        if isinstance(item, Mapping):
            field = item.get("field") or item.get("property") or item.get("path")
            text = item.get("message") or item.get("constraints") or item.get("error")
            pieces.append(f"{field}: {text}" if field else str(text or dict(item)))
        else:
            pieces.append(str(item))
    unique = [p for p in dict.fromkeys(pieces) if p and p not in already_said]
    return "; ".join(unique)
