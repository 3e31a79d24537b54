"""MLflow's conventions where its users expect them (issue 24, point 5).

The sandbox's ML-run search grammar runs the filter strings of MLflow's own "Search Runs"
guide (the fields the sandbox serves: metrics, params, tags and run attributes; not
``datasets.*``) over real HTTP, on the guide's own ten runs, and refuses what the guide calls
bad, naming the field in the 400's ``details``. Then the client side: ``search_runs`` into a
DataFrame, paging past a page; ``runs_to_dataframe`` of ``MLRun``s with ``ml_run_id`` and
``tags.*``; the ``sweep`` column; metric timestamps exact and of one resolution.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from jobmagic.sandbox import SandboxServer

#: The runs of the guide's "Create Example MLflow Runs" script, with exact decimals (the
#: guide's np.arange gives 0.30000000000000004) and its None values left unlogged.
GUIDE_END_TIME = 1664067852000  # run 0 ended then; the others are still running


def _guide_runs() -> list[dict[str, Any]]:
    models = ["GPT-2", "GPT-3", "GPT-3.5", "GPT-4"]
    tasks = ["classification", "regression", "causal lm"]
    runs = []
    for i in range(10):
        loss = (10 - i) / 10
        metrics = {"loss": loss, "accuracy": i / 10, "log-scale-loss": math.log(loss)}
        metrics["f1 score"] = i / 10
        params = {"batch_size": "2" if i < 5 else "4", "learning rate": ["0.001", "0.01"][i % 2]}
        if i < 4:
            params["model"] = models[i]
        tags = {"environment": "notebook"} if i < 5 else {}
        if i < 3:
            tags["task"] = tasks[i]
        runs.append(
            {
                "name": "my-run" if i == 0 else f"guide-{i}",
                "metrics": metrics,
                "params": params,
                "tags": tags,
            }
        )
    return runs


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, list[str]]]:
    """A sandbox holding only the guide's ten runs, an httpx client for it, and their ids."""
    with (
        SandboxServer(tmp_path_factory.mktemp("guide"), grace_period=0.5) as server,
        httpx.Client(
            base_url=server.api_url,
            headers={"Authorization": f"Bearer {server.token}"},
            trust_env=False,
            timeout=10.0,
        ) as http,
    ):
        yield http, _log_guide_runs(http)


def _log_guide_runs(http: httpx.Client) -> list[str]:
    repo = http.get("/ml-repos", params={"name": "demo"}).json()["data"][0]["id"]
    ids = []
    for run in _guide_runs():
        created = http.post("/runs", json={"experiment_id": repo, "name": run["name"]})
        run_id = created.json()["run"]["info"]["run_id"]
        batch = {
            "metrics": [
                {"key": k, "value": v, "timestamp": 1, "step": 0} for k, v in run["metrics"].items()
            ],
            "params": [{"key": k, "value": v} for k, v in run["params"].items()],
            "tags": [{"key": k, "value": v} for k, v in run["tags"].items()],
        }
        http.post(f"/runs/{run_id}/batch", json=batch).raise_for_status()
        ids.append(run_id)
    ended = {"status": "FINISHED", "end_time": GUIDE_END_TIME}
    http.put(f"/runs/{ids[0]}", json=ended).raise_for_status()
    return ids


def _found(guide: tuple[httpx.Client, list[str]], text: str) -> list[int]:
    """The guide runs (by index) ``text`` finds; fails unless the search is accepted."""
    http, ids = guide
    answer = http.post("/runs/search", json={"filter": text})
    assert answer.status_code == 200, answer.text
    return sorted(ids.index(run["info"]["run_id"]) for run in answer.json()["runs"])


