"""Small static views the magics display: the --wait status line, a dry run, ``%jobmagic``.

Each has a ``text/plain`` and an escaped ``text/html`` form and no widgets,
so they stay cheap to import and read the same in any notebook viewer.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobmagic._version import __version__
from jobmagic.api._errors import JobmagicError
from jobmagic.config import mask_token
from jobmagic.models import JobRun

if TYPE_CHECKING:
    from jobmagic.sandbox.server import SandboxProcess
    from jobmagic.session import JobSession, ResolvedTarget

__all__ = ["DryRunView", "InfoView", "StatusLine"]

_BOX = (
    "font-family: var(--jp-code-font-family, monospace); font-size: 12px; "
    "padding: 6px 8px; border-left: 3px solid var(--jp-brand-color1, #1976d2); "
    "background: var(--jp-layout-color2, #f5f5f5); color: var(--jp-ui-font-color1, #222);"
)


def _fmt_seconds(seconds: float | None) -> str:
    from jobmagic.widgets._format import format_duration

    return format_duration(seconds)


@dataclass(frozen=True)
class StatusLine:
    """``train-k3x9q · RUNNING · 12 s``: what ``--wait`` shows, updated in place."""

    run: JobRun

    def text(self) -> str:
        parts = [self.run.name, str(self.run.status), _fmt_seconds(self.run.elapsed())]
        if self.run.exit_code is not None:
            parts.append(f"exit {self.run.exit_code}")
        return " · ".join(parts)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<div class='jobmagic-status-line' style='{_BOX}'>{html.escape(self.text())}</div>"


@dataclass(frozen=True)
class DryRunView:
    """The exact request(s) a trigger would send, token masked; nothing was sent."""

    method: str
    url: str
    headers: Mapping[str, str]
    bodies: Sequence[Mapping[str, Any]]

    @classmethod
    def build(
        cls,
        host: str,
        token: str,
        resolved: ResolvedTarget,
        param_sets: Sequence[Mapping[str, str]],
        *,
        command: str | None,
        alias: str | None,
    ) -> DryRunView:
        from jobmagic.api import _endpoints as ep

        requests = [
            ep.trigger(
                application_id=None if resolved.deployment_id else resolved.application_id,
                deployment_id=resolved.deployment_id,
                command=command,
                params=params or None,
                alias=alias,
            )
            for params in param_sets
        ]
        return cls(
            method="POST",
            url=host.rstrip("/") + ep.API_PREFIX + "/jobs/trigger",
            headers={
                "Authorization": f"Bearer {mask_token(token)}",
                "Content-Type": "application/json",
            },
            bodies=[r.json for r in requests],
        )

    def text(self) -> str:
        head = [f"{self.method} {self.url}"] + [f"{k}: {v}" for k, v in self.headers.items()]
        shown = self.bodies[:20]
        lines = [f"Dry run: {len(self.bodies)} request(s) would be sent; nothing was sent.", ""]
        for body in shown:
            lines += [*head, "", json.dumps(body, indent=2), ""]
        if len(self.bodies) > len(shown):
            lines.append(f"… and {len(self.bodies) - len(shown)} more like these.")
        return "\n".join(lines).rstrip()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<pre class='jobmagic-dry-run' style='{_BOX}'>{html.escape(self.text())}</pre>"


@dataclass(frozen=True)
class InfoView:
    """``%jobmagic``: where jobmagic points and where the token came from — never the token."""

    rows: Sequence[tuple[str, str]]
    headline: str = "jobmagic"

    @classmethod
    def build(
        cls,
        session: JobSession,
        sandbox: SandboxProcess | None,
        *,
        headline: str = "jobmagic",
    ) -> InfoView:
        rows: list[tuple[str, str]] = [("version", __version__)]
        try:
            credentials = session.credentials()
        except JobmagicError as exc:
            rows += [("host", "not configured"), ("problem", str(exc))]
        else:
            rows += [
                ("host", credentials.host),
                ("host from", credentials.host_source),
                ("token", mask_token(credentials.token)),
                ("token from", credentials.token_source),
            ]
        settings = session.settings
        from jobmagic.config import jobmagic_home

        ledger = settings.ledger_path or str(jobmagic_home() / "ledger.sqlite3")
        rows += [
            ("ledger", ledger),
            ("poll interval", f"{settings.poll_interval:g} s"),
            ("runs this session", str(len(session.handles))),
        ]
        if sandbox is not None:
            rows += [("sandbox", f"{sandbox.host} (pid {sandbox.pid})")]
        return cls(rows=rows, headline=headline)

    def text(self) -> str:
        width = max(len(k) for k, _ in self.rows)
        return "\n".join([self.headline] + [f"  {k.ljust(width)}  {v}" for k, v in self.rows])

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.rows
        )
        return (
            f"<div class='jobmagic-info' style='{_BOX}'><b>{html.escape(self.headline)}</b>"
            f"<table>{cells}</table></div>"
        )
