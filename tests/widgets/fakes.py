"""What the view tests build views from: an in-memory ``RunSource`` and widget-tree helpers.

The views make no HTTP calls, so ``FakeSource`` stands in for a run handle; button actions
run in worker threads, which the tests wait for with deadlines (``wait_until``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import ipywidgets as widgets

from jobmagic.models import Event, JobRun, LogLine, RunStatus

EVIL = "<script>alert(1)</script>"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


# --- helpers ---------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def now() -> datetime:
    return datetime.now(timezone.utc)


def make_run(name: str = "train-k3x9q", status: str = "RUNNING", **kwargs: Any) -> JobRun:
    defaults: dict[str, Any] = {
        "application_name": "train",
        "deployment_version": "3",
        "created_at": now() - timedelta(seconds=30),
    }
    defaults.update(kwargs)
    return JobRun(name=name, status=RunStatus(status), **defaults)


class FakePage(list[LogLine]):
    """What ``FakeSource.logs`` returns: lines, and an index as the page's cursor."""

    def __init__(self, lines: list[LogLine], *, next: int, full: bool) -> None:
        super().__init__(lines)
        self.next = next
        self.full = full


class FakeSource:
    """An in-memory RunSource; ``emit`` plays the tracker's part."""

    def __init__(
        self,
        run: JobRun,
        *,
        params: Mapping[str, str] | None = None,
        application_fqn: str | None = "sandbox:demo:train",
        url: str | None = "https://app.example.com/deployments/d1/runs/train-k3x9q",
    ) -> None:
        self._run = run
        self._params = dict(params if params is not None else {"lr": "0.1", "epochs": "2"})
        self._fqn = application_fqn
        self._url = url
        self._lock = threading.Lock()
        self.callbacks: list[Callable[[JobRun, datetime | None], None]] = []
        self.subscribe_calls = 0
        self.refresh_calls = 0
        self.terminate_calls = 0
        self.log_calls: list[int | None] = []
        self.refresh_result: JobRun | Exception | None = None
        self.terminate_result: str | Exception = "Termination of train-k3x9q requested"
        self.log_lines: list[LogLine] = []
        self.logs_error: Exception | None = None
        self.events: list[Event] = []  # a real source fills these when the run ends
        self.rerun_of: str | None = None
        self.stale_since: datetime | None = None
        self.metric_series: dict[str, tuple[float, ...]] = {}
        self.metrics_wanted = 0
        self.can_rerun = False  # a plain in-memory run cannot be triggered again
        # When set, refresh/terminate/logs block until the test opens the gate.
        self.gate: threading.Event | None = None

    @property
    def run(self) -> JobRun:
        return self._run

    @property
    def params(self) -> Mapping[str, str]:
        return self._params

    @property
    def application_fqn(self) -> str | None:
        return self._fqn

    @property
    def url(self) -> str | None:
        return self._url

    def _block(self) -> None:
        if self.gate is not None:
            assert self.gate.wait(5), "test never opened the gate"

    def refresh(self) -> JobRun:
        with self._lock:
            self.refresh_calls += 1
        self._block()
        result = self.refresh_result
        if isinstance(result, Exception):
            raise result
        if result is not None:
            self._run = result
        return self._run

    def terminate(self) -> str:
        with self._lock:
            self.terminate_calls += 1
        self._block()
        if isinstance(self.terminate_result, Exception):
            raise self.terminate_result
        return self.terminate_result

    def logs(
        self, tail: int | None = None, *, since: Any = None, limit: int | None = None
    ) -> FakePage:
        """A page of ``log_lines``; its cursor is the index of the line after it."""
        with self._lock:
            self.log_calls.append(tail)
        self._block()
        if self.logs_error is not None:
            raise self.logs_error
        lines = list(self.log_lines)
        if tail:
            return FakePage(lines[-tail:], next=len(lines), full=len(lines) >= tail)
        start = since or 0
        page = lines[start : start + limit] if limit else lines[start:]
        return FakePage(page, next=start + len(page), full=bool(limit) and len(page) == limit)

    def want_metrics(self) -> None:
        self.metrics_wanted += 1

    def rerun_fields(self) -> Any:
        raise NotImplementedError("a FakeSource cannot be run again (can_rerun is False)")

    def rerun(
        self, params: Mapping[str, str] | None = None, /, *, command: str | None = None
    ) -> Any:
        raise NotImplementedError("a FakeSource cannot be run again (can_rerun is False)")

    def subscribe(self, callback: Callable[[JobRun, datetime | None], None]) -> Callable[[], None]:
        with self._lock:
            self.subscribe_calls += 1
            self.callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self.callbacks:
                    self.callbacks.remove(callback)

        return unsubscribe

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self.callbacks)

    def emit(self, run: JobRun | None = None, stale_since: datetime | None = None) -> None:
        """What the tracker does on a tick: new state, then every listener."""
        if run is not None:
            self._run = run
        with self._lock:
            callbacks = list(self.callbacks)
        for callback in callbacks:
            callback(self._run, stale_since)

    def emit_from_thread(self, run: JobRun | None = None, stale: datetime | None = None) -> None:
        thread = threading.Thread(target=self.emit, args=(run, stale), name="fake-tracker")
        thread.start()
        thread.join(5)


def all_widgets(root: widgets.Widget) -> Iterator[widgets.Widget]:
    yield root
    for child in getattr(root, "children", ()):
        yield from all_widgets(child)


def html_traits(root: widgets.Widget) -> list[str]:
    """Every string a front end would render as HTML or text in this widget tree."""
    texts = []
    for widget in all_widgets(root):
        for trait in ("value", "description", "placeholder", "tooltip"):
            value = getattr(widget, trait, None)
            if isinstance(value, str):
                texts.append(value)
    return texts


def shown(widget: widgets.Widget) -> bool:
    return widget.layout.display != "none"


def classes(widget: widgets.Widget) -> set[str]:
    return set(widget._dom_classes)
