"""The one middleware in front of every guarded endpoint: stats, then faults, then auth.

Each route of :mod:`jobmagic.sandbox.web.app` that needs it is wrapped in a :class:`Guard` with
its :class:`Policy`; per route, so the guard knows its endpoint without routing again. It is
a pure ASGI middleware: the request passes straight through unless a fault or the token
says otherwise, and only an *after* fault buffers the handler's answer to spoil it.

In order, for an endpoint with a key:

1. count the request in :class:`~jobmagic.sandbox.web.faults.RequestStats` (so tests see every
   request that reached the server, including those a fault then spoils) and keep it counted
   as in flight until answered (the peak shows a client's real concurrency),
2. wait the injected latency (``asyncio.sleep``: no thread or lock is held meanwhile) and
   apply any fault that acts *before* handling,
3. check the bearer token (unless the policy says the endpoint is open),
4. let the route handle the request,
5. apply any fault that acts *after* handling (dropped connection, malformed body, status).

A policy with ``run_token`` also takes a run's own token (the ``TFY_API_KEY`` its process
gets); such calls skip all of the above: they are the platform's traffic, not the client's.
A policy without a key (the admin endpoints) only checks the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobmagic.sandbox.errors import ApiProblem
from jobmagic.sandbox.web.context import AppContext, app_context
from jobmagic.sandbox.web.faults import Fault
from jobmagic.sandbox.web.query import read_body

__all__ = ["Guard", "Policy", "bearer", "error_response", "unauthorized"]

logger = logging.getLogger("jobmagic.sandbox")


@dataclass(frozen=True)
class Policy:
    """How an endpoint is guarded.

    ``key`` names it in the stats and in faults (``None``: neither counted nor faulted);
    ``auth`` requires the sandbox's token; ``run_token`` also admits a live run's own token.
    """

    key: str | None = None
    auth: bool = True
    run_token: bool = False


def error_response(error: ApiProblem) -> JSONResponse:
    """An :class:`ApiProblem` as the API's error body."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def bearer(headers: Headers) -> str:
    """The token of an ``Authorization: Bearer`` header; empty when there is none."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    # Only HTTP's own whitespace is trimmed: str.strip() also ate NBSP and NEL (legal header
    # bytes), so the token with such a byte added still passed.
    return value.strip(" \t") if scheme.lower() == "bearer" else ""


def _authorized(headers: Headers, token: str) -> bool:
    scheme = headers.get("authorization", "").partition(" ")[0]
    # compare_digest: the time taken must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        bearer(headers).encode("utf-8"), token.encode("utf-8")
    )


def unauthorized() -> ApiProblem:
    return ApiProblem(
        401,
        "Missing or invalid bearer token. Send `Authorization: Bearer <token>` with the token "
        "the sandbox printed when it started.",
        headers={"WWW-Authenticate": "Bearer"},
    )


class Guard:
    """Stats, faults and auth for one route (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = app_context(scope["app"])
        policy = self.policy
        headers = Headers(scope=scope)
        if policy.run_token and ctx.service.run_tokens.valid(bearer(headers)):
            await self.app(scope, receive, send)
        elif policy.key is None:
            if policy.auth and not _authorized(headers, ctx.token):
                await error_response(unauthorized())(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        else:
            ctx.stats.hit(policy.key)
            with ctx.stats.in_flight(policy.key):
                await self._faulted(ctx, headers, scope, receive, send)

    async def _faulted(
        self, ctx: AppContext, headers: Headers, scope: Scope, receive: Receive, send: Send
    ) -> None:
        assert self.policy.key is not None
        decision = ctx.faults.take(self.policy.key)
        if decision.latency_ms:
            await asyncio.sleep(decision.latency_ms / 1000)
        fault = decision.outcome
        if fault is not None and not fault.after:
            if fault.kind == "drop":
                # The request is read in full, then the line goes dead.
                with contextlib.suppress(ApiProblem):
                    await read_body(Request(scope, receive))
                response = await _drop(ctx, scope, receive)
            else:
                response = _fault_response(fault)
            await response(scope, receive, send)
        elif self.policy.auth and not _authorized(headers, ctx.token):
            await error_response(unauthorized())(scope, receive, send)
        elif fault is None:
            await self.app(scope, receive, send)
        else:
            answer = _Answer()
            await self.app(scope, receive, answer.send)
            response = await _spoiled(fault, answer, ctx, scope, receive)
            await response(scope, receive, send)


class _Answer:
    """A handler's answer, held back so that an *after* fault can replace it."""

    def __init__(self) -> None:
        self.status = 500
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))


async def _spoiled(
    fault: Fault, answer: _Answer, ctx: AppContext, scope: Scope, receive: Receive
) -> Response:
    if fault.kind == "drop":
        return await _drop(ctx, scope, receive)
    if fault.kind == "malformed":
        # Half of a JSON object is never valid JSON: its braces cannot balance.
        body = b"".join(answer.chunks)
        return Response(
            body[: max(1, len(body) // 2)],
            status_code=answer.status,
            media_type="application/json",
        )
    if fault.kind == "body":
        return Response(fault.body, status_code=200, media_type="application/json")
    return _fault_response(fault)


def _fault_response(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        return error_response(
            ApiProblem(
                429,
                "Too many requests (injected by the sandbox).",
                headers={"Retry-After": str(fault.retry_after)},
            )
        )
    return error_response(
        ApiProblem(fault.status_code, f"Injected fault: status {fault.status_code}.")
    )


async def _drop(ctx: AppContext, scope: Scope, receive: Receive) -> Response:
    peer = scope.get("client")
    if ctx.connections is None or not ctx.connections.abort(peer):
        logger.warning("cannot drop the connection of %s: not served by SandboxServer", peer)
        return error_response(
            ApiProblem(500, "The sandbox cannot drop this connection (it is not tracked).")
        )

    async def until_disconnected() -> None:
        # Wait for uvicorn to notice the abort, so it does not try to answer with a 500.
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(until_disconnected(), timeout=2.0)
    except asyncio.TimeoutError:
        logger.debug("connection of %s did not report its end", peer)
    return Response(status_code=500)  # never sent: the connection is gone