# Each filter string as MLflow's "Search Runs" guide writes it, and the guide runs it finds.
GUIDE_FILTERS: list[tuple[str, list[int]]] = [
    # 1 - Searching By Metrics
    ("metrics.accuracy > 0.72", [8, 9]),
    ('metrics."accuracy" > 0.72', [8, 9]),
    ("metrics.loss <= 0.15", [9]),
    ("metrics.`log-scale-loss` <= 0", list(range(10))),
    ("metrics.`f1 score` >= 0.5", [5, 6, 7, 8, 9]),
    ("metrics.accuracy > 0.72 AND metrics.loss <= 0.15", [9]),
    # 2 - Searching By Params
    ('params.batch_size = "2"', [0, 1, 2, 3, 4]),
    ('params.model LIKE "GPT%"', [0, 1, 2, 3]),
    ('params.model ILIKE "gPt%"', [0, 1, 2, 3]),
    ('params.model LIKE "GPT%" AND params.batch_size = "2"', [0, 1, 2, 3]),
    # 3 - Searching By Tags
    ('tags."environment" = "notebook"', [0, 1, 2, 3, 4]),
    ('tags.environment = "notebook"', [0, 1, 2, 3, 4]),
    ('tags.task = "Classification"', []),  # = is case-sensitive
    ('tags.task ILIKE "classif%"', [0]),
    # 5 - Searching By Run's Metadata
    ('attributes.status = "ACTIVE"', []),
    ('attributes.user_id LIKE "user1"', []),
    ('attributes.run_name = "my-run"', [0]),
    ('attributes.run_id = "a1b2c3d4"', []),
    ("attributes.run_id IN ('a1b2c3d4', 'e5f6g7h8')", []),
    ("attributes.start_time >= 1664067852747", list(range(10))),
    ("attributes.end_time < 1664067852747", [0]),
    ("attributes.created > 1664067852747", list(range(10))),
    # 7 - Chained Queries
    ("metrics.accuracy > 0.72 AND metrics.batch_size != 0", []),  # no such metric
    ("metrics.loss <= 0.15 AND metrics.loss >= 0.1", [9]),
    # 8 - Non-None Queries
    ('params.batch_size != "None"', list(range(10))),
    # The older guide's and the R and Java examples
    ("metrics.accuracy > 0.92", []),
    ('attributes.status = "FAILED"', []),
    (
        'params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05',
        [],
    ),
    ("metrics.rmse < 0.9 and tags.production = 'true'", []),
    ("metrics.accuracy_score < 99.90", []),
    # MLflow's IS NULL / IS NOT NULL, and bare attribute keys
    ("tags.task IS NULL", [3, 4, 5, 6, 7, 8, 9]),
    ("tags.task IS NOT NULL", [0, 1, 2]),
    ("params.model is null and metrics.loss is not null", [4, 5, 6, 7, 8, 9]),
    ("attributes.end_time IS NOT NULL", [0]),
    ("attributes.end_time IS NULL and status = 'RUNNING'", list(range(1, 10))),
    ("`Run name` = 'my-run'", [0]),
]


@pytest.mark.parametrize(("text", "expected"), GUIDE_FILTERS, ids=[f for f, _ in GUIDE_FILTERS])
def test_mlflows_documented_filters_run_against_the_sandbox(
    guide: tuple[httpx.Client, list[str]], text: str, expected: list[int]
) -> None:
    assert _found(guide, text) == expected


def test_the_guides_complex_filter_and_run_id_lists(guide: tuple[httpx.Client, list[str]]) -> None:
    _, ids = guide
    run_id_condition = "'" + "','".join([ids[1], ids[2], ids[7]]) + "'"
    complex_filter = f"""
attributes.run_id IN ({run_id_condition})
  AND metrics.loss > 0.3
  AND metrics."f1 score" < 0.5
  AND params.model LIKE "GPT%"
"""
    assert _found(guide, complex_filter) == [1, 2]
    assert _found(guide, f"attributes.run_id NOT IN ('{ids[0]}', '{ids[9]}')") == list(range(1, 9))
    assert _found(guide, f"attributes.user_id = '{_user(guide)}'") == list(range(10))


