"""The server extension with the real sandbox: a real `jupyter server` process, pointed at
the sandbox the way jobmagic is everywhere (TFY_HOST / TFY_API_KEY), with runs triggered by
a separate Python process and no kernel at all: the server's one refresher keeps them
current, terminates and reruns them, and never hands out the TrueFoundry token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from jobmagic.sandbox import SandboxServer

TOKEN = "jobmagic-serverext-runs-token"
OTHER_HOST = "http://127.0.0.1:1"
#: Waits on states (a run's status, a tick count), never on time: this only bounds a hang.
DEADLINE_S = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Panel:
    """What a panel does over HTTP, with every answer's text kept (the token test)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(trust_env=False, timeout=60.0)
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def _keep(self, answer: httpx.Response) -> httpx.Response:
        with self._lock:
            self.texts.append(answer.text)
        return answer

    def get(self, path: str, **params: str) -> httpx.Response:
        return self._keep(
            self.client.get(f"{self.url}jobmagic/{path}", params={"token": TOKEN, **params})
        )

    def post(self, path: str, body: Any = None) -> httpx.Response:
        """A POST as a token-holding script makes it (token-authenticated: no XSRF)."""
        return self._keep(
            self.client.post(
                f"{self.url}jobmagic/{path}",
                params={"token": TOKEN},
                content=b"" if body is None else json.dumps(body).encode(),
            )
        )

    def runs(self, **params: str) -> dict[str, Any]:
        answer = self.get("runs", **params)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def run_named(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.runs(limit="500")["runs"] if r["name"] == name), None)

    def wait_for(self, what: str, check: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            found = check()
            if found:
                return found
            assert time.monotonic() < deadline, f"never: {what}"
            time.sleep(0.1)

    def close(self) -> None:
        self.client.close()


@contextmanager
def jupyter_server(
    tmp_path: Path, env: dict[str, str], *, interval: float = 0.3, linger: float = 30.0
) -> Iterator[Panel]:
    """A jupyter server with jobmagic's extension, root ``tmp_path``, base URL /lab-base/."""
    pytest.importorskip("jupyter_server", reason="jupyter_server comes with the dev extra")
    port = _free_port()
    full_env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        **env,
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
            f"--JobmagicServer.refresh_interval={interval}",
            f"--JobmagicServer.panel_linger={linger}",
            "--allow-root",
        ],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    panel = Panel(f"http://127.0.0.1:{port}/lab-base/")
    try:

        def answers() -> bool:
            assert process.poll() is None, "jupyter server exited"
            try:
                return panel.client.get(
                    f"{panel.url}api/status", params={"token": TOKEN}
                ).is_success
            except httpx.TransportError:
                return False

        panel.wait_for("jupyter server answers", answers)
        yield panel
    finally:
        panel.close()
        process.terminate()
        process.wait(30)


def _env(sandbox: SandboxServer | None) -> dict[str, str]:
    """The environment of this test (HOME, JOBMAGIC_HOME: isolated_home's), pointed at the
    sandbox when there is one."""
    env = {"HOME": os.environ["HOME"], "JOBMAGIC_HOME": os.environ["JOBMAGIC_HOME"]}
    if sandbox is not None:
        env |= {"TFY_HOST": sandbox.host, "TFY_API_KEY": sandbox.token}
    return env


