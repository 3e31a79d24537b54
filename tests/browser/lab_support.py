"""Real JupyterLab (or Notebook 7) in headless Chromium, for the browser tests (see shared
TESTING.md).

A :class:`Lab` serves one folder with a private token and private Jupyter
directories; :func:`chromium_page` opens Debian's Chromium through Playwright.
Both are context managers that stop what they started.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
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


#: Where the browser tests keep their screenshots (and the evidence of a failure).
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def skip_unless_browser() -> None:
    """At a browser test module's top: skip it where no browser can run, with the reason;
    fail instead where one is required (CI sets JOBMAGIC_REQUIRE_BROWSER)."""
    import pytest

    missing = browser_missing_reason()
    if missing and os.environ.get("JOBMAGIC_REQUIRE_BROWSER"):
        raise RuntimeError(f"browser tests are required here but cannot run: {missing}")
    if missing:
        pytest.skip(missing, allow_module_level=True)


#: jobmagic's built JupyterLab extension (``make labextension``), where the wheel ships it.
BUILT_LABEXTENSION = Path(__file__).resolve().parents[2] / "jobmagic" / "labextension"


def skip_unless_labextension() -> None:
    """At a Runs-panel test module's top: skip it where the Lab extension is not built (it
    needs Node), saying how to build it; fail instead where CI requires the browser tests."""
    import pytest

    built = BUILT_LABEXTENSION
    if (built / "package.json").exists() and (built / "static").is_dir():
        return
    reason = (
        "the Lab extension is not built (jobmagic/labextension/ is missing; it needs Node 20): "
        "make labextension"
    )
    if os.environ.get("JOBMAGIC_REQUIRE_BROWSER"):
        raise RuntimeError(f"CI builds the extension from source, but {reason}")
    pytest.skip(reason, allow_module_level=True)


def enable_jobmagic(scratch: Path, server_config: Mapping[str, Any] | None = None) -> None:
    """Make a :class:`Lab` on ``scratch`` load both halves of jobmagic as an installed
    package has them: the built extension linked into its data dir's labextensions and the
    server extension on; ``server_config`` adds to the server's config (``JobmagicServer``)."""
    labextensions = scratch / "jupyter-data" / "labextensions"
    labextensions.mkdir(parents=True, exist_ok=True)
    (labextensions / "jobmagic").symlink_to(BUILT_LABEXTENSION, target_is_directory=True)
    config = scratch / "jupyter-config"
    config.mkdir(parents=True, exist_ok=True)
    settings = {"ServerApp": {"jpserver_extensions": {"jobmagic.serverext": True}}}
    settings.update(server_config or {})
    (config / "jupyter_server_config.json").write_text(json.dumps(settings))


def write_notebook(folder: Path, name: str, cells: list[str]) -> str:
    """A notebook of code ``cells`` for the python3 kernel at ``folder / name``; its name."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(cell) for cell in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return name


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
    """A JupyterLab server on a free loopback port, serving ``root``; with
    ``app="notebook"``, a Notebook 7 server instead.

    Two servers on the same ``scratch`` share their Jupyter folders: a notebook one of them
    saved (and signed) is trusted by the next, as a user's own notebook is tomorrow.
    """

    def __init__(self, root: Path, scratch: Path, env: Mapping[str, str], app: str = "lab"):
        if app not in ("lab", "notebook"):
            raise ValueError(f"app is 'lab' or 'notebook', not {app!r}")
        self.app = app
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
        if self.app == "notebook":
            return f"{self.base}/notebooks/{notebook}?token={self.token}"
        return f"{self.base}/lab/tree/{notebook}?token={self.token}&reset"

    def _environment(self) -> dict[str, str]:
        config = self.scratch / "jupyter-config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps(
                {
                    # window.jupyterapp, in Lab and Notebook 7 alike: tests drive the app
                    # through its command registry, not menus.
                    "exposeAppInBrowser": True,
                    "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
                }
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
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab" if self.app == "lab" else "notebook",
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
        # Polls a state (the server answers) with a deadline; a loaded machine only makes it
        # take longer. No proxies: a loopback server must be asked directly.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited: {self.log_path.read_text()[-2000:]}")
            try:
                with opener.open(f"{self.base}/api/status?token={self.token}", timeout=5) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.app} did not answer within 90 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextmanager
def chromium_page(
    viewport: tuple[int, int] = (1280, 900), *, javascript: bool = True
) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": viewport[0], "height": viewport[1]},
                java_script_enabled=javascript,
            )
            yield page
        finally:
            browser.close()


def only_local_files(page: Any) -> None:
    """Let ``page`` load ``file:`` URLs only: an exported page read offline (no widget
    manager, no CDN), as the tests open it."""
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )


def save_notebook(page: Any) -> None:
    """Save the current notebook through the app's command registry; wait until it is clean."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return Boolean(w && w.context && !w.context.model.dirty); }",
        timeout=30_000,
    )