def _user(guide: tuple[httpx.Client, list[str]]) -> str:
    http, ids = guide
    return str(http.get(f"/runs/{ids[0]}").json()["run"]["info"]["user_id"])


# What the guide calls bad, and what MLflow's parser refuses: (filter, the key named).
REFUSED: list[tuple[str, str]] = [
    ("metrics.cross-entropy-loss < 0.5", "metrics.cross-entropy-loss"),
    ('params.1st_iteration_timestamp = "2022-01-01"', "params.1st_iteration_timestamp"),
    (
        'attributes.run_id IN ("5984a3488161440f92de9847e846b342", '
        '"babe221a676b4fa4b204f8240f2c4f14")',
        "attributes.run_id",
    ),
    ("tag.`test` = `abc`", "tag.`test`"),
    ("tag.`test` = abc", "tag.`test`"),
    ('metrics.accuracy != "None"', "metrics.accuracy"),
    ("attributes.name = 'my-run'", "attributes.run_name"),
    ("params.model IN ('GPT-2')", "params.model"),
    ("tags.task = 'x' OR tags.task = 'y'", "'and'"),
    ("tags.task IS 'x'", "tags.task IS NULL"),
    ("attributes.start_time = '1664067852747'", "attributes.start_time"),
]


@pytest.mark.parametrize(("text", "named"), REFUSED, ids=[f for f, _ in REFUSED])
def test_what_mlflow_refuses_is_refused_naming_the_field(
    guide: tuple[httpx.Client, list[str]], text: str, named: str
) -> None:
    http, _ = guide
    answer = http.post("/runs/search", json={"filter": text})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert [d["field"] for d in body["details"]] == ["filter"]
    assert named in body["details"][0]["message"] and named in body["message"]


def test_order_by_names_the_item_at_fault_and_refuses_name(
    guide: tuple[httpx.Client, list[str]],
) -> None:
    http, ids = guide
    ordered = http.post(
        "/runs/search", json={"order_by": ["metrics.`f1 score` DESC", "created"], "max_results": 3}
    )
    assert [ids.index(r["info"]["run_id"]) for r in ordered.json()["runs"]] == [9, 8, 7]
    bad = http.post("/runs/search", json={"order_by": ["metrics.loss", "attributes.name"]})
    assert bad.status_code == 400
    assert bad.json()["details"][0]["field"] == "order_by[1]"
    assert "attributes.run_name" in bad.json()["details"][0]["message"]


# --- the frames ---------------------------------------------------------------------------------


def _ml_run(run_id: str, job_run: str | None, start: int, **data: Any) -> Any:
    from jobmagic.models.ml import JOB_RUN_TAG, MLRun

    tags = [{"key": k, "value": v} for k, v in data.get("tags", {}).items()]
    if job_run:
        tags.append({"key": JOB_RUN_TAG, "value": job_run})
    return MLRun.from_api(
        {
            "info": {
                "run_id": run_id,
                "name": f"ml-{run_id}",
                "status": data.get("status"),
                "start_time": start,
                "end_time": data.get("end"),
            },
            "data": {
                "metrics": [
                    {"key": k, "value": v, "timestamp": start, "step": 1}
                    for k, v in data.get("metrics", {}).items()
                ],
                "params": [{"key": k, "value": v} for k, v in data.get("params", {}).items()],
                "tags": tags,
            },
        }
    )


