"""Metrics beside params: ML runs logged by real run processes, read back in every view.

Everything runs against a real sandbox over loopback: the demo ``train`` job logs ``loss``
and ``accuracy`` per epoch to an ML run over HTTP (as a TrueFoundry job would), and the
client, DataFrame, comparison, plot, card and magics read them back.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from truefoundry_sdk import TrueFoundry

import jobmagic
from jobmagic.api import AsyncJobsClient, JobsClient, NotFoundError, RetryPolicy, ValidationError
from jobmagic.errors import APIError
from jobmagic.ipython.views import bundle_for
from jobmagic.models import RunStatus
from jobmagic.models.metrics import compile_patterns, scan_logs
from jobmagic.models.ml import JOB_RUN_TAG
from jobmagic.models.objectives import metric_goal
from jobmagic.sandbox import Fault, SandboxServer

matplotlib.use("Agg")

FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05)
LRS = ("0.01", "0.02", "0.05", "0.1")
EPOCHS = 3


@pytest.fixture(scope="module")
def sweep_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SandboxServer, InteractiveShell, Any]]:
    """One sandbox and one real shell: a 4-run --grid sweep of the demo train job, finished."""
    home = tmp_path_factory.mktemp("metrics-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(home))
    patch.setenv("JOBMAGIC_HOME", str(home / ".jobmagic"))
    with SandboxServer(tmp_path_factory.mktemp("metrics-sandbox"), grace_period=1.0) as server:
        patch.setenv("TFY_HOST", server.host)
        patch.setenv("TFY_API_KEY", server.token)
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "jobmagic")
        ip.run_line_magic("config", f"JobMagic.ledger_path = {str(home / 'ledger.db')!r}")
        ip.run_line_magic("config", "JobMagic.poll_interval = 0.2")
        ip.run_line_magic("config", "JobMagic.show_cards = False")
        try:
            ip.run_cell_magic(
                "trigger_job",
                "sandbox:demo:train --grid --concurrency 4 -o runs",
                f"lr: [{', '.join(LRS)}]\nepochs: {EPOCHS}\n",
            )
            runs = ip.user_ns["runs"]
            for run in runs:
                assert run.wait(timeout=60).status == RunStatus.FINISHED
            yield server, ip, runs
        finally:
            ip.run_line_magic("unload_ext", "jobmagic")
            InteractiveShell.clear_instance()
            patch.undo()


def test_the_sdk_finds_each_runs_ml_run_by_tag_with_one_loss_point_per_epoch(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    server, _, runs = sweep_env
    tfy = TrueFoundry(api_key=server.token, base_url=server.host)
    for run in runs:
        found = list(tfy.runs.search(filter=f"tags.{JOB_RUN_TAG} = '{run.name}'"))
        assert len(found) == 1
        history = tfy.runs.get_metric_history(found[0].info.run_id, metric_key="loss").metrics
        assert [point.step for point in history] == [1, 2, 3]
        assert {p.key: p.value for p in found[0].data.params}["lr"] == run.params["lr"]


def test_the_frame_has_complete_float_metrics_from_one_search_per_application(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    server, _, runs = sweep_env
    server.reset_stats()
    frame = jobmagic.runs_to_dataframe(runs, metrics=True)
    stats = server.stats()
    assert stats["search_ml_runs"] == 1  # one application, one page
    assert sum(stats.values()) == 1  # nothing else: no call per run
    assert frame["metrics.loss"].dtype == "float64"
    assert frame["metrics.loss"].notna().all() and frame["metrics.accuracy"].notna().all()
    # The latest loss is the last epoch's, as the run printed it.
    for run, loss in zip(runs, frame["metrics.loss"], strict=True):
        printed = [line.log for line in run.logs() if line.log.startswith(f"epoch={EPOCHS} ")]
        assert printed == [f"epoch={EPOCHS} loss={loss:.4f}"]


def test_compare_keeps_the_differing_param_and_picks_the_best_lr(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    _, _, runs = sweep_env
    table = jobmagic.compare(runs, by="loss")
    assert "params.lr" in table and "params.epochs" not in table  # epochs is the same
    assert table["metrics.loss"].is_monotonic_increasing
    assert table["params.lr"].iloc[0] == "0.1"  # the demo's loss falls faster with larger lr
    by_accuracy = jobmagic.compare(runs, by="metrics.accuracy")  # higher is better
    assert by_accuracy["metrics.accuracy"].is_monotonic_decreasing
    with pytest.raises(ValueError, match=r"No metric 'lost'.*accuracy, loss"):
        jobmagic.compare(runs, by="lost")


def test_metric_history_and_plot_metric_draw_one_line_per_run(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    _, _, runs = sweep_env
    history = jobmagic.metric_history(runs, "loss")
    assert list(history.columns[:5]) == ["run", "key", "step", "value", "timestamp"]
    assert history.groupby("run")["step"].apply(list).tolist() == [[1, 2, 3]] * len(runs)
    assert set(history["params.lr"]) == set(LRS)
    figure = jobmagic.plot_metric(runs, "loss", color_by="lr")
    lines = figure.axes[0].get_lines()
    assert len(lines) == len(runs)
    assert [line.get_label() for line in lines] == [f"{r.name} · lr={r.params['lr']}" for r in runs]
    assert figure._repr_png_().startswith(b"\x89PNG")  # shows itself in a notebook
    with pytest.raises(ValueError, match=r"No metric 'los'.*accuracy, loss"):
        jobmagic.plot_metric(runs, "los")
    with pytest.raises(ValueError, match="Params that exist: epochs, lr"):
        jobmagic.plot_metric(runs, "loss", color_by="batch")


def test_handle_metrics_and_the_job_runs_magic(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    server, ip, runs = sweep_env
    latest = runs[0].metrics
    assert set(latest) == {"loss", "accuracy"} and all(
        isinstance(v, float) for v in latest.values()
    )
    server.reset_stats()
    ip.run_line_magic("job_runs", "--metrics --stored -o frame")
    frame = ip.user_ns["frame"]
    assert isinstance(frame, pd.DataFrame)
    mine = frame[frame["name"].isin([r.name for r in runs])]
    assert len(mine) == len(runs) and mine["metrics.loss"].notna().all()
    assert server.stats()["search_ml_runs"] == 1


def test_the_cards_static_html_names_the_metrics_with_a_trend(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    _, _, runs = sweep_env
    html = bundle_for(runs[1])["text/html"]  # the static snapshot (cards are off)
    assert "Metrics" in html and "loss" in html and "accuracy" in html
    # The trend is the whole history: one point per epoch.
    (points,) = re.findall(r'<polyline[^>]*points="([^"]+)"', html.split("accuracy")[-1])[:1]
    assert len(points.split()) == EPOCHS
    from jobmagic.widgets import RunCard

    card = RunCard(runs[1])  # the live card: the same table in its metrics box
    try:
        assert "loss" in card.metrics_box.value and "<svg" in card.metrics_box.value
        assert card.metrics_box.layout.display != "none"
    finally:
        card.close()


def test_the_board_has_sortable_metric_columns_with_the_best_value_marked(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    server, ip, runs = sweep_env
    server.reset_stats()
    board = ip.run_line_magic("job_runs", "--metrics --stored")
    assert server.stats()["search_ml_runs"] == 1  # the frame's search also fills the board
    table = board.table.value
    assert '<th class="jobmagic-col-metric">loss</th>' in table
    assert table.count("jobmagic-best") == 2  # one best loss, one best accuracy
    assert "loss" in [label for label, _ in board.sort_select.options]
    board.sort_select.value = "loss"  # best (smallest) first
    names = re.findall(r'jobmagic-name-text">([^<]+)<', board.table.value)
    best = jobmagic.compare(runs, by="loss")["name"].tolist()
    assert names[: len(best)] == best
    assert "★" in board.snapshot_html()  # the saved copy marks the best too


# --- metrics from logs, by pattern --------------------------------------------------------

SCORER = """
import sys
for value in sys.argv[1:]:
    print(f"step done acc={value}", flush=True)
