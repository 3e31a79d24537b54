"""The API's JSON shapes, built from the sandbox's records. Pure functions.

Field names and types follow API.md and what TrueFoundry's own SDKs parse strictly:
JobRun times in ms ints, ``deploymentVersion`` a string, ``duration`` in seconds; an
Application with ``tenantName``, int ``lastVersion``/``activeVersion``, ``workspace`` and a
``deployment`` whose manifest declares the params.

>>> from jobmagic.sandbox.jobs import JobSpec
>>> app = application_json(JobSpec(name="hello", command="echo hi"), created_at_ms=0)
>>> app["fqn"], app["deployment"]["manifest"]["type"], app["lastVersion"]
('sandbox:default:hello', 'job', 1)
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from jobmagic.sandbox.jobs import JobSpec
from jobmagic.sandbox.store import LogRecord, RunRecord

__all__ = [
    "TENANT",
    "USER",
    "application_json",
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
    return {
        "subjectId": USER["id"],
        "subjectType": "user",
        "subjectSlug": USER["slug"],
        "subjectDisplayName": USER["display_name"],
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    """A JobRun. ``endTime``, ``duration``, ``exitCode`` and ``error`` appear once known."""
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
        data["duration"] = round(max(0, run.end_time_ms - run.created_at_ms) / 1000, 3)
    if run.exit_code is not None:
        data["exitCode"] = run.exit_code
    if run.error:
        data["error"] = run.error
    return data


def log_json(record: LogRecord) -> dict[str, str]:
    """One log line; ``time`` is nanoseconds since the epoch, as a string."""
    return {"log": record.line, "stream": record.stream, "time": str(record.time_ns)}


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
        "lifecycleStage": "active",
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