def test_ml_runs_are_rows_with_their_id_metrics_and_tags() -> None:
    from jobmagic import runs_to_dataframe

    t0 = 1_700_000_000_123
    runs = [
        _ml_run(
            "a1",
            "train-a",
            t0,
            status="FINISHED",
            end=t0 + 1500,
            metrics={"loss": 0.25},
            params={"lr": "0.1"},
            tags={"team": "x"},
        ),
        _ml_run("b2", None, t0 + 1, status="KILLED", metrics={"acc": 0.5}, params={"lr": "0.2"}),
    ]
    frame = runs_to_dataframe(runs)
    columns = list(frame.columns)
    assert columns[columns.index("sweep") + 1 :] == [
        "ml_run_id",
        "params.lr",
        "metrics.loss",
        "metrics.acc",
        "tags.team",
        "tags.TFY_INTERNAL_JOB_RUN_NAME",
    ]
    assert frame["ml_run_id"].tolist() == ["a1", "b2"]
    assert frame["name"].tolist() == ["train-a", pd.NA]  # the job run that logged it
    assert frame["status"].tolist() == ["FINISHED", "KILLED"]
    assert frame["created_at"][0] == pd.Timestamp(t0, unit="ms", tz="UTC")
    assert frame["duration"][0] == pd.Timedelta(milliseconds=1500)
    assert frame["metrics.loss"].tolist()[0] == 0.25 and math.isnan(frame["metrics.loss"][1])
    assert frame["tags.team"].tolist() == ["x", pd.NA]
    for column in ("ml_run_id", "tags.team", "params.lr"):
        assert frame[column].dtype == pd.StringDtype(), column
    mixed = runs_to_dataframe([{"name": "plain", "status": "RUNNING"}, runs[0]])
    assert mixed["ml_run_id"].tolist() == [pd.NA, "a1"]
    assert mixed["name"].tolist() == ["plain", "train-a"]


def test_the_newest_ml_run_names_a_job_runs_row() -> None:
    from jobmagic.api.metrics import RunMetrics
    from jobmagic.frames._mlcolumns import ml_columns

    old, new = _ml_run("old", "j", 10, tags={"v": "1"}), _ml_run("new", "j", 20, tags={"v": "2"})
    found = [RunMetrics({"loss": 0.1}, (new, old)), RunMetrics({})]
    columns = ml_columns([object(), object()], found)
    assert columns["ml_run_id"].tolist() == ["new", pd.NA]
    assert columns["tags.v"].tolist() == ["2", pd.NA]
    assert columns["metrics.loss"].tolist()[0] == 0.1


