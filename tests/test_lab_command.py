"""`jobmagic lab` (what `make lab` runs) as a user in a container runs it: as root, with a port,
without a browser, Jupyter's own flags after `--` — a real JupyterLab process that answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TOKEN = "jobmagic-lab-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="the root case needs root (CI runs as root)")
def test_jobmagic_lab_starts_as_root_with_a_port_and_no_browser(tmp_path: Path) -> None:
    port = _free_port()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "JOBMAGIC_HOME": str(tmp_path / "jobmagic"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    command = [sys.executable, "-m", "jobmagic", "lab", str(folder), f"--port={port}"]
    command += ["--no-browser", "--", f"--ServerApp.token={TOKEN}", "--ip=127.0.0.1"]
    lab = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: Jupyter and the sandbox are stopped with it
    )
    try:
        deadline = time.monotonic() + 120
        status = None
        while status != 200:
            assert lab.poll() is None, lab.stdout.read() if lab.stdout else ""
            assert time.monotonic() < deadline, "JupyterLab never answered"
            time.sleep(0.2)
            try:
                status = httpx.get(
                    f"http://127.0.0.1:{port}/api/status", params={"token": TOKEN}
                ).status_code
            except httpx.TransportError:
                status = None
        # Root did not stop it (it was refused before jobmagic added --allow-root), and the
        # notebooks see the sandbox it started.
        assert (tmp_path / "jobmagic" / "sandbox").is_dir()
    finally:
        os.killpg(lab.pid, signal.SIGINT)  # as Ctrl-C would: Lab ends, then the sandbox
        try:
            lab.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait(10)
        subprocess.run(
            [sys.executable, "-m", "jobmagic", "sandbox", "stop"],
            env=env,
            capture_output=True,
            timeout=60,
        )


def test_the_lab_command_adds_allow_root_only_for_root_and_passes_jupyters_flags() -> None:
    from jobmagic.cli.main import lab_command

    as_user = lab_command("nb", as_root=False, extra=["--ServerApp.token=x"])
    assert "--allow-root" not in as_user and as_user[-1] == "--ServerApp.token=x"
    assert lab_command("nb", as_root=True).count("--allow-root") == 1
    assert lab_command("nb", as_root=True, extra=["--allow-root"]).count("--allow-root") == 1
