"""What each endpoint does, without HTTP: validate, act on the store and runner, answer JSON.

Methods take already-parsed values and return JSON-ready dicts, or raise
:class:`~jobmagic.sandbox.errors.ApiProblem`. They block (SQLite, process start), so the web
layer calls them from worker threads.

Run names are ``<app name>-<5 random [a-z0-9]>`` (e.g. ``train-k3x9q``). A trigger's
``metadata.job_run_name_alias`` replaces the app name as the prefix (``nightly-k3x9q``):
the alias names the run for people, and the random part keeps names unique when one alias
is used for many runs.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

from jobmagic.models import RunStatus
from jobmagic.sandbox.errors import ApiProblem
from jobmagic.sandbox.processes import pod_events
from jobmagic.sandbox.processes.runner import Runner
from jobmagic.sandbox.service import render
from jobmagic.sandbox.service.catalog import JobCatalog, JobSpec, build_argv
from jobmagic.sandbox.service.ml.runs import MLRuns
from jobmagic.sandbox.service.ml.tokens import RunTokens
from jobmagic.sandbox.service.trigger_input import (
    optional_str,
    parse_trigger_input,
    reported_command,
    resolve_params,
)
from jobmagic.sandbox.storage.records import TERMINAL, RunRecord
from jobmagic.sandbox.storage.store import SortKey, Store

__all__ = ["RUN_STATUSES", "SORT_KEYS", "SandboxService", "make_run_name"]

#: The nine statuses of the API, in lifecycle order: the client's enum is the one list.
RUN_STATUSES = tuple(status.value for status in RunStatus)
SORT_KEYS: tuple[SortKey, ...] = (
    "startTime",
    "duration",
    "deploymentVersion",
    "triggeredBy",
    "status",
)
#: ``GET /events`` looks back this far from ``endTs`` when no ``startTs`` is given.
EVENTS_WINDOW_MS = 24 * 3600 * 1000
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def make_run_name(prefix: str) -> str:
    """``prefix`` plus a dash and five random lowercase letters/digits.

    >>> name = make_run_name("train")
    >>> name[:6], len(name), all(c in _SUFFIX_ALPHABET for c in name[6:])
    ('train-', 11, True)
    """
    # A name is no secret (every listing shows it) and a clash is drawn again: the random
    # module's generator, one draw for all five characters, not five reads of the OS's
    # random source (a system call each, 5% of the sandbox's time per trigger).
    number = random.randrange(len(_SUFFIX_ALPHABET) ** 5)
    suffix = []
    for _ in range(5):
        number, digit = divmod(number, len(_SUFFIX_ALPHABET))
        suffix.append(_SUFFIX_ALPHABET[digit])
    return f"{prefix}-{''.join(suffix)}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SandboxService:
    """The sandbox's API operations over a job catalog, a store and a runner."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        catalog: JobCatalog,
        *,
        default_cwd: Path,
        public_host: str = "",
    ) -> None:
        self.store = store
        self.runner = runner
        self.catalog = catalog
        self.default_cwd = default_cwd
        #: Where run processes reach this sandbox (their ``TFY_HOST``).
        self.public_host = public_host
        self.ml = MLRuns(store)
        self.run_tokens = RunTokens(self._run_is_live)
        self._first_seen = store.first_seen((job.application_id for job in catalog), _now_ms())

    # --- applications ----------------------------------------------------------------

    def _app(self, job: JobSpec) -> dict[str, Any]:
        return render.application_json(job, created_at_ms=self._first_seen[job.application_id])

    def _run_is_live(self, run_id: str) -> bool:
        record = self.store.get_run_by_id(run_id)
        return record is not None and not record.is_terminal

    def job_by_application_id(self, application_id: str) -> JobSpec:
        job = self.catalog.by_application_id(application_id)
        if job is None:
            raise ApiProblem.not_found(f"No application with id {application_id!r}")
        return job

    def list_apps(
        self,
        *,
        fqn: str | None = None,
        name: str | None = None,
        workspace_fqn: str | None = None,
        name_search: str | None = None,
        application_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        jobs = [
            job
            for job in self.catalog
            if (fqn is None or fqn in (job.fqn, job.deployment_fqn))
            and (name is None or job.name == name)
            and (workspace_fqn is None or job.workspace_fqn == workspace_fqn)
            and (name_search is None or name_search.lower() in job.name.lower())
            and (application_type is None or application_type == "job")
        ]
        page = jobs[offset : offset + limit]
        return {
            "data": [self._app(job) for job in page],
            "pagination": {"total": len(jobs), "offset": offset, "limit": limit},
        }

    def get_app(self, application_id: str) -> dict[str, Any]:
        return {"data": self._app(self.job_by_application_id(application_id))}

    def app_id_by_fqn(self, fqn: str) -> dict[str, Any]:
        job = self.catalog.by_fqn(fqn)
        if job is None:
            raise ApiProblem.not_found(f"No application with fqn {fqn!r}")
        return {"applicationId": job.application_id, "workspaceId": job.workspace_id}

    # --- trigger ---------------------------------------------------------------------

    def trigger(self, body: Any) -> dict[str, Any]:
        """``POST /jobs/trigger``: validate everything, then start exactly one run."""
        if not isinstance(body, Mapping):
            raise ApiProblem.validation(
                [{"field": "body", "message": "must be a JSON object"}],
                "The request body must be a JSON object.",
            )
        details: list[dict[str, str]] = []
        application_id = optional_str(body, "applicationId", details)
        deployment_id = optional_str(body, "deploymentId", details)
        command, params, alias = parse_trigger_input(body, details)
        if application_id is None and deployment_id is None and not details:
            details.append(
                {"field": "applicationId", "message": "give applicationId or deploymentId"}
            )
        if details:
            raise ApiProblem.validation(details)

        job = self._job_for_trigger(application_id, deployment_id)
        resolved = resolve_params(job, params) if command is None else {}
        argv = self._argv(job, command, resolved)
        record = self.store.create_run(
            make_name=lambda: make_run_name(alias or job.name),
            application_id=job.application_id,
            application_name=job.name,
            deployment_id=job.deployment_id,
            deployment_version="1",
            command=reported_command(job, command, resolved),
            params=resolved,
            triggered_by=render.USER["id"],
            now_ms=_now_ms(),
        )
        self.runner.start(
            record.id,
            argv,
            cwd=job.workdir or job.jobs_dir or self.default_cwd,
            env={
                "JOBMAGIC_RUN_NAME": record.name,
                "JOBMAGIC_APPLICATION_FQN": job.fqn,
                # What a TrueFoundry pod has: truefoundry.ml tags its ML runs with the first
                # two, and reaches the platform with the last two.
                "TFY_INTERNAL_JOB_RUN_NAME": record.name,
                "TFY_INTERNAL_APPLICATION_ID": job.application_id,
                "TFY_HOST": self.public_host,
                "TFY_API_KEY": self.run_tokens.issue(record.id),
            },
            container=job.name,
        )
        return {
            "message": f"Job run {record.name} triggered",
            "jobRunName": record.name,
            "data": render.run_json(record),
        }

    def _job_for_trigger(self, application_id: str | None, deployment_id: str | None) -> JobSpec:
        by_app = self.job_by_application_id(application_id) if application_id else None
        by_dep = None
        if deployment_id is not None:
            by_dep = self.catalog.by_deployment_id(deployment_id)
            if by_dep is None:
                raise ApiProblem.not_found(f"No deployment with id {deployment_id!r}")
        if by_app is not None and by_dep is not None and by_app is not by_dep:
            raise ApiProblem.validation(
                [{"field": "deploymentId", "message": f"is not a deployment of {application_id}"}]
            )
        job = by_app or by_dep
        assert job is not None
        return job

    @staticmethod
    def _argv(
        job: JobSpec, command: str | list[str] | None, params: Mapping[str, str]
    ) -> list[str]:
        placeholders = job.placeholders()
        if command is None:
            return build_argv(job.template_tokens(), params, placeholders)
        # An override replaces the template; {python}-style placeholders still work in it.
        try:
            argv = build_argv(command, {}, placeholders)
        except ValueError as exc:
            raise ApiProblem.validation(
                [{"field": "input.command", "message": f"cannot be split into words: {exc}"}]
            ) from None
        if not argv or not argv[0]:
            raise ApiProblem.validation(
                [{"field": "input.command", "message": "must not be empty"}]
            )
        return argv

    # --- runs ------------------------------------------------------------------------

    def _run_or_404(self, application_id: str, name: str) -> RunRecord:
        self.job_by_application_id(application_id)
        record = self.store.get_run(application_id, name)
        if record is None:
            raise ApiProblem.not_found(f"No job run {name!r} in application {application_id!r}")
        return record

    def list_runs(
        self,
        application_id: str,
        *,
        statuses: Sequence[str] = (),
        triggered_by: Sequence[str] = (),
        versions: Sequence[str] = (),
        search_prefix: str | None = None,
        sort_by: str = "startTime",
        order: str = "desc",
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        self.job_by_application_id(application_id)
        runs, total = self.store.list_runs(
            application_id,
            statuses=statuses,
            triggered_by=triggered_by,
            versions=versions,
            search_prefix=search_prefix,
            sort_by=cast(SortKey, sort_by),
            order=cast(Literal["asc", "desc"], order),
            limit=limit,
            offset=offset,
            now_ms=_now_ms(),
        )
        return {
            "data": [render.run_json(run) for run in runs],
            "pagination": {"total": total, "offset": offset, "limit": limit},
        }

    def get_run(self, application_id: str, name: str) -> dict[str, Any]:
        return {"data": render.run_json(self._run_or_404(application_id, name))}

    def delete_run(self, application_id: str, name: str) -> dict[str, Any]:
        record = self._run_or_404(application_id, name)
        if record.status not in TERMINAL or not self.store.delete_run(record.id):
            raise ApiProblem(
                409,
                f"Job run {name!r} is still {record.status}; terminate it before deleting it.",
            )
        return {"message": f"Job run {name} deleted"}

    def terminate(self, deployment_id: str, name: str) -> dict[str, Any]:
        job = self.catalog.by_deployment_id(deployment_id)
        if job is None:
            raise ApiProblem.not_found(f"No deployment with id {deployment_id!r}")
        record = self._run_or_404(job.application_id, name)
        status = self.runner.terminate(record.id)
        return {"message": f"Termination of job run {name} requested", "jobRunStatus": status}

    def _job_by_id_or_fqn(self, application_id: str | None, fqn: str | None) -> JobSpec:
        if application_id is not None:
            return self.job_by_application_id(application_id)
        found = self.catalog.by_fqn(fqn or "")
        if found is None:
            raise ApiProblem.not_found(f"No application with fqn {fqn!r}")
        return found

    def events(
        self,
        *,
        application_id: str | None,
        application_fqn: str | None,
        run_name: str | None,
        pod_names: Sequence[str],
        start_ms: int | None,
        end_ms: int | None,
    ) -> dict[str, Any]:
        """``GET /events``: the pod events of one run, of some pods, or of the whole job,
        within [start, end] (default: the 24 hours before ``end``, which defaults to now)."""
        job = self._job_by_id_or_fqn(application_id, application_fqn)
        end = _now_ms() if end_ms is None else end_ms
        start = end - EVENTS_WINDOW_MS if start_ms is None else start_ms
        if start > end:
            raise ApiProblem.validation(
                [{"field": "startTs", "message": "must be less than or equal to endTs"}]
            )
        run_names: list[str] | None = None
        if run_name:
            run_names = [self._run_or_404(job.application_id, run_name).name]
        records = self.store.query_events(
            job.application_id, run_names=run_names, start_ms=start, end_ms=end
        )
        if pod_names:
            wanted = set(pod_names)
            records = [r for r in records if pod_events.pod_name(r.run_name, r.run_id) in wanted]
        return {
            "data": [
                render.event_json(record, namespace=job.workspace, container=job.name)
                for record in records
            ]
        }

    def logs(
        self,
        *,
        application_id: str | None,
        application_fqn: str | None,
        run_name: str | None,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
        descending: bool,
        skip: int,
        search: str | None,
    ) -> dict[str, Any]:
        job = self._job_by_id_or_fqn(application_id, application_fqn)
        if run_name:
            run_ids = [self._run_or_404(job.application_id, run_name).id]
        else:
            run_ids = self.store.run_ids(job.application_id)
        records = self.store.query_logs(
            run_ids,
            start_ns=start_ns,
            end_ns=end_ns,
            search=search,
            descending=descending,
            limit=limit,
            skip=skip,
        )
        return {"data": [render.log_json(record) for record in records]}
