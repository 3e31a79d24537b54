"""Security: no token on disk or in logs, files private, loopback only, 401 on every
endpoint, path traversal refused. Everything over real sockets and real processes."""

from __future__ import annotations

import base64
import os
import secrets
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

from jobmagic.sandbox.server import LOG_FILE, SandboxProcess, start_sandbox_process


def scan_token() -> str:
    """A token no file could hold by chance; ``tfy_`` so clients take it as a real one."""
    return f"tfy_SCANME{secrets.token_hex(16)}"


def token_forms(token: str) -> dict[str, bytes]:
    """The token as it could land in a file: raw, URL-encoded, and base64 (standard and
    URL-safe) at each of the three alignments it can have inside a longer encoded text."""
    raw = token.encode()
    forms = {"raw": raw, "url": urllib.parse.quote(token, safe="").encode()}
    for offset in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            encoded = encode(b"\0" * offset + raw)
            # Drop the characters that mix in the padding before or the bytes after.
            head = (offset * 8 + 5) // 6
            tail = ((len(raw) + offset) * 8) % 6 and 1
            body = encoded.rstrip(b"=")[head : len(encoded.rstrip(b"=")) - tail]
            forms[f"{name}+{offset}"] = body
    return forms


def files_holding(roots: list[Path], forms: dict[str, bytes]) -> dict[str, list[str]]:
    """Every file under ``roots`` that holds one of ``forms``: path -> the forms found."""
    found: dict[str, list[str]] = {}
    for path in _files(roots):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # a socket or a file removed while walking
        hits = [name for name, form in forms.items() if form in data]
        if hits:
            found[str(path)] = hits
    return found


def _files(roots: list[Path]) -> Iterator[Path]:
    seen: set[Path] = set()
    for root in roots:
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if path.is_file() and not path.is_symlink() and path not in seen:
                seen.add(path)
                yield path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_forms_find_the_token_inside_encoded_text() -> None:
    token = scan_token()
    forms = token_forms(token)
    for prefix in (b"", b"a", b"ab", b"Bearer "):
        for suffix in (b"", b"z", b"yz"):
            whole = prefix + token.encode() + suffix
            assert any(f in base64.b64encode(whole) for f in forms.values()), (prefix, suffix)
            assert any(f in base64.urlsafe_b64encode(whole) for f in forms.values())
    assert not any(f in base64.b64encode(scan_token().encode()) for f in forms.values())


# --- the launcher's log (issue 12, point 5) ----------------------------------------------


def _assert_private_and_tokenless(log: Path, token: str) -> None:
    text = log.read_text(encoding="utf-8")
    assert "TFY_HOST=" in text  # the banner is there ...
    assert files_holding([log], token_forms(token)) == {}  # ... without the token
    assert mode(log) == 0o600


def test_the_launchers_log_has_the_banner_but_not_the_token(
    tmp_path: Path, isolated_home: Path
) -> None:
    token = scan_token()
    process = start_sandbox_process(tmp_path / "data", token=token)
    try:
        _assert_private_and_tokenless(process.log_path, token)
        assert "jobmagic sandbox status --env" in process.log_path.read_text()
    finally:
        process.stop()
    _assert_private_and_tokenless(process.log_path, token)  # the stop's lines too


def test_a_log_file_left_world_readable_becomes_private(
    tmp_path: Path, isolated_home: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    old_log = data_dir / LOG_FILE
    old_log.write_text("from an older jobmagic\n")
    old_log.chmod(0o644)
    with start_sandbox_process(data_dir, token=scan_token()):
        assert mode(old_log) == 0o600
        assert old_log.read_text().startswith("from an older jobmagic\n")  # appended to


def test_sandbox_start_magic_writes_no_token(isolated_home: Path) -> None:
    """The issue's case: ``%jobmagic sandbox start`` launches ``jobmagic sandbox`` with its
    output to ``<JOBMAGIC_HOME>/sandbox/sandbox.log``."""
    ip = InteractiveShell.instance()
    try:
        ip.run_line_magic("load_ext", "jobmagic")
        ip.run_line_magic("jobmagic", "sandbox start")
        sandbox = ip.magics_manager.registry["JobMagics"].sandbox
        assert isinstance(sandbox, SandboxProcess) and sandbox.owned
        log = isolated_home / ".jobmagic" / "sandbox" / LOG_FILE
        assert log == sandbox.log_path
        _assert_private_and_tokenless(log, sandbox.token)
        ip.run_line_magic("jobmagic", "sandbox stop")
        _assert_private_and_tokenless(log, sandbox.token)
    finally:
        ip.run_line_magic("unload_ext", "jobmagic")
        InteractiveShell.clear_instance()


def test_a_terminal_still_sees_the_token(tmp_path: Path, isolated_home: Path) -> None:
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    token = scan_token()
    leader, follower = pty.openpty()
    env = dict(os.environ, JOBMAGIC_SANDBOX_TOKEN=token)
    argv = [sys.executable, "-m", "jobmagic", "sandbox", "--data-dir", str(tmp_path / "d")]
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, env=env)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"Stop with" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 1.0)[0]:
                try:
                    seen += os.read(leader, 4096)
                except OSError:  # EIO: the child closed the terminal (it exited)
                    break
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(15)
        os.close(leader)
    assert f"TFY_API_KEY={token}".encode() in seen
