"""What the two clients share: credentials, settings, and the verdict on every answer.

:class:`ClientCore` decides, for each response or exception, whether to return the body,
raise, or try again (the retry policy, the trigger's outcome table); the clients only send
and sleep.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from jobmagic._version import __version__
from jobmagic.api import endpoints as ep
from jobmagic.api._listreader import ListReader
from jobmagic.api._retry import NEVER_SENT, RetryPolicy, parse_retry_after
from jobmagic.config import Credentials, is_loopback_host, resolve_credentials
from jobmagic.errors import (
    APIError,
    JobmagicError,
    TransportError,
    TriggerOutcomeUnknown,
    UnreachableError,
    error_for_response,
    trigger_outcome,
)
from jobmagic.models import Application

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "ClientCore",
    "Step",
    "list_reader",
    "release_body",
    "tls_context",
]
DEFAULT_TIMEOUT = 30.0
_MAX_URLS = 256
USER_AGENT = f"jobmagic/{__version__} httpx/{httpx.__version__}"


def tls_context(verify: bool | str | Path, *, trust_env: bool = True) -> ssl.SSLContext:
    """The TLS settings ``verify`` names: a CA bundle (file or folder), or whether to verify
    at all (with the environment's ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when ``trust_env``,
    else certifi's), given to httpx as its ``verify=``.

    Loading the CAs costs 20-40 ms of CPU, and a kernel builds clients often (the tracker
    each time it wakes up, a sweep, a completion): one context is kept per setting, shared
    by every client (a context is safe to share between connections and threads).

    >>> tls_context(True) is tls_context(True)
    True
    """
    where = verify if isinstance(verify, bool) else str(verify)
    if not trust_env:
        return _tls_context(where, None, None, trust_env=False)
    return _tls_context(where, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=8)
def _tls_context(
    verify: bool | str, cert_file: str | None, cert_dir: str | None, *, trust_env: bool = True
) -> ssl.SSLContext:
    # The environment's CA settings are in the key: a changed SSL_CERT_FILE is read again.
    if isinstance(verify, bool):
        return httpx.create_ssl_context(verify=verify, trust_env=trust_env)
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


def list_reader(request: ep.ApiRequest, response: httpx.Response) -> ListReader | None:
    """A reader for a streamed answer to ``request`` when its list is read in part (a
    success to a request with ``max_chars``); None when the answer is to be read whole."""
    if request.max_chars is None or not response.is_success:
        return None
    return ListReader(request.max_chars)


def release_body(response: httpx.Response) -> None:
    """Let a read response's body go as soon as the response is dropped.

    An httpx response and its stream refer to each other, so a body stays in memory until
    the cyclic garbage collector runs, which is rarely when few objects are made: paging
    through a log of long lines held every page's body (20 pages of 1 MiB after 20 pages,
    measured). Swapping the spent stream for an empty one breaks the cycle.
    """
    response.stream = httpx.ByteStream(b"")


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
        # httpx.Headers, not dicts: a request copies them as they are, without normalizing
        # each name and value again.
        self._headers = httpx.Headers(
            {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Authorization": f"Bearer {self.credentials.token}",
            }
        )
        self._json_headers = httpx.Headers({**self._headers, "Content-Type": "application/json"})
        self._timeouts = self.timeout.as_dict()

    @property
    def host(self) -> str:
        return self.credentials.host

    def http_options(
        self, *, trust_env: bool, max_connections: int, transport: object | None
    ) -> dict[str, Any]:
        """What both clients give their ``httpx.Client`` / ``httpx.AsyncClient``.

        The TLS context of this setting, the timeouts, the pool's size, and httpx's own
        reading of the environment's proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
        ``NO_PROXY``; ``trust_env``). With ``verify`` a context, that reading is all
        ``trust_env`` still does in httpx, so a loopback host — the sandbox — is given
        ``trust_env=False``: reached directly, its token for no proxy's eyes, and no proxy
        transport built for it (a ``socks5://`` one would need ``socksio``). A ``transport``
        given replaces the network (httpx then reads no proxy either).

        >>> core = ClientCore("http://127.0.0.1:8000", "tfy_x", credentials=None,
        ...                   timeout=5, verify=True, allow_insecure_http=False, retry=None)
        >>> core.http_options(trust_env=True, max_connections=1, transport=None)["trust_env"]
        False
        """
        return {
            "verify": tls_context(self.verify, trust_env=trust_env),
            "trust_env": trust_env and not is_loopback_host(self.host),
            "timeout": self.timeout,
            "limits": httpx.Limits(max_connections=max_connections),
            "transport": transport,
        }

    def build(self, request: ep.ApiRequest) -> httpx.Request:
        """The ``httpx.Request`` for ``request``, for ``httpx.Client.send`` as it is.

        Built here rather than by ``Client.build_request``, which would parse the relative
        path against the base URL and merge the default headers, params and cookies into
        every request: the URL is parsed once per path and the headers once per client (the
        token is a header, masked by httpx in every repr). ``send`` still does the rest:
        the proxy for the URL, the ``HTTP Request:`` log line, no redirect followed (a 3xx is
        an answer like any other), the timeouts carried here.
        """
        content = None
        headers = self._headers
        if request.json is not None:
            content = json.dumps(
                request.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            headers = self._json_headers
        return httpx.Request(
            request.method,
            self._url(request.url_path),
            params=request.query or None,
            headers=headers,
            content=content,
            extensions={"timeout": self._timeouts},
        )

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path``, parsed once (a trigger's path is always the same)."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= _MAX_URLS:  # run paths are many: keep the memory bounded
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self.host + path)
        return url

    def on_response(
        self,
        request: ep.ApiRequest,
        response: httpx.Response,
        attempt: int,
        reader: ListReader | None = None,
    ) -> Step:
        """The verdict on an answer: read whole, or with ``reader`` (the request's
        ``max_chars``) item by item from a successful answer's stream."""
        if response.is_success:
            try:
                return Step(body=response.json() if reader is None else reader.result())
            except ValueError:  # not JSON, not UTF-8, or ended early
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
                error=UnreachableError(
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
