"""Typed views of the TrueFoundry Jobs API's JSON.

Parsing is tolerant on purpose: the API grows fields and enum values over
time, and a notebook must never crash because a server is newer than the
client. Unknown fields are ignored, unknown enum values are kept as their
raw string, and numbers that older servers send as strings are accepted.

>>> run = JobRun.from_api({"name": "train-x1", "status": "RUNNING", "createdAt": 0})
>>> run.status.is_terminal, run.created_at.year
(False, 1970)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

from jobmagic._ticks import clock_now
from jobmagic.models.constants import API_PREFIX

__all__ = [
    "API_PREFIX",
    "PARAM_NAME_PATTERN",
    "Application",
    "Event",
    "InvolvedObject",
    "JobRun",
    "LogLine",
    "ParamSpec",
    "RunStatus",
    "Subject",
    "TriggerResult",
    "Workspace",
    "fill_command",
]


#: A param name, as the deployment spec allows it (the client checks it before sending; the
#: sandbox enforces it as the server does).
PARAM_NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9\-_]{0,30}[a-z0-9]$")


class RunStatus(str, enum.Enum):
    """The state of a job run.

    Values the client does not know yet are kept as pseudo-members whose
    value is the server's raw string, so ``RunStatus("PAUSED")`` works,
    compares equal to ``"PAUSED"`` and is not terminal.
    """

    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    TERMINATION_REQUESTED = "TERMINATION_REQUESTED"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def _missing_(cls, value: object) -> RunStatus | None:
        if not isinstance(value, str):
            return None
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value
        pseudo._value_ = value
        return pseudo

    def __str__(self) -> str:
        return str(self.value)

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change (finished, failed, terminated)."""
        return self in _TERMINAL

    @property
    def ended_unsuccessfully(self) -> bool:
        """True for FAILED and TERMINATED: the endings a run's pod events explain."""
        return self in (RunStatus.FAILED, RunStatus.TERMINATED)

    @property
    def is_known(self) -> bool:
        """False for a value this version of jobmagic has never heard of."""
        return self.value in RunStatus.__members__


_TERMINAL = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.TERMINATED})


# --- small parsing helpers: pure and forgiving ---------------------------------------


def ms_to_datetime(value: Any) -> datetime | None:
    """Milliseconds since the epoch (number or numeric string) -> aware UTC datetime."""
    number = _to_float(value)
    if number is None:
        return None
    return datetime.fromtimestamp(number / 1000.0, tz=timezone.utc)


def datetime_to_ms(value: datetime | None) -> int | None:
    """The inverse of :func:`ms_to_datetime`."""
    if value is None:
        return None
    return round(value.timestamp() * 1000)