"""


@pytest.fixture
def scorer_sandbox(tmp_path: Path, isolated_home: Path) -> Iterator[SandboxServer]:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "score.py").write_text(SCORER, "utf-8")
    jobs = tmp_path / "jobs" / "jobs.yaml"
    jobs.write_text(
        textwrap.dedent(
            """\
            cluster: local
            workspace: lab
            jobs:
              - name: scorer
                command: "{python} score.py 0.5 {{final}}"
                params:
                  - {name: final, default: "0.75"}
            """
        ),
        "utf-8",
    )
    with SandboxServer(tmp_path / "sandbox", jobs_file=jobs, grace_period=0.5) as server:
        yield server


def test_a_job_that_only_prints_acc_yields_metrics_acc_through_a_pattern(
    scorer_sandbox: SandboxServer,
) -> None:
    with JobsClient(scorer_sandbox.host, scorer_sandbox.token, retry=FAST) as client:
        app = client.find_app("local:lab:scorer")
        names = [
            client.trigger(deployment_id=app.deployment_id, params={"final": v}).job_run_name
            for v in ("0.9", "0.8")
        ]
        for name in names:
            scorer_sandbox.wait_for_run(app.id, name, timeout=30)
        runs = [client.get_run(app.id, name) for name in names]
        patterns = {"acc": r"acc=([0-9.]+)"}
        frame = jobmagic.runs_to_dataframe(
            runs, metrics=True, metric_patterns=patterns, client=client
        )
        assert frame["metrics.acc"].tolist() == [0.9, 0.8]  # the last match is the value
        history = jobmagic.metric_history(runs, "acc", client=client, metric_patterns=patterns)
        assert history[history["run"] == names[0]]["value"].tolist() == [0.5, 0.9]
        best = jobmagic.compare(runs, client=client, metric_patterns=patterns)
        assert best["name"].iloc[0] == names[0]  # acc: higher is better
        assert "metrics.acc" not in jobmagic.runs_to_dataframe(runs, metrics=True, client=client)


def test_configured_patterns_reach_the_frame_and_ml_run_metrics_win(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any],
) -> None:
    _, ip, runs = sweep_env
    plain = jobmagic.runs_to_dataframe(runs, metrics=True)
    # `loss` is also an ML-run metric: the pattern (which reads the epoch) must lose to it.
    ip.run_line_magic(
        "config", "JobMagic.metric_patterns = {'loss': r'epoch=(\\d+)', 'seen': r'epoch=(\\d+)'}"
    )
    try:
        frame = jobmagic.runs_to_dataframe(runs, metrics=True)
    finally:
        ip.run_line_magic("config", "JobMagic.metric_patterns = {}")
    assert frame["metrics.seen"].tolist() == [float(EPOCHS)] * len(runs)  # through %config
    assert frame["metrics.loss"].tolist() == plain["metrics.loss"].tolist()
    assert set(plain["metrics.loss"]) != {float(EPOCHS)}


def test_bad_patterns_are_refused_when_set(
    sweep_env: tuple[SandboxServer, InteractiveShell, Any], caplog: pytest.LogCaptureFixture
) -> None:
    _, ip, _ = sweep_env
    magics = ip.magics_manager.registry["JobMagics"]
    ip.run_line_magic("config", "JobMagic.metric_patterns = {'acc': 'acc=([0-9.]+)'}")
    try:
        for bad, problem in (
            ("{'acc': 'acc=[0-9.]+'}", "metric pattern 'acc' has no group: put the value in"),
            ("{'acc': 'acc=([0-9.]+'}", "metric pattern 'acc' is not a valid regular expr"),
            ("{'acc': 3}", "metric_patterns"),
        ):
            caplog.clear()
            ip.run_line_magic("config", f"JobMagic.metric_patterns = {bad}")
            # %config reports a refused value and keeps the old one.
            assert problem in caplog.text
            assert dict(magics.session.settings.metric_patterns) == {"acc": "acc=([0-9.]+)"}
    finally:
        ip.run_line_magic("config", "JobMagic.metric_patterns = {}")


# --- the client ---------------------------------------------------------------------------


def test_client_search_history_and_repo_sync_and_async_with_retries(
    sandbox: SandboxServer, isolated_home: Path
) -> None:
    with JobsClient(sandbox.host, sandbox.token, retry=FAST) as client:
        repo = client.find_ml_repo("demo")
        assert client.get_ml_repo(repo.id).name == "demo"
        with pytest.raises(NotFoundError, match="No ML repo named 'nope'"):
            client.find_ml_repo("nope")
        app = client.find_app("sandbox:demo:train")
        name = client.trigger(
            deployment_id=app.deployment_id, params={"lr": "0.1", "epochs": "2"}
        ).job_run_name
        sandbox.wait_for_run(app.id, name, timeout=30)
        sandbox.set_faults(Fault.status(503, "search_ml_runs", times=1))
        (found,) = client.search_ml_runs(f"tags.{JOB_RUN_TAG} = '{name}' and metrics.loss < 1")
        assert found.job_run_name == name and found.application_id == app.id
        assert found.params == {"lr": "0.1", "epochs": "2"}
        assert [p.step for p in client.metric_history(found.run_id, "loss")] == [1, 2]
        assert client.get_ml_run(found.run_id).latest == found.latest
        with pytest.raises(APIError) as bad:
            client.search_ml_runs("metrics.loss < 'low'")
        assert bad.value.status_code == 400 and "number" in str(bad.value)
        with pytest.raises(ValidationError):
            client.metric_history("..", "loss")

    async def main() -> list[Any]:
        async with AsyncJobsClient(sandbox.host, sandbox.token, retry=FAST) as aclient:
            runs = await aclient.search_ml_runs(order_by=["metrics.loss ASC"], page_size=1)
            history = await aclient.metric_history(runs[0].run_id, "accuracy")
            return [runs, history, await aclient.find_ml_repo("demo")]

    runs, history, repo_again = asyncio.run(main())
    assert [r.job_run_name for r in runs] == [name] and len(history) == 2
    assert repo_again.id == repo.id


# --- pure parts ---------------------------------------------------------------------------


def test_patterns_take_the_value_group_and_skip_what_is_no_number() -> None:
    patterns = compile_patterns({"acc": r"acc=(?P<value>\S+)", "f1": re.compile(r"f1 (\d+)")})
    assert scan_logs(["acc=0.1 acc=nan? acc=x", "f1 3", "acc=2e-1"], patterns) == {
        "acc": [0.1, 0.2],
        "f1": [3.0],
    }
    with pytest.raises(ValueError, match="must be a dict"):
        compile_patterns(["acc"])  # type: ignore[arg-type]
    assert [metric_goal(n) for n in ("val_loss", "RMSE", "acc", "uptime")] == [
        "min",
        "min",
        "max",
        None,
    ]
