"""The address file, the data dir lock, the command line, the separate process, job files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jobmagic.cli.main import main as cli_main
from jobmagic.sandbox import (
    JobsFileError,
    SandboxError,
    SandboxServer,
    load_jobs,
    read_sandbox_address,
    start_sandbox_process,
)
from jobmagic.sandbox.service.catalog import build_argv, parse_jobs
from tests.sandbox.sandbox_helpers import SLEEP, TRAIN, client_for, logs_of, poll, trigger

# --- the address file, the data dir lock ----------------------------------------------


def test_address_file_is_private_and_goes_away(tmp_path: Path, isolated_home: Path) -> None:
    data_dir = tmp_path / "data"
    with SandboxServer(data_dir) as server:
        path = data_dir / "sandbox.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = json.loads(path.read_text())
        assert content == {
            "host": server.host,
            "port": server.port,
            "token": server.token,
            "pid": os.getpid(),
            "embedded": True,
        }
        address = read_sandbox_address(data_dir)
        assert address is not None and address.host == server.host
        assert server.token not in repr(address)
        with pytest.raises(SandboxError, match="Another sandbox"):
            SandboxServer(data_dir).start()
    assert not path.exists()
    assert read_sandbox_address(data_dir) is None


def test_a_busy_port_is_a_clear_error(shared_sandbox: SandboxServer, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="Cannot listen"):
        SandboxServer(tmp_path / "other", port=shared_sandbox.port).start()


# --- the command line and the separate process -----------------------------------------


def test_cli_serves_prints_connection_lines_and_stops(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    token = "tfy_given-by-the-test"
    process = start_sandbox_process(data_dir, token=token)
    try:
        assert process.token == token and process.owned and process.alive()
        assert process.label == f"sandbox ({data_dir.resolve()})"
        banner = process.log_path.read_text()
        assert f"TFY_HOST={process.host}\n" in banner
        assert token not in banner  # a log file: `status --env` gives the token instead
        assert process.host.startswith("http://127.0.0.1:")
        with client_for(process) as client:
            assert client.get("/apps").status_code == 200
            name = trigger(client, SLEEP, params={"seconds": "60"})["jobRunName"]
            assert poll(lambda: bool(logs_of(client, SLEEP, name)))

        assert cli_main(["sandbox", "status", "--data-dir", str(data_dir)]) == 0
        assert process.host in capsys.readouterr().out
        assert cli_main(["sandbox", "--data-dir", str(data_dir), "status", "--env"]) == 0
        assert f"TFY_API_KEY={token}" in capsys.readouterr().out

        assert cli_main(["sandbox", "stop", "--data-dir", str(data_dir)]) == 0
        assert process.popen is not None and process.popen.wait(10) == 0
    finally:
        process.stop()
    assert cli_main(["sandbox", "status", "--data-dir", str(data_dir)]) == 1
    assert "No sandbox is running" in capsys.readouterr().out
    # The clean stop marked the sleeping run.
    with SandboxServer(data_dir) as server:
        run = server.get_run(SLEEP, name)
        assert run is not None and run["status"] == "TERMINATED"


def test_cli_refuses_to_stop_an_embedded_sandbox(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["sandbox", "stop", "--data-dir", str(sandbox.data_dir)]) == 1
    assert "inside process" in capsys.readouterr().err
    assert sandbox.running


def test_cli_reports_a_bad_jobs_file(tmp_path: Path, isolated_home: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs:\n  - name: x\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobmagic",
            "sandbox",
            "--jobs",
            str(bad),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "name" in result.stderr


def test_cli_without_a_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main([]) == 2
    assert "sandbox" in capsys.readouterr().err


# --- job declarations (pure) ------------------------------------------------------------


def test_argv_is_split_before_slots_are_filled() -> None:
    template = "prog --name {{name}} 'two words {{name}}' {python}"
    argv = build_argv(template, {"name": "$(id); x"}, {"python": "/py"})
    assert argv == ["prog", "--name", "$(id); x", "two words $(id); x", "/py"]
    # A value containing slot syntax is not expanded again; {{python}} is a param, not {python}.
    assert build_argv("a {{x}} {{python}}", {"x": "{{python}}", "python": "p"}, {}) == [
        "a",
        "{{python}}",
        "p",
    ]


def test_jobs_files_keep_values_as_text_and_report_mistakes(tmp_path: Path) -> None:
    jobs = parse_jobs(
        "jobs:\n"
        "  - name: train\n"
        "    command: python t.py --lr {{lr}} --flag {{flag}}\n"
        "    params:\n"
        "      - {name: lr, default: 0.10}\n"
        "      - {name: flag, default: yes}\n"
        "      - needed-later\n"
        "    workdir: sub\n",
        jobs_dir=tmp_path,
    )
    (train,) = jobs
    assert train.fqn == "sandbox:default:train"
    assert [(p.name, p.default) for p in train.params] == [
        ("lr", "0.10"),
        ("flag", "yes"),
        ("needed-later", None),
    ]
    assert train.workdir == tmp_path / "sub"
    for text, needle in [
        ("jobs: []", "non-empty list"),
        ("jobs:\n  - name: x\n    command: a", "`name`"),
        ("jobs:\n  - name: ok\n    command: 'a {{nope}}'", "{{nope}}"),
        ("jobs:\n  - name: ok\n    command: a\n    params: [{name: Bad}]", "param name"),
        ("jobs:\n  - {name: ok, command: a}\n  - {name: ok, command: b}", "share"),
        ("jobs:\n  - {name: ok, command: a, colour: red}", "unknown field"),
        ('jobs:\n  - {name: ok, command: "a \'b"}', "cannot be split"),
        ("jobs: [", "not valid YAML"),
    ]:
        with pytest.raises(JobsFileError, match=None) as caught:
            parse_jobs(text, source="j.yaml")
        assert needle in str(caught.value), (text, str(caught.value))
    with pytest.raises(JobsFileError, match="Cannot read"):
        load_jobs(tmp_path / "missing.yaml")


def test_demo_jobs_have_the_documented_fqns_and_ids() -> None:
    jobs = {job.fqn: job for job in load_jobs()}
    assert set(jobs) == {
        "sandbox:demo:hello",
        "sandbox:demo:train",
        "sandbox:demo:fail",
        "sandbox:demo:sleep",
        "sandbox:demo:hostile",  # prints control characters and escape sequences, then fails
        "sandbox:demo:flood",  # prints many lines, or one long one
    }
    assert jobs["sandbox:demo:train"].application_id == TRAIN
    assert jobs["sandbox:demo:train"].deployment_id == "dep-sandbox-demo-train"
    assert jobs["sandbox:demo:sleep"].param("seconds") is not None
    assert jobs["sandbox:demo:sleep"].param("seconds").default == "600"  # type: ignore[union-attr]