def iso_to_datetime(value: Any) -> datetime | None:
    """ISO-8601 text (``Z`` suffix allowed) -> aware datetime; anything else -> None."""
    if not isinstance(value, str) or not value:
        return ms_to_datetime(value) if isinstance(value, (int, float)) else None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _to_int(value: Any) -> int | None:
    # int() first: nanosecond timestamps do not survive a trip through float.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    number = _to_float(value)
    return None if number is None else int(number)


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --- the models ----------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Who triggered a run: a user, team, service account, … (``subject_type`` is open)."""

    subject_id: str | None = None
    subject_type: str | None = None
    subject_slug: str | None = None
    subject_display_name: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Subject:
        return cls(
            subject_id=_to_str(data.get("subjectId")),
            subject_type=_to_str(data.get("subjectType")),
            subject_slug=_to_str(data.get("subjectSlug")),
            subject_display_name=_to_str(data.get("subjectDisplayName")),
        )

    @property
    def label(self) -> str | None:
        """The friendliest name available: display name, slug, then id."""
        return self.subject_display_name or self.subject_slug or self.subject_id

    def to_api(self) -> dict[str, Any]:
        return {
            "subjectId": self.subject_id,
            "subjectType": self.subject_type,
            "subjectSlug": self.subject_slug,
            "subjectDisplayName": self.subject_display_name,
        }


@dataclass(frozen=True)
class JobRun:
    """One run of a job, as the API reports it.

    Times are timezone-aware UTC datetimes; ``duration`` is the server's, in seconds (whole
    seconds, as the spec types it); :attr:`duration_seconds` is the precise one.
    """

    name: str
    status: RunStatus = RunStatus.UNKNOWN
    application_name: str | None = None
    id: str | None = None
    application_id: str | None = None
    deployment_id: str | None = None
    deployment_version: str | None = None
    created_at: datetime | None = None
    end_time: datetime | None = None
    duration: float | None = None
    command: str | None = None
    total_retries: int | None = None
    error: str | None = None
    exit_code: int | None = None
    triggered_by: str | None = None
    triggered_by_subject: Subject | None = None
    external_id: str | None = None
    tenant_name: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> JobRun:
        """Parse one JobRun object; never raises on unknown or odd-typed fields."""
        subject = data.get("triggeredBySubject")
        status = data.get("status")
        return cls(
            name=_to_str(data.get("name")) or "",
            status=RunStatus(status) if isinstance(status, str) and status else RunStatus.UNKNOWN,
            application_name=_to_str(data.get("applicationName")),
            id=_to_str(data.get("id")),
            application_id=_to_str(data.get("applicationId")),
            deployment_id=_to_str(data.get("deploymentId")),
            deployment_version=_to_str(data.get("deploymentVersion")),
            created_at=ms_to_datetime(data.get("createdAt")),
            end_time=ms_to_datetime(data.get("endTime")),
            duration=_to_float(data.get("duration")),
            command=_command_text(data.get("command")),
            total_retries=_to_int(data.get("totalRetries")),
            error=_to_str(data.get("error")) or None,
            exit_code=_to_int(data.get("exitCode")),
            triggered_by=_to_str(data.get("triggeredBy")),
            triggered_by_subject=Subject.from_api(subject)
            if isinstance(subject, Mapping)
            else None,
            external_id=_to_str(data.get("externalId")),
            tenant_name=_to_str(data.get("tenantName")),
        )

    def to_api(self, *, drop_none: bool = False) -> dict[str, Any]:
        """The API's camelCase JSON, so that :meth:`from_api` reads it back.

        Times become integer milliseconds, as the API sends them (sub-millisecond precision
        is dropped). ``drop_none`` leaves out the fields that are not known, as a server does.

        >>> run = JobRun(name="train-x1", status=RunStatus.FINISHED, exit_code=0)
        >>> JobRun.from_api(run.to_api()) == run
        True
        >>> sorted(run.to_api(drop_none=True))
        ['exitCode', 'name', 'status']
        """
        subject = self.triggered_by_subject
        data = {
            "id": self.id,
            "name": self.name,
            "applicationName": self.application_name,
            "applicationId": self.application_id,
            "deploymentId": self.deployment_id,
            "deploymentVersion": self.deployment_version,
            "createdAt": datetime_to_ms(self.created_at),
            "endTime": datetime_to_ms(self.end_time),
            "duration": self.duration,
            "command": self.command,
            "totalRetries": self.total_retries,
            "status": str(self.status.value),
            "error": self.error,
            "exitCode": self.exit_code,
            "triggeredBy": self.triggered_by,
            "triggeredBySubject": None if subject is None else subject.to_api(),
            "externalId": self.external_id,
            "tenantName": self.tenant_name,
        }
        if drop_none:
            return {key: value for key, value in data.items() if value is not None}
        return data

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def triggered_by_label(self) -> str | None:
        """Who triggered the run, as a person would name them."""
        if self.triggered_by_subject and self.triggered_by_subject.label:
            return self.triggered_by_subject.label
        return self.triggered_by

    @property
    def duration_seconds(self) -> float | None:
        """How long the run took: ``endTime - createdAt`` (ms precision) when both are known,
        else the server's ``duration``, which real servers round to whole seconds.

        >>> JobRun.from_api({"name": "r", "createdAt": 1000, "endTime": 1051, "duration": 0}
        ...                 ).duration_seconds
        0.051
        >>> JobRun.from_api({"name": "r", "duration": 7}).duration_seconds
        7.0
        """
        if self.created_at is not None and self.end_time is not None:
            return max(0.0, (self.end_time - self.created_at).total_seconds())
        return self.duration

    def elapsed(self, now: datetime | None = None) -> float | None:
        """A run's duration, the one every view shows: while the run can still change,
        created → ``now`` (a server's whole-second ``duration`` of a live run would stand
        still between polls); once it ended (or has an end time), :attr:`duration_seconds`.

        >>> from datetime import timedelta
        >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
        >>> live = JobRun(name="r", status=RunStatus.RUNNING, created_at=t, duration=0)
        >>> live.elapsed(t + timedelta(seconds=1.2))
        1.2
        >>> JobRun(name="r", status=RunStatus.FINISHED, created_at=t,
        ...        end_time=t + timedelta(seconds=3.5)).elapsed(t + timedelta(days=1))
        3.5
        """
        if self.created_at is not None and self.end_time is None and not self.is_terminal:
            # By default at the clock's second, as every view shows it (jobmagic._ticks).
            return max(0.0, ((now or clock_now()) - self.created_at).total_seconds())
        return self.duration_seconds


def _command_text(value: Any) -> str | None:
    if isinstance(value, list):
        return " ".join(str(part) for part in value)
    return _to_str(value)


_SLOT_RE = re.compile(r"\{\{\s*([A-Za-z0-9_\-]+)\s*\}\}")


def fill_command(template: str, params: Mapping[str, str]) -> str:
    """A job's command as the API reports a run's: each ``{{name}}`` slot of the manifest's
    template replaced by the param's text. Slots without a value stay as written.

    >>> fill_command("train.py --lr {{lr}} --tag {{ tag }} {{x}}", {"lr": "0.1", "tag": "a b"})
    'train.py --lr 0.1 --tag a b {{x}}'
    """
    return _SLOT_RE.sub(lambda match: params.get(match.group(1), match.group(0)), template)


@dataclass(frozen=True)
class TriggerResult:
    """The answer to a trigger: the server's message, the new run's name, the run."""

    message: str
    job_run_name: str
    run: JobRun

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TriggerResult:
        run = JobRun.from_api(_mapping(data.get("data")))
        name = _to_str(data.get("jobRunName")) or run.name
        if not run.name:
            run = JobRun.from_api({**_mapping(data.get("data")), "name": name})
        return cls(message=_to_str(data.get("message")) or "", job_run_name=name, run=run)


@dataclass(frozen=True)
class ParamSpec:
    """A param a job declares in its manifest: name, description, default, type."""

    name: str
    description: str | None = None
    default: str | None = None
    param_type: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ParamSpec:
        return cls(
            name=_to_str(data.get("name")) or "",
            description=_to_str(data.get("description")),
            default=_to_str(data.get("default")),
            param_type=_to_str(data.get("param_type")),
        )


@dataclass(frozen=True)
class Workspace:
    name: str | None = None
    fqn: str | None = None
    cluster_id: str | None = None


@dataclass(frozen=True)
class Application:
    """A deployed application (a job) and what its active deployment declares."""

    id: str
    name: str
    fqn: str | None = None
    type: str | None = None
    tenant_name: str | None = None
    workspace_id: str | None = None
    active_deployment_id: str | None = None
    last_deployment_id: str | None = None
    active_version: str | None = None
    last_version: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    workspace: Workspace = field(default_factory=Workspace)
    command: str | None = None
    params: tuple[ParamSpec, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Application:
        workspace = _mapping(data.get("workspace"))
        deployment = _mapping(data.get("deployment"))
        manifest = _mapping(deployment.get("manifest"))
        image = _mapping(manifest.get("image"))
        raw_params = manifest.get("params")
        return cls(
            id=_to_str(data.get("id")) or "",
            name=_to_str(data.get("name")) or "",
            fqn=_to_str(data.get("fqn")),
            type=_to_str(data.get("type")),
            tenant_name=_to_str(data.get("tenantName")),
            workspace_id=_to_str(data.get("workspaceId")),
            active_deployment_id=_to_str(data.get("activeDeploymentId")),
            last_deployment_id=_to_str(data.get("lastDeploymentId")),
            active_version=_to_str(data.get("activeVersion")),
            last_version=_to_str(data.get("lastVersion")),
            created_at=iso_to_datetime(data.get("createdAt")),
            updated_at=iso_to_datetime(data.get("updatedAt")),
            workspace=Workspace(
                name=_to_str(workspace.get("name")),
                fqn=_to_str(workspace.get("fqn")),
                cluster_id=_to_str(workspace.get("clusterId")),
            ),
            command=_command_text(image.get("command") or manifest.get("command")),
            params=tuple(ParamSpec.from_api(p) for p in raw_params or () if isinstance(p, Mapping))
            if isinstance(raw_params, list)
            else (),
        )

    @property
    def deployment_id(self) -> str | None:
        """The deployment a trigger should target: the active one, else the latest."""
        return self.active_deployment_id or self.last_deployment_id

    def run_command(self, params: Mapping[str, str]) -> str | None:
        """The command a run triggered with ``params`` reports: the template filled with the
        params over the declared defaults; ``None`` when the manifest has no command."""
        if self.command is None:
            return None
        defaults = {p.name: p.default for p in self.params if p.default is not None}
        return fill_command(self.command, {**defaults, **params})


@dataclass(frozen=True)
class LogLine:
    """One line of a run's logs; ``time_ns`` keeps the API's nanosecond precision."""

    log: str
    stream: str | None = None
    time_ns: int | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> LogLine:
        return cls(
            log=_to_str(data.get("log")) or "",
            stream=_to_str(data.get("stream")),
            time_ns=_to_int(data.get("time")),
        )

    @property
    def time(self) -> datetime | None:
        if self.time_ns is None:
            return None
        return datetime.fromtimestamp(self.time_ns / 1e9, tz=timezone.utc)


@dataclass(frozen=True)
class InvolvedObject:
    """What a Kubernetes event is about: usually the run's pod, maybe one of its containers."""

    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    api_version: str | None = None
    container_name: str | None = None


