"""The magics and the client, through a real InteractiveShell, over real HTTP to the sandbox."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jobmagic.api import JobsClient, TriggerOutcomeUnknown
from jobmagic.ledger import Ledger
from jobmagic.models import JobRun, RunStatus
from jobmagic.sandbox import Fault, SandboxServer

HELLO_APP = "app-sandbox-demo-hello"


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
    ip.run_line_magic("config", "JobMagic.show_cards = False")
    yield ip
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


def _app_id(sandbox: SandboxServer, fqn: str) -> str:
    with JobsClient(sandbox.host, sandbox.token) as client:
        return client.find_app(fqn).id


def test_cell_magic_triggers_waits_and_sends_params_as_written(
    shell: InteractiveShell, sandbox: SandboxServer
) -> None:
    shell.user_ns["who"] = "Ada"
    shell.run_cell_magic(
        "trigger_job", "sandbox:demo:hello --wait --timeout 60 -o run", "name: {{ who }}\n"
    )
    run = shell.user_ns["run"]
    assert run.status == RunStatus.FINISHED
    assert run.params == {"name": "Ada"}
    assert any("hello Ada" in line.log for line in run.logs())


def test_one_line_form_returns_the_handle(shell: InteractiveShell) -> None:
    handle = shell.run_line_magic("trigger_job", "sandbox:demo:hello name=Grace")
    assert handle.params == {"name": "Grace"}
    assert handle.wait(timeout=60).status == RunStatus.FINISHED


def test_bad_body_sends_nothing(shell: InteractiveShell, sandbox: SandboxServer) -> None:
    sandbox.reset_stats()
    for body in ("lr: [1\n", "LR: 1\n", "a: 1\na: 2\n", "x: {{ nope }}\n", "- 1\n"):
        with pytest.raises(UsageError):
            shell.run_cell_magic("trigger_job", "sandbox:demo:hello", body)
    with pytest.raises(UsageError, match="either a command or params"):
        shell.run_cell_magic("trigger_job", "sandbox:demo:hello -c 'echo hi'", "name: x\n")
    with pytest.raises(UsageError, match="exactly one job"):
        shell.run_cell_magic("trigger_job", "--wait", "name: x\n")
    assert sandbox.stats().get("trigger", 0) == 0


def test_grid_sends_the_cartesian_product(shell: InteractiveShell, sandbox: SandboxServer) -> None:
    sandbox.reset_stats()
    shell.run_cell_magic(
        "trigger_job",
        "sandbox:demo:train --grid --concurrency 2 -o runs",
        "lr: [0.1, 0.2]\nepochs: [1, 2, 3]\n",
    )
    runs = shell.user_ns["runs"]
    assert sorted((r.params["lr"], r.params["epochs"]) for r in runs) == [
        (lr, ep) for lr in ("0.1", "0.2") for ep in ("1", "2", "3")
    ]
    assert sandbox.stats()["trigger"] == 6


def test_dry_run_masks_token_and_sends_nothing(
    shell: InteractiveShell, sandbox: SandboxServer
) -> None:
    sandbox.reset_stats()
    shell.run_cell_magic("trigger_job", "sandbox:demo:hello --dry-run -o req", "name: Ada\n")
    text = shell.user_ns["req"].text()
    assert "POST" in text and '"name": "Ada"' in text
    assert sandbox.token not in text
    assert sandbox.stats().get("trigger", 0) == 0


def test_failed_wait_fails_the_cell(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="FAILED with exit code 3"):
        shell.run_line_magic("trigger_job", "sandbox:demo:fail --wait --timeout 60")


def test_trigger_is_sent_once_on_500_and_drop(sandbox: SandboxServer, isolated_home: Path) -> None:
    with JobsClient(sandbox.host, sandbox.token) as client:
        app = client.find_app("sandbox:demo:hello")
        sandbox.reset_stats()
        # The run was created before the 500: a 5xx leaves the outcome unknown, never "rejected".
        sandbox.set_faults(Fault.status(500, "trigger", after=True))
        with pytest.raises(TriggerOutcomeUnknown) as lost:
            client.trigger(deployment_id=app.deployment_id)
        assert lost.value.status_code == 500
        assert sandbox.stats()["trigger"] == 1
        sandbox.reset_stats()
        sandbox.set_faults(Fault.drop("trigger", after=True))
        with pytest.raises(TriggerOutcomeUnknown):
            client.trigger(deployment_id=app.deployment_id)
        assert sandbox.stats()["trigger"] == 1
        sandbox.reset_stats()
        sandbox.set_faults(Fault.rate_limit("trigger", retry_after=0))
        result = client.trigger(deployment_id=app.deployment_id)
        assert sandbox.stats()["trigger"] == 2
        assert result.job_run_name
        sandbox.clear_faults()
        sandbox.set_faults(Fault.status(503, "get_run", times=2))
        assert client.get_run(app.id, result.job_run_name).name == result.job_run_name


def test_job_runs_lists_this_session(shell: InteractiveShell) -> None:
    shell.run_line_magic("trigger_job", "sandbox:demo:hello name=Ada -o r")
    shell.user_ns["r"].wait(timeout=60)
    shell.run_line_magic("job_runs", "--refresh -o df")
    df = shell.user_ns["df"]
    assert list(df["params.name"]) == ["Ada"]
    assert str(df["status"].iloc[0]) == "FINISHED"


def test_load_ext_defers_heavy_imports() -> None:
    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'jobmagic')\n"
        "print([m for m in ('pandas', 'httpx', 'ipywidgets') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_load_ext_defers_the_session_and_everything_behind_it() -> None:
    """Loading registers magics and a completer; the session, the engine, the tracker,
    the API's models (their dataclasses), the views and the completion module come with the
    first magic, display or TAB that needs them."""
    deferred = (
        "jobmagic.ipython.completion",
        "jobmagic.ipython.views",
        "jobmagic.domain.session",
        "jobmagic.domain.engine",
        "jobmagic.domain.tracker",
        "jobmagic.domain.handle",
        "jobmagic.models.jobs",
        "jobmagic.ledger",
        "jobmagic.params",
        "jobmagic.widgets",
    )
    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\nshell.run_line_magic('load_ext', 'jobmagic')\n"
        f"print([m for m in {deferred!r} if m in sys.modules])\n"
        # Help still works, from the parser it builds on demand.
        "print('--grid' in shell.find_line_magic('trigger_job').__doc__)\n"
        "print(type(shell.find_line_magic('trigger_job').__self__.session).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:3] == ["[]", "True", "JobSession"]


def test_alias_quiet_and_logs(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell_magic(
        "trigger_job",
        "sandbox:demo:train --alias nightly -q --wait --logs --timeout 60 -o run",
        "epochs: 2\n",
    )
    run = shell.user_ns["run"]
    assert run.name.startswith("nightly-")
    printed = capsys.readouterr().out
    assert "epoch=1" in printed and "epoch=2" in printed


def test_ctrl_c_with_cancel_on_interrupt_terminates(shell: InteractiveShell) -> None:
    import _thread
    import threading

    threading.Timer(2.0, _thread.interrupt_main).start()
    with pytest.raises(UsageError, match=r"asked \S+ to terminate"):
        shell.run_cell_magic(
            "trigger_job", "sandbox:demo:sleep --wait --cancel-on-interrupt -o run", "seconds: 60\n"
        )
    shell.run_line_magic("job_runs", "--refresh -o df")
    df = shell.user_ns["df"]
    assert list(df["params.seconds"]) == ["60"]
    assert str(df["status"].iloc[0]) in {"TERMINATION_REQUESTED", "TERMINATING", "TERMINATED"}


def test_wait_timeout_fails_the_cell_and_keeps_the_run(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="after 1 s; it keeps going"):
        shell.run_cell_magic(
            "trigger_job", "sandbox:demo:sleep --wait --timeout 1 -o run", "seconds: 60\n"
        )
    assert not shell.user_ns["run"].run.is_terminal
    shell.user_ns["run"].terminate()


def test_ctrl_c_without_cancel_says_how_to_terminate(shell: InteractiveShell) -> None:
    import _thread
    import threading

    threading.Timer(2.0, _thread.interrupt_main).start()
    with pytest.raises(UsageError, match=r"still \S+ on the server"):
        shell.run_cell_magic("trigger_job", "sandbox:demo:sleep --wait -o run", "seconds: 60\n")
    run = shell.user_ns["run"]
    assert not run.refresh().is_terminal
    run.terminate()


_EARLIER_KERNEL = """
import sys
from IPython.core.interactiveshell import InteractiveShell

ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "jobmagic")
ip.run_line_magic("config", f"JobMagic.ledger_path = {sys.argv[1]!r}")
ip.run_line_magic("config", "JobMagic.show_cards = False")
ip.run_cell_magic("trigger_job", "sandbox:demo:hello --wait --timeout 60", "name: Old\\n")
try:
    ip.run_line_magic("trigger_job", "sandbox:demo:fail --wait --timeout 60")
