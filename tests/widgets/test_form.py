"""The trigger form: fields from the declared params, triggering once, inline errors."""

from __future__ import annotations

import html
import threading
from pathlib import Path

import pytest

from jobmagic.errors import ParamsError
from jobmagic.models import ParamSpec
from jobmagic.sandbox import SandboxServer
from jobmagic.widgets import RunSource, TriggerFormView
from jobmagic.widgets.card import RunCard
from tests.widgets.fakes import (
    EVIL,
    WIDGET_MIME,
    FakeSource,
    classes,
    html_traits,
    make_run,
    shown,
    wait_until,
)

# --- the trigger form ------------------------------------------------------------------


SPECS = [
    ParamSpec("lr", description="Learning rate", default="0.01"),
    ParamSpec("epochs", description=None, default="10"),
    ParamSpec("model_name", description="Which <model>", default=None),
]


def test_form_fields_from_param_specs(quiet: None) -> None:
    form = TriggerFormView(
        SPECS, on_submit=lambda v, c: FakeSource(make_run()), card=RunCard, title="Trigger x"
    )
    assert list(form.fields) == ["lr", "epochs", "model_name"]
    assert form.fields["lr"].value == "0.01" and form.fields["model_name"].value == ""
    assert form.fields["lr"].placeholder == "Learning rate"
    assert form.fields["lr"].tooltip == "Learning rate"
    assert form.yaml is None
    assert {"jobmagic-form-field", "jobmagic-field-model_name"} <= classes(
        form.fields["model_name"]
    )
    assert "jobmagic-form" in classes(form.widget)
    assert "jobmagic-trigger" in classes(form.trigger_button)
    assert "jobmagic-form-error" in classes(form.error)
    assert "jobmagic-form-history" in classes(form.history_box)
    assert "jobmagic-form-command" in classes(form.command)
    assert not any("<model>" in text for text in html_traits(form.widget) if "<span" in text)
    assert form.values() == {"lr": "0.01", "epochs": "10", "model_name": ""}
    form.close()


def test_form_triggers_and_keeps_history(quiet: None) -> None:
    calls: list[tuple[dict[str, str] | str, str | None]] = []
    made: list[FakeSource] = []

    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        calls.append((values, command))
        source = FakeSource(make_run(f"run-{len(calls)}"), params=dict(values))  # type: ignore[arg-type]
        made.append(source)
        return source

    form = TriggerFormView(SPECS[:2], on_submit=submit, card=RunCard)
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 1 and not form.busy, what="first run")
    form.fields["lr"].value = "0.1"
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 2 and not form.busy, what="second run")
    assert calls == [({"lr": "0.01", "epochs": "10"}, None), ({"lr": "0.1", "epochs": "10"}, None)]
    assert form.history == made
    # Newest card first.
    assert [c.source for c in form.cards] == [made[1], made[0]]
    assert form.history_box.children[0] is form.cards[0].widget
    assert "run-2" in form.cards[0].name_label.value
    assert form.error.value == "" and not form.trigger_button.disabled
    bundle = form._repr_mimebundle_()
    assert set(bundle) >= {WIDGET_MIME, "text/html", "text/plain"}
    assert "run-1" in bundle["text/html"] and "2 runs triggered" in bundle["text/plain"]
    form.close()
    assert all(s.subscribers == 0 for s in made)


def test_form_double_click_triggers_once(quiet: None) -> None:
    gate = threading.Event()
    calls = []

    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        calls.append(values)
        assert gate.wait(5)
        return FakeSource(make_run())

    form = TriggerFormView(SPECS[:2], on_submit=submit, card=RunCard)
    form.trigger_button.click()
    assert form.trigger_button.disabled and form.busy
    form.trigger_button.click()
    form._on_trigger_click()  # even if the front end still showed the button enabled
    gate.set()
    wait_until(lambda: not form.busy, what="trigger to finish")
    assert len(calls) == 1 and len(form.history) == 1
    assert not form.trigger_button.disabled
    form.close()


