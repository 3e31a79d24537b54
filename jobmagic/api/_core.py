"""What the two clients share: credentials, settings, and the verdict on every answer.

:class:`ClientCore` decides, for each response or exception, whether to return the body,
raise, or try again (the retry policy, the trigger's outcome table); the clients only send
and sleep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from jobmagic._version import __version__
from jobmagic.api import _endpoints as ep
from jobmagic.api._retry import NEVER_SENT, RetryPolicy, parse_retry_after
from jobmagic.config import Credentials, resolve_credentials
from jobmagic.errors import (
    APIError,
    JobmagicError,
    TransportError,
    TriggerOutcomeUnknown,
    error_for_response,
    trigger_outcome,
)
from jobmagic.models import Application

__all__ = ["DEFAULT_TIMEOUT", "USER_AGENT", "ClientCore", "Step"]
DEFAULT_TIMEOUT = 30.0
_MAX_URLS = 256
USER_AGENT = f"jobmagic/{__version__} httpx/{httpx.__version__}"


@dataclass(frozen=True)
class Step:
    """The core's verdict on one attempt: a body, an error to raise, or a wait."""

    body: Any = None
    error: JobmagicError | None = None
    retry_in: float | None = None


class ClientCore:
    """Everything the two clients share: credentials, settings, and verdicts."""

    def __init__(
        self,
        host: str | None,
        token: str | None,
        *,
        credentials: Credentials | None,
        timeout: float | httpx.Timeout,
        verify: bool | str | Path,
        allow_insecure_http: bool,
        retry: RetryPolicy | None,
    ):
        self.credentials = credentials or resolve_credentials(
            host, token, allow_insecure_http=allow_insecure_http
        )
        self.policy = retry or RetryPolicy()
        self.timeout = (
            timeout
            if isinstance(timeout, httpx.Timeout)
            else httpx.Timeout(timeout, connect=min(10.0, timeout))
        )
        self.verify: bool | str = str(verify) if isinstance(verify, Path) else verify
        self.apps: dict[str, Application] = {}
        self._urls: dict[str, httpx.URL] = {}

    @property
    def host(self) -> str:
        return self.credentials.host

    def http_options(self) -> dict[str, Any]:
        """What both clients give their ``httpx`` client."""
        # The token as a default header, not an httpx.Auth, whose flow is a generator per
        # request. httpx masks the header in every repr, and no redirect is followed.
        authorization = f"Bearer {self.credentials.token}"
        return {
            "timeout": self.timeout,
            "verify": self.verify,
            "headers": {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Authorization": authorization,
            },
            "follow_redirects": False,
        }

    def url(self, request: ep.ApiRequest) -> httpx.URL:
        """The request's absolute URL, parsed once per path: httpx would merge a relative
        path with its base URL, parsing both, on every call (a tenth of a trigger's time in
        the client)."""
        path = request.url_path
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= _MAX_URLS:  # run paths are many; a trigger's is one
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self.host + path)
        return url

    def on_response(self, request: ep.ApiRequest, response: httpx.Response, attempt: int) -> Step:
        if response.is_success:
            try:
                return Step(body=response.json())
            except (json.JSONDecodeError, UnicodeDecodeError):
                return self._lost_answer(request, "an answer that is not JSON", attempt)
        if request.method == "DELETE" and response.status_code == 404 and attempt > 1:
            # An earlier try was lost or failed mid-way, and now the run is gone: what the
            # caller asked for holds, most likely by that very try.
            return Step(body={"message": "Deleted (an earlier try's answer was lost)."})
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {"message": response.text[:200]} if response.text else None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = error_for_response(
            response.status_code,
            body,
            method=request.method,
            path=request.url_path,
            retry_after=retry_after,
        )
        if attempt < self.policy.max_attempts and self.policy.retry_status(
            response.status_code, idempotent=request.idempotent
        ):
            return Step(retry_in=self.policy.delay(attempt, retry_after))
        if request.starts_run and trigger_outcome(response.status_code) == "unknown":
            return Step(error=self._unknown_status(error))
        return Step(error=error)

    def _unknown_status(self, error: APIError) -> TriggerOutcomeUnknown:
        said = f": {error.server_message.rstrip('.')}" if error.server_message else ""
        return TriggerOutcomeUnknown(
            f"The trigger got HTTP {error.status_code} from {self.host}{said}. The server may "
            "have started the run before failing, so the outcome is unknown. Check before "
            "triggering again: `%job_runs --reconcile` finds the run this attempt started, if "
            "any; it was not retried, to avoid a duplicate run.",
            status_code=error.status_code,
        )

    def on_exception(self, request: ep.ApiRequest, exc: httpx.HTTPError, attempt: int) -> Step:
        if attempt < self.policy.max_attempts and self.policy.retry_exception(
            exc, idempotent=request.idempotent
        ):
            return Step(retry_in=self.policy.delay(attempt, None))
        if isinstance(exc, NEVER_SENT):
            return Step(
                error=TransportError(
                    f"Could not connect to {self.host} ({type(exc).__name__}) after "
                    f"{attempt} tries; nothing was sent. Check the host and your network"
                    " — or, for the sandbox, that it is running (`%jobmagic sandbox status`)."
                )
            )
        return self._lost_answer(request, f"a {type(exc).__name__}", attempt)

    def _lost_answer(self, request: ep.ApiRequest, what: str, attempt: int) -> Step:
        if request.starts_run:
            return Step(
                error=TriggerOutcomeUnknown(
                    f"The trigger reached {self.host} but got {what} instead of a result, so "
                    "a run may have started. Check before triggering again: `%job_runs "
                    "--reconcile` finds the run this attempt started, if any; it was not "
                    "retried, to avoid a duplicate run."
                )
            )
        if request.idempotent and attempt < self.policy.max_attempts:
            return Step(retry_in=self.policy.delay(attempt, None))
        return Step(
            error=TransportError(
                f"{request.method} {request.url_path} on {self.host} got {what} "
                f"after {attempt} tries. Try again; if it persists, check the host."
            )
        )
