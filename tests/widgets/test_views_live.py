"""Every view of a run stays live, and its saved copies follow it (issue 11).

Through a real InteractiveShell over real HTTP to the sandbox. The shell's display publisher
is IPython's capturing one, which records each output's ``display_id`` and whether it was an
update — what a notebook front end receives — so the tests read what a saved notebook keeps.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jobmagic.api import JobsClient
from jobmagic.domain import engine
from jobmagic.domain.handle import RunHandle
from jobmagic.domain.progress import ProgressPrinter, sweep_progress_text
from jobmagic.errors import error_for_response
from jobmagic.frames import plot_timeline
from jobmagic.models import JobRun, RunStatus
from jobmagic.sandbox import SandboxServer
from jobmagic.widgets import RunsBoard
from jobmagic.widgets.card import RunCard
from jobmagic.widgets.live import LiveOutput, live_outputs
from tests.widgets.fakes import FakeSource

DEADLINE = 60.0
WIDGET = "application/vnd.jupyter.widget-view+json"


def _until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def shell(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("TFY_HOST", sandbox.host)
    monkeypatch.setenv("TFY_API_KEY", sandbox.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jobmagic")
    ip.run_line_magic("config", f"JobMagic.ledger_path = {str(tmp_path / 'ledger.db')!r}")
    ip.run_line_magic("config", "JobMagic.poll_interval = 0.2")
    yield ip
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


@pytest.fixture
def frontend(shell: InteractiveShell) -> Iterator[CapturingDisplayPublisher]:
    """A display publisher that keeps every output, as a notebook front end would."""
    original = shell.display_pub
    publisher = CapturingDisplayPublisher()
    shell.display_pub = publisher
    yield publisher
    shell.display_pub = original


def _saved(publisher: CapturingDisplayPublisher) -> dict[str, dict[str, Any]]:
    """display_id -> the bundle a saved notebook keeps (the last one sent for that id)."""
    kept: dict[str, dict[str, Any]] = {}
    for output in publisher.outputs:
        display_id = (output.get("transient") or {}).get("display_id")
        if display_id and (output["update"] or display_id not in kept):
            kept[display_id] = output["data"]
    return kept


def _ids_showing(publisher: CapturingDisplayPublisher, name: str) -> list[str]:
    return [i for i, data in _saved(publisher).items() if name in data.get("text/html", "")]


# --- many views of one run ------------------------------------------------------------------


def test_a_card_two_boards_and_the_table_all_follow_one_run_to_its_end(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher, sandbox: SandboxServer
) -> None:
    shell.run_cell("%%trigger_job sandbox:demo:sleep -o s\nseconds: 1\n")
    handle: RunHandle = shell.user_ns["s"]
    shell.run_cell("b1 = %job_runs\nb1")
    shell.run_cell("b2 = %job_runs\nb2")
    boards: list[RunsBoard] = [shell.user_ns["b1"], shell.user_ns["b2"]]
    # The boards show the card's own handle: one run, however many views.
    assert all(board.sources == [handle] for board in boards)
    assert len(_ids_showing(frontend, handle.name)) == 3
    _until(lambda: handle.run.is_terminal, "the run to end")
    # Widgets follow by themselves (the tracker's thread); no view silenced another.
    _until(
        lambda: all(b.counts == {"FINISHED": 1} for b in boards),
        "both boards to say finished",
    )
    shell.run_cell("pass")  # a cell's end re-sends what changed between cells
    saved = _saved(frontend)
    ids = _ids_showing(frontend, handle.name)
    assert len(ids) == 3
    for display_id in ids:
        assert "FINISHED" in saved[display_id]["text/html"]
        plain = saved[display_id]["text/plain"]
        assert "FINISHED" in plain or "1 run: 1 FINISHED" in plain
    card = saved[ids[0]]
    assert "Status: </span>" in card["text/html"] and "Exit code: 0" in card["text/html"]
    assert "exit 0" in card["text/plain"]
    # Nothing is followed once every view shows an ended run, and nothing is polled.
    assert not [o for o in live_outputs() if o.display_id in ids]
    _until(lambda: not shell.magics_manager.registry["JobMagics"].session.tracker.watched, "idle")
    text = shell.run_line_magic("jobmagic", "").text()
    assert "runs this session  1" in text  # runs, not views


def test_a_sweeps_board_is_followed_to_the_end(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    shell.run_cell("%%trigger_job sandbox:demo:hello --grid -o runs\nname: [Ada, Bo]\n")
    handles: list[RunHandle] = shell.user_ns["runs"]
    (board_id,) = [i for i, d in _saved(frontend).items() if "Triggered 2 of 2" in d["text/plain"]]
    _until(lambda: all(h.run.is_terminal for h in handles), "the sweep to end")
    shell.run_cell("pass")
    saved = _saved(frontend)[board_id]
    assert saved["text/plain"].endswith("2 runs: 2 FINISHED")
    # Still the live board where widgets run: the widget alone, the output after its copy.
    ids = [(o.get("transient") or {}).get("display_id") for o in frontend.outputs]
    assert WIDGET in frontend.outputs[ids.index(board_id) + 1]["data"] and WIDGET not in saved


def test_a_sweep_waited_on_in_a_terminal_prints_a_few_progress_lines(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    started = time.monotonic()
    shell.run_cell_magic("trigger_job", "sandbox:demo:train --grid --wait", "epochs: [1, 2]\n")
    elapsed = time.monotonic() - started
    printed = capsys.readouterr().out.splitlines()
    lines = [line for line in printed if line.startswith("2 runs · ")]  # the progress lines
    # At most one line per 5 s, plus the first and the last: never one per poll (5 a second).
    assert 1 <= len(lines) <= elapsed / 5 + 2
    assert lines[-1].startswith("2 runs · 2 FINISHED")


def test_a_wait_that_timed_out_leaves_a_line_that_still_follows_the_run(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    result = shell.run_cell("%trigger_job sandbox:demo:sleep --wait --timeout 0.5 seconds=1")
    assert "still" in str(result.error_in_exec)  # the wait gave up; the run goes on
    (line_id,) = [
        i for i, d in _saved(frontend).items() if "jobmagic-status-line" in d["text/html"]
    ]
    handle = shell.magics_manager.registry["JobMagics"].session.handles[-1]
    _until(lambda: handle.run.is_terminal, "the run to end")
    shell.run_cell("pass")
    assert "FINISHED" in _saved(frontend)[line_id]["text/plain"]


def test_with_cards_off_the_static_copy_still_follows_the_run(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    shell.run_cell("%%trigger_job sandbox:demo:hello -o h\nname: Ada\n")
    handle: RunHandle = shell.user_ns["h"]
    (copy_id,) = _ids_showing(frontend, handle.name)
    assert WIDGET not in _saved(frontend)[copy_id]
    _until(lambda: handle.run.is_terminal, "the run to end")
    shell.run_cell("pass")
    assert "FINISHED" in _saved(frontend)[copy_id]["text/html"]


def test_closing_one_view_leaves_the_others_live(shell: InteractiveShell) -> None:
    handle = shell.run_line_magic("trigger_job", "sandbox:demo:sleep seconds=1")
    first, second = RunsBoard([handle]), RunsBoard([handle])
    assert first.subscriptions == second.subscriptions == 1
    first.close()
    assert first.subscriptions == 0 and second.subscriptions == 1
    _until(lambda: second.counts == {"FINISHED": 1}, "the open board to say finished")
    assert first.runs[0].status != RunStatus.FINISHED  # the closed one stopped listening


def test_the_last_view_leaving_stops_the_polling(shell: InteractiveShell) -> None:
    handle = shell.run_line_magic("trigger_job", "sandbox:demo:sleep seconds=30")
    tracker = shell.magics_manager.registry["JobMagics"].session.tracker
    board = RunsBoard([handle])
    assert handle in tracker.watched
    board.close()
    assert handle not in tracker.watched
    handle.terminate()


def test_the_tracker_keeps_every_handle_of_a_run_current(
    shell: InteractiveShell, sandbox: SandboxServer
) -> None:
    session = shell.magics_manager.registry["JobMagics"].session
    first = shell.run_line_magic("trigger_job", "sandbox:demo:sleep seconds=1")
    # A second handle of the same run, as an attached card would make.
    second = session.attach(first.name, _target(first))
    seen: list[str] = []
    unsubscribe_a = first.subscribe(lambda run, _stale: seen.append(f"a {run.status}"))
    unsubscribe_b = second.subscribe(lambda run, _stale: seen.append(f"b {run.status}"))
    _until(lambda: first.run.is_terminal and second.run.is_terminal, "both handles to end")
    unsubscribe_a()
    unsubscribe_b()
    assert "a FINISHED" in seen and "b FINISHED" in seen


def _target(handle: RunHandle) -> Any:
    from jobmagic.domain.target import Target

    return Target(application_id=handle.application_id)


def test_a_forms_saved_copy_lists_its_runs_as_they_end(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    from jobmagic.domain.target import Target
    from jobmagic.models import ParamSpec
    from jobmagic.widgets import TriggerFormView

    session = shell.magics_manager.registry["JobMagics"].session

    def submit(values: Any, command: str | None) -> RunHandle:
        return engine.trigger(session, Target("sandbox:demo:hello"), values)

    form = TriggerFormView([ParamSpec("name", default="Ada")], on_submit=submit, card=RunCard)
    form._ipython_display_()
    form.trigger_button.click()
    _until(lambda: form.history and form.history[0].run.is_terminal, "the form's run to end")
    shell.run_cell("pass")
    saved = _saved(frontend)[form.display_id]
    assert form.history[0].name in saved["text/html"]
    assert "FINISHED" in saved["text/html"] and "FINISHED" in saved["text/plain"]
    form.close()


# --- saved copies: when updates are sent ---------------------------------------------------


class _View:
    def __init__(self) -> None:
        self.status = "RUNNING"

    def bundle(self) -> dict[str, Any]:
        return {"text/plain": self.status, "text/html": f"<b>{self.status}</b>"}

    def live(self) -> LiveOutput:
        return LiveOutput(self.bundle, lambda: self.status, lambda: self.status == "FINISHED")


def test_a_change_between_cells_is_sent_again_at_the_next_cells_end(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    view = _View()
    output = view.live()
    output.show()
    assert output.following
    view.status = "FINISHED"
    # Between cells (a tracker tick): Lab takes it at once, nbclient would drop it.
    assert output.push()
    assert output.following  # not yet delivered to a notebook client
    shell.run_cell("1 + 1")
    assert not output.following  # sent during a cell, and the view is final: forgotten
    updates = [o for o in frontend.outputs if o["update"]]
    assert [o["data"]["text/plain"] for o in updates] == ["FINISHED", "FINISHED"]
    assert {o["transient"]["display_id"] for o in updates} == {output.display_id}
    shell.run_cell("2 + 2")
    assert len([o for o in frontend.outputs if o["update"]]) == 2  # nothing more to send


def test_an_unchanged_view_sends_nothing(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    output = _View().live()
    output.show()
    assert not output.push()
    shell.run_cell("pass")
    assert not [o for o in frontend.outputs if o["update"]]


def test_a_busy_view_spaces_out_its_updates_but_never_holds_back_the_last(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    view = _View()
    output = LiveOutput(
        view.bundle, lambda: view.status, lambda: view.status == "FINISHED", min_interval=5.0
    )
    output.show()
    view.status = "RUNNING 1"
    assert output.push()
    view.status = "RUNNING 2"
    assert not output.push()  # too soon: a timer sends it
    _until(lambda: output.updates == 2, "the held-back update")
    view.status = "RUNNING 3"
    assert not output.push()
    view.status = "FINISHED"
    assert output.push()  # the final state goes at once
    updates = [o["data"]["text/plain"] for o in frontend.outputs if o["update"]]
    assert updates[:2] == ["RUNNING 1", "RUNNING 2"] and updates[-1] == "FINISHED"
    output.forget()


def test_a_terminal_ipython_gets_no_updates(shell: InteractiveShell) -> None:
    # IPython's plain publisher prints every update again: none must be sent there.
    view = _View()
    output = view.live()
    output.show()
    assert not output.following
    view.status = "FINISHED"
    assert not output.push()


# --- errors that carry their reason ------------------------------------------------------------


def test_a_failed_run_fails_the_cell_with_its_name_and_exit_code_and_no_traceback(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell("%trigger_job sandbox:demo:fail --wait --timeout 60")
    error = result.error_in_exec
    assert isinstance(error, UsageError)
    message = str(error)
    assert "ended FAILED with exit code 3" in message and "fail-" in message
    assert "sandbox:demo:fail" in message
    # What a kernel sends as the cell's error (papermill's and nbclient's message): the text.
    assert error._render_traceback_() == [f"UsageError: {message}"]  # type: ignore[attr-defined]
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    assert message in printed.out


def test_params_after_flags_are_sent(shell: InteractiveShell) -> None:
    handle = shell.run_line_magic("trigger_job", "sandbox:demo:hello --wait --timeout 60 name=Ada")
    assert handle.params == {"name": "Ada"}
    assert handle.status == RunStatus.FINISHED
    handle = shell.run_line_magic("trigger_job", "name=Bo sandbox:demo:hello")
    assert handle.params == {"name": "Bo"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # The body starts on the cell's line 2: line 3 is the body's second line.
        ("epochs: 2\nlr: [0.1, 0.2\nname: x\n", "line 3, column 5: this `[` is not closed"),
        ("epochs: 2\nepochs: 3\n", "line 3, column 1: `epochs` is given twice (first on line 2)"),
        ("epochs: 2\ncfg: {a: 1\nname: x\n", "line 3, column 6: this `{` is not closed"),
    ],
)
def test_body_errors_use_the_cells_line_numbers(
    shell: InteractiveShell, body: str, expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        shell.run_cell_magic("trigger_job", "sandbox:demo:train", body)
    assert expected in str(caught.value)
    assert "separated by commas" not in str(caught.value)


def test_each_detail_of_a_422_appears_once(sandbox: SandboxServer) -> None:
    from jobmagic.api import ValidationError

    with JobsClient(sandbox.host, sandbox.token) as client:
        app = client.find_app("sandbox:demo:hello")
        with pytest.raises(ValidationError) as caught:
            client.trigger(application_id=app.id, params={"nope": "1", "name": "x"})
    message = str(caught.value)
    assert caught.value.details  # the server did send details…
    assert message.count("input.params.nope") == 1  # …and the message says each once
    assert message.count("is not a param of hello") == 1


def test_details_the_message_does_not_say_are_kept_once() -> None:
    details = [{"field": "lr", "message": "too big"}, {"field": "lr", "message": "too big"}]
    error = error_for_response(
        422, {"message": "Validation failed", "details": details}, method="POST", path="/x"
    )
    assert str(error).count("lr: too big") == 1


# --- %job_runs: one look for the same facts ------------------------------------------------------


def test_job_runs_table_asks_for_live_statuses_unless_stored(
    shell: InteractiveShell, sandbox: SandboxServer
) -> None:
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    handle = shell.run_line_magic("trigger_job", "sandbox:demo:fail")  # not displayed: no views
    with JobsClient(sandbox.host, sandbox.token) as client:
        _until(
            lambda: client.get_run(handle.application_id, handle.name).is_terminal, "the failure"
        )
    shell.run_line_magic("job_runs", "--stored --table -o stored")
    assert list(shell.user_ns["stored"]["status"]) == ["CREATED"]  # as the ledger had it
    sandbox.reset_stats()
    styled = shell.run_line_magic("job_runs", "--table -o fresh")
    assert list(shell.user_ns["fresh"]["status"]) == ["FAILED"]
    assert sandbox.stats().get("list_runs", 0) == 1  # one list call for the application
    html = styled.to_html()
    assert "var(--jp-error-color1, #c62828)" in html  # the FAILED card badge's colour
    assert "white-space: nowrap" in html
    with pytest.raises(UsageError, match="use one of them"):
        shell.run_line_magic("job_runs", "--stored --refresh")


# --- progress for readers of text ------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_outside_a_terminal_is_a_line_every_few_seconds_not_per_poll() -> None:
    stream, clock = io.StringIO(), _Clock()
    printer = ProgressPrinter(stream, interval=5.0, clock=clock)
    for tick in range(100):  # 100 polls over 20 s
        clock.now = tick * 0.2
        printer.update(sweep_progress_text(["RUNNING", "FINISHED"], clock.now))
    printer.finish(sweep_progress_text(["FINISHED", "FINISHED"], clock.now))
    lines = stream.getvalue().splitlines()
    assert 4 <= len(lines) <= 6
    assert lines[0] == "2 runs · 1 RUNNING · 1 FINISHED · 0.0 s"
    assert lines[-1].startswith("2 runs · 2 FINISHED")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_changes_in_place() -> None:
    stream, clock = _Tty(), _Clock()
    printer = ProgressPrinter(stream, clock=clock)
    for second in range(5):
        clock.now = float(second)
        printer.update(f"train-x · RUNNING · {second}.0 s")
    printer.finish("train-x · FINISHED · 5.0 s · exit 0")
    out = stream.getvalue()
    assert out.count("\n") == 1 and out.endswith("exit 0\n")
    assert out.count("\r") == 6


def test_a_terminals_progress_line_is_cleared_before_log_lines() -> None:
    stream, clock = _Tty(), _Clock()
    printer = ProgressPrinter(stream, clock=clock)
    printer.update("train-x · RUNNING · 1.0 s")
    printer.interrupt()
    stream.write("epoch=1\n")
    printer.update("train-x · RUNNING · 1.0 s")  # written again under the log line
    blank = "\r" + " " * len("train-x · RUNNING · 1.0 s") + "\r"
    assert stream.getvalue() == (
        f"\rtrain-x · RUNNING · 1.0 s{blank}epoch=1\n\rtrain-x · RUNNING · 1.0 s"
    )


def test_progress_in_a_kernel_starts_each_line_with_a_carriage_return() -> None:
    stream, clock = io.StringIO(), _Clock()
    printer = ProgressPrinter(stream, kernel=True, clock=clock)
    printer.update("1 run · 1 running · 0.0 s")
    clock.now = 10.0
    printer.finish("1 run · 1 finished · 10.0 s")
    assert stream.getvalue() == "\r1 run · 1 running · 0.0 s\r1 run · 1 finished · 10.0 s\n"


# --- figures ------------------------------------------------------------------------------------


def test_plot_timeline_shows_itself_as_png_with_unique_labels() -> None:
    from IPython.core.formatters import PNGFormatter

    runs = [
        {"name": f"train-{i}", "status": "FINISHED", "createdAt": i * 1000, "duration": 5}
        | {"params": {"lr": "0.1" if i < 2 else "0.2", "epochs": str(i)}}
        for i in range(3)
    ]
    figure = plot_timeline(runs, label="lr")
    png = PNGFormatter()(figure)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["lr=0.1 · train-0", "lr=0.1 · train-1", "lr=0.2"]


# --- the sandbox serves the page the card links to ----------------------------------------------


def test_the_cards_link_opens_the_sandboxs_runs_page(shell: InteractiveShell) -> None:
    handle = shell.run_line_magic("trigger_job", "sandbox:demo:hello --wait name=<Ada>")
    assert handle.url is not None
    answer = httpx.get(handle.url, trust_env=False, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert handle.name in page and "Status: FINISHED" in page and "Exit code: 0" in page
    assert "name=&lt;Ada&gt;" in page and "<Ada>" not in page  # escaped
    assert "hello &lt;Ada&gt;" in page  # the logs' tail
    assert "script-src" not in answer.headers["content-security-policy"]
    other_host = httpx.get(handle.url, headers={"Host": "evil.example"}, trust_env=False)
    assert other_host.status_code == 404
    missing = httpx.get(handle.url.replace("hello", "nope"), trust_env=False)
    assert missing.status_code == 404 and "No job" in missing.text


def test_a_finished_run_shown_later_is_final_at_once(shell: InteractiveShell) -> None:
    run = JobRun(name="done-1", status=RunStatus.FINISHED, exit_code=0, application_id="app-x")
    board = RunsBoard([_StaticSource(run)])
    assert board.subscriptions == 0  # views of ended runs cost nothing per tick


class _StaticSource(FakeSource):
    def subscribe(self, callback: Any) -> Callable[[], None]:
        raise AssertionError("a view of an ended run must not subscribe")


def test_grid_out_holds_the_whole_sweep(shell: InteractiveShell) -> None:
    from jobmagic.domain.sweeps import SweepResult

    shell.run_cell("%%trigger_job sandbox:demo:hello --grid -q -o sweep\nname: [Ada, Bo]\n")
    sweep = shell.user_ns["sweep"]
    assert isinstance(sweep, SweepResult) and [h.params["name"] for h in sweep] == ["Ada", "Bo"]
    runs = sweep.wait(timeout=DEADLINE, progress=False)
    assert [run.status for run in runs] == [RunStatus.FINISHED, RunStatus.FINISHED]


def test_the_wait_line_ticks_its_duration_while_the_run_runs(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    shell.run_line_magic("trigger_job", "sandbox:demo:sleep seconds=3 --wait -o run")
    name = shell.user_ns["run"].name
    sent = [
        o["data"]["text/plain"]
        for o in frontend.outputs
        if "jobmagic-status-line" in o["data"].get("text/html", "")
        and o["data"]["text/plain"].startswith(f"{name} · RUNNING · ")
    ]
    seconds = [float(text.split(" · ")[2].removesuffix(" s")) for text in sent]
    # A 3 s run, re-sent about once a second: at least two RUNNING lines, each later than the
    # one before, however slow the machine (a slower one only ticks more often).
    assert len(seconds) >= 2 and seconds == sorted(seconds) and len(set(seconds)) == len(seconds)