def _script_trigger(sandbox: SandboxServer, *runs: tuple[str, dict[str, str]]) -> list[str]:
    """Trigger runs from a separate Python process (no kernel, no tracker left behind)."""
    code = (
        "import json, sys, jobmagic\n"
        "for target, params in json.loads(sys.argv[1]):\n"
        "    print(jobmagic.trigger(target, params).name)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(runs)],
        env={**os.environ, **_env(sandbox)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.split()


def _ledger_path() -> Path:
    return Path(os.environ["JOBMAGIC_HOME"]) / "ledger.sqlite3"


def _app_id(sandbox: SandboxServer, job: str) -> str:
    answer = httpx.get(
        f"{sandbox.api_url}/apps",
        headers={"Authorization": f"Bearer {sandbox.token}"},
        trust_env=False,
    )
    apps = answer.json()["data"]
    return str(next(app["id"] for app in apps if app["name"] == job))


def test_a_scripts_runs_appear_and_end_with_no_kernel_refreshing_them(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    with jupyter_server(tmp_path, _env(sandbox)) as panel:
        sleep, train = _script_trigger(
            sandbox,
            ("sandbox:demo:sleep", {"seconds": "2"}),
            ("sandbox:demo:train", {"lr": "0.1", "epochs": "2"}),
        )
        listed = panel.runs()
        by_name = {run["name"]: run for run in listed["runs"]}
        assert {sleep, train} <= set(by_name)
        assert by_name[sleep]["application"] == "sandbox:demo:sleep"
        assert by_name[train]["params"] == {"lr": "0.1", "epochs": "2"}
        assert all(run["refreshed"] for run in listed["runs"])

        # The script is gone: only the server's refresher can tell the ledger they ended.
        ended = panel.wait_for(
            "both runs FINISHED in the listing",
            lambda: all(
                (panel.run_named(n) or {}).get("status") == "FINISHED" for n in (sleep, train)
            ),
        )
        assert ended
        from jobmagic.ledger import Ledger

        with Ledger(_ledger_path(), read_only=True) as ledger:
            assert {e.run_name: str(e.run.status) for e in ledger.entries() if e.run} == {
                sleep: "FINISHED",
                train: "FINISHED",
            }
        # Runs that ended in a tick get their metrics cached: the listing carries them.
        row = panel.wait_for(
            "the train run's metrics cached",
            lambda: (r := panel.run_named(train)) and r["metrics"].get("loss") is not None and r,
        )
        assert set(row["metrics"]) >= {"loss", "accuracy"}

        details = panel.get(f"runs/{row['id']}").json()
        assert details["exit_code"] == 0 and details["ended_at"] and details["created_at"]
        assert details["notebook"] is None  # a script: no notebook known
        assert len(details["history"]["loss"]) == 2 and details["history_error"] is None
        logs = panel.get(f"runs/{row['id']}/logs", tail="5").json()
        assert 0 < len(logs["lines"]) <= 5 and all("log" in line for line in logs["lines"])

    assert not any(sandbox.token in text for text in panel.texts)


def _login(panel: Panel) -> httpx.Client:
    """A browser's session: logged in with the token once, then by cookie (so Jupyter
    Server's XSRF check applies to its POSTs)."""
    browser = httpx.Client(trust_env=False, timeout=60.0)
    browser.get(f"{panel.url}login")
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf
    answer = browser.post(f"{panel.url}login", data={"password": TOKEN, "_xsrf": xsrf})
    assert answer.status_code in (200, 302), answer.text
    assert browser.get(f"{panel.url}jobmagic/version").status_code == 200  # by cookie
    return browser


def test_terminate_needs_xsrf_and_stops_the_run_at_the_server(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    with jupyter_server(tmp_path, _env(sandbox)) as panel:
        (name,) = _script_trigger(sandbox, ("sandbox:demo:sleep", {"seconds": "120"}))
        app_id = _app_id(sandbox, "sleep")
        sandbox.wait_for_run(app_id, name, statuses=("RUNNING",), timeout=60)
        run_id = panel.wait_for("the run listed", lambda: panel.run_named(name))["id"]
        url = f"{panel.url}jobmagic/runs/{run_id}/terminate"

        assert httpx.post(url, trust_env=False).status_code == 403  # no token, no cookie
        browser = _login(panel)
        try:
            refused = browser.post(url)  # a cross-site form: the cookie, no XSRF token
            assert refused.status_code == 403
            assert (sandbox.get_run(app_id, name) or {}).get("status") == "RUNNING"
            done = browser.post(url, headers={"X-XSRFToken": browser.cookies["_xsrf"]})
            assert done.status_code == 200, done.text
            assert done.json()["name"] == name
        finally:
            browser.close()

        stopped = sandbox.wait_for_run(app_id, name, timeout=60)
        assert stopped["status"] == "TERMINATED"
        panel.wait_for(
            "TERMINATED in the listing",
            lambda: (panel.run_named(name) or {}).get("status") == "TERMINATED",
        )
        again = panel.post(f"runs/{run_id}/terminate")
        assert again.status_code == 409 and "already ended" in again.json()["message"]
    assert not any(sandbox.token in text for text in panel.texts)


def test_rerun_is_recorded_as_a_rerun_of_the_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    with jupyter_server(tmp_path, _env(sandbox)) as panel:
        (first,) = _script_trigger(sandbox, ("sandbox:demo:hello", {"name": "Ada"}))
        run_id = panel.wait_for("the run listed", lambda: panel.run_named(first))["id"]
        assert (
            httpx.post(f"{panel.url}jobmagic/runs/{run_id}/rerun", trust_env=False).status_code
            == 403
        )

        answer = panel.post(f"runs/{run_id}/rerun", {"params": {"name": "Grace"}})
        assert answer.status_code == 200, answer.text
        again = answer.json()
        assert again["rerun_of"] == first and again["name"] != first and again["id"]

        row = panel.wait_for(
            "the rerun FINISHED",
            lambda: (r := panel.run_named(again["name"])) and r["status"] == "FINISHED" and r,
        )
        assert row["rerun_of"] == first and row["params"] == {"name": "Grace"}
        assert sandbox.get_run(_app_id(sandbox, "hello"), again["name"]) is not None
        bad = panel.post(f"runs/{run_id}/rerun", {"params": {"name": 3}})
        assert bad.status_code == 400
    assert not any(sandbox.token in text for text in panel.texts)


def test_list_calls_stay_one_per_application_per_tick_whatever_the_panels(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    from jobmagic.ledger import Ledger
    from jobmagic.models import JobRun, RunStatus

    _ledger_path().parent.mkdir(parents=True, exist_ok=True)
    with Ledger(_ledger_path()) as ledger:  # a live run of a host with no credentials here
        far = ledger.record_attempt(host=OTHER_HOST, target="train", application_id="app-far")
        ledger.record_acknowledged(far, JobRun(name="far-1", status=RunStatus.RUNNING))
    with jupyter_server(tmp_path, _env(sandbox), interval=0.5) as panel:
        names = _script_trigger(
            sandbox,
            *[("sandbox:demo:sleep", {"seconds": "120"})] * 3,
            *[("sandbox:demo:train", {"lr": "0.1", "epochs": "240"})] * 2,
        )
        panel.wait_for("listed", lambda: all(panel.run_named(n) for n in names))
        status = lambda: panel.get("status").json()["refresher"]  # noqa: E731
        panel.wait_for("a tick", lambda: status()["ticks_done"] >= 1)
        before = status()
        sandbox.reset_stats()

        def a_panel() -> None:
            for _ in range(5):
                assert panel.get("runs", limit="20").status_code == 200

        panels = [threading.Thread(target=a_panel) for _ in range(12)]
        for thread in panels:
            thread.start()
        for thread in panels:
            thread.join()
        panel.wait_for(
            "three more ticks", lambda: status()["ticks_done"] >= before["ticks_done"] + 3
        )
        lists = sandbox.stats()["list_runs"]
        after = status()
        # Two applications with live runs: each tick begun since the count was reset made
        # at most one list call for each, however many panels asked meanwhile (60 requests).
        ticks = after["ticks_started"] - before["ticks_done"]
        assert after["live_refreshable"] == 5  # the far run is never asked about
        far_row = panel.run_named("far-1")
        assert far_row is not None and far_row["refreshed"] is False
        assert all((panel.run_named(n) or {}).get("refreshed") for n in names)
        assert ticks >= 3 and 0 < lists <= 2 * ticks
        assert after["host"] == sandbox.host and "token" not in json.dumps(after)
        sandbox_calls = sandbox.stats()
        assert sandbox_calls["trigger"] == 0 and sandbox_calls["get_run"] == 0
    assert not any(sandbox.token in text for text in panel.texts)


def _fill_sweeps(path: Path, root: Path) -> dict[str, int]:
    """Runs of two sweeps (one with an objective) and one on a host without credentials."""
    from jobmagic.ledger import Ledger, SweepRecord
    from jobmagic.models import JobRun, RunStatus

    path.parent.mkdir(parents=True, exist_ok=True)
    ids: dict[str, int] = {}
    with Ledger(path) as ledger:
        ledger.add_sweep(SweepRecord("lr-scan", "grid", objective="loss:min"))
        ledger.add_sweep(SweepRecord("plain", "runs"))
        rows = [
            ("lr-1", "lr-scan", {"lr": "0.1"}, RunStatus.FINISHED, None),
            ("lr-2", "lr-scan", {"lr": "0.2"}, RunStatus.FINISHED, None),
            ("p-1", "plain", {"note": "50%_off"}, RunStatus.FAILED, str(root / "sub" / "n.ipynb")),
            ("elsewhere", None, {}, RunStatus.RUNNING, "/outside/x.ipynb"),
        ]
        for name, sweep, params, status, notebook in rows:
            attempt = ledger.record_attempt(
                host=OTHER_HOST,
                target="train",
                application_id="app-1",
                application_fqn="far:ws:train",
                params=params,
                sweep=sweep,
                notebook=notebook,
            )
            ledger.record_acknowledged(attempt, JobRun(name=name, status=status))
            ids[name] = attempt
        ledger.set_metrics([("app-1", "lr-1", "loss", 0.5, 3), ("app-1", "lr-2", "loss", 0.25, 3)])
    return ids


def test_sweep_and_text_filters_objectives_and_runs_without_credentials(
    isolated_home: Path, tmp_path: Path
) -> None:
    ids = _fill_sweeps(_ledger_path(), tmp_path)
    with jupyter_server(tmp_path, _env(None)) as panel:
        swept = panel.runs(sweep="lr-scan")
        assert [run["name"] for run in swept["runs"]] == ["lr-2", "lr-1"]
        assert swept["total"] == 2 and swept["counts"] == {"FINISHED": 2}
        assert swept["runs"][0]["objective"] == {"metric": "loss", "goal": "min", "value": 0.25}
        assert swept["runs"][0]["metrics"] == {"loss": 0.25}
        assert panel.runs(sweep="plain")["runs"][0]["objective"] is None

        texts = {
            "LR-": {"lr-1", "lr-2"},  # run names, case-insensitive
            "0.2": {"lr-2"},  # a param value
            "%_": {"p-1"},  # % and _ are plain characters
            "far:ws": {"lr-1", "lr-2", "p-1", "elsewhere"},  # the job's FQN
            "scan": {"lr-1", "lr-2"},  # the sweep's name
            "note": set(),  # a param's name is not its value
        }
        for text, expected in texts.items():
            found = panel.runs(q=text)
            assert {run["name"] for run in found["runs"]} == expected, text
            assert found["total"] == len(expected)
        assert panel.runs(q="lr", status="FAILED")["total"] == 0
        # The panel's job filter: a job's FQN, target or id, as %job_runs --app matches.
        assert panel.runs(app="far:ws:train")["total"] == 4
        assert panel.runs(app="app-1", sweep="plain")["total"] == 1
        assert panel.runs(app="other:ws:train")["total"] == 0

        # No credentials anywhere: the live run shows its stored status, marked.
        rows = {run["name"]: run for run in panel.runs()["runs"]}
        assert rows["elsewhere"]["live"] and rows["elsewhere"]["refreshed"] is False
        assert rows["lr-1"]["refreshed"] is True  # ended: nothing left to learn
        details = panel.get(f"runs/{ids['p-1']}").json()
        assert details["notebook"] == {"path": "sub/n.ipynb", "in_root": True}
        assert details["error"] is None and details["params"] == {"note": "50%_off"}
        far = panel.get(f"runs/{ids['elsewhere']}").json()
        assert far["notebook"] == {"path": "/outside/x.ipynb", "in_root": False}
        assert "no TrueFoundry credentials" in far["history_error"]
        refused = panel.post(f"runs/{ids['elsewhere']}/terminate")
        assert refused.status_code == 409 and "no TrueFoundry credentials" in refused.text
        assert panel.get(f"runs/{ids['elsewhere']}/logs").status_code == 409
        assert panel.get("runs", q="x", limit="-1").status_code == 400


def test_every_endpoint_needs_the_token(isolated_home: Path, tmp_path: Path) -> None:
    ids = _fill_sweeps(_ledger_path(), tmp_path)
    with jupyter_server(tmp_path, _env(None)) as panel:
        one = ids["lr-1"]
        for path in ("version", "status", "runs", f"runs/{one}", f"runs/{one}/logs"):
            assert httpx.get(f"{panel.url}jobmagic/{path}", trust_env=False).status_code == 403
            assert panel.get(path).status_code in (200, 409)
        for path in (f"runs/{one}/terminate", f"runs/{one}/rerun"):
            assert httpx.post(f"{panel.url}jobmagic/{path}", trust_env=False).status_code == 403


def test_a_damaged_ledger_is_reported_by_every_read_and_never_moved(
    isolated_home: Path, tmp_path: Path
) -> None:
    path = _ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a SQLite file" * 400)
    with jupyter_server(tmp_path, _env(None), interval=0.1) as panel:
        answer = panel.get("runs")
        assert answer.status_code == 503 and answer.json()["reason"] == "damaged"
        assert panel.get("runs/1").status_code == 503
        # The refresher ticks over it too (reading only): it reports, and moves nothing.
        panel.wait_for(
            "two ticks", lambda: panel.get("status").json()["refresher"]["ticks_done"] >= 2
        )
        assert "ledger" in panel.get("status").json()["refresher"]["failed"]
        assert "Traceback" not in answer.text
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite3"]