#: True once the current notebook's every code cell is in the page (Notebook 7 renders cells
#: lazily) and its kernel is idle (a reopened notebook's widget manager has asked it).
_REOPENED_JS = """() => {
    const app = window.jupyterapp;
    const panel = app && app.shell && app.shell.currentWidget;
    const context = panel && panel.sessionContext;
    if (!panel || !panel.content || !context || !context.session) return false;
    const code = panel.content.widgets.filter(c => c.model.type === 'code').length;
    return code > 0 && context.kernelDisplayStatus === 'idle'
        && document.querySelectorAll('.jp-Notebook .jp-CodeCell').length === code;
}"""


def wait_for_reopened(page: Any, timeout_ms: float = 90_000) -> None:
    """Wait until a reopened notebook is all in the page, with its new kernel idle."""
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout_ms)
    page.wait_for_function(_REOPENED_JS, timeout=timeout_ms)


#: True once Lab's notebook panel is the current widget, its kernel is connected and idle and
#: "Run All Cells" is enabled: a command executed then reaches the kernel.
_NOTEBOOK_READY_JS = """() => {
    const app = window.jupyterapp;
    if (!app || !app.shell || !app.commands) return false;
    const panel = app.shell.currentWidget;
    const context = panel && panel.sessionContext;
    const kernel = context && context.session && context.session.kernel;
    return Boolean(
        panel.content && panel.content.widgets && panel.content.widgets.length > 0
        && context.isReady && kernel
        && kernel.connectionStatus === 'connected' && kernel.status === 'idle'
        && app.commands.isEnabled('notebook:run-all-cells')
    );
}"""

#: A cell queued or run: Lab shows ``[*]`` as soon as a cell is sent, then its count. Only
#: visible prompts count: another notebook may be open in a hidden tab.
_CELL_STARTED = ".jp-InputPrompt:visible:has-text('[*]'), .jp-InputPrompt:visible:has-text('[1]')"


def wait_for_notebook_ready(page: Any, timeout_ms: float = 90_000) -> bool:
    """Wait until the notebook panel is active with an idle, connected kernel.

    Returns False when ``window.jupyterapp`` is not there (a Lab started without
    ``expose_app_in_browser``), after the panel and the idle indicator were seen; then only
    the keyboard can drive it.
    """
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell:visible", timeout=timeout_ms)
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']:visible", timeout=timeout_ms
    )
    if not page.evaluate("() => Boolean(window.jupyterapp)"):
        return False
    page.wait_for_function(_NOTEBOOK_READY_JS, timeout=timeout_ms)
    return True


def run_all_cells(page: Any, attempts: int = 3) -> None:
    """Run every cell through Lab's command registry (no menu clicks: they flaked in CI).

    Without ``window.jupyterapp`` the keyboard does it: command mode, then Shift+Enter once
    per cell. A command is sent again only when no cell was queued at all, so a cell never
    runs twice.
    """
    has_app = wait_for_notebook_ready(page)
    for _ in range(attempts):
        if has_app:
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        else:
            _run_all_with_keyboard(page)
        try:
            page.wait_for_selector(_CELL_STARTED, timeout=30_000)
            return
        except Exception:  # playwright's TimeoutError: nothing was queued, safe to send again
            if has_app:
                wait_for_notebook_ready(page)
    raise AssertionError("JupyterLab never started running the cells")


def _run_all_with_keyboard(page: Any) -> None:
    cells = page.locator(".jp-NotebookPanel .jp-Cell")
    cells.first.locator(".jp-InputPrompt").click()  # selects the cell; not a menu
    page.keyboard.press("Escape")  # command mode
    # Shift+Enter on the last cell would add an empty one that never runs; Ctrl+Enter not.
    for _ in range(cells.count() - 1):
        page.keyboard.press("Shift+Enter")
    page.keyboard.press("Control+Enter")


def wait_for_cells_done(page: Any, timeout_ms: float = 90_000) -> None:
    """Wait until no cell is queued or running and every code cell has an execution count."""
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0
                && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=timeout_ms,
    )


@contextmanager
def evidence_on_failure(page: Any, folder: Path, name: str) -> Iterator[None]:
    """If the block fails, keep a screenshot and the notebook's text (every cell's input and
    output as Lab shows them): a timeout alone does not say what the page was showing."""
    try:
        yield
    except BaseException:
        folder.mkdir(parents=True, exist_ok=True)
        with suppress(Exception):  # the page may be gone; the original error matters more
            page.screenshot(path=str(folder / f"{name}-failure.png"), full_page=True)
        with suppress(Exception):
            text = page.locator(".jp-Notebook").inner_text(timeout=5_000)
            (folder / f"{name}-failure.txt").write_text(text, encoding="utf-8")
        raise


def copy_notebook(source: Path, folder: Path) -> Path:
    """Lab autosaves: tests always work on a copy."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy(source, target)
    return target
