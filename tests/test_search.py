"""`jobmagic.search` against the sandbox, on real Optuna with its RDB storage in a temporary
home: values from ML runs and logs, failed and pruned trials (pruned runs terminated at the
server), grids that stop when exhausted, names that refuse another search, and a kernel
killed mid-search whose study a new process finishes without triggering any run twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sessions import sandbox_serving, session_on

optuna = pytest.importorskip("optuna")

import jobmagic  # noqa: E402
from jobmagic.config import Settings  # noqa: E402
from jobmagic.domain.session import JobSession  # noqa: E402
from jobmagic.domain.study import storage_url, studies_path  # noqa: E402
from jobmagic.errors import JobmagicError, ObjectiveError, ParamsError  # noqa: E402
from jobmagic.sandbox import SandboxServer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# `train` is the demo's, with short epochs: a run is a few tenths of a second.
JOBS = """
cluster: test
workspace: search
jobs:
  - name: train
    command: >-
      {python} -u {demo_dir}/demo_programs.py train --lr={{lr}}
      --epochs={{epochs}} --epoch-seconds=0.15
    params:
      - name: lr
        default: "0.01"
      - name: epochs
        default: "3"
  - name: slow
    command: >-
      {python} -u {demo_dir}/demo_programs.py train --lr={{lr}}
      --epochs=4 --epoch-seconds=0.6
    params:
      - name: lr
  - name: echo
    command: "echo loss={{xv}}"
    params:
      - name: xv
  - name: boom
    command: "false --x={{xv}}"
    params:
      - name: xv
