"""The HTTP layer: typed clients for TrueFoundry's Jobs API, and their errors."""

from jobmagic.api._errors import (
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
)

__all__ = [
    "APIError",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "JobmagicError",
    "NotFoundError",
    "ParamsError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "TriggerOutcomeUnknown",
    "ValidationError",
]
