"""The API's JSON shapes, built from the sandbox's records. Pure functions.

Field names and types follow what TrueFoundry's own SDKs parse strictly (``truefoundry-sdk``
0.6.0's models are the spec's field rules; tests/sandbox/test_conformance.py holds us to them):
JobRun times in ms ints, ``deploymentVersion`` a string, ``duration`` in *whole* seconds; an
Application with ``tenantName``, int ``lastVersion``/``activeVersion``, ``workspace``, the
required ``createdBySubject`` and ``autopilot``, and a ``deployment`` (itself with a
``createdBySubject``) whose manifest declares the params; Events as Kubernetes reports them.

>>> from jobmagic.sandbox.service.catalog import JobSpec
>>> app = application_json(JobSpec(name="hello", command="echo hi"), created_at_ms=0)
>>> app["fqn"], app["deployment"]["manifest"]["type"], app["lastVersion"]
('sandbox:default:hello', 'job', 1)
>>> app["createdBySubject"]["subjectType"], app["deployment"]["createdBySubject"]["subjectId"]
('user', 'sandbox-user')
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from jobmagic.sandbox.processes import pod_events
from jobmagic.sandbox.service.catalog import JobSpec
from jobmagic.sandbox.storage.records import EventRecord, LogRecord, RunRecord

__all__ = [
    "TENANT",
    "USER",
    "application_json",
    "duration_seconds",
    "event_json",
    "log_json",
    "run_json",
    "session_json",
    "subject_json",
]

#: The sandbox's tenant and its one user; every run is triggered by this user.
TENANT = "sandbox"
USER = {
    "id": "sandbox-user",
    "slug": "sandbox-user",
    "display_name": "Sandbox User",
    "email": "sandbox-user@localhost",
}
_VERSION = 1


def subject_json() -> dict[str, str]:
    """The sandbox user as the spec's ``Subject``."""
    return {
        "subjectId": USER["id"],
        "subjectType": "user",
        "subjectSlug": USER["slug"],
        "subjectDisplayName": USER["display_name"],
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    """A JobRun. ``endTime``, ``duration``, ``exitCode`` and ``error`` appear once known.

    The same JSON as ``jobmagic.models.JobRun.to_api(drop_none=True)`` (a test holds them
    to it), written directly: going through the model (enum, datetimes and back) took 10x
    as long, which a list of 1,000 runs paid at every page.
    """
    data: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "applicationName": run.application_name,
        "applicationId": run.application_id,
        "deploymentId": run.deployment_id,
        "deploymentVersion": run.deployment_version,
        "createdAt": run.created_at_ms,
        "command": run.command,
        "totalRetries": 0,
        "status": run.status,
        "triggeredBy": run.triggered_by,
        "triggeredBySubject": subject_json(),
        "tenantName": TENANT,
    }
    if run.end_time_ms is not None:
        data["endTime"] = run.end_time_ms
        data["duration"] = duration_seconds(run.created_at_ms, run.end_time_ms)
    if run.exit_code is not None:
        data["exitCode"] = run.exit_code
    if run.error:
        data["error"] = run.error
    return data


def duration_seconds(created_at_ms: int, end_time_ms: int) -> int:
    """A run's ``duration`` as the spec types it: whole seconds (``Optional[int]``).

    Rounded half up to the second; clients wanting precision use ``endTime - createdAt``.

    >>> duration_seconds(1_000, 1_051), duration_seconds(0, 2_500), duration_seconds(5, 0)
    (0, 3, 0)
    """
    return (max(0, end_time_ms - created_at_ms) + 500) // 1000


def log_json(record: LogRecord) -> dict[str, str]:
    """One log line; ``time`` is nanoseconds since the epoch, as a string."""
    return {"log": record.line, "stream": record.stream, "time": str(record.time_ns)}


def event_json(event: EventRecord, *, namespace: str, container: str) -> dict[str, Any]:
    """One Event as the spec shapes it: the run's pod (or its container) is the object.

    A pod's namespace is its workspace's name, as TrueFoundry maps workspaces to namespaces;
    its job container is named after the application.
    """
    pod = pod_events.pod_name(event.run_name, event.run_id)
    involved: dict[str, Any] = {
        "kind": "Pod",
        "name": pod,
        "apiVersion": "v1",
        "namespace": namespace,
    }
    if event.on_container:
        involved["containerName"] = container
    stamp = iso(event.time_ms)
    return {
        "name": f"{pod}.{event.seq:016x}",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "involvedObject": involved,
        "type": event.type,
        "count": 1,
        "reason": event.reason,
        "message": event.message,
        "namespace": namespace,
        "chart": {"category": event.category},
    }


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with a ``Z``, as the API writes dates."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def application_json(job: JobSpec, *, created_at_ms: int) -> dict[str, Any]:
    """An Application with its active deployment, whose manifest declares the params."""
    created = iso(created_at_ms)
    params = []
    for param in job.params:
        spec: dict[str, Any] = {"name": param.name, "param_type": "string"}
        if param.description is not None:
            spec["description"] = param.description
        if param.default is not None:
            spec["default"] = param.default
        params.append(spec)
    manifest: dict[str, Any] = {
        "name": job.name,
        "type": "job",
        "image": {"type": "image", "image_uri": "local", "command": job.display_command()},
        "params": params,
        "retries": 0,
        "trigger": {"type": "manual"},
        "workspace_fqn": job.workspace_fqn,
    }
    if job.description:
        manifest["description"] = job.description
    deployment = {
        "id": job.deployment_id,
        "fqn": job.deployment_fqn,
        "version": _VERSION,
        "applicationId": job.application_id,
        "currentStatusId": f"{job.deployment_id}-status",
        "currentStatus": {
            "state": {"isTerminalState": True},
            "status": "DEPLOY_SUCCESS",
            "transition": None,
        },
        "createdAt": created,
        "updatedAt": created,
        "createdBy": USER["id"],
        "createdBySubject": subject_json(),
        "manifest": manifest,
    }
    return {
        "id": job.application_id,
        "fqn": job.fqn,
        "name": job.name,
        "type": "job",
        "tenantName": TENANT,
        "workspaceId": job.workspace_id,
        "createdBy": USER["id"],
        "createdBySubject": subject_json(),
        "lifecycleStage": "active",
        # Required by the spec, its shape left open (``Dict[str, Any]``): a job the sandbox
        # serves has no autopilot recommendations applied, so the object is empty.
        "autopilot": {},
        "metadata": {},
        "activeDeploymentId": job.deployment_id,
        "lastDeploymentId": job.deployment_id,
        "activeVersion": _VERSION,
        "lastVersion": _VERSION,
        "createdAt": created,
        "updatedAt": created,
        "workspace": {
            "id": job.workspace_id,
            "name": job.workspace,
            "fqn": job.workspace_fqn,
            "clusterId": job.cluster,
        },
        "deployment": deployment,
    }


def session_json() -> dict[str, Any]:
    """``GET /session``: who the token belongs to."""
    return {
        "user": {
            "id": USER["id"],
            "username": USER["slug"],
            "email": USER["email"],
            "tenantName": TENANT,
            "subject": {
                "subjectId": USER["id"],
                "subjectSlug": USER["slug"],
                "subjectType": "user",
                "subjectDisplayName": USER["display_name"],
            },
        }
    }
