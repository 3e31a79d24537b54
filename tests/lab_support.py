"""Real JupyterLab in headless Chromium, for the browser tests (see shared TESTING.md).

A :class:`Lab` serves one folder with a private token and private Jupyter
directories; :func:`chromium_page` opens Debian's Chromium through Playwright.
Both are context managers that stop what they started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium; `make test` does it as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


class Lab:
    """A JupyterLab server on a free loopback port, serving ``root``."""

    def __init__(self, root: Path, scratch: Path, env: Mapping[str, str]):
        self.root = root
        self.scratch = scratch
        self.port = free_port()
        self.token = "jobmagic-browser-test"
        self.env = dict(env)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = scratch / "lab.log"
        scratch.mkdir(parents=True, exist_ok=True)
        for key in ("HOME", "JOBMAGIC_HOME"):
            if key in self.env:
                Path(self.env[key]).mkdir(parents=True, exist_ok=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str, *, theme: str | None = None) -> str:
        return f"{self.base}/lab/tree/{notebook}?token={self.token}&reset"

    def _environment(self) -> dict[str, str]:
        config = self.scratch / "jupyter-config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps(
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
            )
        )
        env = dict(os.environ)
        env.update(self.env)
        env.update(
            {
                "JUPYTER_CONFIG_DIR": str(config),
                "JUPYTERLAB_SETTINGS_DIR": str(self.scratch / "lab-settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(self.scratch / "lab-workspaces"),
                "JUPYTER_RUNTIME_DIR": str(self.scratch / "jupyter-runtime"),
                "JUPYTER_DATA_DIR": str(self.scratch / "jupyter-data"),
                "IPYTHONDIR": str(self.scratch / "ipython"),
            }
        )
        return env

    def set_theme(self, dark: bool) -> None:
        """Choose Lab's theme through its user settings (read when the page loads)."""
        folder = self.scratch / "lab-settings" / "@jupyterlab" / "apputils-extension"
        folder.mkdir(parents=True, exist_ok=True)
        theme = "JupyterLab Dark" if dark else "JupyterLab Light"
        (folder / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))

    def __enter__(self) -> Lab:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                "--allow-root",
            ],
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(
                    f"{self.base}/api/status?token={self.token}", timeout=2
                ) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("JupyterLab did not answer within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1280, 900)) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def run_all_cells(page: Any, attempts: int = 4) -> None:
    """Lab's menu: Run → Run All Cells (as a person would).

    On a cold start Lab can report the kernel idle before it takes requests, and the
    click is lost; so check that a cell started, and click again if none did.
    """
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    started = ".jp-InputPrompt:has-text('[1]'), .jp-InputPrompt:has-text('[*]')"
    for _ in range(attempts):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
        try:
            page.wait_for_selector(started, timeout=15_000)
            return
        except Exception:
            continue
    raise AssertionError("JupyterLab never started running the cells")


def copy_notebook(source: Path, folder: Path) -> Path:
    """Lab autosaves: tests always work on a copy."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy(source, target)
    return target
