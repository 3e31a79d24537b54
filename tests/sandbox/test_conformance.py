"""Conformance: TrueFoundry's own SDKs read every answer of a real sandbox process.

``truefoundry-sdk`` (pinned to 0.6.0 in the ``dev`` extra) is generated from TrueFoundry's
OpenAPI spec; its pydantic models are the spec's field rules. Each test drives the sandbox
through that SDK's client, so an answer missing a required field, or with a field of the
wrong type, fails here with the model's own validation message. ``truefoundry`` (the SDK
users' scripts already call) then triggers a run with ``truefoundry.deploy.trigger_job``.

The sandbox runs as its own process (``python -m jobmagic sandbox``), as users start it.
The last test checks that the suite reached every endpoint the sandbox serves, so an
endpoint added later fails it until it is driven through the SDK here too.
"""

from __future__ import annotations

import enum
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pydantic
import pytest
from truefoundry_sdk import TrueFoundry
from truefoundry_sdk.core.api_error import ApiError as SdkApiError
from truefoundry_sdk.core.parse_error import ParsingError
from truefoundry_sdk.types import (
    Application,
    CreateRunResponse,
    DeleteJobRunResponse,
    Event,
    EventChartCategory,
    GetApplicationResponse,
    GetEventsResponse,
    GetJobRunResponse,
    GetLogsResponse,
    GetMetricHistoryResponse,
    GetMlRepoResponse,
    GetRunResponse,
    Job,
    JobRun,
    JobRunStatus,
    ListApplicationsResponse,
    ListJobRunResponse,
    ListMlReposResponse,
    Metric,
    MlRepo,
    Run,
    RunParam,
    RunTag,
    RunTagInput,
    SearchRunsResponse,
    SubjectSubjectType,
    TerminateJobResponse,
    TriggerJobRunResponse,
    UpdateRunResponse,
)

from jobmagic.sandbox import SandboxProcess, start_sandbox_process
from jobmagic.sandbox.web.faults import ENDPOINTS

T = TypeVar("T")

