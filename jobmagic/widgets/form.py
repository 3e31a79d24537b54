"""The trigger form: a job's params as fields, a Trigger button, and the runs' cards below.

The view knows nothing of HTTP: ``on_submit(values, command)`` does the work (in a worker
thread) and returns the new run's source. ``values`` is a dict of field values when the job
declares params, checked first by :func:`jobmagic.params.parse_fields` (a blank field is
refused with the message a cell body's ``name:`` gets, and nothing is sent), else the raw
YAML text of the text area (parsed by the caller with the same rules as a ``%%trigger_job``
cell body).

>>> from jobmagic.models import ParamSpec
>>> from jobmagic.widgets.card import RunCard
>>> sent = []
>>> form = TriggerFormView(
...     [ParamSpec("lr", default="0.1")],
...     on_submit=lambda values, command: sent.append(values),
...     card=RunCard,
... )
>>> form.fields["lr"].value = "0.2"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ipywidgets as widgets

from jobmagic.models import ParamSpec
from jobmagic.models.formatting import css_token, run_state_key, short_error
from jobmagic.models.text import view_html
from jobmagic.widgets._source import RunSource
from jobmagic.widgets._threads import start_worker
from jobmagic.widgets.live_view import LiveView
from jobmagic.widgets.static import (
    params_html,
    render_run_html,
    render_run_text,
    style_block,
)

__all__ = ["CardView", "SubmitCallback", "TriggerFormView"]

#: ``on_submit(values, command) -> RunSource``; ``values`` is a dict of fields or YAML text.
SubmitCallback = Callable[[dict[str, str] | str, str | None], RunSource]


class CardView(Protocol):
    """What the form shows for each run it triggered (a :class:`jobmagic.widgets.RunCard`:
    the card module builds "Run again" forms, so the form is handed its card class)."""

    @property
    def widget(self) -> widgets.Widget: ...

    def close(self) -> None: ...


_YAML_PLACEHOLDER = "lr: 0.01\nepochs: 10\nmodel: resnet50"


class TriggerFormView(LiveView):
    """A form that triggers runs and keeps a card for each (newest first).

    With ``param_specs``, one text field per declared param, prefilled with
    its default; without, a YAML text area. An optional command override
    sits behind a checkbox. ``history`` lists every run triggered from the
    form, oldest first.

    >>> from jobmagic.widgets.card import RunCard
    >>> form = TriggerFormView([ParamSpec("lr", default="0.1")], on_submit=print, card=RunCard)
    >>> form.fields["lr"].value
    '0.1'
    """

    def __init__(
        self,
        param_specs: Sequence[ParamSpec],
        *,
        on_submit: SubmitCallback,
        card: Callable[[RunSource], CardView],
        title: str = "",
    ) -> None:
        # The form's saved copy lists its runs: re-sent when one is added or changes state.
        super().__init__()
        self._specs = [spec for spec in param_specs if spec.name]
        self._on_submit = on_submit
        self._card = card
        self._title = title
        self._busy = False
        self.history: list[RunSource] = []
        self.cards: list[CardView] = []
        self._unsubscribers: list[Callable[[], None]] = []
        self._build()

    def _build(self) -> None:
        self.style = widgets.HTML(value=style_block())
        self.style.add_class("jobmagic-style")
        self.title_label = widgets.HTML(
            value=f'<div class="jobmagic-form-title">{view_html(self._title)}</div>'
        )
        self.title_label.add_class("jobmagic-form-title-widget")
        if not self._title:
            self.title_label.layout.display = "none"
        self._widgets: list[widgets.Widget] = []
        rows = self._make_fields()
        self.command_toggle = widgets.Checkbox(
            value=False, description="Override the command", indent=False
        )
        self.command_toggle.add_class("jobmagic-form-command-toggle")
        self.command = widgets.Text(
            value="",
            placeholder="e.g. python train.py --lr 0.1",
            tooltip="Runs this command instead of the job's own (no params are sent)",
        )
        self.command.add_class("jobmagic-form-command")
        self.command.layout.display = "none"
        self.trigger_button = widgets.Button(
            description="Trigger", button_style="primary", icon="play", tooltip="Start a run"
        )
        self.trigger_button.add_class("jobmagic-trigger")
        self.status = widgets.HTML()
        self.status.add_class("jobmagic-form-status")
        self.error = widgets.HTML()
        self.error.add_class("jobmagic-form-error")
        self.history_box = widgets.VBox([])
        self.history_box.add_class("jobmagic-form-history")
        actions = widgets.HBox([self.trigger_button, self.status])
        actions.layout.align_items = "center"
        self.widget = widgets.VBox(
            [
                self.style,
                self.title_label,
                *rows,
                self.command_toggle,
                self.command,
                actions,
                self.error,
                self.history_box,
            ]
        )
        self.widget.add_class("jobmagic-form")
        self._widgets += [
            self.widget,
            self.style,
            self.title_label,
            self.command_toggle,
            self.command,
            self.trigger_button,
            self.status,
            self.error,
            self.history_box,
            actions,
        ]
        self.command_toggle.observe(self._on_command_toggle, names="value")
        self.trigger_button.on_click(self._on_trigger_click)

    def _make_fields(self) -> list[widgets.Widget]:
        """One text field per declared param (with its description beside it), or, when
        the job declares none, one YAML text area; returns the form's rows."""
        rows: list[widgets.Widget] = []
        self.fields: dict[str, widgets.Text] = {}
        self.yaml: widgets.Textarea | None = None
        for spec in self._specs:
            hint = spec.description or ""
            field = widgets.Text(
                value=spec.default or "",
                description=spec.name,
                placeholder=hint or spec.name,
                tooltip=hint or spec.name,
                style={"description_width": "initial"},
            )
            field.add_class("jobmagic-form-field")
            field.add_class(f"jobmagic-field-{css_token(spec.name)}")
            note = widgets.HTML(value=f'<span class="jobmagic-muted">{view_html(hint)}</span>')
            note.add_class("jobmagic-form-hint")
            row = widgets.HBox([field, note])
            row.layout.align_items = "center"
            self.fields[spec.name] = field
            rows.append(row)
            self._widgets += [row, field, note]
        if not self._specs:
            self.yaml = widgets.Textarea(
                value="",
                placeholder=_YAML_PLACEHOLDER,
                description="Params",
                tooltip="Params as YAML, one `name: value` per line (empty: no params)",
                rows=5,
            )
            self.yaml.add_class("jobmagic-form-yaml")
            rows.append(self.yaml)
            self._widgets.append(self.yaml)
        return rows

    # -- values --------------------------------------------------------------------------

    @property
    def param_specs(self) -> list[ParamSpec]:
        return list(self._specs)

    def values(self) -> dict[str, str] | str:
        """What ``on_submit`` receives: the fields as a dict, or the YAML text."""
        if self.yaml is not None:
            return str(self.yaml.value)
        return {name: str(field.value) for name, field in self.fields.items()}

    def command_value(self) -> str | None:
        """The command override, when its checkbox is ticked and it is not blank."""
        if not self.command_toggle.value:
            return None
        text = str(self.command.value).strip()
        return text or None

    def _on_command_toggle(self, change: dict[str, Any]) -> None:
        self.command.layout.display = None if change.get("new") else "none"

    # -- triggering ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a trigger request is in flight."""
        return self._busy

    def _on_trigger_click(self, _button: widgets.Button | None = None) -> None:
        # The flag, not only ``disabled``: a second click can arrive before the front end
        # learns the button is disabled, and must not trigger a second run.
        with self._lock:
            if self._busy or self._closed:
                return
            self._busy = True
        self.trigger_button.disabled = True
        self.error.value = ""
        self.status.value = '<span class="jobmagic-muted">Triggering…</span>'
        values = self.values()
        command = self.command_value()
        start_worker(lambda: self._submit(values, command), name="jobmagic-form-trigger")

    def _submit(self, values: dict[str, str] | str, command: str | None) -> None:
        try:
            if isinstance(values, dict) and command is None:
                values = self._checked(values)
            source = self._on_submit(values, command)
            card = self._card(source)
        except Exception as exc:
            self.error.value = (
                f'<div class="jobmagic-error-text">{view_html(short_error(exc))}</div>'
            )
        else:
            with self._lock:
                self.history.append(source)
                self.cards.insert(0, card)
                closed = self._closed
                if not closed:
                    self.history_box.children = tuple(c.widget for c in self.cards)
            if closed:
                card.close()
            else:
                self._follow(source)
                self._update_outputs()
        finally:
            with self._lock:
                self._busy = False
                if not self._closed:
                    self.trigger_button.disabled = False
                    self.status.value = ""

    def _checked(self, values: dict[str, str]) -> dict[str, str]:
        """The fields as the params layer checks them: a blank field is refused as a cell
        body's ``name:`` with nothing after it is (one rule, one message), unless the form
        was filled with it blank."""
        # Deferred: the params package loads PyYAML, which showing a card does not need.
        from jobmagic.params import parse_fields

        return parse_fields(values, {spec.name: spec.default for spec in self._specs})

    # -- lifetime and display ------------------------------------------------------------

    def _follow(self, source: RunSource) -> None:
        if source.run.is_terminal:
            return
        holder: list[Callable[[], None]] = []

        def on_update(run: Any, _stale: Any) -> None:
            self._update_outputs()
            if run.is_terminal and holder:
                holder.pop()()

        unsubscribe = source.subscribe(on_update)
        holder.append(unsubscribe)
        with self._lock:
            closed = self._closed
            if not closed:
                self._unsubscribers.append(unsubscribe)
        if closed:  # closed while subscribing: nobody else would let go of it
            unsubscribe()

    def _state_key(self) -> tuple[object, ...]:
        with self._lock:
            return tuple(run_state_key(source.run) for source in self.history)

    def _shows_ended(self) -> bool:
        with self._lock:
            return all(source.run.is_terminal for source in self.history)

    def _release(self) -> None:
        """Stop following the runs; close every card the form shows and its widgets."""
        with self._lock:
            cards = list(self.cards)
            unsubscribers, self._unsubscribers = self._unsubscribers, []
        for unsubscribe in unsubscribers:
            unsubscribe()
        for card in cards:
            card.close()
        for widget in self._widgets:
            widget.close()

    def text(self) -> str:
        """A few lines: the title, how many runs were triggered, one line per run."""
        title = self._title or "Trigger form"
        noun = "run" if len(self.history) == 1 else "runs"
        lines = [f"{title} ({len(self._specs)} params) · {len(self.history)} {noun} triggered"]
        lines += [
            render_run_text(source.run, application_fqn=source.application_fqn)
            for source in reversed(self.history)
        ]
        return "\n".join(lines)

    def snapshot_html(self) -> str:
        """A static HTML view: the title, the current values, and each run's snapshot."""
        values = self.values()
        if isinstance(values, str):
            shown = (
                f'<pre class="jobmagic-form-yaml">{view_html(values)}</pre>'
                if values.strip()
                else '<span class="jobmagic-muted">No params.</span>'
            )
        else:
            shown = params_html(values)
        runs = "".join(
            render_run_html(
                source.run,
                params=source.params,
                application_fqn=source.application_fqn,
                url=source.url,
            )
            for source in reversed(self.history)
        )
        title = view_html(self._title or "Trigger form")
        return (
            f'<div class="jobmagic-snapshot jobmagic-form-snapshot">{style_block()}'
            f'<div class="jobmagic-form-title">{title}</div>{shown}'
            f'<div class="jobmagic-form-history">{runs}</div></div>'
        )

    def __repr__(self) -> str:
        return f"<TriggerFormView {self.text().splitlines()[0]}>"
