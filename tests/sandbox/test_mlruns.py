"""The sandbox's ML runs over real HTTP: the search grammar, paging, run tokens; the client's
metrics across applications; the tracker's one search per application per tick."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import jobmagic
import jobmagic.domain.metrics
import jobmagic.models.ml
import jobmagic.sandbox.service.ml.runs
import jobmagic.sandbox.service.ml.search
import jobmagic.sandbox.service.ml.shapes
import jobmagic.widgets._metrics_html
from jobmagic.api import JobsClient
from jobmagic.config import Settings
from jobmagic.domain.session import JobSession
from jobmagic.models import RunStatus
from jobmagic.sandbox import SandboxServer
from jobmagic.sandbox.service.ml.search import parse_filter, parse_order_by


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("metrics.loss <", "has no value"),
        ("loss < 1", "names nothing"),
        ("tags.a = 1", "quoted string"),
        ("tags.a = 'x' or tags.b = 'y'", "joined by 'and'"),
        ("tags.a = 'x' and", "ends with 'and'"),
        ("metrics.a LIKE 1", "takes = != < <= > >="),
        ("attributes.colour = 'x'", "unknown attribute"),
        ("foo.bar = 'x'", "unknown prefix"),
        ("tags.a = 'x' @", "cannot read the filter at character 14"),
    ],
)
def test_bad_filters_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_filter(text)


def test_filter_keys_may_be_quoted_and_values_escaped() -> None:
    (tag, param) = parse_filter('tags.`my key` = \'it\\\'s\' and params."lr" != "0.1"')
    assert (tag.key, tag.value, param.key, param.op) == ("my key", "it's", "lr", "!=")
    assert [o.descending for o in parse_order_by(["metrics.loss DESC", "params.lr"])] == [
        True,
        False,
    ]
    with pytest.raises(ValueError, match="cannot order by"):
        parse_order_by(["metrics.loss sideways"])


def _ml_run(http: httpx.Client, repo: str, name: str, **data: Any) -> str:
    run_id = str(
        http.post("/runs", json={"experiment_id": repo, "name": name}).json()["run"]["info"][
            "run_id"
        ]
    )
    http.post(f"/runs/{run_id}/batch", json=data).raise_for_status()
    return run_id


def test_search_filters_orders_and_pages(sandbox_client: httpx.Client) -> None:
    http = sandbox_client
    repo = http.get("/ml-repos", params={"name": "demo"}).json()["data"][0]["id"]
    for name, lr, loss, tag in (
        ("a", "0.1", 0.5, "Sweep-1"),
        ("b", "0.2", 0.25, "sweep-1"),
        ("c", "0.3", 0.75, "other"),
    ):
        _ml_run(
            http,
            repo,
            name,
            params=[{"key": "lr", "value": lr}],
            tags=[{"key": "sweep", "value": tag}],
            metrics=[{"key": "loss", "value": loss, "timestamp": 1, "step": 1}],
        )
    _ml_run(http, repo, "d")  # no metric, no param, no tag

    def names(body: dict[str, Any]) -> list[str]:
        answer = http.post("/runs/search", json=body)
        assert answer.status_code == 200, answer.text
        return [run["info"]["name"] for run in answer.json()["runs"]]

    assert names({"order_by": ["metrics.loss ASC"]}) == ["b", "a", "c", "d"]  # missing last
    assert names({"order_by": ["metrics.loss DESC"]}) == ["c", "a", "b", "d"]
    assert names({"filter": "metrics.loss >= 0.5", "order_by": ["params.lr DESC"]}) == ["c", "a"]
    assert names({"filter": "params.lr != '0.1'", "order_by": ["run_name"]}) == ["b", "c"]
    assert names({"filter": "tags.sweep LIKE 'sweep%'"}) == ["b"]  # LIKE is case-sensitive
    assert sorted(names({"filter": "tags.sweep ILIKE 'SWEEP-_'"})) == ["a", "b"]
    assert names({"filter": "attributes.run_name = 'd'"}) == ["d"]
    first = http.post("/runs/search", json={"max_results": 3, "order_by": ["run_name"]}).json()
    assert [r["info"]["name"] for r in first["runs"]] == ["a", "b", "c"] and first["total"] == 4
    rest = http.post(
        "/runs/search",
        json={"max_results": 3, "order_by": ["run_name"], "page_token": first["next_page_token"]},
    ).json()
    assert [r["info"]["name"] for r in rest["runs"]] == ["d"] and "next_page_token" not in rest
    bad = http.post("/runs/search", json={"filter": "params.lr < 1"})
    assert bad.status_code == 400 and "quoted string" in bad.json()["message"]


def test_latest_is_the_highest_step_and_params_are_set_once(sandbox_client: httpx.Client) -> None:
    http = sandbox_client
    repo = http.get("/ml-repos", params={"name": "demo"}).json()["data"][0]["id"]
    points = [(2, 0.2, 10), (1, 0.9, 30), (2, 0.1, 20)]  # step 2 logged twice: newest wins
    run_id = _ml_run(
        http,
        repo,
        "steps",
        params=[{"key": "lr", "value": "0.1"}],
        metrics=[{"key": "loss", "value": v, "timestamp": t, "step": s} for s, v, t in points],
    )
    run = http.get(f"/runs/{run_id}").json()["run"]
    assert run["data"]["metrics"] == [{"key": "loss", "value": 0.1, "timestamp": 20, "step": 2}]
    history = http.get(f"/runs/{run_id}/metrics/history", params={"metric_key": "loss"}).json()
    assert [(p["step"], p["value"]) for p in history["metrics"]] == [(1, 0.9), (2, 0.2), (2, 0.1)]
    again = http.post(f"/runs/{run_id}/batch", json={"params": [{"key": "lr", "value": "0.2"}]})
    assert again.status_code == 400 and "lr" in again.json()["message"]
    clash = http.post("/runs", json={"experiment_id": repo, "name": "steps"})
    assert clash.status_code == 409
    assert http.get("/runs/nope").status_code == 404
    assert http.get(f"/runs/{run_id}/metrics/history").status_code == 422


TOKEN_JOB = """
import json, os, pathlib, sys, urllib.error, urllib.request