@dataclass(frozen=True)
class Event:
    """One Kubernetes event of a run's pods (``GET /events``): why a run failed, in the
    cluster's words (``BackOff``, ``Error``, ``OOMKilled``, ``Killing``, …).

    ``type`` (``Normal``/``Warning``) and ``category`` (the spec's ``chart.category``, e.g.
    ``ContainerTerminated``) are open strings: values a newer server sends parse as they are.

    >>> event = Event.from_api({"reason": "BackOff", "type": "Warning", "count": "2",
    ...     "message": "exit code 3", "lastTimestamp": "2024-01-01T00:00:00Z",
    ...     "chart": {"category": "SomethingNew"}, "involvedObject": {"kind": "Pod"}})
    >>> event.is_warning, event.count, event.category, event.time.year
    (True, 2, 'SomethingNew', 2024)
    """

    reason: str
    message: str = ""
    type: str | None = None
    count: int | None = None
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    name: str | None = None
    namespace: str | None = None
    category: str | None = None
    involved_object: InvolvedObject = field(default_factory=InvolvedObject)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Event:
        """Parse one Event object; never raises on unknown or odd-typed fields."""
        involved = _mapping(data.get("involvedObject"))
        return cls(
            reason=_to_str(data.get("reason")) or "",
            message=_to_str(data.get("message")) or "",
            type=_to_str(data.get("type")),
            count=_to_int(data.get("count")),
            first_timestamp=iso_to_datetime(data.get("firstTimestamp")),
            last_timestamp=iso_to_datetime(data.get("lastTimestamp")),
            name=_to_str(data.get("name")),
            namespace=_to_str(data.get("namespace")),
            category=_to_str(_mapping(data.get("chart")).get("category")),
            involved_object=InvolvedObject(
                kind=_to_str(involved.get("kind")),
                name=_to_str(involved.get("name")),
                namespace=_to_str(involved.get("namespace")),
                api_version=_to_str(involved.get("apiVersion")),
                container_name=_to_str(involved.get("containerName")),
            ),
        )

    @property
    def is_warning(self) -> bool:
        """True for ``Warning`` events: the ones that say what went wrong."""
        return (self.type or "").lower() == "warning"

    @property
    def time(self) -> datetime | None:
        """When the event was last seen (else first seen)."""
        return self.last_timestamp or self.first_timestamp