def test_the_sweep_column_from_ledger_entries_handles_and_dicts(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from jobmagic import runs_to_dataframe
    from jobmagic.frames import ledger_frame
    from jobmagic.ledger import Ledger, LedgerQuery, SweepRecord
    from jobmagic.models import JobRun, RunStatus

    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.add_sweep(SweepRecord("lr-scan", "grid", space={"lr": ["0.1"]}))
        for i, sweep in enumerate(["lr-scan", None, "lr-scan"]):
            attempt = ledger.record_attempt(host="h", target="t", params={"i": str(i)}, sweep=sweep)
            if i < 2:  # the last one was never acknowledged: an attempt row
                ledger.record_acknowledged(attempt, JobRun(name=f"r{i}", status=RunStatus.RUNNING))
        entries = ledger.page(LedgerQuery(), size=None)
        fast = ledger_frame(ledger)
    slow = runs_to_dataframe(entries)
    pd.testing.assert_frame_equal(fast, slow)
    assert slow["sweep"].tolist() == ["lr-scan", pd.NA, "lr-scan"]  # newest first

    @dataclass
    class Handle:
        run: JobRun
        params: dict[str, str]
        sweep: str | None

    handles = [Handle(JobRun(name="h1"), {}, "s1"), Handle(JobRun(name="h2"), {}, None)]
    assert runs_to_dataframe(handles)["sweep"].tolist() == ["s1", pd.NA]
    assert runs_to_dataframe([{"name": "d", "sweep": "s2"}])["sweep"].tolist() == ["s2"]


def test_metric_timestamps_are_exact_and_of_one_resolution() -> None:
    from jobmagic.frames._dtypes import times

    stamps = [1_700_000_000_123.0, 1_764_000_000_001.0, math.nan]
    index = times(stamps)
    assert str(index.dtype) == "datetime64[ns, UTC]"
    assert index.asi8[:2].tolist() == [1_700_000_000_123_000_000, 1_764_000_000_001_000_000]
    assert index[2] is pd.NaT


# --- search_runs and runs over real HTTP --------------------------------------------------------


def _log_ml_runs(server: SandboxServer, app_id: str, count: int) -> list[str]:
    """``count`` ML runs tagged as job runs of ``app_id``, each with lr, loss and a tag."""
    from jobmagic.models.ml import APPLICATION_TAG, JOB_RUN_TAG

    ids = []
    with httpx.Client(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {server.token}"},
        trust_env=False,
        timeout=10.0,
    ) as http:
        repo = http.get("/ml-repos", params={"name": "demo"}).json()["data"][0]["id"]
        for i in range(count):
            tags = [
                {"key": JOB_RUN_TAG, "value": f"job-{i}"},
                {"key": APPLICATION_TAG, "value": app_id},
            ]
            run = http.post(
                "/runs",
                json={
                    "experiment_id": repo,
                    "name": f"ml-{i}",
                    "start_time": 1_700_000_000_000 + i,
                    "tags": tags,
                },
            )
            run_id = run.json()["run"]["info"]["run_id"]
            http.post(
                f"/runs/{run_id}/batch",
                json={
                    "params": [{"key": "lr", "value": str(i)}],
                    "metrics": [
                        {
                            "key": "loss",
                            "value": 1 / (i + 1),
                            "timestamp": 1_700_000_000_007,
                            "step": 1,
                        }
                    ],
                },
            ).raise_for_status()
            ids.append(run_id)
    return ids


def test_search_runs_pages_into_a_dataframe(sandbox: SandboxServer, tmp_path: Path) -> None:
    import jobmagic
    import jobmagic.api._mlendpoints as mlep
    from jobmagic.config import Settings
    from jobmagic.domain.session import JobSession

    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            ledger_path=str(tmp_path / "ledger.db"),
            show_cards=False,
        )
    )
    try:
        app = session.client.find_app("sandbox:demo:train")
        ids = _log_ml_runs(sandbox, app.id, 7)
        page = mlep.MAX_SEARCH_PAGE
        mlep.MAX_SEARCH_PAGE = 3  # pages of 3: the search must follow next_page_token
        try:
            sandbox.reset_stats()
            frame = jobmagic.search_runs(
                "sandbox:demo:train",
                filter_string="metrics.loss <= 0.5",
                order_by="params.lr DESC",
                session=session,
            )
            searches = sandbox.stats()["search_ml_runs"]
            capped = jobmagic.search_runs(ml_repo="demo", max_results=4, session=session)
        finally:
            mlep.MAX_SEARCH_PAGE = page
    finally:
        session.close()
    assert searches == 2  # 6 runs in pages of 3
    assert frame["params.lr"].tolist() == ["6", "5", "4", "3", "2", "1"]
    assert frame["ml_run_id"].tolist() == [ids[i] for i in (6, 5, 4, 3, 2, 1)]
    assert frame["name"].tolist() == [f"job-{i}" for i in (6, 5, 4, 3, 2, 1)]
    assert frame["tags.TFY_INTERNAL_APPLICATION_ID"].unique().tolist() == [app.id]
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"
    assert len(capped) == 4 and capped["ml_run_id"].tolist() == ids[::-1][:4]  # newest first


def test_search_runs_finds_nothing_as_a_typed_empty_frame(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    import jobmagic
    from jobmagic.config import Settings
    from jobmagic.domain.session import JobSession
    from jobmagic.errors import ValidationError

    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            ledger_path=str(tmp_path / "ledger.db"),
            show_cards=False,
        )
    )
    try:
        empty = jobmagic.search_runs(filter_string="tags.nothing = 'here'", session=session)
        assert len(empty) == 0 and "ml_run_id" in empty.columns
        with pytest.raises(ValidationError) as caught:
            jobmagic.search_runs(filter_string="attributes.name = 'x'", session=session)
    finally:
        session.close()
    message = str(caught.value)
    assert "filter: attributes.name" in message and "attributes.run_name" in message
    assert caught.value.details[0]["field"] == "filter"


