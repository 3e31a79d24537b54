"""``JobsClient`` and ``AsyncJobsClient``: the Jobs API from plain Python.

Both clients drive the same flows (:mod:`jobmagic.api._flows`) and share one
core that decides, for every answer, whether to return it, raise, or try
again. Only the sending and the sleeping differ.

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
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from jobmagic.api import _endpoints as ep
from jobmagic.api import _flows as flows
from jobmagic.api._core import DEFAULT_TIMEOUT, ClientCore
from jobmagic.api._mlclient import AsyncMLRunsMethods, MLRunsMethods
from jobmagic.api._retry import RetryPolicy
from jobmagic.config import Credentials, mask_token
from jobmagic.errors import (
    JobmagicError,
)
from jobmagic.models import Application, Event, JobRun, LogLine, RunStatus, TriggerResult

__all__ = ["AsyncJobsClient", "JobsClient"]

T = TypeVar("T")


class JobsClient(MLRunsMethods):
    """A blocking client for the Jobs API, with one pooled connection per client.

    Host and token are found as :func:`jobmagic.config.resolve_credentials`
    describes (arguments, then ``TFY_HOST``/``TFY_API_KEY``, then ``tfy login``'s
    file). ``verify`` may be a CA bundle path.

    >>> client = JobsClient()          # TFY_HOST and TFY_API_KEY, here the sandbox's
    >>> app = client.find_app("sandbox:demo:train")
    >>> result = client.trigger(deployment_id=app.deployment_id, params={"lr": "0.1"})
    >>> result.job_run_name.startswith("train-")
    True
    >>> client.close()
    """

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
        self._transport = httpx.HTTPTransport(**self._core.transport_options())

    # -- plumbing ------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._core.host

    @property
    def credentials(self) -> Credentials:
        return self._core.credentials

    def _call(self, request: ep.ApiRequest) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._transport.handle_request(self._core.build(request))
                try:
                    response.read()
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                step = self._core.on_exception(request, exc, attempt)
            else:
                step = self._core.on_response(request, response, attempt)
            if step.error is not None:
                raise step.error
            if step.retry_in is None:
                return step.body
            time.sleep(step.retry_in)

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
        self._transport.close()

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JobsClient(host={self.host!r}, token={mask_token(self.credentials.token)!r})"

    # -- the API ---------------------------------------------------------------------

    def trigger(
        self,
        *,
        application_id: str | None = None,
        deployment_id: str | None = None,
        command: str | Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
        alias: str | None = None,
    ) -> TriggerResult:
        """Start a run. Sent once unless it provably never reached the server, or got 429."""
        return self.send_trigger(
            ep.trigger(
                application_id=application_id,
                deployment_id=deployment_id,
                command=command,
                params=params,
                alias=alias,
            )
        )

    def send_trigger(self, request: ep.ApiRequest) -> TriggerResult:
        """Send a trigger request built by ``_endpoints.trigger`` (which checked its input);
        the engine builds every request before it writes the ledger."""
        return self._drive(flows.trigger(request))

    def get_run(self, application_id: str, name: str) -> JobRun:
        """One run, fresh from the server."""
        return self._drive(flows.single(ep.get_run(application_id, name), ep.parse_run))

    def list_runs(
        self,
        application_id: str,
        *,
        status: Sequence[RunStatus | str] | None = None,
        limit: int | None = None,
        page_size: int = 100,
        search_prefix: str | None = None,
        sort_by: str | None = None,
        order: str | None = None,
        triggered_by: Sequence[str] | None = None,
        created_after: datetime | None = None,
        version_numbers: Sequence[int | str] | None = None,
    ) -> list[JobRun]:
        """A job's runs, across all pages (at most ``limit``); with ``created_after``, only
        those created since then, newest first, paging no further back than needed.
        ``status``, ``triggered_by``, ``version_numbers`` and ``search_prefix`` (a run-name
        prefix) are the server's own filters."""
        return self._drive(
            flows.list_runs(
                application_id,
                limit=limit,
                page_size=page_size,
                status=status,
                search_prefix=search_prefix,
                sort_by=sort_by,
                order=order,
                triggered_by=triggered_by,
                created_after=created_after,
                version_numbers=version_numbers,
            )
        )

    def terminate(self, deployment_id: str, name: str) -> str:
        """Ask the server to stop a run; returns its message."""
        return self._drive(flows.single(ep.terminate(deployment_id, name), ep.parse_message))

    def delete_run(self, application_id: str, name: str) -> str:
        """Delete a finished run's record; returns the server's message."""
        return self._drive(flows.single(ep.delete_run(application_id, name), ep.parse_message))

    def logs(
        self,
        application_id: str,
        run_name: str,
        *,
        since: datetime | int | None = None,
        limit: int | None = None,
        tail: bool = False,
        search: str | None = None,
    ) -> list[LogLine]:
        """Log lines, oldest first. ``tail=True`` gives the last ``limit`` lines."""
        return self._drive(
            flows.logs(
                application_id,
                run_name,
                since=since,
                limit=limit,
                direction="desc" if tail else None,
                search=search,
            )
        )

    def events(
        self,
        application_id: str,
        run_name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Event]:
        """The Kubernetes events of a run's pods, oldest first: why it failed, in the
        cluster's words. Without ``since`` the server looks back 24 hours from ``until``."""
        request = ep.events(application_id, run_name, since=since, until=until)
        return self._drive(flows.single(request, ep.parse_events))

    def find_app(self, target: str, *, refresh: bool = False) -> Application:
        """An application by FQN or name; cached for the life of this client."""
        if refresh or target not in self._core.apps:
            self._core.apps[target] = self._drive(flows.find_app(target))
        return self._core.apps[target]

    def get_app(self, application_id: str) -> Application:
        return self._drive(flows.single(ep.get_app(application_id), ep.parse_app))

    def list_apps(
        self,
        *,
        name_search: str | None = None,
        workspace_fqn: str | None = None,
        limit: int = 100,
    ) -> list[Application]:
        """Up to ``limit`` jobs: those whose name contains ``name_search``, or in the
        workspace ``workspace_fqn`` (``cluster:workspace``), or all."""
        return self._drive(
            flows.list_apps(name_search=name_search, workspace_fqn=workspace_fqn, limit=limit)
        )

    def session(self) -> dict[str, Any]:
        """Who the token belongs to (``GET /session``)."""
        return dict(self._drive(flows.single(ep.session(), lambda body: body)))


