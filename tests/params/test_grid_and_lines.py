"""Grids, the one-line form, and params given from Python."""

from __future__ import annotations

from typing import Any

import pytest

from jobmagic.params import (
    expand_grid,
    grid_size,
    parse_grid_body,
    parse_kv_args,
    parse_kv_grid,
    validate_params,
)
from tests.params.params_helpers import NS, error

# --- grid ----------------------------------------------------------------------------------------


def test_grid_axes(parser: str) -> None:
    body = (
        "lr: [0.10, 1e-3]\n"
        "opt: adam\n"
        "cfg: {a: 1}\n"
        "layers: [[64, 64], [128]]\n"
        "seed:\n  - 1\n  - '2'\n"
    )
    assert parse_grid_body(body) == {
        "lr": ["0.10", "1e-3"],
        "opt": ["adam"],
        "cfg": ['{"a":1}'],
        "layers": ["[64,64]", "[128]"],
        "seed": ["1", "2"],
    }


def test_grid_placeholders(parser: str) -> None:
    body = "aa: {{ xs }}\nbb: {{ ts }}\ncc: {{ rng }}\ndd: [{{ lr }}, 2]\nee: {{ xs }}!"
    assert parse_grid_body(body, NS) == {
        "aa": ["1", "2"],
        "bb": ["a", "b"],
        "cc": ["0", "1", "2"],
        "dd": ["0.1", "2"],
        "ee": ["[1, 2]!"],
    }


def test_grid_errors(parser: str) -> None:
    err = error(parse_grid_body, "aa: 1\nlr: []")
    assert (err.line, err.column) == (2, 5)
    assert "`lr` is an empty list, so the grid would have no runs" in str(err)
    err = error(parse_grid_body, "lr: {{ empty }}", NS)
    assert (err.line, err.column) == (1, 5)
    assert "`empty` is an empty list" in str(err)
    err = error(parse_grid_body, "lr:\n  - a\n  -\n")
    assert (err.line, err.column) == (3, 3)
    assert 'an item of `lr` is empty; give a value, or write `""`' in str(err)
    err = error(parse_grid_body, "lr:\n")
    assert (err.line, err.column) == (1, 1)


def test_expand_grid_first_key_varies_slowest() -> None:
    axes = {"lr": ["0.1", "0.01"], "seed": ["1", "2", "3"], "opt": ["adam"]}
    runs = expand_grid(axes)
    assert grid_size(axes) == len(runs) == 6
    assert runs[:4] == [
        {"lr": "0.1", "seed": "1", "opt": "adam"},
        {"lr": "0.1", "seed": "2", "opt": "adam"},
        {"lr": "0.1", "seed": "3", "opt": "adam"},
        {"lr": "0.01", "seed": "1", "opt": "adam"},
    ]
    assert expand_grid({}) == [{}]
    assert expand_grid({"lr": [], "seed": ["1"]}) == []


def test_expand_grid_limit() -> None:
    axes = {"lr": ["1", "2", "3"], "seed": ["1", "2"]}
    assert len(expand_grid(axes, limit=6)) == 6
    err = error(expand_grid, axes, limit=5)
    assert str(err) == "the grid makes 6 runs, more than the limit of 5; use fewer values"
    assert err.line is None


# --- the one-line form ---------------------------------------------------------------------------


def test_kv_args() -> None:
    assert parse_kv_args(["lr=0.10", "expr=a=b", "flag=yes", "path=a b"]) == {
        "lr": "0.10",
        "expr": "a=b",
        "flag": "yes",
        "path": "a b",
    }
    assert parse_kv_args([]) == {}


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["lr"], "`lr` is not a `name=value` pair; write e.g. `lr=0.01`"),
        (["=1"], "`=1` has no param name before `=`; write e.g. `lr=0.01`"),
        (
            ["lr="],
            '`lr=` has no value; write `lr=VALUE`, or use the cell form `lr: ""` to send an '
            "empty string",
        ),
        (["lr=1", "lr=2"], "`lr` is given twice; keep one of them"),
        (["LR=1"], "`LR` is not a valid param name (it has uppercase letters)"),
    ],
)
def test_kv_args_errors(tokens: list[str], message: str) -> None:
    err = error(parse_kv_args, tokens)
    assert str(err) == message or message in str(err)
    assert err.line is None


def test_kv_grid() -> None:
    assert parse_kv_grid(["lr=[0.10, 1e-3]", "opt=adam", "layers=[[64,64],[128]]"]) == {
        "lr": ["0.10", "1e-3"],
        "opt": ["adam"],
        "layers": ["[64,64]", "[128]"],
    }
    assert parse_kv_grid(["lr=[a"]) == {"lr": ["[a"]}  # not a list: sent as written
    err = error(parse_kv_grid, ["lr=[]"])
    assert str(err).startswith("`lr=[]` at character 1: `lr` is an empty list")
    err = error(parse_kv_grid, ["lr=[a,,b]"])
    assert (
        str(err)
        == "`lr=[a,,b]` at character 4: a value cannot start with `,`; put the value in quotes"
    )
    assert err.line is None


# --- params from Python --------------------------------------------------------------------------


class _Text(str):
    pass


def test_validate_params() -> None:
    given = {"lr": "0.1", "name": _Text("x")}
    checked = validate_params(given)
    assert checked == {"lr": "0.1", "name": "x"}
    assert checked is not given
    assert type(checked["name"]) is str
    assert validate_params({}) == {}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"epochs": 3},
            '`epochs` is an int (3), but param values must be strings; pass "3" (str(...)) instead',
        ),
        ({"lr": 0.5}, '`lr` is a float (0.5), but param values must be strings; pass "0.5"'),
        ({"flag": True}, "`flag` is a bool (True), but param values must be strings"),
        ({"xs": [1]}, "`xs` is a list ([1])"),
        ({"lr": None}, "`lr` is None, but param values must be strings; pass a string or leave"),
        ({1: "a"}, "param names must be strings, not int (1)"),
        ({"Bad Name": "1"}, "`Bad Name` is not a valid param name"),
        ({"lr": "\ud800"}, "the value of `lr` holds a lone surrogate"),
        (["lr"], "params must be a mapping of param name to string"),
    ],
)
def test_validate_params_errors(given: Any, message: str) -> None:
    err = error(validate_params, given)
    assert message in str(err)
    assert (err.line, err.column) == (None, None)
