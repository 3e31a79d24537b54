"""Security: no token on disk or in logs, files private, loopback only, 401 on every
endpoint, path traversal refused. Everything over real sockets and real processes."""

from __future__ import annotations

import base64
import contextlib
import inspect
import ipaddress
import json
import os
import pty
import re
import secrets
import select
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from unittest.mock import MagicMock

import pytest
from IPython.core.interactiveshell import InteractiveShell
from starlette.routing import BaseRoute, Mount, Route

from jobmagic.cli.main import main as cli_main
from jobmagic.sandbox import SandboxProcess, SandboxServer, start_sandbox_process
from jobmagic.sandbox.service.operations import SandboxService
from jobmagic.sandbox.serving.process import LOG_FILE
from jobmagic.sandbox.web.app import create_app
from jobmagic.sandbox.web.context import AppContext
from jobmagic.sandbox.web.faults import FaultPlan, RequestStats


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


# --- the sandbox listens on loopback only ------------------------------------------------


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port``, from the kernel's own table."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(_decode_proc_address(address))
    return found


def _decode_proc_address(hexed: str) -> str:
    # /proc/net/tcp writes each 32-bit word in host (little-endian) byte order.
    raw = b"".join(bytes.fromhex(hexed[i : i + 8])[::-1] for i in range(0, len(hexed), 8))
    return str(ipaddress.ip_address(raw))


def _non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent, a route is chosen
        address = str(probe.getsockname()[0])
        if not ipaddress.ip_address(address).is_loopback and address != "0.0.0.0":
            return address
    return None


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
def test_the_sandbox_listens_on_loopback_only(tmp_path: Path, isolated_home: Path) -> None:
    with SandboxServer(tmp_path / "in-process") as server:
        assert _listening_addresses(server.port) == {"127.0.0.1"}
        _refused_from_outside(server.port)
    with start_sandbox_process(tmp_path / "own-process", token=scan_token()) as process:
        assert _listening_addresses(process.port) == {"127.0.0.1"}
        _refused_from_outside(process.port)


def _refused_from_outside(port: int) -> None:
    outside = _non_loopback_address()
    if outside is None:
        return  # no other interface: nothing could reach it from outside anyway
    with pytest.raises(OSError), socket.create_connection((outside, port), timeout=5):
        pass


