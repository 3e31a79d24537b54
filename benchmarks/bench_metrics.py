"""``runs_to_dataframe(runs, metrics=True)`` for 1,000 runs of one job, against the sandbox.

Each run has an ML run tagged as ``truefoundry.ml`` tags them (job run name, application id)
with two metrics. Prints the HTTP calls the metrics cost beyond listing the runs (counted at
the sandbox; the bound is 2) and the time of jobmagic's list + frame against a raw-httpx
baseline making the same calls (the runs page, then the search pages) and building the same
DataFrame. The sandbox runs as its own process; figures are medians of ``--rounds``
interleaved rounds.

    python benchmarks/bench_metrics.py [--quick] [--runs 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
import numpy as np
from _common import Row, interleaved, make_row, median, print_rows, sandbox_process

from jobmagic.api import JobsClient
from jobmagic.frames import runs_to_dataframe
from jobmagic.models import API_PREFIX as API
from jobmagic.models.ml import APPLICATION_TAG, JOB_RUN_TAG
from jobmagic.sandbox import SandboxProcess


def seed(http: httpx.Client, sandbox: SandboxProcess, app_id: str, runs: int) -> None:
    """``runs`` finished job runs, each with an ML run holding loss and accuracy."""
    names = [
        http.post(
            f"{API}/jobs/trigger",
            json={"applicationId": app_id, "input": {"params": {"xi": str(i)}}},
        ).json()["jobRunName"]
        for i in range(runs)
    ]
    repo = http.get(f"{API}/ml-repos", params={"name": "demo"}).json()["data"][0]["id"]
    for i, name in enumerate(names):
        tags = [{"key": JOB_RUN_TAG, "value": name}, {"key": APPLICATION_TAG, "value": app_id}]
        run = http.post(f"{API}/runs", json={"experiment_id": repo, "name": name, "tags": tags})
        run_id = run.json()["run"]["info"]["run_id"]
        metrics = [
            {"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1, "step": 1},
            {"key": "accuracy", "value": i / runs, "timestamp": 1, "step": 1},
        ]
        http.post(f"{API}/runs/{run_id}/batch", json={"metrics": metrics}).raise_for_status()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        page = http.get(f"{API}/jobs/{app_id}/runs", params={"limit": 1000, "status": "FINISHED"})
        if page.json()["pagination"]["total"] >= runs:
            return
        time.sleep(0.5)
    statuses: dict[str, int] = {}
    for run in http.get(f"{API}/jobs/{app_id}/runs", params={"limit": runs}).json()["data"]:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    raise SystemExit(f"the {runs} seeded runs did not all finish in 300 s: {statuses}")


def raw_baseline(http: httpx.Client, app_id: str, runs: int) -> float:
    started = time.perf_counter()
    listed = http.get(f"{API}/jobs/{app_id}/runs", params={"limit": runs}).json()["data"]
    found: list[dict[str, Any]] = []
    token = None
    while True:
        body: dict[str, Any] = {
            "filter": f"tags.{APPLICATION_TAG} = '{app_id}'",
            "max_results": 1000,
        }
        if token:
            body["page_token"] = token
        answer = http.post(f"{API}/runs/search", json=body).json()
        found.extend(answer["runs"])
        token = answer.get("next_page_token")
        if not token:
            break
    latest: dict[str, dict[str, float]] = {}
    for run in found:
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        latest[tags[JOB_RUN_TAG]] = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    frame = runs_to_dataframe(listed)
    for key in ("loss", "accuracy"):
        values = [latest.get(run["name"], {}).get(key, np.nan) for run in listed]
        frame[f"metrics.{key}"] = np.asarray(values, dtype="float64")
    assert frame["metrics.loss"].notna().all()
    return time.perf_counter() - started


def with_jobmagic(client: JobsClient, app_id: str, runs: int) -> float:
    started = time.perf_counter()
    listed = client.list_runs(app_id, limit=runs, page_size=1000)
    frame = runs_to_dataframe(listed, metrics=True, client=client)
    assert frame["metrics.loss"].notna().all() and len(frame) == runs
    return time.perf_counter() - started


def run(quick: bool = False, runs: int | None = None, rounds: int | None = None) -> list[Row]:
    """Two rows: the HTTP calls the metrics cost, and the time against raw httpx."""
    runs = runs or (20 if quick else 1000)
    rounds = rounds or (1 if quick else 7)
    with (
        sandbox_process("metrics") as (sandbox, _),
        httpx.Client(
            base_url=sandbox.host, headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=60
        ) as http,
        JobsClient(sandbox.host, sandbox.token) as client,
    ):
        app_id = client.find_app("bench:metrics:noop").id
        print(f"seeding {runs} runs with ML runs …", flush=True)
        seed(http, sandbox, app_id, runs)
        before = sandbox.stats()
        with_jobmagic(client, app_id, runs)
        after = sandbox.stats()
        calls = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        metric_calls = sum(calls.values()) - calls.get("list_runs", 0)
        times = interleaved(
            {
                "raw": lambda: raw_baseline(http, app_id, runs),
                "ours": lambda: with_jobmagic(client, app_id, runs),
            },
            rounds,
        )
    what = f"runs_to_dataframe(metrics=True), {runs:,} runs"
    return [
        make_row(
            f"{what}: HTTP calls beyond the runs vs raw httpx's",
            metric_calls,
            -(-runs // 1000),  # the raw baseline's search pages of 1,000
            "≤ 2 calls",
            unit="calls",
        ),
        make_row(
            f"{what}: list + frame vs raw httpx + DataFrame",
            median(times["ours"]),
            median(times["raw"]),
            "≤ 1.5x",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    print_rows(run(args.quick, args.runs, args.rounds))


if __name__ == "__main__":
    main()