token, host = os.environ["TFY_API_KEY"], os.environ["TFY_HOST"]
app = os.environ["TFY_INTERNAL_APPLICATION_ID"]


def status(method, path, body=None):
    request = urllib.request.Request(
        host + "/api/svc/v1" + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


# What the run's own token opens while the run is live.
codes = [
    status("POST", "/runs/search", {}),
    status("GET", "/ml-repos"),
    status("POST", "/jobs/trigger", {"applicationId": app}),
    status("GET", "/jobs/" + app + "/runs"),
]
pathlib.Path(sys.argv[1]).write_text(json.dumps([token, host, codes]))
print("run", os.environ["TFY_INTERNAL_JOB_RUN_NAME"], app)
"""


def test_a_runs_token_opens_the_ml_endpoints_only_and_is_never_stored(
    tmp_path: Path, isolated_home: Path
) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "env.py").write_text(TOKEN_JOB, "utf-8")
    seen = tmp_path / "seen.txt"
    jobs = tmp_path / "jobs" / "jobs.yaml"
    command = f"{{python}} env.py {seen}"
    jobs.write_text(f'cluster: lab\nworkspace: env\njobs:\n- {{name: env, command: "{command}"}}\n')
    with SandboxServer(tmp_path / "sandbox", jobs_file=jobs, grace_period=0.5) as server:
        with JobsClient(server.host, server.token) as client:
            app = client.find_app("lab:env:env")
            name = client.trigger(application_id=app.id).job_run_name
            server.wait_for_run(app.id, name, timeout=30)
            logged = [line.log for line in client.logs(app.id, name)]
        assert logged == [f"run {name} {app.id}"]
        token, host, codes = json.loads(seen.read_text())
        assert host == server.host and token.startswith("tfy_") and token != server.token
        assert codes == [200, 200, 401, 401]  # while the run was live: the ML endpoints only
        with httpx.Client(
            base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}, trust_env=False
        ) as as_run:
            # The run has ended: its token opens nothing any more.
            assert as_run.post("/runs/search", json={}).status_code == 401
            assert as_run.get("/ml-repos").status_code == 401
    stored = b"".join(
        path.read_bytes() for path in (tmp_path / "sandbox").rglob("*") if path.is_file()
    )
    assert token.encode() not in stored


def test_runs_of_several_applications_cost_one_search_each(
    sandbox: SandboxServer, isolated_home: Path
) -> None:
    with JobsClient(sandbox.host, sandbox.token) as client:
        train, hello = client.find_app("sandbox:demo:train"), client.find_app("sandbox:demo:hello")
        names = [
            (
                train.id,
                client.trigger(
                    application_id=train.id, params={"lr": "0.1", "epochs": "1"}
                ).job_run_name,
            ),
            (hello.id, client.trigger(application_id=hello.id).job_run_name),
        ]
        for app_id, name in names:
            sandbox.wait_for_run(app_id, name, timeout=30)
        runs = [client.get_run(app_id, name) for app_id, name in names]
        sandbox.reset_stats()
        frame = jobmagic.runs_to_dataframe(runs, metrics=True, client=client)
        assert sandbox.stats()["search_ml_runs"] == 2
        assert frame["metrics.loss"].notna().tolist() == [True, False]
        table = jobmagic.compare(runs, by="loss", client=client)
        assert table["name"].tolist() == [names[0][1], names[1][1]]  # no loss: last


def test_the_tracker_refreshes_metrics_once_per_tick_per_application(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            ledger_path=str(tmp_path / "ledger.db"),
            show_cards=False,
            poll_interval=0.2,
        )
    )
    try:
        sweep = jobmagic.sweep(
            "sandbox:demo:train",
            grid={"lr": ["0.1", "0.2", "0.3"], "epochs": ["4"]},
            session=session,
        )
        tracker = session.tracker
        for run in sweep:
            run.metrics  # noqa: B018 - wanted from now on: the tracker keeps them current
        sandbox.reset_stats()
        ticks = tracker.ticks
        for run in sweep:
            assert run.wait(timeout=60).status == RunStatus.FINISHED
        deadline = time.monotonic() + 10
        while tracker.watched and time.monotonic() < deadline:
            time.sleep(0.05)
        searches = sandbox.stats()["search_ml_runs"]
        # One application: at most one search per tick for all three runs (the two
        # reads of .metrics above happened before the reset).
        assert 0 < searches <= tracker.ticks - ticks
        for run in sweep:
            assert set(run.metrics) == {"loss", "accuracy"}
            assert len(run.metric_series["loss"]) == 4  # the whole history once it ended
    finally:
        session.close()


def test_a_runs_own_calls_are_neither_faulted_nor_counted(
    sandbox: SandboxServer, isolated_home: Path
) -> None:
    from jobmagic.sandbox import Fault

    with JobsClient(sandbox.host, sandbox.token) as client:
        train = client.find_app("sandbox:demo:train")
        sandbox.set_faults(Fault.status(503, "log_batch"), Fault.status(503, "create_ml_run"))
        sandbox.reset_stats()
        name = client.trigger(
            application_id=train.id, params={"lr": "0.1", "epochs": "2"}
        ).job_run_name
        sandbox.wait_for_run(train.id, name, timeout=30)
        stats = sandbox.stats()
        sandbox.clear_faults()
        assert stats["log_batch"] == stats["create_ml_run"] == stats["ml_repos"] == 0
        assert not any("warning" in line.log for line in client.logs(train.id, name))
        (found,) = client.search_ml_runs(f"tags.TFY_INTERNAL_JOB_RUN_NAME = '{name}'")
        assert [p.step for p in client.metric_history(found.run_id, "loss")] == [1, 2]
