"""Objectives wired through: ``objective=``/``goal=`` and ``--objective``, ``%config
JobMagic.metric_goals``, ``SweepResult.best()``, and the board, the frames and ``compare``
ranking by the objective — a metric of unknown direction shown unranked, never guessed.
Over the real sandbox (the demo ``train`` job logs ``loss`` and ``accuracy`` to an ML run
and prints ``epoch=<i>``, read here as the metric ``epoch_count`` by pattern)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from sessions import shell_on
from traitlets import TraitError

import jobmagic
from jobmagic.config import Settings
from jobmagic.domain.session import JobSession
from jobmagic.domain.sweeps import SweepResult
from jobmagic.errors import ObjectiveError
from jobmagic.models.metrics import MetricGoals
from jobmagic.models.objectives import Objective
from jobmagic.sandbox import SandboxServer
from jobmagic.widgets._metrics_html import best_values, format_metric, sort_best_first
from jobmagic.widgets.board import RunsBoard
from jobmagic.widgets.static import runs_table_html

TRAIN = "sandbox:demo:train"
#: ``epoch_count``: its last token, "count", says nothing of which way is better.
PATTERNS = (("epoch_count", r"epoch=(\d+)"),)


class _Settings:
    """Settings a test changes as ``%config`` would: the session reads them at each use."""

    def __init__(self, sandbox: SandboxServer, ledger: Path) -> None:
        self.now = Settings(
            host=sandbox.host,
            api_key=sandbox.token,
            ledger_path=str(ledger),
            show_cards=False,
            metric_patterns=PATTERNS,
        )

    def __call__(self) -> Settings:
        return self.now


@pytest.fixture
def settings(shared_sandbox: SandboxServer, tmp_path: Path, isolated_home: Path) -> _Settings:
    return _Settings(shared_sandbox, tmp_path / "ledger.db")


@pytest.fixture
def session(settings: _Settings) -> Iterator[JobSession]:
    live = JobSession(settings)
    yield live
    live.close()


@pytest.fixture
def swept(session: JobSession) -> SweepResult:
    """Three finished runs of ``train`` ranked by accuracy, the largest best."""
    grid = {"lr": ["0.01", "0.3", "0.1"], "epochs": ["2"]}
    result = jobmagic.sweep(TRAIN, grid=grid, objective="accuracy:max", session=session)
    result.wait(timeout=120, progress=False)
    return result


# -- pure: ranking metric columns -------------------------------------------------------


def test_columns_are_ranked_only_where_the_direction_is_known() -> None:
    rows = [{"val_loss": 0.5, "uptime": 9.0}, {"val_loss": 0.2, "uptime": 3.0}, {}]
    names = ["val_loss", "uptime"]
    assert best_values(rows, names) == {"val_loss": 0.2}  # uptime: unranked, no ★
    assert sort_best_first(rows, "uptime") == [0, 1, 2]  # left in its order
    goals = MetricGoals({"uptime": "max"})
    assert best_values(rows, names, goals) == {"val_loss": 0.2, "uptime": 9.0}
    assert sort_best_first(rows, "uptime", goals) == [0, 1, 2]
    # An objective overrides the name's default: here the largest loss is "best".
    flipped = MetricGoals(objective=Objective("val_loss", "max"))
    assert sort_best_first(rows, "val_loss", flipped) == [0, 1, 2]
    assert sort_best_first(rows, "val_loss") == [1, 0, 2]
    from jobmagic.models import JobRun

    runs = [JobRun(name=f"r{i}") for i in range(3)]
    html = runs_table_html(runs, metrics=rows)
    assert html.count("★") == 1 and "★ 0.2" in html


# -- %config JobMagic.metric_goals ------------------------------------------------------


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(shared_sandbox, tmp_path / "ledger.db", monkeypatch) as live:
        yield live


def test_metric_goals_flow_from_config_to_the_settings_and_refuse_a_bad_goal(
    shell: InteractiveShell,
) -> None:
    shell.run_line_magic("config", 'JobMagic.metric_goals = {"uptime": "maximize"}')
    magics = shell.magics_manager.registry["JobMagics"]
    assert magics.session.settings.metric_goals == (("uptime", "max"),)
    with pytest.raises(TraitError, match="goal 'up' is neither 'min' nor 'max'"):
        magics.settings.metric_goals = {"uptime": "up"}
    assert magics.session.settings.metric_goals == (("uptime", "max"),)


def test_the_magic_objective_takes_its_goal_from_metric_goals(shell: InteractiveShell) -> None:
    shell.run_line_magic("config", 'JobMagic.metric_goals = {"epoch_count": "max"}')
    shell.run_cell_magic(
        "trigger_job", f"{TRAIN} --grid --objective epoch_count -q -o sw", "lr: [0.1]\nepochs: 1\n"
    )
    assert str(shell.user_ns["sw"].objective) == "epoch_count:max"


# -- best() -----------------------------------------------------------------------------


def test_best_is_the_best_finished_run_by_the_objective(swept: SweepResult) -> None:
    values = swept.values()
    assert len(values) == 3
    best = swept.best()
    assert values[best.name] == max(values.values())
    # Another objective, asked for here: by loss, the smallest.
    losses = swept.values("loss")
    assert losses[swept.best("loss").name] == min(losses.values())
    assert swept.best("accuracy", goal="min").name == min(values, key=values.__getitem__)


def test_best_asks_for_a_goal_where_the_direction_is_unknown(swept: SweepResult) -> None:
    with pytest.raises(ObjectiveError, match="'epoch_count:min' or 'epoch_count:max'"):
        swept.best("epoch_count")
    # Spelled out, it ranks: every run printed epoch=1 then epoch=2.
    assert swept.values("epoch_count:max") == dict.fromkeys(swept.values(), 2.0)
    with pytest.raises(jobmagic.JobmagicError, match=r"No finished run of sweep .* 'f1'"):
        swept.best("f1")


def test_a_sweep_without_objective_asks_for_one(session: JobSession) -> None:
    plain = jobmagic.sweep(TRAIN, runs=[{"lr": "0.1", "epochs": "1"}], session=session)
    with pytest.raises(ObjectiveError, match=r"has no objective.*\.best\('loss'\)"):
        plain.best()
    plain.wait(timeout=60, progress=False)
    assert plain.best("loss").name == plain[0].name


def test_objective_and_goal_are_spelled_either_way_and_must_agree(session: JobSession) -> None:
    one = {"lr": ["0.1"], "epochs": ["1"]}
    given = jobmagic.sweep(TRAIN, grid=one, objective="loss", goal="max", session=session)
    assert given.objective == Objective("loss", "max")
    with pytest.raises(ObjectiveError, match="disagree"):
        jobmagic.sweep(TRAIN, grid=one, objective="loss:min", goal="max", session=session)
    with pytest.raises(ObjectiveError, match="needs an objective"):
        jobmagic.sweep(TRAIN, grid=one, goal="max", session=session)
    with pytest.raises(ObjectiveError, match="'uptime:min' or 'uptime:max'"):
        jobmagic.sweep(TRAIN, grid=one, objective="uptime", session=session)


# -- the frames and compare -------------------------------------------------------------


def test_frames_and_compare_rank_by_the_objective_and_leave_unknown_unranked(
    swept: SweepResult, settings: _Settings
) -> None:
    order = sorted(swept.values().items(), key=lambda item: -item[1])
    frame = swept.to_dataframe(metrics=True)
    assert list(frame["name"]) == [name for name, _ in order]
    compared = jobmagic.compare(swept)
    assert list(compared["name"]) == [name for name, _ in order]
    assert compared.attrs["objective"] == "accuracy:max"
    # A metric of unknown direction: the runs as they were, no ranking claimed.
    trigger_order = [handle.name for handle in swept]
    unranked = jobmagic.compare(swept.handles, by="epoch_count")
    assert list(unranked["name"]) == trigger_order and "objective" not in unranked.attrs
    # The user's table gives it a direction.
    settings.now = Settings(**{**settings.now.__dict__, "metric_goals": (("accuracy", "min"),)})
    flipped = jobmagic.compare(swept.handles, by="accuracy")
    assert list(flipped["name"]) == [name for name, _ in reversed(order)]


# -- the board --------------------------------------------------------------------------


def test_the_board_marks_and_sorts_by_the_objective_and_never_ranks_the_unknown(
    swept: SweepResult, settings: _Settings
) -> None:
    best = swept.best()  # fetches every run's metrics, which the board shows
    board = RunsBoard(swept.handles, actions=swept)
    try:
        board.render()
        options = [value for _, value in board.sort_select.options]
        assert board.sort_select.value == "accuracy"  # the objective, until the user picks
        assert "epoch_count" not in options and {"loss", "accuracy"} <= set(options)
        table = board.table.value
        assert table.index(best.name) < min(
            table.index(handle.name) for handle in swept if handle.name != best.name
        )
        # ★ for accuracy (the objective) and loss (its name says min); none for epoch_count.
        assert table.count("★") == 2
        assert f"★ {format_metric(max(swept.values().values()))}<" in table
        assert f"★ {format_metric(min(swept.values('loss').values()))}<" in table
        # %config JobMagic.metric_goals reaches the board at its next draw.
        settings.now = Settings(
            **{**settings.now.__dict__, "metric_goals": (("epoch_count", "max"),)}
        )
        board.render()
        assert "epoch_count" in [value for _, value in board.sort_select.options]
        # Every run printed epoch=2: a tie, each one marked.
        assert board.table.value.count("★ 2<") == 3 and board.table.value.count("★") == 5
        # The user's choice of sort wins over the objective from then on.
        board.sort_select.value = "loss"
        board.render()
        assert board.sort_select.value == "loss"
    finally:
        board.close()
