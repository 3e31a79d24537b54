"""Completion, help and "did you mean", through a real InteractiveShell and a real sandbox."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.completer import Completion, provisionalcompleter
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jobmagic.ipython.args import parsers
from jobmagic.ipython.args.help import HelpAction, flag_actions, positional_actions
from jobmagic.ipython.completion import JobCompleter, install
from jobmagic.ipython.extension import _DeferredCompleter
from jobmagic.sandbox import SandboxServer

#: Completion must answer within this even when the host does not: the completer waits at
#: most 1.5 s for a fetch; the rest is headroom for a loaded machine.
OFFLINE_BOUND_SECONDS = 5.0


def _start_shell(tmp_path: Path) -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jobmagic")
    ip.run_line_magic("config", f"JobMagic.ledger_path = {str(tmp_path / 'ledger.db')!r}")
    ip.run_line_magic("config", "JobMagic.show_cards = False")
    return ip


def _stop_shell(ip: InteractiveShell) -> None:
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


@pytest.fixture
def shell(
    shared_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("TFY_HOST", shared_sandbox.host)
    monkeypatch.setenv("TFY_API_KEY", shared_sandbox.token)
    # An empty working directory: IPython's file matcher then has nothing to add.
    monkeypatch.chdir(tmp_path)
    ip = _start_shell(tmp_path)
    yield ip
    _stop_shell(ip)


def _completions(ip: InteractiveShell, code: str) -> list[Completion]:
    """What a front end gets for the cursor at the end of ``code`` (ipykernel's path)."""
    with warnings.catch_warnings(), provisionalcompleter():
        warnings.simplefilter("ignore")
        return list(ip.Completer.completions(code, len(code)))


def _texts(ip: InteractiveShell, code: str) -> list[str]:
    return [c.text for c in _completions(ip, code)]


def test_completes_application_fqns_and_names_replacing_the_whole_word(
    shell: InteractiveShell,
) -> None:
    code = "%trigger_job sandbox:demo:he"
    (hello,) = _completions(shell, code)
    assert hello.text == "sandbox:demo:hello"
    # The whole FQN typed so far is replaced, although IPython's splitter breaks at ":".
    assert code[hello.start : hello.end] == "sandbox:demo:he"
    assert _texts(shell, "%%trigger_job sandbox:demo:t") == ["sandbox:demo:train"]
    assert _texts(shell, "run = %trigger_job he") == ["hello"]
    assert _texts(shell, "%job_runs --app sandbox:demo:sl") == ["sandbox:demo:sleep"]
    assert _texts(shell, 'import jobmagic\njobmagic.TriggerForm("sandbox:demo:fa') == [
        "sandbox:demo:fail"
    ]
    # The older API (ipykernel without experimental completions) agrees.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert shell.complete("", code, len(code)) == ("sandbox:demo:he", ["sandbox:demo:hello"])


def test_completes_the_flags_of_every_magic(shell: InteractiveShell) -> None:
    assert _texts(shell, "%trigger_job sandbox:demo:hello --wa") == ["--wait"]
    assert _texts(shell, "%job_runs --sta") == ["--status"]
    for name, parser in parsers.PARSERS.items():
        expected = {s for a in flag_actions(parser()) for s in a.option_strings if s[:2] == "--"}
        offered = set(_texts(shell, f"%{name} --"))
        assert offered == expected, name
    # A flag already given is not offered again; its value is completed instead.
    assert "--wait" not in _texts(shell, "%trigger_job sandbox:demo:hello --wait --")
    assert _texts(shell, "%job_runs --status FAI") == ["FAILED"]


def test_completes_the_targets_declared_params(shell: InteractiveShell) -> None:
    assert _texts(shell, "%trigger_job sandbox:demo:hello na") == ["name="]
    assert _texts(shell, "%trigger_job sandbox:demo:train --wait ") == ["lr=", "epochs="]
    assert _texts(shell, "%trigger_job sandbox:demo:train lr=0.1 ") == ["epochs="]
    assert _texts(shell, "%trigger_job sandbox:demo:train lr=0") == []  # a value: no guess
    # In a cell's body, as YAML keys, leaving out those already there.
    assert _texts(shell, "%%trigger_job sandbox:demo:train\nlr: 0.1\n") == ["epochs: "]


def test_completes_run_names_from_the_ledger(shell: InteractiveShell) -> None:
    hello = shell.run_line_magic("trigger_job", "sandbox:demo:hello name=Ada")
    sleeper = shell.run_line_magic("trigger_job", "sandbox:demo:fail")
    assert _texts(shell, "%job_run ")[:2] == [sleeper.name, hello.name]  # newest first
    assert _texts(shell, f"%job_run {hello.name[:4]}") == [hello.name]
    assert _texts(shell, "%job_run --app sandbox:demo:hello ") == [hello.name]
    hello.wait(timeout=60)
    sleeper.wait(timeout=60)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a host that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("host_kind", ["refused", "silent"])
def test_offline_completes_nothing_and_quickly(
    host_kind: str,
    silent_port: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    isolated_home: Path,
) -> None:
    port = silent_port if host_kind == "silent" else _closed_port()
    monkeypatch.setenv("TFY_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TFY_API_KEY", "tfy_offline-test-token")
    monkeypatch.chdir(tmp_path)
    ip = _start_shell(tmp_path)
    try:
        timings = []
        for _ in range(2):
            started = time.monotonic()
            texts = _texts(ip, "%trigger_job sandbox:demo:he")
            timings.append(time.monotonic() - started)
            assert not [t for t in texts if "sandbox" in t or "hello" in t]
        print(
            f"offline ({host_kind}) completion: first {timings[0]:.3f} s, then {timings[1]:.3f} s"
        )
        assert max(timings) < OFFLINE_BOUND_SECONDS
        # What needs no server still completes.
        assert _texts(ip, "%trigger_job sandbox:demo:hello --wa") == ["--wait"]
    finally:
        _stop_shell(ip)


def test_unload_removes_the_completer(shell: InteractiveShell, tmp_path: Path) -> None:
    def ours() -> list[object]:
        matchers = shell.Completer.custom_matchers
        return [m for m in matchers if getattr(m, "matcher_identifier", None) == "jobmagic"]

    assert len(ours()) == 1
    shell.run_line_magic("load_ext", "jobmagic")  # twice: still one
    assert len(ours()) == 1
    shell.run_line_magic("unload_ext", "jobmagic")
    assert ours() == []
    # One installed directly goes with the extension too.
    shell.run_line_magic("load_ext", "jobmagic")
    install(shell, lambda: shell.find_line_magic("trigger_job").__self__.session)
    assert len(ours()) == 2
    shell.run_line_magic("unload_ext", "jobmagic")
    assert ours() == []
    shell.run_line_magic("load_ext", "jobmagic")  # the fixture unloads it again


def test_the_completer_load_installs_is_ordered_and_named_as_a_job_completer() -> None:
    """%load_ext installs a stand-in that makes the JobCompleter at the first TAB; IPython
    must order it, and ``IPCompleter.disable_matchers`` name it, as the JobCompleter."""
    stand_in = _DeferredCompleter(lambda: pytest.fail("no session is needed")).matcher
    real = JobCompleter(lambda: pytest.fail("no session is needed")).matcher
    for attribute in ("matcher_api_version", "matcher_identifier", "matcher_priority"):
        assert getattr(stand_in, attribute) == getattr(real, attribute), attribute


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_lists_every_argument_and_flag_with_what_it_does(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, factory in parsers.PARSERS.items():
        parser = factory()
        doc = shell.find_magic(name).__doc__
        assert doc, name
        flat = _words(doc)
        for action in [*positional_actions(parser), *flag_actions(parser)]:
            assert action.help, f"%{name}: {action.option_strings or action.dest} has no help="
            assert _words(action.help) in flat, (name, action.help)
            for spelling in action.option_strings:
                assert re.search(rf"(^|[\s,\[]){re.escape(spelling)}\b", doc), (name, spelling)
        for action in flag_actions(parser):
            shows_default = not isinstance(action, HelpAction) and action.help
            if action.nargs == 0 and shows_default and "default" not in action.help.lower():
                assert f"{_words(action.help)} Default: off." in flat, (name, action.dest)
        # -h prints the same text instead of running the magic.
        capsys.readouterr()
        shell.run_line_magic(name, "-h")
        assert capsys.readouterr().out.strip() == doc.strip(), name


def test_question_mark_shows_the_generated_help(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell("%%trigger_job?")
    shown = capsys.readouterr().out
    assert "--wait, -w" in shown and "Block until the run ends" in shown
    assert "Default: JobMagic.concurrency" in _words(shown)
    shell.run_cell("%job_runs?")
    assert "--status S [S ...]" in capsys.readouterr().out
    # -h in a cell magic's line shows help and sends nothing.
    shell.run_cell_magic("trigger_job", "sandbox:demo:hello --help", "name: Ada\n")
    assert "Usage: %trigger_job" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("target", "suggested"),
    [
        ("sandbox:demo:helo", "sandbox:demo:hello"),  # a typo in the name
        ("sandbox:dmo:hello", "sandbox:demo:hello"),  # a typo in the workspace
        ("trian", "sandbox:demo:train"),  # a misspelt plain name
    ],
)
def test_unknown_target_names_the_closest_application(
    shell: InteractiveShell, shared_sandbox: SandboxServer, target: str, suggested: str
) -> None:
    shared_sandbox.reset_stats()
    with pytest.raises(UsageError, match=rf"{re.escape(target)}.*did you mean '{suggested}'\?"):
        shell.run_line_magic("trigger_job", f"{target} name=Ada")
    assert shared_sandbox.stats()["trigger"] == 0


def test_an_unknown_id_names_the_closest_ids(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    shared_sandbox.reset_stats()
    with pytest.raises(UsageError) as error:
        shell.run_line_magic("trigger_job", "--application-id app-sandbox-demo-helo")
    assert "did you mean --application-id app-sandbox-demo-hello (sandbox:demo:hello)" in str(
        error.value
    )
    assert shared_sandbox.stats()["trigger"] == 1  # the server said 404; nothing more was sent
    with pytest.raises(UsageError, match=r"did you mean --deployment-id dep-sandbox-demo-hello"):
        shell.run_line_magic("trigger_job", "--deployment-id dep-sandbox-demo-hellp")


def test_unknown_target_without_anything_close_says_how_to_name_one(
    shell: InteractiveShell,
) -> None:
    with pytest.raises(UsageError, match="Check the spelling") as error:
        shell.run_line_magic("trigger_job", "sandbox:demo:zzzzzz")
    assert "did you mean" not in str(error.value)


def test_unknown_flag_names_the_closest_flag(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"--wiat \(did you mean --wait\?\)"):
        shell.run_line_magic("trigger_job", "sandbox:demo:hello --wiat")
    with pytest.raises(UsageError, match=r"did you mean --status\?"):
        shell.run_line_magic("job_runs", "--stauts RUNNING")
    # A prefix is a typo too, not a guess at a flag.
    with pytest.raises(UsageError, match=r"did you mean --wait\?"):
        shell.run_line_magic("trigger_job", "sandbox:demo:hello --wa")


def test_unknown_param_names_the_declared_ones(
    shell: InteractiveShell, shared_sandbox: SandboxServer
) -> None:
    shared_sandbox.reset_stats()
    with pytest.raises(
        UsageError, match=r"no param 'nmae' \(did you mean 'name'\?\)\. Its params: name\."
    ):
        shell.run_line_magic("trigger_job", "sandbox:demo:hello nmae=Ada")
    with pytest.raises(UsageError, match=r"no param 'epoch' \(did you mean 'epochs'\?\)"):
        shell.run_cell_magic("trigger_job", "sandbox:demo:train --grid", "lr: [1, 2]\nepoch: 3\n")
    assert shared_sandbox.stats()["trigger"] == 0
    # By id the declared params are not known here: the server's 422 names them.
    with pytest.raises(UsageError, match=r"422.*input\.params\.nmae.*declared: name"):
        shell.run_line_magic("trigger_job", "--application-id app-sandbox-demo-hello nmae=Ada")


def test_suggestions_are_best_effort_and_shared_by_both_clients(
    shared_sandbox: SandboxServer,
) -> None:
    from jobmagic.api import AsyncJobsClient, JobsClient, NotFoundError
    from jobmagic.api._retry import RetryPolicy
    from jobmagic.sandbox import Fault

    host, token = shared_sandbox.host, shared_sandbox.token

    async def async_lookup() -> str:
        async with AsyncJobsClient(host, token) as client:
            with pytest.raises(NotFoundError) as error:
                await client.find_app("sandbox:demo:helo")
            return str(error.value)

    assert "did you mean 'sandbox:demo:hello'?" in asyncio.run(async_lookup())
    # The lookup finds nothing, then every search for suggestions fails: still "not found",
    # without suggestions, rather than the search's server error.
    shared_sandbox.set_faults(
        Fault.replace_body('{"data": []}', "apps", times=1), Fault.status(500, "apps", times=None)
    )
    try:
        with (
            JobsClient(host, token, retry=RetryPolicy(max_attempts=2)) as client,
            pytest.raises(NotFoundError, match="Check the spelling"),
        ):
            client.find_app("sandbox:demo:hello")
    finally:
        shared_sandbox.clear_faults()
