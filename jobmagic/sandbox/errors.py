"""The sandbox's errors: problems answered in the API's error body, and start-up errors.

:class:`ApiProblem` is what an operation raises to answer an error (the web layer renders it
as ``{statusCode, message, code, details}``); it is the server's side of the wire and
unrelated to the client's :class:`jobmagic.errors.APIError`. :class:`SandboxError` says the
sandbox could not start or be reached.

>>> err = ApiProblem.validation([{"field": "input.params.lr", "message": "must be a string"}])
>>> err.body()["statusCode"], err.body()["details"][0]["field"]
(422, 'input.params.lr')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ApiProblem", "SandboxError"]

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    417: "EXPECTATION_FAILED",
    422: "VALIDATION_ERROR",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class SandboxError(RuntimeError):
    """The sandbox could not start or be reached (port in use, data dir busy, …)."""


class ApiProblem(Exception):
    """An error answer to send: ``{statusCode, message, code, details}`` with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or code_for_status(status)
        self.details = [dict(d) for d in details]
        self.headers = dict(headers or {})

    @classmethod
    def not_found(cls, message: str) -> ApiProblem:
        return cls(404, message)

    @classmethod
    def validation(cls, details: Sequence[Mapping[str, Any]], message: str = "") -> ApiProblem:
        if not message:
            message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return cls(422, message or "Validation failed", details=details)

    def body(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "message": self.message,
            "code": self.code,
            "details": self.details,
        }


def code_for_status(status: int) -> str:
    """The machine-readable ``code`` that goes with an HTTP status."""
    return _CODES.get(status, "ERROR" if status >= 400 else "OK")