HELLO_FQN = "sandbox:demo:hello"
TERMINAL = {JobRunStatus.FINISHED, JobRunStatus.FAILED, JobRunStatus.TERMINATED}


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    home = tmp_path_factory.mktemp("conformance-home")
    env = {**os.environ, "HOME": str(home), "JOBMAGIC_HOME": str(home / ".jobmagic")}
    process = start_sandbox_process(
        tmp_path_factory.mktemp("conformance-sandbox"), grace_period=1.0, env=env
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def tfy(sandbox_process: SandboxProcess) -> TrueFoundry:
    """TrueFoundry's spec-generated client, pointed at the sandbox."""
    return TrueFoundry(api_key=sandbox_process.token, base_url=sandbox_process.host)


def sdk(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``; an answer the official models refuse fails the test with
    the models' own message (which field, what was wrong), not the SDK's wrapper."""
    try:
        return call(*args, **kwargs)
    except ParsingError as exc:
        pytest.fail(
            f"truefoundry-sdk could not parse the sandbox's answer to "
            f"{getattr(call, '__qualname__', call)}:\n{exc.cause}",
            pytrace=False,
        )


def unknown_enum_values(value: Any, path: str = "") -> list[str]:
    """Where a parsed model holds an enum value the spec does not list.

    The SDK parses unknown enum values into an ``_UNKNOWN`` member instead of failing, so
    parsing alone would let a misspelt status or category through.
    """
    if isinstance(value, enum.Enum):
        return [f"{path}={value.value!r}"] if value.name == "_UNKNOWN" else []
    if isinstance(value, pydantic.BaseModel):
        return [
            problem
            for name in type(value).model_fields
            for problem in unknown_enum_values(getattr(value, name), f"{path}.{name}")
        ]
    if isinstance(value, (list, tuple)):
        return [
            problem
            for index, item in enumerate(value)
            for problem in unknown_enum_values(item, f"{path}[{index}]")
        ]
    return []


def assert_spec_values(model: pydantic.BaseModel) -> None:
    assert unknown_enum_values(model) == [], "values the spec does not know"


def app_of(tfy: TrueFoundry, fqn: str) -> Application:
    apps = list(sdk(tfy.applications.list, fqn=fqn))
    assert [app.fqn for app in apps] == [fqn]
    return apps[0]


def wait_for_run(
    tfy: TrueFoundry,
    application_id: str,
    name: str,
    done: Callable[[JobRun], bool] = lambda run: run.status in TERMINAL,
    timeout: float = 30.0,
) -> JobRun:
    deadline = time.monotonic() + timeout
    while True:
        run = sdk(tfy.jobs.get_run, job_id=application_id, job_run_name=name).data
        assert_spec_values(run)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"run {name} still {run.status}"
        time.sleep(0.05)


# --- applications -----------------------------------------------------------------------


def test_applications_by_fqn_name_search_and_id_parse_as_the_spec_application(
    tfy: TrueFoundry,
) -> None:
    by_fqn = app_of(tfy, HELLO_FQN)
    by_search = list(sdk(tfy.applications.list, name_search_query="ell", application_type="job"))
    by_name = list(sdk(tfy.applications.list, application_name="hello"))
    by_id = sdk(tfy.applications.get, by_fqn.id or "").data
    assert [app.name for app in by_search] == ["hello"]
    assert [app.id for app in by_name] == [by_fqn.id]
    for app in (by_fqn, by_id):
        assert_spec_values(app)
        assert app.created_by_subject.subject_type == SubjectSubjectType.USER
        assert app.autopilot == {}
        assert app.deployment is not None
        assert app.deployment.created_by_subject.subject_id == app.created_by_subject.subject_id
        # The manifest parses as the spec's Job, not some other member of the union.
        assert isinstance(app.deployment.manifest, Job)
        assert [param.name for param in app.deployment.manifest.params or ()] == ["name"]
    assert by_id.model_dump() == by_fqn.model_dump()


def test_the_application_list_pages_through_every_job(tfy: TrueFoundry) -> None:
    pager = sdk(tfy.applications.list, limit=1, application_type="job")
    names = [app.name for app in pager]  # iterating fetches page after page
    assert sorted(names) == ["fail", "flood", "hello", "hostile", "sleep", "train"]
    assert pager.response is not None and pager.response.pagination.total == 6


# --- runs -------------------------------------------------------------------------------


def test_trigger_by_deployment_and_by_application_then_get_and_list_runs(
    tfy: TrueFoundry,
) -> None:
    hello = app_of(tfy, HELLO_FQN)
    assert hello.id and hello.active_deployment_id
    by_deployment = sdk(
        tfy.jobs.trigger,
        deployment_id=hello.active_deployment_id,
        input={"params": {"name": "spec"}},
    )
    by_application = sdk(
        tfy.jobs.trigger, application_id=hello.id, metadata={"job_run_name_alias": "by-app"}
    )
    names = [by_deployment.job_run_name, by_application.job_run_name]
    assert by_application.job_run_name.startswith("by-app-")
    for result in (by_deployment, by_application):
        assert_spec_values(result)
        assert result.data.name == result.job_run_name
    runs = [wait_for_run(tfy, hello.id, name) for name in names]
    for run in runs:
        assert run.status == JobRunStatus.FINISHED and run.exit_code == 0
        assert run.end_time is not None and isinstance(run.duration, int)
        assert run.triggered_by_subject is not None

    finished = sdk(tfy.jobs.list_runs, hello.id, status=[JobRunStatus.FINISHED], limit=1)
    listed = [run.name for run in finished]  # one run per page
    assert set(names) <= set(listed)
    assert finished.response is not None and finished.response.pagination.total == len(listed)
    failed = list(sdk(tfy.jobs.list_runs, hello.id, status=JobRunStatus.FAILED))
    assert failed == []
    newest = sdk(tfy.jobs.list_runs, hello.id, search_prefix="by-app-", sort_by="startTime")
    assert [run.name for run in newest] == [by_application.job_run_name]


def test_logs_of_a_run_parse_as_the_spec_log(tfy: TrueFoundry) -> None:
    hello = app_of(tfy, HELLO_FQN)
    assert hello.id
    name = sdk(tfy.jobs.trigger, application_id=hello.id, input={"params": {"name": "logs"}})
    wait_for_run(tfy, hello.id, name.job_run_name)
    by_id = sdk(tfy.logs.get, application_id=hello.id, job_run_name=name.job_run_name)
    by_fqn = sdk(tfy.logs.get, application_fqn=HELLO_FQN, job_run_name=name.job_run_name)
    assert [line.log for line in by_id.data] == ["hello logs"]
    assert by_fqn.data == by_id.data
    assert by_id.data[0].stream == "stdout" and int(by_id.data[0].time) > 0


def test_events_of_a_failed_run_parse_as_the_spec_event(tfy: TrueFoundry) -> None:
    fail = app_of(tfy, "sandbox:demo:fail")
    assert fail.id
    name = sdk(tfy.jobs.trigger, application_id=fail.id).job_run_name
    run = wait_for_run(tfy, fail.id, name)
    assert run.status == JobRunStatus.FAILED and run.exit_code == 3
    events = sdk(tfy.events.get, application_id=fail.id, job_run_name=name).data
    assert_spec_values(sdk(tfy.events.get, application_id=fail.id, job_run_name=name))
    assert [e.reason for e in events] == ["Scheduled", "Pulled", "Started", "Error", "BackOff"]
    error = events[3]
    assert isinstance(error, Event) and error.type == "Warning"
    assert error.chart.category == EventChartCategory.CONTAINER_TERMINATED
    assert "exit code 3" in error.message
    pod = error.involved_object.name
    by_pod = sdk(tfy.events.get, application_fqn="sandbox:demo:fail", pod_names=[pod]).data
    assert by_pod == events
    window = sdk(
        tfy.events.get,
        application_id=fail.id,
        start_ts="2000-01-01T00:00:00Z",
        end_ts="2000-01-02T00:00:00Z",
    )
    assert window.data == []


def test_terminate_then_delete_a_run(tfy: TrueFoundry) -> None:
    sleep = app_of(tfy, "sandbox:demo:sleep")
    assert sleep.id and sleep.active_deployment_id
    name = sdk(
        tfy.jobs.trigger, application_id=sleep.id, input={"params": {"seconds": "60"}}
    ).job_run_name
    wait_for_run(tfy, sleep.id, name, lambda run: run.status == JobRunStatus.RUNNING)
    answer = sdk(tfy.jobs.terminate, deployment_id=sleep.active_deployment_id, job_run_name=name)
    assert_spec_values(answer)
    assert answer.job_run_status in {
        JobRunStatus.TERMINATION_REQUESTED,
        JobRunStatus.TERMINATING,
        JobRunStatus.TERMINATED,
    }
    run = wait_for_run(tfy, sleep.id, name)
    assert run.status == JobRunStatus.TERMINATED
    events = sdk(tfy.events.get, application_id=sleep.id, job_run_name=name).data
    assert events[-1].reason == "Killing"
    deleted = sdk(tfy.jobs.delete_run, sleep.id, name)
    assert deleted.message
    with pytest.raises(SdkApiError) as missing:
        tfy.jobs.get_run(job_id=sleep.id, job_run_name=name)
    assert missing.value.status_code == 404


def test_error_answers_parse_as_the_spec_http_error(tfy: TrueFoundry) -> None:
    """422, 409 and 417 bodies are typed (``HttpError``) by the SDK: they must parse too."""
    hello = app_of(tfy, HELLO_FQN)
    sleep = app_of(tfy, "sandbox:demo:sleep")
    assert hello.id and sleep.id and hello.active_deployment_id
    with pytest.raises(SdkApiError) as invalid:
        sdk(tfy.jobs.trigger, application_id=hello.id, input={"params": {"nope": "x"}})
    assert invalid.value.status_code == 422
    assert "nope" in json.dumps(invalid.value.body.dict(by_alias=True))
    running = sdk(tfy.jobs.trigger, application_id=sleep.id).job_run_name
    wait_for_run(tfy, sleep.id, running, lambda run: run.status == JobRunStatus.RUNNING)
    with pytest.raises(SdkApiError) as conflict:
        sdk(tfy.jobs.delete_run, sleep.id, running)
    assert conflict.value.status_code == 409 and conflict.value.body.status_code == 409
    assert sleep.active_deployment_id
    sdk(tfy.jobs.terminate, deployment_id=sleep.active_deployment_id, job_run_name=running)
    wait_for_run(tfy, sleep.id, running)
    with pytest.raises(SdkApiError) as ended:
        sdk(tfy.jobs.terminate, deployment_id=sleep.active_deployment_id, job_run_name=running)
    assert ended.value.status_code == 417 and ended.value.body.message


def test_a_missing_field_fails_with_the_models_own_message(
    tfy: TrueFoundry, sandbox_process: SandboxProcess
) -> None:
    """The suite's check is real: an Application without ``createdBySubject`` fails it."""
    app = app_of(tfy, HELLO_FQN)
    assert app.id
    body = sdk(tfy.applications.with_raw_response.get, app.id).response.json()
    del body["data"]["createdBySubject"]
    sandbox_process.set_faults({"kind": "body", "endpoint": "get_app", "body": json.dumps(body)})
    with pytest.raises(pytest.fail.Exception) as failed:
        sdk(tfy.applications.get, app.id)
    assert "data.createdBySubject" in str(failed.value) and "Field required" in str(failed.value)


# --- strict types: no coercion allowed --------------------------------------------------


def _iso_text(error: Mapping[str, Any]) -> bool:
    # Strict mode wants datetime objects even from JSON; an ISO-8601 string is what the
    # spec's date-time format means on the wire, so that one complaint is no problem.
    if error["type"] != "datetime_type" or not isinstance(error["input"], str):
        return False
    try:
        datetime.fromisoformat(error["input"].replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def strict_type_errors(model: type[pydantic.BaseModel], text: str) -> list[str]:
    """What the spec's ``model`` refuses in ``text`` when nothing may be coerced (an int
    sent as ``"1"``, a float where the spec says int, …); parsing alone lets those pass."""
    try:
        model.model_validate_json(text, strict=True)
    except pydantic.ValidationError as exc:
        return [
            f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e['input']!r})"
            for e in exc.errors()
            if not _iso_text(e)
        ]
    return []


def test_the_strict_check_catches_what_parsing_lets_through() -> None:
    run = {
        "id": "run-1",
        "name": "hello-abcde",
        "applicationName": "hello",
        "deploymentVersion": "1",
        "createdAt": 1,
        "command": "echo",
        "totalRetries": 0,
        "status": "FINISHED",
    }
    assert strict_type_errors(GetJobRunResponse, json.dumps({"data": run})) == []
    coerced = json.dumps({"data": {**run, "totalRetries": "0", "createdAt": "1"}})
    GetJobRunResponse.model_validate_json(coerced)  # lax parsing accepts both
    errors = strict_type_errors(GetJobRunResponse, coerced)
    assert sorted(error.split(":")[0] for error in errors) == [
        "data.createdAt",
        "data.totalRetries",
    ]
    event = {
        "lastTimestamp": "2024-01-01T00:00:00Z",
        "involvedObject": {"kind": "Pod", "name": "p"},
        "type": "Normal",
        "count": 1,
        "reason": "Scheduled",
        "message": "assigned",
        "chart": {"category": "General"},
    }
    assert strict_type_errors(GetEventsResponse, json.dumps({"data": [event]})) == []
    # An enum value the spec does not list parses (into _UNKNOWN) but is reported.
    odd = {**event, "chart": {"category": "ContainerTerminatedd"}}
    parsed = GetEventsResponse.model_validate({"data": [odd]})
    assert unknown_enum_values(parsed) == [".data[0].chart.category='ContainerTerminatedd'"]


def test_answers_have_the_spec_types_without_coercion(
    tfy: TrueFoundry, sandbox_process: SandboxProcess
) -> None:
    hello, sleep = app_of(tfy, HELLO_FQN), app_of(tfy, "sandbox:demo:sleep")
    assert hello.id and sleep.id and sleep.active_deployment_id
    answers: list[tuple[type[pydantic.BaseModel], httpx.Response]] = []
    with httpx.Client(
        base_url=sandbox_process.api_url,
        headers={"Authorization": f"Bearer {sandbox_process.token}"},
        trust_env=False,
        timeout=10.0,
    ) as http:
        answers.append((ListApplicationsResponse, http.get("/apps", params={"fqn": HELLO_FQN})))
        answers.append((GetApplicationResponse, http.get(f"/apps/{hello.id}")))
        triggered = http.post("/jobs/trigger", json={"applicationId": hello.id})
        answers.append((TriggerJobRunResponse, triggered))
        name = triggered.json()["jobRunName"]
        wait_for_run(tfy, hello.id, name)
        answers.append((GetJobRunResponse, http.get(f"/jobs/{hello.id}/runs/{name}")))
        answers.append((ListJobRunResponse, http.get(f"/jobs/{hello.id}/runs")))
        query = {"applicationId": hello.id, "jobRunName": name}
        answers.append((GetLogsResponse, http.get("/logs", params=query)))
        answers.append((GetEventsResponse, http.get("/events", params=query)))
        answers.append((DeleteJobRunResponse, http.delete(f"/jobs/{hello.id}/runs/{name}")))
        sleeper = http.post("/jobs/trigger", json={"applicationId": sleep.id}).json()["jobRunName"]
        wait_for_run(tfy, sleep.id, sleeper, lambda run: run.status == JobRunStatus.RUNNING)
        terminate = {"deploymentId": sleep.active_deployment_id, "jobRunName": sleeper}
        answers.append((TerminateJobResponse, http.post("/jobs/terminate", params=terminate)))
        repos = http.get("/ml-repos", params={"name": "demo"})
        answers.append((ListMlReposResponse, repos))
        repo_id = repos.json()["data"][0]["id"]
        answers.append((GetMlRepoResponse, http.get(f"/ml-repos/{repo_id}")))
        created = http.post("/runs", json={"experiment_id": repo_id, "name": "strict-types"})
        answers.append((CreateRunResponse, created))
        run_id = created.json()["run"]["info"]["run_id"]
        point = {"key": "loss", "value": 0.5, "timestamp": 1000, "step": 1}
        http.post(f"/runs/{run_id}/metrics", json=point).raise_for_status()
        answers.append((GetRunResponse, http.get(f"/runs/{run_id}")))
        answers.append((SearchRunsResponse, http.post("/runs/search", json={"max_results": 5})))
        history = http.get(f"/runs/{run_id}/metrics/history", params={"metric_key": "loss"})
        answers.append((GetMetricHistoryResponse, history))
        finished = http.put(f"/runs/{run_id}", json={"status": "FINISHED"})
        answers.append((UpdateRunResponse, finished))
    problems = {
        f"{answer.request.method} {answer.request.url.path}": errors
        for model, answer in answers
        if (errors := strict_type_errors(model, answer.text))
    }
    assert all(answer.status_code == 200 for _, answer in answers)
    assert problems == {}


# --- TrueFoundry's own trigger_job ------------------------------------------------------

_TRIGGER_JOB = """
import json, sys
from truefoundry.deploy import trigger_job
result = trigger_job(application_fqn=sys.argv[1], params={"name": "truefoundry"})
print(json.dumps({"jobRunName": result.jobRunName}))
"""


def test_truefoundry_trigger_job_triggers_a_run_that_finishes(
    tfy: TrueFoundry, sandbox_process: SandboxProcess, tmp_path: Path
) -> None:
    # Its own process: ``truefoundry`` reads its settings from the environment and may
    # write under HOME, neither of which this test process should share.
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "TFY_HOST": sandbox_process.host,
        "TFY_API_KEY": sandbox_process.token,
    }
    done = subprocess.run(
        [sys.executable, "-c", _TRIGGER_JOB, HELLO_FQN],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sandbox_process.token not in done.stdout + done.stderr
    name = json.loads(done.stdout.strip().splitlines()[-1])["jobRunName"]
    hello = app_of(tfy, HELLO_FQN)
    assert hello.id
    run = wait_for_run(tfy, hello.id, name)
    assert run.status == JobRunStatus.FINISHED
    lines = sdk(tfy.logs.get, application_id=hello.id, job_run_name=name).data
    assert [line.log for line in lines] == ["hello truefoundry"]


# --- ML runs ----------------------------------------------------------------------------


def test_ml_repos_list_and_get_parse_as_the_spec_ml_repo(tfy: TrueFoundry) -> None:
    repos = list(sdk(tfy.ml_repos.list, name="demo"))  # iterating pages until an empty page
    assert [repo.manifest.name for repo in repos] == ["demo"]
    again = sdk(tfy.ml_repos.get, repos[0].id).data
    assert isinstance(again, MlRepo) and again.id == repos[0].id
    assert again.manifest.type == "ml-repo" and again.created_by_subject.subject_id


def test_a_training_run_logs_to_an_ml_run_found_by_the_job_run_tag(tfy: TrueFoundry) -> None:
    """The demo job logs through the sandbox's HTTP API with its pod's TFY_* variables;
    truefoundry-sdk then finds its ML run by tag and reads one loss point per epoch."""
    train = app_of(tfy, "sandbox:demo:train")
    assert train.id
    name = sdk(
        tfy.jobs.trigger, application_id=train.id, input={"params": {"lr": "0.05", "epochs": "3"}}
    ).job_run_name
    assert wait_for_run(tfy, train.id, name).status == JobRunStatus.FINISHED
    found = list(sdk(tfy.runs.search, filter=f"tags.TFY_INTERNAL_JOB_RUN_NAME = '{name}'"))
    assert len(found) == 1 and isinstance(found[0], Run)
    tags = {tag.key: tag.value for tag in found[0].data.tags}
    assert tags == {"TFY_INTERNAL_JOB_RUN_NAME": name, "TFY_INTERNAL_APPLICATION_ID": train.id}
    assert {p.key: p.value for p in found[0].data.params} == {"lr": "0.05", "epochs": "3"}
    history = sdk(tfy.runs.get_metric_history, found[0].info.run_id, metric_key="loss").metrics
    assert [point.step for point in history] == [1, 2, 3]
    latest = {metric.key: metric.value for metric in found[0].data.metrics}
    assert latest["loss"] == history[-1].value and set(latest) == {"loss", "accuracy"}
    assert found[0].info.status == "FINISHED"


def test_ml_runs_are_created_logged_tagged_and_searched_through_the_sdk(
    tfy: TrueFoundry,
) -> None:
    repo = next(iter(sdk(tfy.ml_repos.list, name="demo")))
    created = sdk(
        tfy.runs.create,
        experiment_id=repo.id,
        name="conformance-a",
        tags=[RunTagInput(key="suite", value="conformance")],
    ).run
    other = sdk(tfy.runs.create, experiment_id=repo.id, name="conformance-b").run
    run_id = created.info.run_id
    sdk(tfy.runs.log_metric, run_id, key="loss", value=0.5, timestamp=1000, step=1)
    sdk(
        tfy.runs.log_batch,
        other.info.run_id,
        metrics=[Metric(key="loss", value=0.25, timestamp=1000, step=1)],
        params=[RunParam(key="lr", value="0.1")],
        tags=[RunTag(key="suite", value="conformance")],
    )
    sdk(tfy.runs.set_tag, run_id, key="owner", value="me")
    got = sdk(tfy.runs.get, run_id).run
    assert {t.key: t.value for t in got.data.tags} == {"suite": "conformance", "owner": "me"}
    updated = sdk(tfy.runs.update, run_id, status="FINISHED")
    assert updated.run_info.status == "FINISHED" and updated.run_info.end_time
    by_loss = list(
        sdk(
            tfy.runs.search,
            filter="tags.suite = 'conformance' and metrics.loss < 1",
            order_by=["metrics.loss ASC"],
            max_results=1,  # one run per page: the pager follows next_page_token
        )
    )
    assert [run.info.name for run in by_loss] == ["conformance-b", "conformance-a"]
    by_param = list(sdk(tfy.runs.search, filter="params.lr = '0.1'", experiment_ids=[repo.id]))
    assert [run.info.name for run in by_param] == ["conformance-b"]
    with pytest.raises(SdkApiError) as bad:
        list(tfy.runs.search(filter="metrics.loss < 'low'"))
    assert bad.value.status_code == 400 and "number" in json.dumps(bad.value.body)


# --- coverage of the route table --------------------------------------------------------


def test_the_suite_reached_every_endpoint_the_sandbox_serves(
    request: pytest.FixtureRequest,
) -> None:
    here = sys.modules[__name__]
    # getattr: the session also holds docstring examples, which belong to no test module.
    module_tests = [item for item in request.session.items if getattr(item, "module", None) is here]
    if len(module_tests) < len([name for name in globals() if name.startswith("test_")]):
        pytest.skip("checks what the whole module did: run all of test_conformance.py")
    sandbox_process: SandboxProcess = request.getfixturevalue("sandbox_process")
    reached = {key for key, count in sandbox_process.stats().items() if count}
    assert set(ENDPOINTS) - reached == set(), "endpoints no conformance test drove"
