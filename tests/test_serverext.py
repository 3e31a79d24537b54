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
