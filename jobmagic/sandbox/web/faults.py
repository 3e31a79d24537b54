"""Fault injection and request counting, switchable while the sandbox runs.

A :class:`Fault` says what goes wrong on which endpoint, and how many times. Endpoints are
named by stable keys (:data:`ENDPOINTS`); ``"*"`` means every API endpoint.

=============  =============================================================================
kind           effect
=============  =============================================================================
``latency``    wait ``latency_ms`` before handling (adds up with other faults)
``status``     answer ``status_code`` with an error body instead of handling the request; with
               ``after=True`` the request IS handled first (e.g. the run is created) and the
               answer replaced — the 5xx a trigger must never retry
``rate_limit`` answer 429 with a ``Retry-After: <retry_after>`` header, without handling
``drop``       read the request, then abort the TCP connection: no HTTP answer at all;
               ``after=True`` handles the request first (the run exists, the answer is lost)
``malformed``  handle the request, then send its answer cut in half (not JSON)
``body``       handle the request, then answer 200 with ``body`` (raw text, e.g. ``null``,
               ``{}``, ``[]``): a success a client cannot read
=============  =============================================================================

Over HTTP: ``POST /_sandbox/faults`` with ``{"faults": [Fault JSON, ...]}`` adds faults,
``PUT`` replaces them, ``DELETE`` clears them, ``GET`` lists them.

>>> plan = FaultPlan()
>>> plan.add([Fault.status(503, "trigger", times=2), Fault.latency(50)])
>>> [plan.take("trigger").outcome.status_code for _ in range(2)], plan.take("trigger").outcome
([503, 503], None)
>>> plan.take("logs").latency_ms
50
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

__all__ = ["ENDPOINTS", "Decision", "Fault", "FaultKind", "FaultPlan", "RequestStats", "to_faults"]

#: The stable keys of the API's endpoints, in the order of API.md.
ENDPOINTS = (
    "trigger",
    "list_runs",
    "get_run",
    "delete_run",
    "terminate",
    "logs",
    "apps",
    "get_app",
    "fqn_app",
    "session",
    "min_cli_version",
    "tenant_id",
    "events",
    "ml_repos",
    "get_ml_repo",
    "create_ml_run",
    "get_ml_run",
    "update_ml_run",
    "search_ml_runs",
    "log_metric",
    "log_batch",
    "set_ml_tag",
    "metric_history",
)

FaultKind = Literal["latency", "status", "rate_limit", "drop", "malformed", "body"]
_KINDS: tuple[FaultKind, ...] = ("latency", "status", "rate_limit", "drop", "malformed", "body")


@dataclass(frozen=True)
class Fault:
    """One injected fault. Build them with the class methods, e.g. ``Fault.drop("trigger")``.

    ``times`` is how many matching requests it affects (``None``: until cleared).
    """

    kind: FaultKind
    endpoint: str = "*"
    times: int | None = 1
    latency_ms: int = 0
    status_code: int = 503
    retry_after: int = 1
    after: bool = False
    body: str = ""

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))

    @classmethod
    def latency(cls, ms: int, endpoint: str = "*", *, times: int | None = None) -> Fault:
        """Delay requests by ``ms`` milliseconds (all of them until cleared, by default)."""
        return cls("latency", endpoint, times, latency_ms=ms)

    @classmethod
    def status(
        cls, status: int, endpoint: str = "*", *, times: int | None = 1, after: bool = False
    ) -> Fault:
        """Answer ``status`` (400-599) the next ``times`` calls, then behave normally."""
        return cls("status", endpoint, times, status_code=status, after=after)

    @classmethod
    def rate_limit(
        cls, endpoint: str = "*", *, retry_after: int = 1, times: int | None = 1
    ) -> Fault:
        """Answer 429 with ``Retry-After: retry_after`` (seconds)."""
        return cls("rate_limit", endpoint, times, status_code=429, retry_after=retry_after)

    @classmethod
    def drop(cls, endpoint: str = "*", *, after: bool = False, times: int | None = 1) -> Fault:
        """Abort the connection once the request was read (``after``: once it was handled)."""
        return cls("drop", endpoint, times, after=after)

    @classmethod
    def malformed(cls, endpoint: str = "*", *, times: int | None = 1) -> Fault:
        """Handle the request, then send a truncated, non-JSON body."""
        return cls("malformed", endpoint, times, after=True)

    @classmethod
    def replace_body(cls, body: str, endpoint: str = "*", *, times: int | None = 1) -> Fault:
        """Handle the request, then answer 200 with ``body`` as it is."""
        return cls("body", endpoint, times, after=True, body=body)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Parse one fault from JSON; raises ``ValueError`` naming the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault must be a JSON object")
        values = dict(data)
        if "status" in values and "status_code" not in values:  # friendlier JSON spelling
            values["status_code"] = values.pop("status")
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
        kind = values.get("kind")
        if kind not in _KINDS:
            raise ValueError(f"kind: must be one of {', '.join(_KINDS)}")
        if kind == "rate_limit":
            values.setdefault("status_code", 429)
        if kind in ("malformed", "body"):
            values["after"] = True
        if not isinstance(values.get("body", ""), str):
            raise ValueError("body: must be a string")
        for name in ("latency_ms", "status_code", "retry_after"):
            if name in values and (
                not isinstance(values[name], int) or isinstance(values[name], bool)
            ):
                raise ValueError(f"{name}: must be an integer")
        return cls(**values)


def to_faults(faults: Iterable[Fault | Mapping[str, Any]]) -> list[Fault]:
    """Faults given as :class:`Fault` s or as their JSON.

    >>> [f.kind for f in to_faults([Fault.latency(5), {"kind": "drop", "endpoint": "apps"}])]
    ['latency', 'drop']
    """
    return [f if isinstance(f, Fault) else Fault.from_json(f) for f in faults]


def _problems(fault: Fault) -> list[tuple[str, str]]:
    problems = []
    if fault.kind not in _KINDS:
        problems.append(("kind", f"must be one of {', '.join(_KINDS)}"))
    if fault.endpoint != "*" and fault.endpoint not in ENDPOINTS:
        problems.append(("endpoint", f"must be '*' or one of {', '.join(ENDPOINTS)}"))
    if fault.times is not None and (not isinstance(fault.times, int) or fault.times < 1):
        problems.append(("times", "must be a positive integer or null"))
    if not 0 <= fault.latency_ms <= 600_000:
        problems.append(("latency_ms", "must be between 0 and 600000"))
    if fault.kind == "status" and not 400 <= fault.status_code <= 599:
        problems.append(("status_code", "must be an error status, 400-599"))
    if fault.retry_after < 0:
        problems.append(("retry_after", "must not be negative"))
    if not isinstance(fault.after, bool):
        problems.append(("after", "must be true or false"))
    return problems


@dataclass(frozen=True)
class Decision:
    """What to do with one request: wait ``latency_ms``, then apply ``outcome`` (if any)."""

    latency_ms: int = 0
    outcome: Fault | None = None


class FaultPlan:
    """The active faults. Thread-safe: admin requests, the app and tests may all touch it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[list[Any]] = []  # [fault, remaining times or None]

    def add(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._rules.extend([fault, fault.times] for fault in faults)

    def replace(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._rules = [[fault, fault.times] for fault in faults]

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def active(self) -> list[Fault]:
        with self._lock:
            return [cast(Fault, rule[0]) for rule in self._rules]

    def snapshot(self) -> list[dict[str, Any]]:
        """The active faults as JSON, with ``remaining`` uses."""
        with self._lock:
            return [{**rule[0].to_json(), "remaining": rule[1]} for rule in self._rules]

    def take(self, endpoint: str) -> Decision:
        """Consume what applies to one request to ``endpoint``.

        Every matching latency fault adds its delay; the first matching other fault becomes
        the outcome. Each fault used counts down its ``times``.
        """
        latency = 0
        outcome: Fault | None = None
        with self._lock:
            for rule in self._rules:
                fault: Fault = rule[0]
                if fault.endpoint not in ("*", endpoint):
                    continue
                if fault.kind == "latency":
                    latency += fault.latency_ms
                elif outcome is None:
                    outcome = fault
                else:
                    continue
                if rule[1] is not None:
                    rule[1] -= 1
            self._rules = [rule for rule in self._rules if rule[1] is None or rule[1] > 0]
        return Decision(latency_ms=latency, outcome=outcome)


class RequestStats:
    """How many requests each endpoint RECEIVED — counted before faults and auth — and the
    most it had in flight at once (how a test sees a client's concurrency bound)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._peaks: Counter[str] = Counter()

    def hit(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    @contextlib.contextmanager
    def in_flight(self, endpoint: str) -> Iterator[None]:
        """Count a request of ``endpoint`` as in flight for the ``with`` block."""
        with self._lock:
            self._in_flight[endpoint] += 1
            self._peaks[endpoint] = max(self._peaks[endpoint], self._in_flight[endpoint])
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[endpoint] -= 1

    def snapshot(self) -> dict[str, int]:
        """Counts of every endpoint key (0 when never called)."""
        with self._lock:
            return {key: self._counts.get(key, 0) for key in ENDPOINTS}

    def peaks(self) -> dict[str, int]:
        """The most requests of each endpoint key in flight at once (0 when never called)."""
        with self._lock:
            return {key: self._peaks.get(key, 0) for key in ENDPOINTS}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            # Requests in flight now still leave when they finish; only the peaks restart.
            self._peaks = Counter(self._in_flight)
