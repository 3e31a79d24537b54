"""``JobsClient`` and ``AsyncJobsClient``: the Jobs API from plain Python.

Both clients get their methods from one table (:mod:`jobmagic.api._jobs`,
:mod:`jobmagic.api._mlclient`), drive the same flows (:mod:`jobmagic.api._flows`) and
share one core that decides, for every answer, whether to return it, raise, or try again.
Only the sending (``httpx.Client`` or ``httpx.AsyncClient``) and the sleeping differ.

>>> with JobsClient(sandbox.host, sandbox.token) as client:
...     app = client.find_app("sandbox:demo:hello")
...     result = client.trigger(deployment_id=app.deployment_id, params={"name": "Ada"})
...     run = client.get_run(app.id, result.job_run_name)
>>> run.name == result.job_run_name
True
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from jobmagic.api import _flows as flows
from jobmagic.api import endpoints as ep
from jobmagic.api._core import DEFAULT_TIMEOUT, ClientCore, list_reader, release_body
from jobmagic.api._jobs import JobsMethods
from jobmagic.api._listreader import ListReader
from jobmagic.api._methods import AwaitingDriver, BlockingDriver, awaiting, blocking
from jobmagic.api._mlclient import MLRunsMethods
from jobmagic.api._retry import RetryPolicy
from jobmagic.config import Credentials, mask_token
from jobmagic.errors import ConfigError, JobmagicError

__all__ = ["AsyncJobsClient", "JobsClient"]

T = TypeVar("T")
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)


class _Client(JobsMethods, MLRunsMethods, Generic[TransportT]):
    """What the two clients share: how they are built, their credentials, their repr."""

    def __init__(
        self,
        host: str | None = None,
        token: str | None = None,
        *,
        credentials: Credentials | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        verify: bool | str | Path = True,
        allow_insecure_http: bool = False,
        retry: RetryPolicy | None = None,
        trust_env: bool = True,
        max_connections: int = 100,
        transport: TransportT | None = None,
    ):
        self._core = ClientCore(
            host,
            token,
            credentials=credentials,
            timeout=timeout,
            verify=verify,
            allow_insecure_http=allow_insecure_http,
            retry=retry,
        )
        options = self._core.http_options(
            trust_env=trust_env, max_connections=max_connections, transport=transport
        )
        try:
            self._open(options)
        except (ImportError, ValueError) as exc:
            # A proxy httpx cannot use: socks5:// without socksio, or an unknown scheme.
            raise ConfigError(
                f"{exc} The proxy comes from ALL_PROXY / HTTPS_PROXY / HTTP_PROXY; NO_PROXY "
                f"can exempt {self._core.host}, or pass trust_env=False."
            ) from None

    def _open(self, options: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return self._core.host

    @property
    def credentials(self) -> Credentials:
        return self._core.credentials

    def __repr__(self) -> str:
        token = mask_token(self.credentials.token)
        return f"{type(self).__name__}(host={self.host!r}, token={token!r})"


@blocking
class JobsClient(_Client[httpx.BaseTransport], BlockingDriver):
    """A blocking client for the Jobs API, on an ``httpx.Client``.

    Host and token are found as :func:`jobmagic.config.resolve_credentials`
    describes (arguments, then ``TFY_HOST``/``TFY_API_KEY``, then ``tfy login``'s
    file). ``verify`` may be a CA bundle path. Proxies come from the environment as httpx
    reads them (``trust_env``), the sandbox on loopback always directly; ``transport``
    (an ``httpx.MockTransport``, say) replaces the network.

    >>> client = JobsClient()          # TFY_HOST and TFY_API_KEY, here the sandbox's
    >>> app = client.find_app("sandbox:demo:train")
    >>> result = client.trigger(deployment_id=app.deployment_id, params={"lr": "0.1"})
    >>> result.job_run_name.startswith("train-")
    True
    >>> client.close()
    """

    _http: httpx.Client

    def _open(self, options: dict[str, Any]) -> None:
        self._http = httpx.Client(**options)

    def _call(self, request: ep.ApiRequest) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.send(self._core.build(request), stream=request.streamed)
                reader = self._read(request, response) if request.streamed else None
            except httpx.HTTPError as exc:
                step = self._core.on_exception(request, exc, attempt)
            else:
                step = self._core.on_response(request, response, attempt, reader)
                release_body(response)
            if step.error is not None:
                raise step.error
            if step.retry_in is None:
                return step.body
            time.sleep(step.retry_in)

    def _read(self, request: ep.ApiRequest, response: httpx.Response) -> ListReader | None:
        """Read a streamed answer: a success's list as far as the request wants it (the
        rest is left unread: closing drops the connection), anything else whole."""
        try:
            reader = list_reader(request, response)
            if reader is None:
                response.read()
                return None
            for chunk in response.iter_bytes():
                if reader.feed(chunk):
                    break
            return reader
        finally:
            response.close()

    def _drive(self, flow: flows.Flow[T]) -> T:
        try:
            request = next(flow)
            while True:
                try:
                    body = self._call(request)
                except JobmagicError as exc:
                    request = flow.throw(exc)  # the flow may catch it (an optional request)
                else:
                    request = flow.send(body)
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@awaiting
class AsyncJobsClient(_Client[httpx.AsyncBaseTransport], AwaitingDriver):
    """The asyncio twin of :class:`JobsClient`, on an ``httpx.AsyncClient``: same methods,
    awaited (``aclose`` for ``close``).

    >>> import asyncio
    >>> async def names() -> list[str]:
    ...     async with AsyncJobsClient() as client:
    ...         app = await client.find_app("sandbox:demo:hello")
    ...         results = await asyncio.gather(
    ...             *(client.trigger(application_id=app.id, params={"name": n}) for n in "ab")
    ...         )
    ...     return [result.job_run_name[:6] for result in results]
    >>> asyncio.run(names())
    ['hello-', 'hello-']
    """

    _http: httpx.AsyncClient

    def _open(self, options: dict[str, Any]) -> None:
        self._http = httpx.AsyncClient(**options)

    async def _call(self, request: ep.ApiRequest) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                built = self._core.build(request)
                response = await self._http.send(built, stream=request.streamed)
                reader = await self._read(request, response) if request.streamed else None
            except httpx.HTTPError as exc:
                step = self._core.on_exception(request, exc, attempt)
            except AttributeError as exc:
                # httpcore < 1.0 on anyio (httpx 0.25, the floor) raises this ("'NoneType' has
                # no attribute 'getpeername'") when the server drops a connection as it is
                # made: nothing was sent, so it is the ConnectError it stands for.
                if "getpeername" not in str(exc):
                    raise
                lost = httpx.ConnectError(str(exc), request=built)
                step = self._core.on_exception(request, lost, attempt)
            else:
                step = self._core.on_response(request, response, attempt, reader)
                release_body(response)
            if step.error is not None:
                raise step.error
            if step.retry_in is None:
                return step.body
            await asyncio.sleep(step.retry_in)

    async def _read(self, request: ep.ApiRequest, response: httpx.Response) -> ListReader | None:
        """:meth:`JobsClient._read`, awaited."""
        try:
            reader = list_reader(request, response)
            if reader is None:
                await response.aread()
                return None
            async for chunk in response.aiter_bytes():
                if reader.feed(chunk):
                    break
            return reader
        finally:
            await response.aclose()

    async def _drive(self, flow: flows.Flow[T]) -> T:
        try:
            request = next(flow)
            while True:
                try:
                    body = await self._call(request)
                except JobmagicError as exc:
                    request = flow.throw(exc)  # the flow may catch it (an optional request)
                else:
                    request = flow.send(body)
        except StopIteration as done:
            return done.value

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncJobsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
