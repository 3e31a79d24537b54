"""The Kubernetes-like events the sandbox records for a run's pod. Pure functions.

A real cluster reports a job run's pod through events: ``Scheduled``, ``Pulled`` and
``Started`` as it comes up, ``Completed`` when its container exits 0, ``Error`` and
``BackOff`` (with the exit code) when it fails, ``Killing`` when it is asked to stop. The
runner records the same sequence for its processes, so "why did it fail" has the answer a
cluster would give. ``category`` values are the spec's ``EventChartCategory``.

>>> [e.reason for e in started("run-1", "hello", now_ms=0)]
['Scheduled', 'Pulled', 'Started']
>>> [(e.reason, e.type) for e in ended("run-1", "hello", "FAILED", 3, "boom", now_ms=5)]
[('Error', 'Warning'), ('BackOff', 'Warning')]
>>> pod_name("hello-k3x9q", "run-0123456789abcdef")
'hello-k3x9q-bcdef'
"""

from __future__ import annotations

from jobmagic.sandbox.storage.records import EventRecord

__all__ = ["NODE", "ended", "killing", "not_started", "pod_name", "started"]

#: The one "node" every sandbox pod is scheduled on.
NODE = "sandbox-node"

NORMAL = "Normal"
WARNING = "Warning"


def pod_name(run_name: str, run_id: str) -> str:
    """The run's pod: its name plus a suffix from its id, as a Job controller names pods."""
    return f"{run_name}-{run_id[-5:]}"


def started(run_id: str, container: str, *, now_ms: int) -> list[EventRecord]:
    """The pod came up and the job's process started."""
    return [
        EventRecord(run_id, now_ms, "Scheduled", NORMAL, f"Successfully assigned to {NODE}"),
        EventRecord(
            run_id,
            now_ms,
            "Pulled",
            NORMAL,
            'Container image "local" already present on machine',
            on_container=True,
        ),
        EventRecord(
            run_id, now_ms, "Started", NORMAL, f"Started container {container}", on_container=True
        ),
    ]


def ended(
    run_id: str,
    container: str,
    status: str,
    exit_code: int | None,
    error: str | None,
    *,
    now_ms: int,
) -> list[EventRecord]:
    """How the job's process ended; nothing for a terminated run (``Killing`` said it)."""
    if status == "FINISHED":
        return [
            EventRecord(
                run_id,
                now_ms,
                "Completed",
                NORMAL,
                f"Container {container} exited with code {exit_code}",
                "ContainerTerminated",
                True,
            )
        ]
    if status != "FAILED":
        return []
    detail = f": {error}" if error else ""
    return [
        EventRecord(
            run_id,
            now_ms,
            "Error",
            WARNING,
            f"Container {container} terminated with exit code {exit_code}{detail}",
            "ContainerTerminated",
            True,
        ),
        EventRecord(
            run_id,
            now_ms,
            "BackOff",
            WARNING,
            f"Back-off restarting failed container {container} (exit code {exit_code}); "
            "no retries left",
            on_container=True,
        ),
    ]


def not_started(
    run_id: str, container: str, exit_code: int | None, error: str, *, now_ms: int
) -> list[EventRecord]:
    """The pod was scheduled but its container could not start (bad command, cwd, …)."""
    code = f" (exit code {exit_code})" if exit_code is not None else ""
    return [
        EventRecord(run_id, now_ms, "Scheduled", NORMAL, f"Successfully assigned to {NODE}"),
        EventRecord(
            run_id,
            now_ms,
            "Failed",
            WARNING,
            f"Error: container {container} could not start{code}: {error}",
            "ContainerTerminated",
            True,
        ),
    ]


def killing(run_id: str, container: str, reason: str, *, now_ms: int) -> EventRecord:
    """The pod is being stopped (a terminate request, or the sandbox shutting down)."""
    return EventRecord(
        run_id,
        now_ms,
        "Killing",
        NORMAL,
        f"Stopping container {container}: {reason}",
        "PodTerminated",
        True,
    )
