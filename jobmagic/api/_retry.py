"""When a failed call may be sent again, and after how long.

The rules follow from one fact: a trigger is not idempotent. So a trigger
is repeated only when it provably never reached the server (the connection
was never made, or the pool never handed one out) or when the server said
429 — a refusal, not a run. Reads repeat on 5xx and transport errors.

>>> policy = RetryPolicy()
>>> policy.delay(attempt=1, retry_after=None) <= policy.backoff_cap
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

__all__ = ["NEVER_SENT", "RetryPolicy"]

# Failures that happen before a single byte of the request leaves this machine.
NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, capped exponential backoff with jitter.

    ``max_attempts`` counts the first try. ``max_retry_after`` bounds how long
    a server's ``Retry-After`` may make us wait, so a notebook never hangs.
    """

    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_cap: float = 4.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try number ``attempt + 1``."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        # Full jitter: many kernels retrying the same outage should not stampede.
        return random.uniform(ceiling / 2, ceiling)

    def retry_status(self, status_code: int, *, idempotent: bool) -> bool:
        if status_code == 429:
            return True
        return idempotent and status_code >= 500

    def retry_exception(self, exc: Exception, *, idempotent: bool) -> bool:
        if isinstance(exc, NEVER_SENT):
            return True
        return idempotent and isinstance(exc, httpx.TransportError)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; HTTP dates are rare from APIs and read as unknown."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
