"""What the params tests share: a namespace of notebook variables and an error catcher."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jobmagic.errors import ParamsError


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


NS: dict[str, Any] = {
    "lr": 0.1,
    "run_id": "r-7",
    "xs": [1, 2],
    "ts": ("a", "b"),
    "rng": range(3),
    "empty": [],
    "tricky": "a: b\n- c\n'\"{{ lr }}\\",
    "flag": True,
    "bad": Unprintable(),
}


def error(func: Callable[..., Any], *args: Any, **kwargs: Any) -> ParamsError:
    with pytest.raises(ParamsError) as info:
        func(*args, **kwargs)
    return info.value
