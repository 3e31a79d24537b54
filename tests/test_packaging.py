"""The package as a user installs it: one wheel with both halves — the Python package, the
prebuilt JupyterLab extension and the server extension's enabling config — and a Jupyter that
lists both extensions enabled and OK."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "jobmagic" / "labextension"
BIN = Path(sys.executable).parent


def _require_built() -> None:
    if (BUILT / "package.json").exists() and (BUILT / "static").is_dir():
        return
    reason = (
        "the JupyterLab extension is not built (needs Node 20): make labextension, "
        "or cd labextension && jlpm install && jlpm build"
    )
    if os.environ.get("JOBMAGIC_REQUIRE_BROWSER"):
        raise RuntimeError(f"CI builds the extension from source, but {reason}")
    pytest.skip(reason)


def test_the_wheel_ships_both_halves_and_the_package_data(tmp_path: Path) -> None:
    _require_built()
    pytest.importorskip("hatchling", reason="the dev extra installs hatchling")
    # As the Makefile installs: no isolated build env; the extension built already is kept.
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation"]
    subprocess.run(
        [*command, "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = tmp_path.glob("jobmagic-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = next(
        name.split("/")[0]
        for name in names
        if name.endswith(".data/data/etc/jupyter/jupyter_server_config.d/jobmagic.json")
    )
    lab = f"{data}/data/share/jupyter/labextensions/jobmagic/"
    assert f"{lab}package.json" in names and f"{lab}install.json" in names
    assert any(name.startswith(f"{lab}static/remoteEntry.") for name in names)
    assert f"{lab}schemas/jobmagic/plugin.json" in names
    assert {"jobmagic/py.typed", "jobmagic/sandbox/demo_jobs.yaml"} <= set(names)
    # The sources of the extension stay out of the wheel; the built copy is in shared data.
    assert not any(name.startswith(("labextension/", "jobmagic/labextension/")) for name in names)


def test_jupyter_lists_both_extensions_enabled_and_ok() -> None:
    _require_built()
    jupyter = BIN / "jupyter"
    if not jupyter.exists():
        pytest.skip("JupyterLab comes with the dev extra")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    lab = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, env=env
    )
    server = subprocess.run(
        [str(jupyter), "server", "extension", "list"], capture_output=True, text=True, env=env
    )
    lab_text = _plain(lab.stdout + lab.stderr)
    server_text = _plain(server.stdout + server.stderr)
    assert re.search(r"jobmagic v[0-9.]+ enabled OK", lab_text), lab_text
    assert re.search(r"jobmagic\.serverext enabled", server_text), server_text
    assert re.search(r"jobmagic\.serverext +OK", server_text), server_text


def _plain(text: str) -> str:
    """Jupyter's listing without its colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
