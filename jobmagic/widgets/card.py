"""The live run card: one run's state, updated in place, with Refresh, Terminate and Logs.

"Run again" opens the run's params in a form inside the card; each run it triggers gets a
card of its own under this one (in the same output, outside this card's box), and the
card's saved copy lists those runs' copies under its own.

The card only sets widget traits. Updates arrive from the tracker's thread
(through :meth:`RunSource.subscribe`) and from the card's own worker threads
(button actions), so every change happens under one lock and nothing is
ever printed: output from a thread lands in whichever cell is running.

>>> run = jobmagic.trigger("sandbox:demo:hello", {"name": "Ada"})
>>> card = RunCard(run)      # shown by a notebook as the live card
>>> card.close()
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timezone
from typing import Any

import ipywidgets as widgets

from jobmagic._ticks import clock_now, every_second
from jobmagic.models import JobRun
from jobmagic.models.formatting import (
    format_clock,
    run_state_key,
    short_error,
    shows_events,
    status_state,
)
from jobmagic.models.text import view_html
from jobmagic.widgets._card_logs import LOG_REFRESH_SECONDS, PANEL_LINE_CHARS, CardLogs
from jobmagic.widgets._card_widgets import CardWidgets, show
from jobmagic.widgets._metrics_html import metrics_html
from jobmagic.widgets._source import RerunSpec, RunSource
from jobmagic.widgets._threads import start_worker
from jobmagic.widgets.form import TriggerFormView
from jobmagic.widgets.live_view import LiveView
from jobmagic.widgets.static import (
    badge_html,
    error_html,
    events_html,
    link_html,
    meta_html,
    params_html,
    render_run_html,
    render_run_text,
)

__all__ = ["DEFAULT_LOG_TAIL", "LOG_REFRESH_SECONDS", "PANEL_LINE_CHARS", "RunCard"]

#: How many of the newest log lines the Logs panel shows.
DEFAULT_LOG_TAIL = 200


def _message_html(text: str, *, error: bool = False) -> str:
    if not text:
        return ""
    kind = "jobmagic-message-error" if error else "jobmagic-message-ok"
    return f'<span class="{kind}">{view_html(text)}</span>'


class _StartedNote:
    """What the "Run again" form lists for a run it started: one line pointing below (the
    run's card is under the source card, not in the form)."""

    def __init__(self, name: str) -> None:
        self.widget = widgets.HTML(
            f'<span class="jobmagic-muted">Started {view_html(name)}: '
            "its card is below this one.</span>"
        )
        self.widget.add_class("jobmagic-rerun-started")

    def close(self) -> None:
        self.widget.close()


class RunCard(CardLogs, CardWidgets, LiveView):
    """A live card for one run: name, status badge, facts, params, link, actions, logs.

    ``source`` is anything implementing :class:`~jobmagic.widgets.RunSource`
    (a :class:`jobmagic.RunHandle` in practice). The card subscribes to it
    and keeps itself current until the run ends or :meth:`close` is called.

    >>> run = jobmagic.trigger("sandbox:demo:hello", {"name": "Ada"})
    >>> card = RunCard(run.wait(timeout=60) and run)
    >>> card.status_badge.value
    '<span class="jobmagic-badge jobmagic-badge-finished"...>FINISHED</span>'
    >>> card.close()
    """

    def __init__(self, source: RunSource, *, log_tail: int = DEFAULT_LOG_TAIL) -> None:
        super().__init__()
        self._source = source
        self._log_tail = log_tail
        self._run: JobRun = source.run
        self._stale_since: datetime | None = source.stale_since
        self._unsubscribe: Callable[[], None] | None = None
        self._stop_clock: Callable[[], None] | None = None
        self._status_class = ""
        self._confirming = False
        self._terminate_busy = False
        self._terminate_sent = False
        self._refresh_busy = False
        self._init_logs(log_tail)
        self._build()
        self._apply(self._run, self._stale_since)
        # Its metrics box stays current while the run lives, whoever made the card (a form,
        # "Run again", a board), as a board's rows do: no request now, the tracker's after.
        source.want_metrics()
        if not self._run.is_terminal:
            unsubscribe = source.subscribe(self._on_update)
            with self._lock:
                self._unsubscribe = unsubscribe
                self._stop_clock = every_second(self._on_second)  # live times move each second
            # An update may have landed between reading source.run and subscribing, or the
            # final one before the unsubscribe function was stored.
            latest = source.run
            if latest != self._run:
                self._on_update(latest, self._stale_since)
            elif self._run.is_terminal:
                self._stop_listening()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self._build_widgets()
        # The card's box (``jobmagic-card``) and, under it, its reruns' cards: the widget
        # shown is both, so a rerun's card sits below this one, not inside its box.
        self.box = self.widget
        self.reruns_box = widgets.VBox([])
        self.reruns_box.add_class("jobmagic-reruns")
        self.widget = widgets.VBox([self.box, self.reruns_box])
        self.widget.add_class("jobmagic-card-output")
        self._widgets += [self.widget, self.reruns_box]
        self._reruns: list[RunCard] = []
        source = self._source
        self.params_table.value = params_html(source.params)
        self.link.value = link_html(source.url)
        show(self.link, bool(self.link.value))
        show(self.confirm_box, False)
        show(self.logs, False)
        show(self.stale_note, False)
        show(self.events_box, False)
        show(self.metrics_box, False)
        self._rerun_form: Any = None
        self._rerun_busy = False
        rerun_of = source.rerun_of
        self.rerun_of_label.value = (
            f'<span class="jobmagic-rerun-of-text" title="This run repeats that one">'
            f"rerun of {view_html(rerun_of)}</span>"
            if rerun_of
            else ""
        )
        show(self.rerun_of_label, bool(rerun_of))
        # A source that cannot build a rerun form (a plain in-memory one) shows no button.
        show(self.rerun_button, source.can_rerun)

        self.refresh_button.on_click(self._on_refresh_click)
        self.terminate_button.on_click(self._on_terminate_click)
        self.confirm_button.on_click(self._on_confirm_click)
        self.cancel_button.on_click(self._on_cancel_click)
        self.logs_toggle.observe(self._on_logs_toggle, names="value")
        self.rerun_button.on_click(self._on_rerun_click)

    # -- state ---------------------------------------------------------------------------

    @property
    def source(self) -> RunSource:
        return self._source

    @property
    def run(self) -> JobRun:
        """The JobRun the card shows now."""
        return self._run

    @property
    def stale_since(self) -> datetime | None:
        return self._stale_since

    @property
    def subscribed(self) -> bool:
        """True while the card listens to its source (until the run ends or close())."""
        return self._unsubscribe is not None

    @property
    def reruns(self) -> list[RunCard]:
        """The cards of the runs this card's "Run again" started, oldest first."""
        with self._lock:
            return list(self._reruns)

    def _state_key(self) -> tuple[object, ...]:
        with self._lock:
            events = len(self._source.events) if shows_events(self._run) else 0
            reruns: tuple[Hashable, ...] = tuple(card._output_state() for card in self._reruns)
            logs = self._copied_logs_version
            return (run_state_key(self._run), events, self._stale_since is None, logs, reruns)

    def _shows_ended(self) -> bool:
        return self._run.is_terminal and all(card._output_done() for card in self.reruns)

    def _on_update(self, run: JobRun, stale_since: datetime | None) -> None:
        """Subscription callback: runs on the tracker's thread."""
        was_terminal = self._run.is_terminal
        self._apply(run, stale_since)
        self._update_outputs()
        self._after_update(run, was_terminal)

    def _after_update(self, run: JobRun, was_terminal: bool) -> None:
        # One last fetch when the run ends, so the panel shows the final lines.
        if run.is_terminal and not was_terminal:
            self._fetch_logs(force=True)
        elif not run.is_terminal:
            self._fetch_logs(force=False)

    def _apply(self, run: JobRun, stale_since: datetime | None) -> None:
        """Show ``run``; every change is a trait assignment, so any thread may call it."""
        with self._lock:
            if self._closed:
                return
            self._run = run
            self._stale_since = stale_since
            now = clock_now()  # the second every view shows live durations at
            name = run.name or "(unnamed run)"
            self.name_label.value = (
                f'<span class="jobmagic-name-text" title="Run name">{view_html(name)}</span>'
            )
            state = status_state(run.status)
            self.status_badge.value = badge_html(run.status)
            new_class = f"jobmagic-status-{state}"
            if new_class != self._status_class:
                if self._status_class:
                    self.status_badge.remove_class(self._status_class)
                self.status_badge.add_class(new_class)
                self._status_class = new_class
            self.meta.value = meta_html(run, application_fqn=self._source.application_fqn, now=now)
            self.error_box.value = error_html(run.error)
            show(self.error_box, bool(run.error))
            # The source fetched these once when it saw the run end; reading makes no request.
            self.events_box.value = events_html(self._source.events) if shows_events(run) else ""
            show(self.events_box, bool(self.events_box.value))
            self.metrics_box.value = metrics_html(self._source.metric_series)
            show(self.metrics_box, bool(self.metrics_box.value))
            if stale_since is None:
                self.stale_note.value = ""
                show(self.stale_note, False)
            else:
                self.stale_note.value = (
                    '<span class="jobmagic-stale-text" title="Polling this run is failing; '
                    'the card shows the last known state.">'
                    f"stale since {view_html(format_clock(stale_since))}</span>"
                )
                show(self.stale_note, True)
            if run.is_terminal and self._confirming:
                self._confirming = False
                show(self.confirm_box, False)
            self._sync_buttons()
        if run.is_terminal:
            self._stop_listening()

    def _sync_buttons(self) -> None:
        with self._lock:
            run = self._run
            self.refresh_button.disabled = self._refresh_busy
            self.terminate_button.disabled = (
                run.is_terminal
                or status_state(run.status) == "terminating"
                or self._confirming
                or self._terminate_busy
                or self._terminate_sent
            )

    def _set_message(self, text: str, *, error: bool = False) -> None:
        with self._lock:
            if not self._closed:
                self.message.value = _message_html(text, error=error)

    def _on_second(self, now: datetime) -> None:
        """Clock callback: the live run's duration and "… ago" moved on."""
        with self._lock:
            if not self._closed and not self._run.is_terminal:
                fqn = self._source.application_fqn
                self.meta.value = meta_html(self._run, application_fqn=fqn, now=now)

    def _stop_listening(self) -> None:
        with self._lock:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            stop_clock, self._stop_clock = self._stop_clock, None
        for stop in (unsubscribe, stop_clock):
            if stop is not None:
                stop()

    # -- refresh -------------------------------------------------------------------------

    def _on_refresh_click(self, _button: widgets.Button | None = None) -> None:
        with self._lock:
            if self._closed or self._refresh_busy:
                return
            self._refresh_busy = True
            self._sync_buttons()
        self._set_message("Refreshing…")
        start_worker(self._do_refresh, name="jobmagic-card-refresh")

    def _do_refresh(self) -> None:
        was_terminal = self._run.is_terminal
        try:
            run = self._source.refresh()
        except Exception as exc:
            self._set_message(f"Refresh failed: {short_error(exc)}", error=True)
        else:
            self._apply(run, None)
            self._update_outputs()
            self._set_message(f"Refreshed at {format_clock(datetime.now(timezone.utc))}.")
            self._after_update(run, was_terminal)
        finally:
            with self._lock:
                self._refresh_busy = False
                self._sync_buttons()

    # -- terminate -----------------------------------------------------------------------

    def _on_terminate_click(self, _button: widgets.Button | None = None) -> None:
        with self._lock:
            if self._closed or self._confirming or self._terminate_busy or self._run.is_terminal:
                return
            self._confirming = True
            name = self._run.name or "this run"
            self.confirm_text.value = (
                f'<span class="jobmagic-confirm-question">Terminate <b>{view_html(name)}</b>?'
                "</span>"
            )
            show(self.confirm_box, True)
            self._sync_buttons()

    def _on_cancel_click(self, _button: widgets.Button | None = None) -> None:
        with self._lock:
            if not self._confirming:
                return
            self._confirming = False
            show(self.confirm_box, False)
            self._sync_buttons()

    def _on_confirm_click(self, _button: widgets.Button | None = None) -> None:
        with self._lock:
            # The flags make a double click on "Yes" send one request, not two.
            if self._closed or not self._confirming or self._terminate_busy:
                return
            self._confirming = False
            self._terminate_busy = True
            show(self.confirm_box, False)
            self._sync_buttons()
            name = self._run.name
        self._set_message(f"Terminating {name}…")
        start_worker(self._do_terminate, name="jobmagic-card-terminate")

    def _do_terminate(self) -> None:
        try:
            answer = self._source.terminate()
        except Exception as exc:
            self._set_message(f"Terminate failed: {short_error(exc)}", error=True)
            sent = False
        else:
            self._set_message(answer or "Termination requested.")
            sent = True
        with self._lock:
            self._terminate_busy = False
            self._terminate_sent = self._terminate_sent or sent
            self._sync_buttons()

    # -- run again -----------------------------------------------------------------------

    @property
    def rerun_form(self) -> Any:
        """The "Run again" form, once opened (a :class:`TriggerFormView`)."""
        return self._rerun_form

    def _on_rerun_click(self, _button: widgets.Button | None = None) -> None:
        with self._lock:
            if self._closed or self._rerun_busy:
                return
            form = self._rerun_form
            if form is not None:
                # A second click folds the form away again; its runs' cards stay below.
                shown = self.rerun_box.layout.display != "none"
                show(self.rerun_box, not shown)
                return
            self._rerun_busy = True
            self.rerun_button.disabled = True
        self._set_message("Opening the run's params…")
        start_worker(self._do_open_rerun_form, name="jobmagic-card-rerun")

    def _do_open_rerun_form(self) -> None:
        # What the run was sent with comes from the ledger, maybe the job's template: blocking.
        try:
            form = self._rerun_form_of(self._source.rerun_fields())
        except Exception as exc:
            self._set_message(f"Cannot run again: {short_error(exc)}", error=True)
            form = None
        with self._lock:
            self._rerun_busy = False
            if self._closed:
                if form is not None:
                    form.close()
                return
            self.rerun_button.disabled = False
            if form is not None:
                self._rerun_form = form
                self.rerun_box.children = (form.widget,)
                show(self.rerun_box, True)
        if form is not None:
            self._set_message("Change what you want, then Trigger: a new run, with its own card.")

    def _rerun_form_of(self, fields: RerunSpec) -> TriggerFormView:
        """A form filled with what the run was triggered with; Trigger reruns it with the
        values as edited (only a field changed from what is shown is a change)."""
        source = self._source
        shown = fields.values

        def submit(values: Mapping[str, str] | str, command: str | None) -> RunSource:
            if command:
                return source.rerun(command=command)
            if isinstance(values, str):
                # Deferred: parsing a YAML body loads PyYAML, which showing a card does not.
                from jobmagic.params import parse_body

                values = parse_body(values, {})
            changes = {k: v for k, v in values.items() if shown.get(k) != v}
            return source.rerun(changes)

        form = TriggerFormView(
            fields.specs,
            on_submit=submit,
            card=self._add_rerun,
            title=f"Run {self._run.name} again",
        )
        if fields.command is not None:
            form.command_toggle.value = True
            form.command.value = fields.command
        return form

    def _add_rerun(self, source: RunSource) -> _StartedNote:
        """Show the card of a run the form started under this card; the form lists a note."""
        card = RunCard(source, log_tail=self._log_tail)
        with self._lock:
            closed = self._closed
            if not closed:
                self._reruns.append(card)
                self.reruns_box.children = tuple(c.widget for c in self._reruns)
        if closed:
            card.close()
        else:
            # This card's saved copy lists the rerun's: re-sent whenever that one changes.
            card.on_output_change(self._update_outputs)
            self._update_outputs()
        return _StartedNote(source.run.name)

    # -- lifetime and display ------------------------------------------------------------

    def _release(self) -> None:
        """Stop listening to the source; close the "Run again" form, the reruns' cards and
        every widget."""
        self._stop_listening()
        with self._lock:
            form = self._rerun_form
            reruns = list(self._reruns)
        if form is not None:
            form.close()
        for card in reruns:
            card.close()
        for widget in self._widgets:
            widget.close()

    def text(self) -> str:
        """The one-line summary (also the ``text/plain`` of the output)."""
        source = self._source
        return render_run_text(
            self._run,
            params=source.params,
            application_fqn=source.application_fqn,
            rerun_of=source.rerun_of,
        )

    def _static_bundle(self) -> dict[str, Any]:
        """The card's copies, then those of the runs its "Run again" started (as they show
        under it)."""
        html, text = [self.snapshot_html()], [self.text()]
        for card in self.reruns:
            copies = card._static_bundle()
            html.append(copies["text/html"])
            text.append(copies["text/plain"])
        return {"text/html": "".join(html), "text/plain": "\n".join(text)}

    def snapshot_html(self) -> str:
        """A static HTML snapshot of the card as it is now (without its reruns')."""
        source = self._source
        return render_run_html(
            self._run,
            params=source.params,
            application_fqn=source.application_fqn,
            url=source.url,
            events=source.events,
            metrics=source.metric_series,
            rerun_of=source.rerun_of,
            logs=self._copied_logs,
        )

    def __repr__(self) -> str:
        return f"<RunCard {self.text()}>"