def test_form_shows_validation_errors_inline(quiet: None) -> None:
    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        raise ParamsError(f"the value of {EVIL} is empty", line=2, column=7)

    form = TriggerFormView([], on_submit=submit, card=RunCard)
    assert form.yaml is not None and "jobmagic-form-yaml" in classes(form.yaml)
    form.yaml.value = "lr: 0.1\nx:\n"
    form.trigger_button.click()
    wait_until(lambda: "line 2, column 7" in form.error.value, what="error")
    assert "&lt;script&gt;" in form.error.value and "<script" not in form.error.value
    assert "Traceback" not in form.error.value
    assert form.history == [] and form.cards == []
    wait_until(lambda: not form.trigger_button.disabled)
    form.close()


def test_form_yaml_body_and_command_override(quiet: None) -> None:
    calls: list[tuple[dict[str, str] | str, str | None]] = []

    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        calls.append((values, command))
        return FakeSource(make_run())

    form = TriggerFormView([], on_submit=submit, card=RunCard)
    assert not shown(form.command)
    form.command_toggle.value = True
    assert shown(form.command)
    form.command.value = "  python train.py --lr 0.5  "
    form.yaml.value = "lr: 0.5"  # type: ignore[union-attr]
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 1 and not form.busy)
    form.command_toggle.value = False
    assert not shown(form.command)
    form.trigger_button.click()
    wait_until(lambda: len(form.history) == 2 and not form.busy)
    assert calls == [("lr: 0.5", "python train.py --lr 0.5"), ("lr: 0.5", None)]
    form.close()


def test_form_refuses_a_blank_field_with_the_bodys_message(quiet: None) -> None:
    from jobmagic.params import parse_body

    calls: list[dict[str, str] | str] = []

    def submit(values: dict[str, str] | str, command: str | None) -> RunSource:
        calls.append(values)
        return FakeSource(make_run())

    form = TriggerFormView(SPECS[:2], on_submit=submit, card=RunCard)
    form.fields["epochs"].value = "  "
    form.trigger_button.click()
    wait_until(lambda: "has no value" in form.error.value and not form.busy, what="error")
    with pytest.raises(ParamsError) as body:
        parse_body("epochs:\n")
    # The body's sentence (its line and column aside), saying where `epochs: ""` is written.
    sentence = str(body.value).split(": ", 1)[1]
    expected = sentence.replace(" to send", " in a `%%trigger_job` cell body to send")
    assert html.unescape(form.error.value).endswith(f"{expected}</div>")
    assert calls == [] and form.history == []
    # Filled again, it triggers; a field the job declares blank may stay blank.
    form.fields["epochs"].value = "3"
    form.trigger_button.click()
    wait_until(lambda: len(calls) == 1 and not form.busy, what="the run")
    assert calls == [{"lr": "0.01", "epochs": "3"}] and form.error.value == ""
    form.close()
    optional = TriggerFormView([ParamSpec("note", default="")], on_submit=submit, card=RunCard)
    optional.trigger_button.click()
    wait_until(lambda: len(calls) == 2 and not optional.busy, what="the optional run")
    assert calls[-1] == {"note": ""}
    optional.close()


def test_trigger_form_sends_nothing_for_a_blank_field(
    shared_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The real TriggerForm on the sandbox: an emptied field is refused before sending."""
    import jobmagic
    from tests.sessions import session_on

    with session_on(shared_sandbox, tmp_path / "ledger.db") as session:
        form = jobmagic.TriggerForm("sandbox:demo:train", session=session)
        form.fields["epochs"].value = ""
        form.trigger_button.click()
        wait_until(lambda: "has no value" in form.error.value and not form.busy, what="error")
        assert "`epochs` has no value" in form.error.value
        assert shared_sandbox.stats().get("trigger", 0) == 0 and form.history == []
        form.close()
