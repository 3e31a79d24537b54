"""The Jupyter Server extension in a real `jupyter server` process: its handlers answer under
the server's base URL, behind the server's own authentication."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TOKEN = "jobmagic-serverext-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A jupyter server with jobmagic's extension enabled; its URL (base_url /lab-base/)."""
    pytest.importorskip("jupyter_server", reason="jupyter_server comes with the dev extra")
    port = _free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "JOBMAGIC_HOME": str(tmp_path / "jobmagic"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={TOKEN}",
            "--ServerApp.base_url=/lab-base/",
            f"--ServerApp.root_dir={tmp_path}",
            '--ServerApp.jpserver_extensions={"jobmagic.serverext": True}',
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/lab-base/"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{url}api/status", params={"token": TOKEN}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "jupyter server never answered"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def test_the_extension_answers_behind_the_servers_authentication(server: str) -> None:
    answer = httpx.get(f"{server}jobmagic/version", params={"token": TOKEN})
    assert answer.status_code == 200
    body = json.loads(answer.text)
    import jobmagic

    assert body["version"] == jobmagic.__version__
    assert body["ledger"].endswith("ledger.sqlite3")
    assert httpx.get(f"{server}jobmagic/version").status_code == 403
    assert httpx.get(f"{server}jobmagic/version", params={"token": "wrong"}).status_code == 403


def test_importing_jobmagic_imports_no_jupyter_server() -> None:
    code = (
        "import sys, jobmagic, jobmagic.serverext\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'jobmagic')\n"
        "print('jupyter_server' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _ledger_of(server_home: Path) -> Path:
    return server_home / "jobmagic" / "ledger.sqlite3"


def _fill(path: Path) -> None:
    """Five runs written the way a kernel or a script writes them: one still pending."""
    from jobmagic.ledger import Ledger
    from jobmagic.models import JobRun, RunStatus

    path.parent.mkdir(parents=True, exist_ok=True)
    statuses = [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.RUNNING, RunStatus.FINISHED]
    with Ledger(path) as ledger:
        for index, status in enumerate(statuses):
            attempt = ledger.record_attempt(
                host="http://127.0.0.1:1", target="train", params={"lr": f"0.{index}"}
            )
            run = JobRun(name=f"train-{index}", status=status, error="<b>no</b>")
            ledger.record_acknowledged(attempt, run)
        ledger.record_attempt(host="http://127.0.0.1:1", target="train")


def test_runs_come_paged_newest_first_with_counts_over_the_whole_filter(
    server: str, tmp_path: Path
) -> None:
    _fill(_ledger_of(tmp_path))
    get = lambda **params: httpx.get(f"{server}jobmagic/runs", params={"token": TOKEN, **params})  # noqa: E731

    page = get(limit="2", offset="1").json()
    assert page["total"] == 5
    assert page["counts"] == {"FAILED": 1, "FINISHED": 2, "PENDING": 1, "RUNNING": 1}
    assert [run["name"] for run in page["runs"]] == ["train-3", "train-2"]
    first = page["runs"][0]
    assert first["params"] == {"lr": "0.3"} and first["status"] == "FINISHED"
    assert {"name", "status", "application", "sweep", "created_at", "ended_at"} <= set(first)

    failed = get(status="failed,finished").json()
    assert failed["total"] == 3
    assert {run["status"] for run in failed["runs"]} == {"FAILED", "FINISHED"}
    # Text goes out as text: the error is the server's string, not markup to render.
    assert [run["error"] for run in failed["runs"] if run["status"] == "FAILED"] == ["<b>no</b>"]

    one = httpx.get(f"{server}jobmagic/runs/{first['id']}", params={"token": TOKEN})
    assert one.json()["name"] == "train-3"
    assert httpx.get(f"{server}jobmagic/runs/999", params={"token": TOKEN}).status_code == 404
    bad = get(limit="lots")
    assert bad.status_code == 400 and "limit must be a whole number" in bad.text
    assert httpx.get(f"{server}jobmagic/runs").status_code == 403


def test_a_missing_ledger_is_an_empty_list_with_a_notice(server: str) -> None:
    answer = httpx.get(f"{server}jobmagic/runs", params={"token": TOKEN}).json()
    assert answer["runs"] == [] and answer["total"] == 0 and answer["notice"]


def test_a_damaged_ledger_is_reported_and_never_moved(server: str, tmp_path: Path) -> None:
    path = _ledger_of(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a SQLite file" * 400)
    answer = httpx.get(f"{server}jobmagic/runs", params={"token": TOKEN})
    assert answer.status_code == 503
    assert answer.json()["reason"] == "damaged"
    assert "Traceback" not in answer.text
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite3"]
