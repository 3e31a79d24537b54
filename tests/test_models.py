"""Tolerant parsing of the API's JSON into models."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jobmagic.models import Application, Event, JobRun, LogLine, RunStatus, TriggerResult


def test_all_nine_states_and_which_are_terminal() -> None:
    assert [s.value for s in RunStatus] == [
        "CREATED",
        "SCHEDULED",
        "RUNNING",
        "FINISHED",
        "FAILED",
        "TERMINATION_REQUESTED",
        "TERMINATING",
        "TERMINATED",
        "UNKNOWN",
    ]
    assert {s for s in RunStatus if s.is_terminal} == {
        RunStatus.FINISHED,
        RunStatus.FAILED,
        RunStatus.TERMINATED,
    }


def test_unknown_status_is_kept_as_raw_string() -> None:
    status = RunStatus("PAUSED")
    assert status == "PAUSED"
    assert status.value == "PAUSED"
    assert not status.is_terminal
    assert not status.is_known
    assert RunStatus("FINISHED") is RunStatus.FINISHED


def test_seed_example_parses() -> None:
    body = {
        "message": "Job triggered",
        "jobRunName": "train-abc12",
        "data": {
            "name": "train-abc12",
            "applicationName": "train",
            "deploymentVersion": "3",
            "createdAt": 1_764_000_000_000,
            "endTime": 1_764_000_012_500,
            "duration": 12.5,
            "command": "python train.py",
            "totalRetries": 0,
            "error": "",
            "status": "FINISHED",
            "triggeredBy": "ada@example.com",
            "triggeredBySubject": {
                "subjectId": "u1",
                "subjectType": "user",
                "subjectSlug": "ada@example.com",
                "subjectDisplayName": "Ada",
            },
            "exitCode": 0,
            "externalId": "ext-1",
        },
    }
    result = TriggerResult.from_api(body)
    run = result.run
    assert result.job_run_name == "train-abc12"
    assert run.status is RunStatus.FINISHED
    assert run.created_at == datetime(2025, 11, 24, 16, 0, tzinfo=timezone.utc)
    assert run.end_time is not None and run.end_time.tzinfo is timezone.utc
    assert (run.end_time - run.created_at).total_seconds() == 12.5
    assert run.duration == 12.5
    assert run.exit_code == 0
    assert run.error is None  # an empty error string means no error
    assert run.triggered_by_label == "Ada"
    assert run.external_id == "ext-1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [({"duration": "12"}, 12.0), ({"duration": None}, None), ({"duration": "n/a"}, None)],
)
def test_duration_number_string_or_null(raw: dict[str, object], expected: float | None) -> None:
    assert JobRun.from_api({"name": "r", **raw}).duration == expected


def test_old_server_shapes_and_unknown_fields() -> None:
    run = JobRun.from_api(
        {
            "name": "r",
            "deploymentVersion": 7,
            "createdAt": "1764000000000",
            "status": "SOMETHING_NEW",
            "newField": {"nested": True},
            "triggeredBySubject": {"subjectType": "agent", "subjectId": "a1"},
        }
    )
    assert run.deployment_version == "7"
    assert run.created_at is not None and run.created_at.year == 2025
    assert run.status == "SOMETHING_NEW"
    assert run.triggered_by_subject is not None
    assert run.triggered_by_subject.subject_type == "agent"
    assert run.id is None and run.end_time is None and run.exit_code is None


def test_elapsed_uses_duration_then_times() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    run = JobRun(name="r", status=RunStatus.RUNNING, created_at=start)
    assert run.elapsed(now=datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc)) == 60.0
    assert JobRun(name="r", duration=5.0).elapsed() == 5.0
    assert JobRun(name="r", status=RunStatus.FAILED, created_at=start).elapsed() is None


def test_application_with_declared_params() -> None:
    app = Application.from_api(
        {
            "id": "app-1",
            "name": "train",
            "fqn": "c:w:train",
            "activeDeploymentId": None,
            "lastDeploymentId": "dep-2",
            "createdAt": "2026-11-01T10:00:00Z",
            "workspace": {"name": "w", "fqn": "c:w", "clusterId": "c"},
            "deployment": {
                "manifest": {
                    "image": {"command": "python train.py --lr {{lr}}"},
                    "params": [{"name": "lr", "default": "0.01", "description": "rate"}],
                }
            },
        }
    )
    assert app.deployment_id == "dep-2"
    assert app.created_at == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    assert app.workspace.fqn == "c:w"
    assert app.command == "python train.py --lr {{lr}}"
    assert [(p.name, p.default) for p in app.params] == [("lr", "0.01")]


def test_log_line_keeps_nanoseconds() -> None:
    line = LogLine.from_api({"log": "epoch=1", "stream": "stdout", "time": "1764000000123456789"})
    assert line.time_ns == 1764000000123456789
    assert line.time is not None and line.time.year == 2025


def test_a_finished_runs_duration_comes_from_its_times_when_both_are_known() -> None:
    # Real servers send whole seconds; createdAt/endTime keep the milliseconds.
    both = JobRun.from_api({"name": "r", "createdAt": 1_000, "endTime": 3_499, "duration": 2})
    assert both.duration == 2 and both.duration_seconds == pytest.approx(2.499)
    assert both.elapsed() == pytest.approx(2.499)
    only_duration = JobRun.from_api({"name": "r", "status": "FINISHED", "duration": "7"})
    assert only_duration.duration_seconds == 7.0 and only_duration.elapsed() == 7.0
    no_end = JobRun.from_api({"name": "r", "status": "FAILED", "createdAt": 1_000})
    assert no_end.duration_seconds is None and no_end.elapsed() is None
    live = JobRun.from_api({"name": "r", "status": "RUNNING", "createdAt": 1_000})
    assert live.duration_seconds is None
    assert live.elapsed(datetime.fromtimestamp(11, tz=timezone.utc)) == pytest.approx(10.0)
    # A clock that ran backwards never gives a negative duration.
    skewed = JobRun.from_api({"name": "r", "createdAt": 5_000, "endTime": 4_000})
    assert skewed.duration_seconds == 0.0


def test_events_parse_whatever_a_server_sends() -> None:
    full = Event.from_api(
        {
            "name": "train-x-abcde.17",
            "firstTimestamp": "2024-05-01T10:00:00Z",
            "lastTimestamp": "2024-05-01T10:00:09.500Z",
            "involvedObject": {
                "kind": "Pod",
                "name": "train-x-abcde",
                "apiVersion": "v1",
                "namespace": "ml",
                "containerName": "train",
                "fieldPath": "spec.containers{train}",
            },
            "type": "Warning",
            "count": 3,
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "namespace": "ml",
            "chart": {"category": "ContainerOOM", "color": "red"},
            "somethingNew": {"x": 1},
        }
    )
    assert full.reason == "BackOff" and full.count == 3 and full.is_warning
    assert full.category == "ContainerOOM" and full.namespace == "ml"
    assert full.involved_object.container_name == "train"
    assert full.time == datetime(2024, 5, 1, 10, 0, 9, 500_000, tzinfo=timezone.utc)
    assert full.first_timestamp == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)

    odd = Event.from_api(
        {"reason": 5, "type": None, "count": "many", "chart": "General", "involvedObject": []}
    )
    assert odd.reason == "5" and odd.message == "" and odd.count is None
    assert odd.category is None and odd.involved_object.kind is None
    assert not odd.is_warning and odd.time is None
    assert Event.from_api({}).reason == ""
    assert Event.from_api({"chart": {"category": "NotInTheSpecYet"}}).category == "NotInTheSpecYet"
