"""The page a run card links to: ``/deployments/{applicationId}?tab=previousRuns``.

On TrueFoundry that URL is the job's page in the web UI, listing its runs. The sandbox
answers it with a small, self-contained HTML page listing the job's newest runs (status,
params, times, exit code, the tail of the logs), so the card's link works offline too.

The page is read by a browser that has no token (a link in a notebook can never carry
one), so it takes none: it is served only to loopback ``Host`` names (no DNS-rebinding
page elsewhere can read it), shows nothing the user's own notebook does not, shows every
value as jobmagic's views do (:func:`jobmagic.models.text.view_html`: a run's terminal
escapes and control characters never reach the page, the rest is escaped), and forbids
scripts and framing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from jobmagic.models.text import view_html
from jobmagic.sandbox.storage.records import RunRecord

if TYPE_CHECKING:
    from jobmagic.sandbox.service.operations import SandboxService

__all__ = [
    "LOG_TAIL",
    "PAGE_HEADERS",
    "is_loopback_host",
    "render_missing_page",
    "render_runs_page",
    "runs_page",
]

#: How many of each run's newest log lines the page shows.
LOG_TAIL = 20

#: Served with the page: no scripts, no embedding in other sites, no caching of logs.
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.3em; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 4px 10px; border-bottom: 1px solid #ddd; }
th { color: #555; font-weight: 600; } code, pre { font-size: 12px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; max-width: 60em; }
.FINISHED { color: #2e7d32; } .FAILED { color: #c62828; } .RUNNING { color: #1976d2; }
@media (prefers-color-scheme: dark) {
  body { color: #eee; background: #1e1e1e; } th { color: #aaa; }
  th, td { border-color: #444; }
}
"""


def is_loopback_host(host_header: str | None) -> bool:
    """True for a ``Host`` of 127.0.0.1, localhost or [::1], with or without a port.

    >>> is_loopback_host("127.0.0.1:8123"), is_loopback_host("evil.example:8123")
    (True, False)
    """
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host.split("]", 1)[0] + "]"
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in _LOOPBACK_NAMES


def _e(value: object) -> str:
    return view_html(value)


def _when(ms: int | None) -> str:
    if ms is None:
        return "—"
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(run: RunRecord, now_ms: int) -> str:
    end = run.end_time_ms if run.end_time_ms is not None else now_ms
    seconds = max(0.0, (end - run.created_at_ms) / 1000)
    return f"{seconds:.1f} s" + ("" if run.end_time_ms is not None else " so far")


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def render_runs_page(
    job_label: str,
    runs: Sequence[RunRecord],
    log_tails: Mapping[str, Sequence[str]],
    *,
    total: int,
    now_ms: int,
) -> str:
    """The whole page: a heading, then one row per run, newest first (pure, escaped).

    >>> page = render_runs_page("<b>\\x1b]0;title\\x07", [], {}, total=0, now_ms=0)
    >>> "&lt;b&gt;" in page and "\\x1b" not in page
    True
    """
    rows = []
    for run in runs:
        params = " ".join(f"{k}={v}" for k, v in run.params.items()) or "—"
        tail = "\n".join(log_tails.get(run.name, ())) or "(no log lines)"
        exit_code = "—" if run.exit_code is None else str(run.exit_code)
        error = f"<br><small>{_e(run.error)}</small>" if run.error else ""
        rows.append(
            f"<tr id='{_e(run.name)}'><td><code>{_e(run.name)}</code></td>"
            f"<td class='{_e(run.status)}'>Status: {_e(run.status)}{error}</td>"
            f"<td><code>{_e(params)}</code></td>"
            f"<td>Created: {_e(_when(run.created_at_ms))}<br>Ended: {_e(_when(run.end_time_ms))}"
            f"<br>Duration: {_e(_duration(run, now_ms))}</td>"
            f"<td>Exit code: {_e(exit_code)}</td>"
            f"<td><pre>{_e(tail)}</pre></td></tr>"
        )
    shown = f"{len(runs)} of {total}" if total > len(runs) else str(total)
    head = (
        "<tr><th>Run</th><th>Status</th><th>Params</th><th>Times</th><th>Exit code</th>"
        "<th>Logs (last lines)</th></tr>"
    )
    body = (
        f"<h1>{_e(job_label)}: previous runs</h1>"
        f"<p>{_e(shown)} run(s), newest first · served by the jobmagic sandbox</p>"
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return _page(f"{job_label}: runs", body)


def runs_page(service: SandboxService, application_id: str, *, limit: int = 50) -> str | None:
    """The page for one application from the service's store; None if there is no such job.

    One query for the runs, then one per run shown for the last :data:`LOG_TAIL` log lines.
    """
    job = service.catalog.by_application_id(application_id)
    if job is None:
        return None
    now_ms = int(time.time() * 1000)
    runs, total = service.store.list_runs(
        application_id,
        statuses=(),
        triggered_by=(),
        versions=(),
        search_prefix=None,
        sort_by="startTime",
        order="desc",
        limit=limit,
        offset=0,
        now_ms=now_ms,
    )
    tails = {}
    for run in runs:
        newest = service.store.query_logs(
            [run.id],
            start_ns=None,
            end_ns=None,
            search=None,
            descending=True,
            limit=LOG_TAIL,
            skip=0,
        )
        tails[run.name] = [record.line.rstrip("\n") for record in reversed(newest)]
    return render_runs_page(job.fqn, runs, tails, total=total, now_ms=now_ms)


def render_missing_page(application_id: str) -> str:
    """The page for an application the sandbox does not know."""
    body = (
        f"<h1>No job {_e(application_id)}</h1>"
        "<p>This sandbox has no application with that id. Its jobs are listed by "
        "<code>GET /api/svc/v1/apps</code>.</p>"
    )
    return _page("No such job", body)