"""
TRAIN, SLOW = "test:search:train", "test:search:slow"


@pytest.fixture
def server(tmp_path: Path, isolated_home: Path) -> Iterator[SandboxServer]:
    with sandbox_serving(JOBS, tmp_path, grace_period=1.0) as live:
        yield live


@pytest.fixture
def session(server: SandboxServer, tmp_path: Path) -> Iterator[JobSession]:
    with session_on(server, tmp_path / "ledger.db") as live:
        yield live


def _fast(session: JobSession, **changes: object) -> JobSession:
    """The session polling every 0.1 s (its settings are frozen: a new one, same ledger)."""
    fields = {**session.settings.__dict__, "poll_interval": 0.1, **changes}
    return JobSession(Settings(**fields))


def _server_runs(server: SandboxServer, session: JobSession, fqn: str) -> list[dict]:
    return server.runs(session.client.find_app(fqn).id)


def test_a_search_finds_values_in_ml_runs_and_prunes_by_terminating_runs(
    server: SandboxServer, session: JobSession
) -> None:
    fast = _fast(session)
    space = {
        "lr": {"low": 0.001, "high": 0.2, "log": True},
        "epochs": "4",
    }
    result = jobmagic.search(
        TRAIN,
        space,
        objective="loss",
        trials=10,
        concurrency=3,
        sampler="random",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
        name="lr-search",
        seed=7,
        progress=False,
        session=fast,
    )
    rows = result.trials()
    assert result.added == 10 and len(rows) == 10 and len(result) == 10
    # Every trial ran once at the server, with the params its trial sampled.
    at_server = {run["name"]: run for run in _server_runs(server, fast, TRAIN)}
    assert len(at_server) == 10
    assert {row.run for row in rows} == set(at_server)
    for row, handle in zip(rows, result.handles, strict=True):
        assert handle.name == row.run
        assert float(handle.params["lr"]) == pytest.approx(row.params["lr"], rel=1e-9)
    # A finished trial's value is its run's last logged loss.
    complete = [row for row in rows if row.state == "COMPLETE"]
    assert complete
    for row in complete:
        handle = next(h for h in result.handles if h.name == row.run)
        assert handle.fetch_metrics()["loss"] == pytest.approx(row.value)
    # Pruned trials' runs were stopped at the server (asked to: they end within the
    # sandbox's grace period), and the frame says PRUNED.
    pruned = [row for row in rows if row.state == "PRUNED"]
    assert pruned, [(row.state, row.params) for row in rows]
    result.wait(timeout=120, progress=False)
    at_server = {run["name"]: run for run in _server_runs(server, fast, TRAIN)}
    for row in pruned:
        assert at_server[row.run]["status"] == "TERMINATED"
    frame = result.to_dataframe()
    assert set(frame.loc[frame["trial_state"] == "PRUNED", "name"]) == {r.run for r in pruned}
    # The board marks each pruned run beside its TERMINATED badge, live and in its copy.
    from jobmagic.widgets import RunsBoard

    board = RunsBoard(result.handles, actions=result)
    rows = board.snapshot_html().split("<tr")[1:]
    labelled = {
        re.search(r'jobmagic-name-text">([^<]+)<', row).group(1)  # type: ignore[union-attr]
        for row in rows
        if 'jobmagic-run-label">pruned<' in row
    }
    assert labelled == {r.run for r in pruned}
    board.close()
    # The best run is the finished trial with the lowest loss.
    best = min(complete, key=lambda row: row.value or 0.0)
    assert result.best().name == best.run
    fast.close()


def test_a_search_loaded_from_the_ledger_gets_its_study_back(
    server: SandboxServer, session: JobSession
) -> None:
    from jobmagic.domain.search_result import SearchResult

    fast = _fast(session, metric_patterns=(("loss", r"loss=(\S+)"),))
    jobmagic.search(
        "test:search:echo",
        {"xv": ["0.5", "0.25"]},
        objective="loss",
        sampler="grid",
        name="kept",
        progress=False,
        session=fast,
    )
    loaded = jobmagic.load_sweep("kept", session=fast)  # a search comes back with its study
    assert isinstance(loaded, SearchResult)
    assert sorted(row.value or 0.0 for row in loaded.trials()) == [0.25, 0.5]
    assert loaded.best().params == {"xv": "0.25"}
    assert list(loaded.to_dataframe()["trial_state"]) == ["COMPLETE", "COMPLETE"]
    fast.close()


def test_failed_runs_and_finished_runs_without_the_metric_are_failed_trials(
    server: SandboxServer, session: JobSession
) -> None:
    fast = _fast(session)
    boom = jobmagic.search(
        "test:search:boom",
        {"xv": ["1", "2"]},
        objective="loss",
        trials=2,
        concurrency=2,
        sampler="grid",
        name="boom",
        progress=False,
        session=fast,
    )
    assert [row.state for row in boom.trials()] == ["FAIL", "FAIL"]
    assert all("FAILED" in (row.reason or "") for row in boom.trials())
    silent = jobmagic.search(
        "test:search:echo",
        {"xv": ["0.5"]},
        objective="loss",
        trials=1,
        sampler="grid",
        name="silent",
        progress=False,
        session=fast,
    )
    (row,) = silent.trials()
    assert row.state == "FAIL"
    assert row.reason == "the run finished without logging metric 'loss'"
    fast.close()


def test_a_metric_read_from_the_logs_by_pattern_is_the_value(
    server: SandboxServer, session: JobSession
) -> None:
    fast = _fast(session, metric_patterns=(("loss", r"loss=(\S+)"),))
    result = jobmagic.search(
        "test:search:echo",
        {"xv": ["0.5", "0.25", "0.75"]},
        objective="loss",
        sampler="grid",
        name="echoes",
        progress=False,
        session=fast,
    )
    assert sorted(row.value or 0.0 for row in result.trials()) == [0.25, 0.5, 0.75]
    assert result.best().params == {"xv": "0.25"}
    fast.close()


def test_a_grid_search_defaults_to_its_size_and_stops_when_exhausted(
    server: SandboxServer, session: JobSession
) -> None:
    fast = _fast(session, metric_patterns=(("loss", r"loss=(\S+)"),))
    space = {"xv": ["1", "2"], "y": {"low": 1, "high": 2, "step": 1}}
    first = jobmagic.search(
        "test:search:echo",
        {"xv": space["xv"]},
        objective="loss",
        sampler="grid",
        name="grid",
        progress=False,
        session=fast,
    )
    assert first.added == 2
    again = jobmagic.search(
        "test:search:echo",
        {"xv": space["xv"]},
        objective="loss",
        sampler="grid",
        trials=5,
        name="grid",
        progress=False,
        session=fast,
    )
    assert again.added == 0
    assert len(_server_runs(server, fast, "test:search:echo")) == 2
    with pytest.raises(ParamsError, match=r"`xv` is a range without a step"):
        jobmagic.search(
            "test:search:echo",
            {"xv": {"low": 0.0, "high": 1.0}},
            objective="loss",
            sampler="grid",
            name="grid-2",
            progress=False,
            session=fast,
        )
    fast.close()


def test_bad_objectives_spaces_and_reused_names_are_refused_before_anything_is_sent(
    server: SandboxServer, session: JobSession
) -> None:
    with pytest.raises(ObjectiveError, match="'uptime:min' or 'uptime:max'"):
        jobmagic.search(TRAIN, {"lr": ["0.1"]}, objective="uptime", trials=1, session=session)
    with pytest.raises(ParamsError, match=r"low \(0.5\) is above high"):
        jobmagic.search(
            TRAIN,
            {"lr": {"low": 0.5, "high": 0.1}},
            objective="loss",
            trials=1,
            session=session,
        )
    with pytest.raises(ParamsError, match="nothing to search"):
        jobmagic.search(TRAIN, {"lr": "0.1"}, objective="loss", trials=1, session=session)
    assert server.stats().get("trigger", 0) == 0
    fast = _fast(session)
    jobmagic.search(
        TRAIN,
        {"lr": ["0.1"], "epochs": "1"},
        objective="loss",
        trials=1,
        name="taken",
        sampler="grid",
        progress=False,
        session=fast,
    )
    with pytest.raises((ParamsError, JobmagicError), match="taken"):
        jobmagic.search(
            TRAIN,
            {"lr": ["0.2"], "epochs": "1"},
            objective="loss",
            trials=1,
            name="taken",
            progress=False,
            session=fast,
        )
    fast.close()


def test_optuna_distributions_and_a_sampler_object_are_taken_as_they_are(
    server: SandboxServer, session: JobSession
) -> None:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    fast = _fast(session, metric_patterns=(("loss", r"loss=(\S+)"),))
    result = jobmagic.search(
        "test:search:echo",
        {"xv": IntDistribution(1, 9, step=2)},
        objective="loss",
        trials=3,
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=None,
        name="own",
        progress=False,
        session=fast,
    )
    values = [row.value for row in result.trials()]
    assert all(value in (1.0, 3.0, 5.0, 7.0, 9.0) for value in values)
    assert CategoricalDistribution(["a"])  # importable: the extra is installed
    fast.close()


# -- a kernel killed mid-search -------------------------------------------------------------

CHILD = """
import sys
import jobmagic
from jobmagic.config import Settings
from jobmagic.domain.session import JobSession

