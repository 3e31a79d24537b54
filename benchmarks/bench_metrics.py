"""``runs_to_dataframe(runs, metrics=True)`` for 1,000 runs of one job, against the sandbox.

Each run has an ML run tagged as ``truefoundry.ml`` tags them (job run name, application id)
with two metrics. Prints the HTTP calls the metrics cost beyond listing the runs (counted at
the sandbox; the bound is 2) and the time of jobmagic's list + frame against a raw-httpx
baseline making the same calls (the runs page, then the search pages) and building the same
DataFrame. The sandbox runs as its own process; figures are medians of ``--rounds``
interleaved rounds.

    python benchmarks/bench_metrics.py [--runs 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from jobmagic.api import JobsClient
from jobmagic.frames import runs_to_dataframe
from jobmagic.mlmodels import APPLICATION_TAG, JOB_RUN_TAG
from jobmagic.sandbox import SandboxProcess, start_sandbox_process

JOBS = """
cluster: bench
workspace: metrics
jobs:
  - name: noop
    command: "true --x={{xi}}"
    params:
      - name: xi
        default: "0"
"""
API = "/api/svc/v1"


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
    raise SystemExit("the seeded runs did not finish")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = Path(tmp) / "jobs.yaml"
        jobs.write_text(JOBS)
        with start_sandbox_process(Path(tmp) / "sandbox", jobs_file=jobs) as sandbox:
            headers = {"Authorization": f"Bearer {sandbox.token}"}
            with (
                httpx.Client(base_url=sandbox.host, headers=headers, timeout=60) as http,
                JobsClient(credentials=sandbox.credentials()) as client,
            ):
                app_id = client.find_app("bench:metrics:noop").id
                print(f"seeding {args.runs} runs with ML runs …", flush=True)
                seed(http, sandbox, app_id, args.runs)
                before = sandbox.stats()
                with_jobmagic(client, app_id, args.runs)
                after = sandbox.stats()
                calls = {k: after[k] - before[k] for k in after if after[k] != before[k]}
                metric_calls = sum(calls.values()) - calls.get("list_runs", 0)
                print(f"HTTP calls: {calls} -> {metric_calls} for the metrics (bound: 2)")
                raw_times, ours = [], []
                for _ in range(args.rounds):
                    raw_times.append(raw_baseline(http, app_id, args.runs))
                    ours.append(with_jobmagic(client, app_id, args.runs))
    raw, mine = statistics.median(raw_times), statistics.median(ours)
    print(f"raw httpx + DataFrame: {raw * 1000:.0f} ms (median of {args.rounds})")
    print(f"jobmagic (metrics=True): {mine * 1000:.0f} ms")
    print(f"ratio: {mine / raw:.2f}x (bound: 1.5x)")
    if metric_calls > 2:
        raise SystemExit(f"the metrics cost {metric_calls} calls, more than 2")


if __name__ == "__main__":
    main()
