"""Small points of the trial (issue 23, point 8), over a real InteractiveShell and real HTTP
to the sandbox: advice that names the user's own variable and only the views shown, plot
legends that name runs (a real Agg figure), and lists of runs that show as short tables."""

from __future__ import annotations

import _thread
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import jobmagic
from jobmagic.models import RunStatus
from jobmagic.sandbox import SandboxServer


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("TFY_HOST", shared_sandbox.host)
    monkeypatch.setenv("TFY_API_KEY", shared_sandbox.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jobmagic")
    ip.run_line_magic("config", f"JobMagic.ledger_path = {str(tmp_path / 'ledger.db')!r}")
    ip.run_line_magic("config", "JobMagic.poll_interval = 0.2")
    ip.run_line_magic("config", "JobMagic.show_cards = False")
    yield ip
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


def _failure(shell: InteractiveShell, line: str, cell: str | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        if cell is None:
            shell.run_line_magic("trigger_job", line)
        else:
            shell.run_cell_magic("trigger_job", line, cell)
    return str(caught.value)


# -- (1) advice that names the user's own variable and only the views shown ---------------


def test_failed_wait_names_the_o_variable_and_no_card_when_none_is_shown(
    shell: InteractiveShell,
) -> None:
    message = _failure(shell, "sandbox:demo:fail --wait --timeout 60 -o bad", "# no params\n")
    assert "ended FAILED with exit code 3" in message
    assert "See its logs with bad.logs()." in message
    assert "run.logs()" not in message and "card" not in message
    assert shell.user_ns["bad"].logs(), "the variable named holds the run, with its logs"


def test_failed_wait_names_the_card_only_when_the_card_is_shown(shell: InteractiveShell) -> None:
    shell.run_line_magic("config", "JobMagic.show_cards = True")
    message = _failure(shell, "sandbox:demo:fail --wait --timeout 60 -o bad", "# no params\n")
    assert "See its logs with bad.logs() or the card's Logs panel." in message
    # -q shows no card: the advice does not point to one.
    quiet = _failure(shell, "sandbox:demo:fail --wait --timeout 60 -q -o bad2", "# none\n")
    assert "bad2.logs()" in quiet and "card" not in quiet


def test_failed_wait_without_o_names_no_variable_but_a_way_back(shell: InteractiveShell) -> None:
    message = _failure(shell, "sandbox:demo:fail --wait --timeout 60")
    assert "run.logs()" not in message and "card" not in message
    expression = message.split("See its logs with ", 1)[1].removesuffix(".")
    assert expression.startswith("jobmagic.attach('fail-")
    # The advice is Python that works as written, in the user's own namespace.
    shell.run_cell("import jobmagic")
    logs = shell.ev(expression)
    assert any("something went wrong" in line.log for line in logs)


def test_failed_rerun_wait_shows_no_card_to_point_to(shell: InteractiveShell) -> None:
    shell.run_line_magic("config", "JobMagic.show_cards = True")
    first = shell.run_line_magic("trigger_job", "sandbox:demo:fail")
    first.wait(timeout=60)
    with pytest.raises(UsageError) as caught:
        shell.run_line_magic(
            "job_rerun", f"{first.name} --app sandbox:demo:fail --wait --timeout 60 -o again"
        )
    assert "See its logs with again.logs()." in str(caught.value)


def test_ctrl_c_names_the_o_variable(shell: InteractiveShell) -> None:
    threading.Timer(2.0, _thread.interrupt_main).start()
    message = _failure(shell, "sandbox:demo:sleep --wait -o nap", "seconds: 60\n")
    assert "still" in message and "on the server" in message
    assert "Terminate it with nap.terminate(), or add --cancel-on-interrupt" in message
    assert "-o run" not in message and "card" not in message
    shell.user_ns["nap"].terminate()


def test_timeout_names_the_o_variable(shell: InteractiveShell) -> None:
    message = _failure(shell, "sandbox:demo:sleep --wait --timeout 1 -o nap", "seconds: 60\n")
    assert "Wait again with nap.wait(), or stop it with nap.terminate()." in message
    shell.user_ns["nap"].terminate()


def test_failed_sweep_names_its_variable_and_the_board(shell: InteractiveShell) -> None:
    message = _failure(
        shell, "sandbox:demo:train --grid --wait --timeout 60 -o scan", "epochs: [1, x]\n"
    )
    assert "1 of 2 runs did not finish" in message
    scan = shell.user_ns["scan"]
    failed = next(i for i, handle in enumerate(scan) if handle.params["epochs"] == "x")
    assert f"with scan[{failed}].logs() (any run's: Open card on the board)." in message
    assert "run.logs()" not in message


# -- (3) plot legends that name runs, equal curves apart, whole steps --------------------------


def _legend(ax: Any) -> Any:
    legend = ax.get_legend()
    assert legend is not None, "the plot has a legend"
    return legend


def _formatted(shell: InteractiveShell, obj: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the notebook shows for ``obj``: the shell's own display formatter's bundle."""
    assert shell.display_formatter is not None
    return shell.display_formatter.format(obj)


def _finished(shell: InteractiveShell, *assignments: str) -> list[Any]:
    runs = [shell.run_line_magic("trigger_job", f"sandbox:demo:train {a}") for a in assignments]
    for run in runs:
        assert run.wait(timeout=60).status == RunStatus.FINISHED
    return runs


def test_plot_metric_names_each_run_keeps_equal_curves_apart_and_ticks_whole_steps(
    shell: InteractiveShell,
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    runs = _finished(shell, "lr=0.1 epochs=2", "lr=0.1 epochs=2", "lr=0.05 epochs=2")
    figure = jobmagic.plot_metric(runs, "loss", color_by="lr")
    ax = figure.axes[0]
    legend = [text.get_text() for text in _legend(ax).get_texts()]
    assert legend == [f"{run.name} · lr={run.params['lr']}" for run in runs]
    lines = ax.get_lines()
    # The two lr=0.1 runs draw the same curve in the same colour: style and marker differ.
    assert lines[0].get_color() == lines[1].get_color()
    assert np.array_equal(np.asarray(lines[0].get_ydata()), np.asarray(lines[1].get_ydata()))
    assert (lines[0].get_linestyle(), lines[0].get_marker()) != (
        lines[1].get_linestyle(),
        lines[1].get_marker(),
    )
    assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == len(runs)
    # Two steps: matplotlib's own ticks would be 1.0, 1.2, ..., 2.0; whole numbers only.
    FigureCanvasAgg(figure).draw()
    low, high = ax.get_xlim()
    ticks = [tick for tick in ax.get_xticks() if low <= tick <= high]
    assert ticks and all(float(tick).is_integer() for tick in ticks), ticks
    # Without color_by the legend is the runs' names.
    plain = jobmagic.plot_metric(runs, "loss").axes[0]
    assert [t.get_text() for t in _legend(plain).get_texts()] == [r.name for r in runs]


# -- (4) a list of runs shows as a short table ----------------------------------------------


def test_sweep_wait_returns_a_list_that_shows_as_a_short_table(shell: InteractiveShell) -> None:
    sweep = jobmagic.sweep(
        "sandbox:demo:hello", grid={"name": [f"n{i}" for i in range(12)]}, concurrency=12
    )
    runs = sweep.wait(timeout=120)
    assert isinstance(runs, list) and len(runs) == 12 and runs == list(runs)
    assert all(run.status == RunStatus.FINISHED for run in runs)
    text = _formatted(shell, runs)[0]["text/plain"]
    lines = text.splitlines()
    assert len(lines) == 1 + 10 + 1 + 1, text  # header, 5 head + 5 tail, "...", the count
    assert lines[0].split() == ["name", "status", "duration", "exit", "error"]
    assert lines[1].split()[:4] == ["0", runs[0].name, "FINISHED", lines[1].split()[3]]
    assert lines[6].split()[0] == "..." and lines[-1] == "[12 rows]"
    assert "JobRun(" not in text and runs[-1].name in lines[-2]
    page = _formatted(shell, runs)[0]["text/html"]
    assert page.count("<tr>") == 1 + 11 and "[12 rows]" in page and "#2e7d32" in page
    assert isinstance(runs[:3], list) and repr(runs[:3]).endswith("[3 rows]")
    assert repr(sweep.refresh()).endswith("[12 rows]")


def test_handle_logs_show_as_lines_of_text(shell: InteractiveShell) -> None:
    (run,) = _finished(shell, "lr=0.1 epochs=3")
    logs = run.logs()
    text = _formatted(shell, logs)[0]["text/plain"]
    assert "LogLine(" not in text and len(text.splitlines()) <= 1 + 1 + 11
    assert all(f"epoch={i} loss=" in text for i in (1, 2, 3))