host, token, ledger = sys.argv[1:4]
session = JobSession(Settings(host=host, api_key=token, ledger_path=ledger, show_cards=False,
                              poll_interval=0.1))
jobmagic.search({slow!r}, {{"lr": {{"low": 0.01, "high": 0.3}}}}, objective="loss",
                trials=8, concurrency=3, sampler="random", pruner=None, name="killed",
                progress=False, session=session)
print("finished", flush=True)
"""


def test_a_search_killed_mid_way_is_resumed_in_a_new_process_without_triggering_twice(
    server: SandboxServer, session: JobSession, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(CHILD.format(slow=SLOW)),
            server.host,
            server.token,
            str(ledger),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = storage_url(studies_path(session.settings))
    try:
        # Killed once three trials are running with their runs known (and none has ended).
        while True:
            assert child.poll() is None, child.communicate()
            try:
                study = optuna.load_study(study_name="killed", storage=url)
                running = [
                    t
                    for t in study.get_trials(deepcopy=False)
                    if t.state.name == "RUNNING" and t.user_attrs.get("run")
                ]
            except (KeyError, ValueError, Exception):  # not created yet
                running = []
            if len(running) >= 3:
                break
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    left_running = {t.user_attrs["run"]["name"] for t in running}
    before = {run["name"] for run in _server_runs(server, session, SLOW)}
    assert left_running <= before

    # A new process (this one) continues the study: the runs left RUNNING are followed to
    # their ends, then 2 more trials are added.
    fast = _fast(session)
    result = jobmagic.search(
        SLOW,
        {"lr": {"low": 0.01, "high": 0.3}},
        objective="loss",
        trials=2,
        concurrency=3,
        sampler="random",
        pruner=None,
        name="killed",
        progress=False,
        session=fast,
    )
    rows = result.trials()
    assert not [row for row in rows if row.state == "RUNNING"]
    # Every run at the server belongs to one trial, no trial's run was triggered twice, and
    # the trials left running got their values from the runs they had started.
    at_server = [run["name"] for run in _server_runs(server, fast, SLOW)]
    assert len(at_server) == len(set(at_server)) == len(before) + 2
    with_run = [row.run for row in rows if row.run]
    assert len(with_run) == len(set(with_run))
    assert set(with_run) <= set(at_server)
    # A run the kill left unrecorded (between its trigger and its trial's note) is a failed
    # trial, never sent again.
    orphans = [row for row in rows if row.run is None]
    assert len(set(at_server) - set(with_run)) <= len(orphans)
    for row in rows:
        if row.run in left_running:
            assert row.state == "COMPLETE" and row.value is not None
    fast.close()