def test_there_is_no_way_to_bind_elsewhere(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--host", "--ip", "--bind", "--listen"):
        with pytest.raises(SystemExit) as exited:
            cli_main(["sandbox", f"{flag}=0.0.0.0"])
        assert exited.value.code == 2
        assert "unrecognized arguments" in capsys.readouterr().err
    assert not {"host", "ip", "bind", "address"} & set(inspect.signature(SandboxServer).parameters)


# --- 401 on every endpoint ---------------------------------------------------------------

#: Endpoints that answer without a token by design, each with the reason.
PUBLIC = {
    ("GET", "/api/svc/v1/min-cli-version"): "TrueFoundry's SDK asks it before it has a token",
    ("GET", "/api/svc/v1/tenant-id"): "TrueFoundry's SDK asks it before it has a token",
    ("GET", "/_sandbox/health"): "how the launcher sees the sandbox is up",
    # A browser opens it from a run card's link and cannot send a bearer header. It shows
    # the job's runs (names, statuses, params) to whoever can reach 127.0.0.1, so it answers
    # only a loopback Host header (no DNS rebinding from a web page).
    ("GET", "/deployments/{application_id}"): "the runs page a run card links to",
}
#: The public endpoints that show no run or application at all.
PUBLIC_REVEALING_NOTHING = {key for key in PUBLIC if "{" not in key[1]}

HELLO = "app-sandbox-demo-hello"
#: Values for path parameters (real ones where known; any other parameter gets "x").
PATH_VALUES = {"application_id": HELLO, "run_name": "no-such-run"}


def route_table() -> list[tuple[str, str]]:
    """(method, path template) of every endpoint the sandbox's Starlette app serves."""
    # Only the routes are read: no handler runs, so a stand-in service will do.
    ctx = AppContext(cast(SandboxService, MagicMock()), "unused", FaultPlan(), RequestStats())
    table: list[tuple[str, str]] = []

    def walk(routes: Sequence[BaseRoute], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                methods = sorted((route.methods or set()) - {"HEAD"})
                table.extend((method, prefix + route.path) for method in methods)
            else:
                raise AssertionError(f"a kind of route this test does not know: {route!r}")

    walk(create_app(ctx).routes, "")
    return table


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: values.get(m.group(1), "x"), template)


def bad_authorizations(token: str) -> dict[str, bytes | None]:
    """Authorization headers that must all be refused (None: no header at all).

    A trailing space or tab is not among them: HTTP strips a header value's surrounding
    whitespace before anyone sees it, so ``Bearer <token> `` *is* the token."""
    wrong = scan_token()
    raw = token.encode()
    return {
        "missing": None,
        "empty": b"",
        "scheme only": b"Bearer",
        "empty token": b"Bearer ",
        "wrong token": b"Bearer " + wrong.encode(),
        "no scheme": raw,
        "basic scheme": b"Basic " + raw,
        "token scheme": b"Token " + raw,
        "basic base64": b"Basic " + base64.b64encode(b"user:" + raw),
        "truncated": b"Bearer " + raw[:-1],
        "trailing x": b"Bearer " + raw + b"x",
        "trailing NBSP": b"Bearer " + raw + b"\xa0",  # latin-1 bytes: legal in HTTP/1.1
        "trailing NEL": b"Bearer " + raw + b"\x85",
        "trailing UTF-8 NBSP": b"Bearer " + raw + "\u00a0".encode(),
        "leading NBSP": b"Bearer \xa0" + raw,
        "two tokens": b"Bearer " + raw + b", Bearer " + raw,
        "uppercased": b"Bearer " + token.upper().encode(),
    }


def raw_request(
    port: int,
    method: str,
    path: str,
    authorization: bytes | None = None,
    body: bytes = b"",
    *,
    host: bytes = b"127.0.0.1",
) -> tuple[int, bytes]:
    """One HTTP/1.1 request with the bytes exactly as given (httpx and http.client refuse or
    tidy some of them); the status code and the body."""
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + host, b"Connection: close"]
    if authorization is not None:
        head.append(b"Authorization: " + authorization)
    if method in ("POST", "PUT"):
        head += [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_the_route_table_is_what_this_test_knows() -> None:
    table = route_table()
    assert len(table) == len(set(table)) >= 18
    assert set(PUBLIC).issubset(table)
    assert ("DELETE", "/api/svc/v1/jobs/{application_id}/runs/{run_name}") in table


def test_every_endpoint_refuses_every_bad_token(sandbox: SandboxServer) -> None:
    protected = [entry for entry in route_table() if entry not in PUBLIC]
    cases = bad_authorizations(sandbox.token)
    runs_before = len(sandbox.runs(HELLO))
    faults_before = sandbox.faults()
    answers: dict[tuple[str, str, str], int] = {}
    for method, template in protected:
        path = _fill(template, PATH_VALUES)
        for case, header in cases.items():
            status, body = raw_request(sandbox.port, method, path, header, b"[]")
            answers[(method, template, case)] = status
            assert sandbox.token.encode() not in body
        # The token itself gets past the check, even with the whitespace HTTP strips: so
        # each 401 above is the check's doing, not the request's.
        for good in (b"Bearer " + sandbox.token.encode(), b"bearer " + sandbox.token.encode()):
            status, _ = raw_request(sandbox.port, method, path, good + b" \t", b"[]")
            assert status != 401, (method, template)
    refused = {key: code for key, code in answers.items() if code != 401}
    assert refused == {}
    assert len(answers) == len(protected) * len(cases)
    assert len(sandbox.runs(HELLO)) == runs_before
    assert sandbox.faults() == faults_before
    assert len(protected) >= 15 and len(cases) >= 15  # the README's counts are not shrinking


def test_the_public_endpoints_answer_without_a_token_and_reveal_little(
    sandbox: SandboxServer,
) -> None:
    for method, template in PUBLIC:
        path = _fill(template, PATH_VALUES)
        status, body = raw_request(sandbox.port, method, path)
        assert status == 200, path
        assert sandbox.token.encode() not in body
        if (method, template) in PUBLIC_REVEALING_NOTHING:
            assert b"run-" not in body and b"app-" not in body
        else:  # a page for browsers: never for a Host that is not loopback
            status, body = raw_request(sandbox.port, method, path, host=b"evil.example")
            assert status == 404 and HELLO.encode() not in body


# --- path traversal ----------------------------------------------------------------------

#: Path-parameter values as they appear on the request line: dot segments (plain, encoded,
#: double-encoded, overlong UTF-8), encoded slashes and backslashes, NUL, and ways out.
HOSTILE_SEGMENTS = (
    ".",
    "..",
    "%2e",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%c0%ae%c0%ae",
    "%2F",
    "%2f%2f",
    "a%2Fb",
    "..%2F",
    "%2F..",
    "..%2F..%2F_sandbox%2Fstats",
    "..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fapps",
    "%252F",
    "..%5C..",
    "%5C",
    "%00",
    "a%00b",
    "..%00",
    "%00..%2F",
    "..;",
    "%",
    "%zz",
)

#: Whole paths that try to step out of /api/svc/v1 or /_sandbox into the other.
ESCAPES = (
    "/api/svc/v1/../_sandbox/stats",
    "/api/svc/v1/../../_sandbox/faults",
    "/api/svc/v1/%2e%2e/_sandbox/stats",
    "/api/svc/v1/%2e%2e%2f_sandbox%2ffaults",
    "/api/svc/v1/jobs/../apps",
    "/api/svc/v1/jobs/%2e%2e/apps",
    "/api/svc/v1/apps/../../../../etc/passwd",
    "/api/svc/v1/apps/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/_sandbox/../api/svc/v1/apps",
    "/_sandbox/%2e%2e/api/svc/v1/apps",
    "/_sandbox/stats/..",
    "/_sandbox/stats%2F..%2Ffaults",
    "/_sandbox/health/../stats",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/api/svc/v1//apps",
    "/api/svc/v1/apps%00",
    "/api/svc/v1/apps/",
    "/_sandbox/stats/",
)


def traversal_requests(
    table: list[tuple[str, str]], real: dict[str, str]
) -> list[tuple[str, str, str]]:
    """(method, template, raw path) for each path parameter of each endpoint set to each
    hostile value (also appended to a real value), then the escape paths as GETs."""
    requests = []
    for method, template in table:
        for name in re.findall(r"{(\w+)", template):
            for hostile in HOSTILE_SEGMENTS + tuple(
                real.get(name, "x") + h for h in ("%2F", "%00", "/")
            ):
                requests.append((method, template, _fill(template, {**real, name: hostile})))
    requests += [("GET", "", path) for path in ESCAPES]
    return requests


def test_path_traversal_reaches_no_other_endpoint_and_no_file(sandbox: SandboxServer) -> None:
    auth = b"Bearer " + sandbox.token.encode()
    # A real run, so a request that wrongly reached it (a delete above all) would show.
    status, body = raw_request(
        sandbox.port,
        "POST",
        "/api/svc/v1/jobs/trigger",
        auth,
        json.dumps({"applicationId": HELLO, "input": {"params": {"name": "Ada"}}}).encode(),
    )
    assert status == 200, body
    real = {"application_id": HELLO, "run_name": json.loads(body)["jobRunName"]}
    table = [entry for entry in route_table() if "{" in entry[1]]
    own_key = {entry: _endpoint_key(sandbox, *entry, real, auth) for entry in table}
    sandbox.set_faults()  # none: every answer below is the app's own
    answers = []
    for method, template, path in traversal_requests(table, real):
        counts = sandbox.stats()
        status, body = raw_request(sandbox.port, method, path, auth)
        reached = {k for k, n in sandbox.stats().items() if n != counts[k]}
        answers.append((method, path, status, reached))
        assert reached <= {own_key.get((method, template))}, (method, path, reached)
        assert status in (400, 404, 405, 422), (method, path, status, body[:200])
        assert b"root:" not in body and sandbox.token.encode() not in body
        if body.startswith(b"{"):  # the API's error shape (a public HTML page may differ)
            assert json.loads(body)["statusCode"] == status
    assert sandbox.get_run(real["application_id"], real["run_name"]) is not None  # not deleted
    assert len(answers) >= 150  # the README's count is not shrinking


def test_raw_control_bytes_on_the_request_line_are_refused(sandbox: SandboxServer) -> None:
    auth = b"Bearer " + sandbox.token.encode()
    for path in ("/api/svc/v1/apps/\x00", "/api/svc/v1/apps/a\x00b", "/api/svc/v1/apps/\x7f"):
        counts = sandbox.stats()
        status, _ = raw_request(sandbox.port, "GET", path, auth)
        assert status in (400, 404)
        assert sandbox.stats() == counts or status == 404


def _endpoint_key(
    sandbox: SandboxServer, method: str, template: str, real: dict[str, str], auth: bytes
) -> str | None:
    """The stats key of an endpoint, learnt from one harmless request to it (None for one
    the stats do not count)."""
    counts = sandbox.stats()
    safe = {**real, "run_name": "no-such-run"} if method == "DELETE" else real
    raw_request(sandbox.port, method, _fill(template, safe), auth)
    keys = {k for k, n in sandbox.stats().items() if n != counts[k]}
    assert len(keys) <= 1, (method, template, keys)
    return keys.pop() if keys else None


# --- the token scan: notebooks run with a distinctive token and DEBUG logging --------------

#: Files that hold the token by design, each 0600, with the reason.
TOKEN_HOLDERS = {
    # So `jobmagic sandbox status --env`, `%jobmagic sandbox start` in another kernel and
    # ensure_sandbox_process() can connect to the running sandbox; removed when it stops.
    "sandbox/sandbox.json": "the running sandbox's address file",
}

SCAN_CELLS = [
    # DEBUG for everything the kernel logs (httpx, httpcore, jobmagic, asyncio ...).
    "import logging\nlogging.basicConfig(level=logging.DEBUG, force=True)",
    "%load_ext jobmagic\n%config JobMagic.poll_interval = 0.2",
    "%jobmagic sandbox start",
    "%jobmagic",
    # The sandbox answers this first trigger 400 (a fault the test armed): an error shown.
    "%trigger_job sandbox:demo:hello name=refused",
    "%%trigger_job sandbox:demo:hello --wait --timeout 60\nname: Ada",
    "%trigger_job sandbox:demo:fail --wait --timeout 60",
    "%%trigger_job sandbox:demo:hello --dry-run\nname: dry",
    "run = %trigger_job sandbox:demo:train lr=0.1 epochs=1\nrun",
    "run.wait(timeout=60)\nrun",
    "print(run.logs())",
    "%job_run {run.name} --app sandbox:demo:train",
    "%job_runs",
    "%job_runs --refresh --table",
    "%job_runs --all -o frame\nframe",
    "import jobmagic\njobmagic.TriggerForm('sandbox:demo:hello')",
    "%jobmagic sandbox status",
    "import os\nprint(sorted(k for k in os.environ if 'TFY' in k or 'JOBMAGIC' in k))",
    # A traceback out of the client, made with the real token.
    "from jobmagic.api import JobsClient\n"
    "JobsClient(os.environ['TFY_HOST'], os.environ['TFY_API_KEY']).get_run('app-x', 'nope')",
]
#: The cells above that fail on purpose (a UsageError, or an exception with a traceback).
FAILING_CELLS = {4, 6, len(SCAN_CELLS) - 1}


@pytest.mark.notebook
def test_no_file_holds_the_token_after_notebooks_ran_with_debug_logging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_code_cell, new_notebook

    from jobmagic.sandbox import Fault

    token = scan_token()
    dirs = {
        name: tmp_path / sub
        for name, sub in {
            "HOME": "home",
            "JOBMAGIC_HOME": "home/.jobmagic",  # created by jobmagic itself: 0700 is checked
            "IPYTHONDIR": "ipython",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTER_DATA_DIR": "jupyter-data",
            "JUPYTER_CONFIG_DIR": "jupyter-config",
            "TMPDIR": "tmp",
        }.items()
    }
    for name, folder in dirs.items():
        if name != "JOBMAGIC_HOME":
            folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("JOBMAGIC_SANDBOX_TOKEN", token)
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    jobmagic_home = dirs["JOBMAGIC_HOME"]
    roots = [*dirs.values(), work, out]

    sandbox = start_sandbox_process(jobmagic_home / "sandbox", token=token, log_level="debug")
    try:
        monkeypatch.setenv("TFY_HOST", sandbox.host)
        monkeypatch.setenv("TFY_API_KEY", token)
        sandbox.set_faults(Fault.status(400, "trigger", times=1))
        nb = new_notebook(cells=[new_code_cell(source) for source in SCAN_CELLS])
        for index in FAILING_CELLS:
            nb.cells[index].metadata["tags"] = ["raises-exception"]
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=120,
            store_widget_state=True,
            resources={"metadata": {"path": str(work)}},
        )
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            # While the kernel and the sandbox still run: their live files are there too
            # (the address file, SQLite's -wal/-shm, the kernel's connection file).
            live = _scan(roots, token)
        executed = out / "scan.ipynb"
        nbformat.write(nb, executed)
        html, _ = HTMLExporter().from_notebook_node(nb)
        (out / "scan.html").write_text(html, encoding="utf-8")
    finally:
        sandbox.stop()

    # The run went as planned, so the scan covers what it claims to.
    text = executed.read_text(encoding="utf-8")
    errors = [i for i, cell in enumerate(nb.cells) if _has_error(cell)]
    assert set(errors) == FAILING_CELLS, [nb.cells[i].outputs for i in errors]
    assert "DEBUG" in text and "FINISHED" in text and "FAILED" in text
    assert "DEBUG" in sandbox.log_path.read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-view+json" in text

    holders = {jobmagic_home / name for name in TOKEN_HOLDERS}
    assert set(live.found) == holders, f"the token is in {set(live.found) - holders}"
    assert live.modes == {path: 0o600 for path in holders}
    assert live.private_problems == {}, "files jobmagic writes are 0600, its folders 0700"
    after = _scan(roots, token)
    assert after.found == {}, f"the token is in {after.found}"
    assert after.private_problems == {}, "files jobmagic writes are 0600, its folders 0700"
    assert not any(path.exists() for path in holders)  # removed when the sandbox stopped
    # What jobmagic writes was there to be scanned (the README quotes the counts).
    expected = {
        "ledger.sqlite3",
        "sandbox/sandbox.db",
        "sandbox/sandbox.log",
        "sandbox/sandbox.json",
    }
    assert {jobmagic_home / name for name in expected} <= set(live.scanned)
    assert {executed, out / "scan.html"} <= set(after.scanned)
    print(
        f"scanned {len(live.scanned)} + {len(after.scanned)} files, {len(token_forms(token))} forms"
    )


@dataclass
class _Scan:
    scanned: list[Path]
    found: dict[Path, list[str]]
    modes: dict[Path, int]
    private_problems: dict[str, str]


def _scan(roots: list[Path], token: str) -> _Scan:
    """Where the token is under ``roots``, the mode of each file holding it, and any file or
    folder under ``JOBMAGIC_HOME`` that is not 0600 / 0700."""
    found = {Path(path): forms for path, forms in files_holding(roots, token_forms(token)).items()}
    home = Path(os.environ["JOBMAGIC_HOME"])
    problems = {
        str(path): oct(mode(path))
        for path in [home, *home.rglob("*")]
        if path.exists() and mode(path) != (0o700 if path.is_dir() else 0o600)
    }
    return _Scan(list(_files(roots)), found, {p: mode(p) for p in found}, problems)


def _has_error(cell: object) -> bool:
    outputs = getattr(cell, "outputs", None) or []
    return any(
        output.get("output_type") == "error" or "UsageError:" in str(output.get("text", ""))
        for output in outputs
    )
