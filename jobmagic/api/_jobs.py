"""The Jobs API's methods, one table for :class:`JobsClient` and :class:`AsyncJobsClient`.

Each entry returns the flow of its call (:mod:`jobmagic.api._methods` makes it a blocking
method of one client and a coroutine function of the other), so a parameter added here is
added to both.

>>> from jobmagic.api._methods import ApiMethod
>>> sorted(name for name, value in vars(JobsMethods).items() if isinstance(value, ApiMethod))
... # doctest: +NORMALIZE_WHITESPACE
['delete_run', 'events', 'find_app', 'get_app', 'get_run', 'list_apps', 'list_runs', 'logs',
 'send_trigger', 'session', 'terminate', 'trigger']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jobmagic.api import _flows as flows
from jobmagic.api import endpoints as ep
from jobmagic.api._core import ClientCore
from jobmagic.api._flows import Flow
from jobmagic.api._methods import api_method
from jobmagic.api.logs import LogCursor, LogPage
from jobmagic.models import Application, Event, JobRun, RunStatus, TriggerResult

__all__ = ["JobsMethods"]


class JobsMethods:
    """Runs, their logs and events, and applications: the Jobs API."""

    _core: ClientCore  # the client's

    @api_method
    def trigger(
        self,
        *,
        application_id: str | None = None,
        deployment_id: str | None = None,
        command: str | Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
        alias: str | None = None,
    ) -> Flow[TriggerResult]:
        """Start a run. Sent once unless it provably never reached the server, or got 429."""
        request = ep.trigger(
            application_id=application_id,
            deployment_id=deployment_id,
            command=command,
            params=params,
            alias=alias,
        )
        return flows.trigger(request)

    @api_method
    def send_trigger(self, request: ep.ApiRequest) -> Flow[TriggerResult]:
        """Send a trigger request built by ``endpoints.trigger`` (which checked its input);
        the engine builds every request before it writes the ledger."""
        return flows.trigger(request)

    @api_method
    def get_run(self, application_id: str, name: str) -> Flow[JobRun]:
        """One run, fresh from the server."""
        return flows.single(ep.get_run(application_id, name), ep.parse_run)

    @api_method
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
    ) -> Flow[list[JobRun]]:
        """A job's runs, across all pages (at most ``limit``); with ``created_after``, only
        those created since then, newest first, paging no further back than needed.
        ``status``, ``triggered_by``, ``version_numbers`` and ``search_prefix`` (a run-name
        prefix) are the server's own filters."""
        return flows.list_runs(
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

    @api_method
    def terminate(self, deployment_id: str, name: str) -> Flow[str]:
        """Ask the server to stop a run; returns its message."""
        return flows.single(ep.terminate(deployment_id, name), ep.parse_message)

    @api_method
    def delete_run(self, application_id: str, name: str) -> Flow[str]:
        """Delete a finished run's record; returns the server's message."""
        return flows.single(ep.delete_run(application_id, name), ep.parse_message)

    @api_method
    def logs(
        self,
        application_id: str,
        run_name: str,
        *,
        since: datetime | int | LogCursor | None = None,
        limit: int | None = None,
        tail: bool = False,
        search: str | None = None,
        budget: int | None = None,
    ) -> Flow[LogPage]:
        """One page of log lines, oldest first: from ``since`` (a moment, or the ``next``
        cursor of a page, to go on after it), at most ``limit`` (the server's default is
        5000). ``tail=True`` gives the last ``limit`` lines. With ``budget``, the answer
        is read only until its lines hold that many characters of JSON (at least one line;
        the page is then ``full``): lines can be long. Walk a whole log page by page::

            page = client.logs(app_id, run, limit=1000)
            while page.full:
                page = client.logs(app_id, run, since=page.next, limit=1000)
        """
        return flows.logs(
            application_id,
            run_name,
            since=since,
            limit=limit,
            tail=tail,
            search=search,
            budget=budget,
        )

    @api_method
    def events(
        self,
        application_id: str,
        run_name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Flow[list[Event]]:
        """The Kubernetes events of a run's pods, oldest first: why it failed, in the
        cluster's words. Without ``since`` the server looks back 24 hours from ``until``."""
        request = ep.events(application_id, run_name, since=since, until=until)
        return flows.single(request, ep.parse_events)

    @api_method
    def find_app(self, target: str, *, refresh: bool = False) -> Flow[Application]:
        """An application by FQN or name; cached for the life of this client unless
        ``refresh`` asks the server again."""
        apps = self._core.apps
        if refresh or target not in apps:
            apps[target] = yield from flows.find_app(target)
        return apps[target]

    @api_method
    def get_app(self, application_id: str) -> Flow[Application]:
        """An application by id, fresh from the server."""
        return flows.single(ep.get_app(application_id), ep.parse_app)

    @api_method
    def list_apps(
        self,
        *,
        name_search: str | None = None,
        workspace_fqn: str | None = None,
        limit: int = 100,
    ) -> Flow[list[Application]]:
        """Up to ``limit`` jobs: those whose name contains ``name_search``, or in the
        workspace ``workspace_fqn`` (``cluster:workspace``), or all."""
        return flows.list_apps(name_search=name_search, workspace_fqn=workspace_fqn, limit=limit)

    @api_method
    def session(self) -> Flow[dict[str, Any]]:
        """Who the token belongs to (``GET /session``)."""
        return flows.single(ep.session(), dict)
