"""The HTTP layer: typed clients for TrueFoundry's Jobs API, and their errors.

The errors import eagerly (they are tiny); the clients pull in httpx, so they
load on first use and ``%load_ext jobmagic`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobmagic._lazy import lazy_attributes
from jobmagic.errors import (
    TRIGGER_REJECTED_STATUSES,
    AmbiguousTargetError,
    APIError,
    AuthError,
    ConfigError,
    ConflictError,
    JobmagicError,
    NotFoundError,
    ParamsError,
    RateLimitedError,
    ServerError,
    TransportError,
    TriggerOutcomeUnknown,
    ValidationError,
    trigger_outcome,
)

if TYPE_CHECKING:
    from jobmagic.api._client import AsyncJobsClient, JobsClient
    from jobmagic.api._retry import RetryPolicy

_LAZY = {
    "AsyncJobsClient": "jobmagic.api._client",
    "JobsClient": "jobmagic.api._client",
    "RetryPolicy": "jobmagic.api._retry",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "TRIGGER_REJECTED_STATUSES",
    "APIError",
    "AmbiguousTargetError",
    "AsyncJobsClient",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "JobmagicError",
    "JobsClient",
    "NotFoundError",
    "ParamsError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "TriggerOutcomeUnknown",
    "ValidationError",
    "trigger_outcome",
]
