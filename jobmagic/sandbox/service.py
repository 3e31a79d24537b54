"""What each endpoint does, without HTTP: validate, act on the store and runner, answer JSON.

Methods take already-parsed values and return JSON-ready dicts, or raise
:class:`~jobmagic.sandbox.errors.ApiError`. They block (SQLite, process start), so the web
layer calls them from worker threads.

Run names are ``<app name>-<5 random [a-z0-9]>`` (e.g. ``train-k3x9q``). A trigger's
``metadata.job_run_name_alias`` replaces the app name as the prefix (``nightly-k3x9q``):
the alias names the run for people, and the random part keeps names unique when one alias
is used for many runs.
"""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

from jobmagic.models import PARAM_NAME_PATTERN, RunStatus, fill_command
from jobmagic.sandbox import events, render
from jobmagic.sandbox.errors import ApiError
from jobmagic.sandbox.jobs import JobCatalog, JobSpec, build_argv
from jobmagic.sandbox.mlruns import MLRuns, RunTokens
from jobmagic.sandbox.runner import Runner
from jobmagic.sandbox.store import TERMINAL, RunRecord, SortKey, Store

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
_ALIAS_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits

Details = list[dict[str, str]]


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
            raise ApiError.not_found(f"No application with id {application_id!r}")
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
            raise ApiError.not_found(f"No application with fqn {fqn!r}")
        return {"applicationId": job.application_id, "workspaceId": job.workspace_id}

    # --- trigger ---------------------------------------------------------------------

    def trigger(self, body: Any) -> dict[str, Any]:
        """``POST /jobs/trigger``: validate everything, then start exactly one run."""
        if not isinstance(body, Mapping):
            raise ApiError.validation(
                [{"field": "body", "message": "must be a JSON object"}],
                "The request body must be a JSON object.",
            )
        details: Details = []
        application_id = _optional_str(body, "applicationId", details)
        deployment_id = _optional_str(body, "deploymentId", details)
        command, params, alias = _parse_trigger_input(body, details)
        if application_id is None and deployment_id is None and not details:
            details.append(
                {"field": "applicationId", "message": "give applicationId or deploymentId"}
            )
        if details:
            raise ApiError.validation(details)

        job = self._job_for_trigger(application_id, deployment_id)
        resolved = _resolve_params(job, params) if command is None else {}
        argv = self._argv(job, command, resolved)
        record = self.store.create_run(
            make_name=lambda: make_run_name(alias or job.name),
            application_id=job.application_id,
            application_name=job.name,
            deployment_id=job.deployment_id,
            deployment_version="1",
            command=_reported_command(job, command, resolved),
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
                raise ApiError.not_found(f"No deployment with id {deployment_id!r}")
        if by_app is not None and by_dep is not None and by_app is not by_dep:
            raise ApiError.validation(
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
            raise ApiError.validation(
                [{"field": "input.command", "message": f"cannot be split into words: {exc}"}]
            ) from None
        if not argv or not argv[0]:
            raise ApiError.validation([{"field": "input.command", "message": "must not be empty"}])
        return argv

    # --- runs ------------------------------------------------------------------------

    def _run_or_404(self, application_id: str, name: str) -> RunRecord:
        self.job_by_application_id(application_id)
        record = self.store.get_run(application_id, name)
        if record is None:
            raise ApiError.not_found(f"No job run {name!r} in application {application_id!r}")
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
            raise ApiError(
                409,
                f"Job run {name!r} is still {record.status}; terminate it before deleting it.",
            )
        return {"message": f"Job run {name} deleted"}

    def terminate(self, deployment_id: str, name: str) -> dict[str, Any]:
        job = self.catalog.by_deployment_id(deployment_id)
        if job is None:
            raise ApiError.not_found(f"No deployment with id {deployment_id!r}")
        record = self._run_or_404(job.application_id, name)
        status = self.runner.terminate(record.id)
        return {"message": f"Termination of job run {name} requested", "jobRunStatus": status}

    def _job_by_id_or_fqn(self, application_id: str | None, fqn: str | None) -> JobSpec:
        if application_id is not None:
            return self.job_by_application_id(application_id)
        found = self.catalog.by_fqn(fqn or "")
        if found is None:
            raise ApiError.not_found(f"No application with fqn {fqn!r}")
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
            raise ApiError.validation(
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
            records = [r for r in records if events.pod_name(r.run_name, r.run_id) in wanted]
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


# --- trigger body parsing: pure -------------------------------------------------------


def _optional_str(body: Mapping[str, Any], key: str, details: Details) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        details.append({"field": key, "message": "must be a non-empty string"})
        return None
    return value


def _parse_trigger_input(
    body: Mapping[str, Any], details: Details
) -> tuple[str | list[str] | None, dict[str, str], str | None]:
    """``input.command``, ``input.params`` and the alias, with problems added to details."""
    command: str | list[str] | None = None
    params: dict[str, str] = {}
    raw_input = body.get("input")
    if raw_input is not None and not isinstance(raw_input, Mapping):
        details.append({"field": "input", "message": "must be an object"})
        raw_input = None
    raw_input = raw_input or {}

    raw_command = raw_input.get("command")
    if isinstance(raw_command, str):
        command = raw_command
    elif isinstance(raw_command, list) and all(isinstance(part, str) for part in raw_command):
        command = list(raw_command)
    elif raw_command is not None:
        details.append(
            {"field": "input.command", "message": "must be a string or a list of strings"}
        )

    raw_params = raw_input.get("params")
    if raw_params is not None and not isinstance(raw_params, Mapping):
        details.append({"field": "input.params", "message": "must be an object"})
    elif raw_params:
        for name, value in raw_params.items():
            field = f"input.params.{name}"
            if not isinstance(name, str) or not PARAM_NAME_PATTERN.match(name):
                details.append(
                    {
                        "field": field,
                        "message": f"is not a valid param name ({PARAM_NAME_PATTERN.pattern})",
                    }
                )
            elif not isinstance(value, str):
                details.append({"field": field, "message": "must be a string"})
            else:
                params[name] = value
    if command is not None and raw_params:
        details.append({"field": "input", "message": "give either command or params, not both"})

    alias = None
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        details.append({"field": "metadata", "message": "must be an object"})
    elif metadata:
        raw_alias = metadata.get("job_run_name_alias")
        if raw_alias is not None and (
            not isinstance(raw_alias, str) or not _ALIAS_RE.match(raw_alias)
        ):
            details.append(
                {
                    "field": "metadata.job_run_name_alias",
                    "message": "must be 1-40 lowercase letters, digits or dashes",
                }
            )
        else:
            alias = raw_alias
    return command, params, alias


def _resolve_params(job: JobSpec, given: Mapping[str, str]) -> dict[str, str]:
    """Given params plus declared defaults; undeclared or missing params are a 422."""
    details: Details = []
    declared = [p.name for p in job.params]
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            details.append(
                {
                    "field": f"input.params.{name}",
                    "message": f"is not a param of {job.name} (declared: {known})",
                }
            )
    resolved: dict[str, str] = {}
    for param in job.params:
        if param.name in given:
            resolved[param.name] = given[param.name]
        elif param.default is not None:
            resolved[param.name] = param.default
        else:
            details.append({"field": f"input.params.{param.name}", "message": "is required"})
    if details:
        raise ApiError.validation(details)
    return resolved


def _reported_command(
    job: JobSpec, override: str | list[str] | None, params: Mapping[str, str]
) -> str:
    """The run's ``command`` as TrueFoundry reports it: an override as given, else the
    manifest's template with its slots filled as text. What ran is the argv built from the
    same template (split first, then filled); this is what a person, or a client matching
    a run to the params it sent, reads."""
    if override is not None:
        return override if isinstance(override, str) else " ".join(override)
    return fill_command(job.display_command(), params)
