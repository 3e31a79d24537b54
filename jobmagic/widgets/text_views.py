"""Small text views the magics display: the --wait status line, a dry run, ``%jobmagic``,
and the lines ``%job_runs`` prints about attempts without a run.

Each has a ``text/plain`` and an escaped ``text/html`` form and no widgets, so they stay
cheap to import (``%load_ext`` imports no ipywidgets) and read the same in any notebook
viewer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jobmagic._ticks import clock_now, every_second
from jobmagic.config import mask_token
from jobmagic.models import JobRun
from jobmagic.models.constants import API_PREFIX
from jobmagic.models.formatting import format_duration, run_state_key
from jobmagic.models.text import view_html, view_text
from jobmagic.widgets.live import LiveOutput

if TYPE_CHECKING:
    from jobmagic.domain.engine import TriggerPlan
    from jobmagic.domain.reconcile import Verdict
    from jobmagic.ledger import LedgerEntry
    from jobmagic.widgets._source import RunSource

__all__ = [
    "DryRunView",
    "InfoView",
    "StatusLine",
    "WaitLine",
    "attempts_without_runs",
    "reconcile_summary",
]

_BOX = (
    "font-family: var(--jp-code-font-family, monospace); font-size: 12px; "
    "padding: 6px 8px; border-left: 3px solid var(--jp-brand-color1, #1976d2); "
    "background: var(--jp-layout-color2, #f5f5f5); color: var(--jp-ui-font-color1, #222);"
)


@dataclass(frozen=True)
class StatusLine:
    """``train-k3x9q · RUNNING · 12.3 s``: what ``--wait`` shows, updated in place; a live
    run's duration as of ``now`` (default: the clock's second, as every view shows it).

    >>> from datetime import timezone
    >>> from jobmagic.models import RunStatus
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> run = JobRun(name="x", status=RunStatus.RUNNING, created_at=t)
    >>> StatusLine(run, now=t.replace(second=3))
    x · RUNNING · 3.0 s
    """

    run: JobRun
    now: datetime | None = None

    def text(self) -> str:
        name = view_text(self.run.name, one_line=True)
        now = self.now or clock_now()
        parts = [name, str(self.run.status), format_duration(self.run.elapsed(now))]
        if self.run.exit_code is not None:
            parts.append(f"exit {self.run.exit_code}")
        return " · ".join(parts)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<div class='jobmagic-status-line' style='{_BOX}'>{view_html(self.text())}</div>"


class WaitLine:
    """The ``--wait`` status line, displayed with a display id: its duration moves on with
    the clock's every second (as the run's card and board rows do, showing the same figure),
    and it follows the run to its end, so a wait that timed out or was interrupted does not
    leave a frozen line in the saved notebook."""

    def __init__(
        self,
        source: RunSource,
        *,
        clock: Callable[[Callable[[datetime], None]], Any] = every_second,
    ) -> None:
        self._source = source
        self._clock = clock
        self._live = LiveOutput(self.bundle, self._state, lambda: source.run.is_terminal)
        self._unsubscribe: Callable[[], None] | None = None
        self._stop_clock: Callable[[], None] | None = None

    @property
    def display_id(self) -> str:
        return self._live.display_id

    def _state(self) -> tuple[object, ...]:
        # The text is part of the state: each second re-sends the moved-on duration.
        return (run_state_key(self._source.run), self.text())

    def text(self) -> str:
        return StatusLine(self._source.run).text()

    def bundle(self) -> dict[str, Any]:
        line = StatusLine(self._source.run)
        return {"text/plain": line.text(), "text/html": line._repr_html_()}

    def show(self) -> None:
        """Display the line and follow the run (its status changes, the clock's seconds)
        until it ends."""
        self._live.show()
        if not self._source.run.is_terminal and self._live.following:
            self._unsubscribe = self._source.subscribe(self._on_update)
            self._stop_clock = self._clock(self._on_second)
            if self._source.run.is_terminal:  # it ended while we subscribed
                self._stop_following()

    def tick(self) -> None:
        """Re-send the line now if it changed (the wait's end, or a view without a clock)."""
        self._live.push()

    def _on_second(self, _now: datetime) -> None:
        self._live.push()
        if self._source.run.is_terminal:
            self._stop_following()

    def _on_update(self, run: JobRun, _stale: Any) -> None:
        self._live.push()
        if run.is_terminal:
            self._stop_following()

    def _stop_following(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        stop_clock, self._stop_clock = self._stop_clock, None
        for stop in (unsubscribe, stop_clock):
            if stop is not None:
                stop()


@dataclass(frozen=True)
class DryRunView:
    """The exact request(s) a trigger would send, token masked; nothing was sent."""

    method: str
    url: str
    headers: Mapping[str, str]
    bodies: Sequence[Mapping[str, Any]]

    @classmethod
    def build(cls, host: str, token: str, triggers: TriggerPlan) -> DryRunView:
        """The engine's planned requests (built and checked by the one request builder),
        as they would be sent to ``host``, the token masked."""
        requests = triggers.requests
        path = requests[0].url_path if requests else API_PREFIX + "/jobs/trigger"
        return cls(
            method=requests[0].method if requests else "POST",
            url=host.rstrip("/") + path,
            headers={
                "Authorization": f"Bearer {mask_token(token)}",
                "Content-Type": "application/json",
            },
            bodies=[request.json for request in requests],
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
        return f"<pre class='jobmagic-dry-run' style='{_BOX}'>{view_html(self.text())}</pre>"


@dataclass(frozen=True)
class InfoView:
    """``%jobmagic``: where jobmagic points and where the token came from — never the token
    (the IPython layer gathers the rows: :func:`jobmagic.ipython.info.info_view`)."""

    rows: Sequence[tuple[str, str]]
    headline: str = "jobmagic"

    def text(self) -> str:
        width = max(len(k) for k, _ in self.rows)
        return "\n".join([self.headline] + [f"  {k.ljust(width)}  {v}" for k, v in self.rows])

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{view_html(k)}</th>"
            f"<td style='text-align:left'>{view_html(v)}</td></tr>"
            for k, v in self.rows
        )
        return (
            f"<div class='jobmagic-info' style='{_BOX}'><b>{view_html(self.headline)}</b>"
            f"<table>{cells}</table></div>"
        )


_ATTEMPT_NOTES = {
    "pending": "pending (sent, never answered: --reconcile looks for its run)",
    "unknown": "with an unknown outcome (--reconcile looks for its run)",
    "ambiguous": "ambiguous (several runs match: {candidates})",
    "not-created": "not created (no run was made: safe to trigger again)",
    "rejected": "rejected by the server",
}


def attempts_without_runs(entries: Sequence[LedgerEntry]) -> str:
    """One line about the listed attempts that have no run, by state."""
    groups: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.run is None:
            groups.setdefault(entry.state.value, []).append(entry)
    parts = []
    for state, text in _ATTEMPT_NOTES.items():
        found = groups.get(state, [])
        if found:
            candidates = ", ".join(sorted({c for e in found for c in e.candidates})[:6])
            parts.append(f"{len(found)} {text.format(candidates=candidates)}")
    if not parts:
        return ""
    return "Attempts without a run (see --table): " + "; ".join(parts) + "."


def reconcile_summary(verdicts: Sequence[Verdict]) -> str:
    """What ``%job_runs --reconcile`` found: counts per verdict, and each one's candidates."""
    if not verdicts:
        return "Reconciled: no attempt had an unknown outcome."
    counts: dict[str, int] = {}
    for verdict in verdicts:
        state = verdict.state.value if verdict.decided else "still unknown"
        counts[state] = counts.get(state, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    lines = [f"Reconciled {len(verdicts)} attempt(s) against the server: {parts}."]
    lines += [
        f"  attempt {v.attempt_id}: {', '.join(v.candidates)}" for v in verdicts if v.candidates
    ]
    return "\n".join(lines)
