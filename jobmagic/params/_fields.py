"""A param with no value: the one message a cell body and a form's fields share, and the
check of a form's fields (a blank field is a body's ``name:`` with nothing after it)."""

from __future__ import annotations

from collections.abc import Mapping

from jobmagic.errors import ParamsError

__all__ = ["check_fields_filled", "no_value_message"]

#: Where an empty string can be written when the text is not a cell body (a form's field).
IN_A_BODY = " in a `%%trigger_job` cell body"


def no_value_message(name: str, *, where: str = "") -> str:
    """Why a param with nothing after it is refused, and how to send an empty string.

    >>> no_value_message("epochs")
    '`epochs` has no value; give one, or write `epochs: ""` to send an empty string'
    """
    return f'`{name}` has no value; give one, or write `{name}: ""`{where} to send an empty string'


def check_fields_filled(
    values: Mapping[str, str], defaults: Mapping[str, str | None] | None = None
) -> None:
    """Refuse a blank field (empty or only spaces) as a body refuses ``name:`` alone; a field
    left at a blank default of its own (the job declares ``""``, or the run repeated sent
    it) is kept, being what was declared or sent.

    >>> check_fields_filled({"lr": "0.1", "note": ""}, {"note": ""})
    >>> check_fields_filled({"epochs": " "}, {"epochs": "3"})
    Traceback (most recent call last):
    ...
    jobmagic.errors.ParamsError: `epochs` has no value; give one, or write `epochs: ""` in a \
`%%trigger_job` cell body to send an empty string
    """
    kept = defaults or {}
    for name, value in values.items():
        if isinstance(value, str) and not value.strip() and value != kept.get(name):
            raise ParamsError(no_value_message(name, where=IN_A_BODY))