class AsyncJobsClient(AsyncMLRunsMethods):
    """The asyncio twin of :class:`JobsClient`: same methods, awaited.

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
        max_connections: int = 100,
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
        self._transport = httpx.AsyncHTTPTransport(
            **self._core.transport_options(),
            limits=httpx.Limits(max_connections=max_connections),
        )

    @property
    def host(self) -> str:
        return self._core.host

    @property
    def credentials(self) -> Credentials:
        return self._core.credentials

    async def _call(self, request: ep.ApiRequest) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._transport.handle_async_request(self._core.build(request))
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                step = self._core.on_exception(request, exc, attempt)
            else:
                step = self._core.on_response(request, response, attempt)
            if step.error is not None:
                raise step.error
            if step.retry_in is None:
                return step.body
            await asyncio.sleep(step.retry_in)

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
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncJobsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncJobsClient(host={self.host!r}, token={mask_token(self.credentials.token)!r})"

    async def trigger(
        self,
        *,
        application_id: str | None = None,
        deployment_id: str | None = None,
        command: str | Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
        alias: str | None = None,
    ) -> TriggerResult:
        """Start a run; see :meth:`JobsClient.trigger`."""
        return await self.send_trigger(
            ep.trigger(
                application_id=application_id,
                deployment_id=deployment_id,
                command=command,
                params=params,
                alias=alias,
            )
        )

    async def send_trigger(self, request: ep.ApiRequest) -> TriggerResult:
        """Send a trigger request; see :meth:`JobsClient.send_trigger`."""
        return await self._drive(flows.trigger(request))

    async def get_run(self, application_id: str, name: str) -> JobRun:
        return await self._drive(flows.single(ep.get_run(application_id, name), ep.parse_run))

    async def list_runs(
        self,
        application_id: str,
        *,
        status: Sequence[RunStatus | str] | None = None,
        limit: int | None = None,
        page_size: int = 100,
        search_prefix: str | None = None,
        sort_by: str | None = None,
        order: str | None = None,
        triggered_by: Sequence[str] | None = None,
        created_after: datetime | None = None,
        version_numbers: Sequence[int | str] | None = None,
    ) -> list[JobRun]:
        return await self._drive(
            flows.list_runs(
                application_id,
                limit=limit,
                page_size=page_size,
                status=status,
                search_prefix=search_prefix,
                sort_by=sort_by,
                order=order,
                triggered_by=triggered_by,
                created_after=created_after,
                version_numbers=version_numbers,
            )
        )

    async def terminate(self, deployment_id: str, name: str) -> str:
        return await self._drive(flows.single(ep.terminate(deployment_id, name), ep.parse_message))

    async def delete_run(self, application_id: str, name: str) -> str:
        return await self._drive(
            flows.single(ep.delete_run(application_id, name), ep.parse_message)
        )

    async def logs(
        self,
        application_id: str,
        run_name: str,
        *,
        since: datetime | int | None = None,
        limit: int | None = None,
        tail: bool = False,
        search: str | None = None,
    ) -> list[LogLine]:
        return await self._drive(
            flows.logs(
                application_id,
                run_name,
                since=since,
                limit=limit,
                direction="desc" if tail else None,
                search=search,
            )
        )

    async def events(
        self,
        application_id: str,
        run_name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Event]:
        request = ep.events(application_id, run_name, since=since, until=until)
        return await self._drive(flows.single(request, ep.parse_events))

    async def find_app(self, target: str) -> Application:
        if target not in self._core.apps:
            self._core.apps[target] = await self._drive(flows.find_app(target))
        return self._core.apps[target]

    async def get_app(self, application_id: str) -> Application:
        return await self._drive(flows.single(ep.get_app(application_id), ep.parse_app))

    async def list_apps(
        self,
        *,
        name_search: str | None = None,
        workspace_fqn: str | None = None,
        limit: int = 100,
    ) -> list[Application]:
        return await self._drive(
            flows.list_apps(name_search=name_search, workspace_fqn=workspace_fqn, limit=limit)
        )

    async def session(self) -> dict[str, Any]:
        return dict(await self._drive(flows.single(ep.session(), lambda body: body)))