except Exception:
    pass  # the cell fails, as it should: the run FAILED
ip.run_line_magic("trigger_job", "sandbox:demo:sleep seconds=30")  # left running
"""


def test_job_runs_all_lists_an_earlier_kernels_runs_with_their_params(
    shell: InteractiveShell, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    subprocess.run(
        [sys.executable, "-c", _EARLIER_KERNEL, str(ledger)],
        check=True,
        capture_output=True,
        timeout=120,
    )  # that kernel is gone now
    # The boards below follow their live runs; polled rarely, their ticks cannot land in
    # the windows where this test counts the magic's own list calls.
    shell.run_line_magic("config", "JobMagic.poll_interval = 60")

    shell.run_line_magic("job_runs", "-o mine")
    assert len(shell.user_ns["mine"]) == 0  # this session triggered nothing

    shell.run_line_magic("job_runs", "--all -o df")
    df = shell.user_ns["df"]
    assert sorted(df["application_name"]) == ["fail", "hello", "sleep"]
    assert df.set_index("application_name").loc["hello", "params.name"] == "Old"
    assert df.set_index("application_name").loc["sleep", "params.seconds"] == "30"

    shell.run_line_magic("job_runs", "--all --status FAILED -o failed")
    assert list(shell.user_ns["failed"]["application_name"]) == ["fail"]
    assert list(shell.user_ns["failed"]["exit_code"]) == [3]

    # The boards above follow the live run: their tracker's first tick (at once) must be
    # over before a count starts; after it, the tracker sleeps for the 60 s interval.
    tracker = shell.find_line_magic("job_runs").__self__.session.tracker
    deadline = time.monotonic() + 30
    while not tracker.idle and time.monotonic() < deadline:
        time.sleep(0.05)
    # --refresh asks only about live runs (the sleep), and only about what will be shown
    # (a table: a new board would start a tick of its own, racing this count).
    sandbox.reset_stats()
    shell.run_line_magic("job_runs", "--all --refresh --table -o refreshed")
    assert sandbox.stats()["list_runs"] == 1
    sandbox.reset_stats()
    shell.run_line_magic("job_runs", "--all --refresh --limit 1 --app sandbox:demo:hello")
    assert sandbox.stats()["list_runs"] == 0

    # The sleep run ends after that kernel died; --refresh sees it, and --status filters on
    # the fresh statuses, not the stale ones in the ledger.
    sleeper = df.set_index("application_name").loc["sleep", "name"]
    app_id = _app_id(sandbox, "sandbox:demo:sleep")
    with JobsClient(sandbox.host, sandbox.token) as client:
        client.terminate(client.find_app("sandbox:demo:sleep").deployment_id, sleeper)
        deadline = time.monotonic() + 30
        while not client.get_run(app_id, sleeper).is_terminal:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    shell.run_line_magic("job_runs", "--all --refresh --status TERMINATED -o stopped")
    assert list(shell.user_ns["stopped"]["name"]) == [sleeper]

    shell.run_line_magic("job_runs", "--all --app sandbox:demo:hello -o hello")
    assert list(shell.user_ns["hello"]["params.name"]) == ["Old"]
    shell.run_line_magic("job_runs", "--all --limit 1 -o newest")
    assert list(shell.user_ns["newest"]["application_name"]) == ["sleep"]
    shell.run_line_magic("job_runs", "--all --since 2000-01-01 -o since")
    assert len(shell.user_ns["since"]) == 3
    shell.run_line_magic("job_runs", "--all --since 1m -o recent")
    assert len(shell.user_ns["recent"]) == 3

    # A run of an application the server no longer knows keeps its stored status.
    with Ledger(ledger) as book:
        ghost = book.record_attempt(host=sandbox.host, target="gone", application_id="app-gone")
        book.record_acknowledged(ghost, JobRun(name="ghost-1", status=RunStatus.RUNNING))
    shell.run_line_magic("job_runs", "--all --refresh -o with_ghost")
    ghosts = shell.user_ns["with_ghost"].set_index("name").loc["ghost-1"]
    assert ghosts["status"] == "RUNNING"

    styled = shell.run_line_magic("job_runs", "--all --table")
    html = styled.to_html()
    assert "hello" in html and "#c62828" in html  # the FAILED card badge's colour