def test_runs_pages_past_fifty_by_default(sandbox: SandboxServer, tmp_path: Path) -> None:
    import jobmagic
    from jobmagic.api import JobsClient
    from jobmagic.config import Settings
    from jobmagic.domain.session import JobSession

    with JobsClient(sandbox.host, sandbox.token) as client:
        app = client.find_app("sandbox:demo:hello")
        names = {
            client.trigger(application_id=app.id, params={"name": str(i)}).job_run_name
            for i in range(55)
        }
    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            ledger_path=str(tmp_path / "ledger.db"),
            show_cards=False,
        )
    )
    try:
        listed = jobmagic.runs("sandbox:demo:hello", session=session)
        capped = jobmagic.runs("sandbox:demo:hello", limit=50, session=session)
    finally:
        session.close()
    assert {run.name for run in listed} == names
    assert len(capped) == 50


def test_a_400_naming_no_field_does_not_point_above() -> None:
    from jobmagic.errors import error_for_response

    bare = error_for_response(400, {"message": "Bad search"}, method="POST", path="/runs/search")
    assert "above" not in bare.hint and str(bare).endswith(bare.hint)
    assert "above" not in str(bare) and str(bare).endswith(
        "Fix what the message says and send again."
    )
    named = error_for_response(
        400,
        {"message": "Bad search", "details": [{"field": "filter", "message": "tags.x: bad"}]},
        method="POST",
        path="/runs/search",
    )
    assert "filter: tags.x: bad" in str(named) and "named above" in str(named)


def test_a_sweeps_frame_with_metrics_and_its_metric_history(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    import jobmagic
    from jobmagic.config import Settings
    from jobmagic.domain.session import JobSession
    from jobmagic.frames import ledger_frame
    from jobmagic.ledger import LedgerQuery
    from jobmagic.models import RunStatus

    session = JobSession(
        Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            ledger_path=str(tmp_path / "ledger.db"),
            show_cards=False,
        )
    )
    try:
        result = jobmagic.sweep(
            "sandbox:demo:train", grid={"lr": ["0.1", "0.2"], "epochs": ["2"]}, session=session
        )
        assert {run.wait(timeout=60).status for run in result} == {RunStatus.FINISHED}
        frame = result.to_dataframe(metrics=True)
        history = jobmagic.metric_history(result, "loss")
        kept = ledger_frame(session.ledger, LedgerQuery(sweep=result.name))
        ml_runs = {
            run.job_run_name: run
            for run in session.client.search_ml_runs("tags.TFY_INTERNAL_JOB_RUN_NAME IS NOT NULL")
        }
    finally:
        session.close()
    assert frame["ml_run_id"].tolist() == [ml_runs[run.name].run_id for run in result]
    assert frame["tags.TFY_INTERNAL_JOB_RUN_NAME"].tolist() == [run.name for run in result]
    assert frame["metrics.loss"].notna().all()
    assert result.name and kept["sweep"].tolist() == [result.name] * 2
    assert sorted(kept["name"].tolist()) == sorted(run.name for run in result)
    # Every time column of every frame: ns, UTC; metric times exactly the logged ms.
    for times in (frame["created_at"], frame["end_time"], history["timestamp"]):
        assert str(times.dtype) == "datetime64[ns, UTC]"
    logged = [
        int(point.timestamp_ms or -1)
        for run in result
        for point in session.client.metric_history(ml_runs[run.name].run_id, "loss")
    ]
    assert sorted(history["timestamp"].astype("int64") // 1_000_000) == sorted(logged)
    assert (history["timestamp"].astype("int64") % 1_000_000 == 0).all()


def test_datasets_are_named_as_not_kept(guide: tuple[httpx.Client, list[str]]) -> None:
    http, _ = guide
    answer = http.post("/runs/search", json={"filter": "datasets.digest IN ('s8ds293b')"})
    assert answer.status_code == 400 and "datasets.digest" in answer.json()["details"][0]["message"]
