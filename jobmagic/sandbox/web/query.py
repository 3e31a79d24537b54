"""Reading a request: typed query parameters, a size-capped body, JSON. Problems are
:class:`~jobmagic.sandbox.errors.ApiProblem` s in the API's own shape (422, 413, 400)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from jobmagic.models import datetime_to_ms, iso_to_datetime
from jobmagic.sandbox.errors import ApiProblem

__all__ = ["MAX_BODY_BYTES", "Query", "json_body", "read_body", "read_json"]

MAX_BODY_BYTES = 1024 * 1024


class Query:
    """Typed query parameters; problems are collected and raised together as one 422."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params
        self.details: list[dict[str, str]] = []

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

    def required(self, name: str) -> str | None:
        """Like :meth:`text`, noting a problem when the parameter is missing or empty."""
        value = self.text(name)
        if value is None:
            self.details.append({"field": name, "message": "is required"})
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            self.details.append({"field": name, "message": f"must be an integer {low}-{high}"})
            return default
        return value

    def nanoseconds(self, name: str) -> int | None:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            self.details.append(
                {"field": name, "message": "must be nanoseconds since the epoch, as an integer"}
            )
            return None
        return value

    def iso_ms(self, name: str) -> int | None:
        """An ISO-8601 time (UTC when it names no zone) as ms since the epoch."""
        raw = self.params.get(name)
        if raw is None or raw == "":
            return None
        moment = iso_to_datetime(raw)
        if moment is None:
            self.details.append(
                {"field": name, "message": "must be an ISO-8601 time, e.g. 2024-01-31T12:00:00Z"}
            )
            return None
        return datetime_to_ms(moment)

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        if raw not in choices:
            self.details.append({"field": name, "message": f"must be one of {', '.join(choices)}"})
            return default
        return raw

    def many(self, name: str, choices: Sequence[str] | None = None) -> list[str]:
        # Repeated (?status=A&status=B) and comma-separated (?status=A,B) forms both work.
        values = [v for raw in self.params.getlist(name) for v in raw.split(",") if v]
        if choices is not None:
            bad = [v for v in values if v not in choices]
            if bad:
                self.details.append(
                    {"field": name, "message": f"unknown value(s) {', '.join(bad)}"}
                )
        return values

    def page(self) -> dict[str, int]:
        """``limit`` (1-1000, default 100) and ``offset``, as the list endpoints take them."""
        return {
            "limit": self.integer("limit", 100, 1, 1000),
            "offset": self.integer("offset", 0, 0, 2**31),
        }

    def check(self) -> None:
        if self.details:
            raise ApiProblem.validation(self.details)


async def read_body(request: Request) -> bytes:
    """The request body, refused (413, in the API's error shape) beyond MAX_BODY_BYTES."""
    too_large = ApiProblem(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(raw: bytes) -> Any:
    """``raw`` parsed as JSON; a 400 when it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiProblem(400, "The request body is not valid JSON.") from None


async def read_json(request: Request) -> Any:
    """The request body, size-capped and parsed as JSON."""
    return json_body(await read_body(request))
