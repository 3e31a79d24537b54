"""Properties: whatever a user types, reading it gives valid params or one ParamsError.

Never another exception, never a leaked sentinel; and the line fast path reads what YAML reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobmagic.errors import ParamsError
from jobmagic.params import (
    _compose,
    _lines,
    expand_grid,
    grid_size,
    is_valid_name,
    parse_body,
    parse_grid_body,
    parse_kv_args,
    parse_kv_grid,
    validate_params,
)
from jobmagic.params._body import Body, flat_params
from jobmagic.params._grid import grid_axes
from jobmagic.params._placeholders import placeholder_spans, scan_spans
from tests.params.params_helpers import NS

# --- properties ----------------------------------------------------------------------------------

FRAGMENTS = [
    "lr", "epochs", "name", "a", "LR", "x1", "true", ":", ": ", " ", "  ", "\n", "\r\n", "\r",
    "\t", "- ", "-", "---", "...", "[", "]", "{", "}", ",", "{{", "}}", "{{ lr }}", "{{lr}}",
    "{{ nope }}", "{{ 1+1 }}", "{{ xs }}", "{{ empty }}", "{{ bad }}", "{{ tricky }}", "\\{{",
    "\\", '"', "'", '"\\', "'\\", "|", "|-", ">", "#", "# c", "&a ", "*a", "!!str ", "!!int ",
    "!x ", "! ", "<<", "? ", "%", "@", "`", "0.10", "yes", "~", "null", "010", "é", "😀",
    "\x00", "\x07", "\x7f", "\ufeff", "\u2028", "\x85", '"\\ud800"', '"\\ud83d\\ude00"',
    '"\\ue000"', "\ue000", "\ue001", "\U000f0000",
]  # fmt: skip

yamlish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=40).map(
    "".join
)

names = st.from_regex(r"[a-z][a-z0-9\-_]{0,30}[a-z0-9]", fullmatch=True)
BENIGN = [
    "0.10", "yes", "010", "~", "'q'", '"dq"', "a b", "[1, 2]", "{a: 1}", "{{ lr }}", "{{ xs }}",
    "x{{run_id}}y", "\\{{ x }}", "é", " # c", "|\n  text", "[a, [b, {c: d}]]", "''",
]  # fmt: skip
values = st.one_of(
    st.sampled_from(BENIGN), st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join)
)
lines_of_params = st.lists(st.tuples(names, st.sampled_from([": ", ":", ": [", ":\n  - "]), values))
structured = lines_of_params.map(lambda rows: "\n".join(f"{n}{sep}{v}" for n, sep, v in rows))
bodies = st.one_of(st.text(), yamlish, structured)

_PRIVATE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))


def _check_error(err: ParamsError, text: str) -> None:
    message = str(err)
    assert message and "\n" not in message
    # Every private-use character in a message was typed by the user: no sentinel leaks out.
    for ch in message:
        if any(low <= ord(ch) <= high for low, high in _PRIVATE):
            assert ch in text
    if err.line is not None:
        assert 1 <= err.line <= len(text) + 1
        assert err.column is not None and err.column >= 1


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_any_body_gives_params_or_params_error(text: str) -> None:
    try:
        result = parse_body(text, NS)
    except ParamsError as err:
        _check_error(err, text)
        return
    assert isinstance(result, dict)
    for name, value in result.items():
        assert is_valid_name(name)
        assert isinstance(value, str)
        value.encode("utf-8")  # sendable: no lone surrogates
    assert validate_params(result) == result


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_any_body_gives_grid_axes_or_params_error(text: str) -> None:
    try:
        axes = parse_grid_body(text, NS)
    except ParamsError as err:
        _check_error(err, text)
        return
    for name, axis in axes.items():
        assert is_valid_name(name)
        assert isinstance(axis, list) and axis
        assert all(isinstance(value, str) for value in axis)
    assert len(expand_grid(axes, limit=None)) == grid_size(axes)


@settings(max_examples=200, deadline=None)
@given(yamlish)
def test_libyaml_and_pure_python_agree(text: str) -> None:
    def outcome(fast: bool) -> Any:
        try:
            return flat_params(Body(text, NS, fast=fast))
        except ParamsError as err:
            return ("error", str(err))

    reference = outcome(fast=False)
    if not isinstance(reference, tuple) and _compose.FAST_LOADER is not None:
        # Whatever the reference parser accepts, the fast path reads the same way.
        assert outcome(fast=True) == reference


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=6))
def test_any_tokens_give_params_or_params_error(tokens: list[str]) -> None:
    for func in (parse_kv_args, parse_kv_grid):
        try:
            result = func(tokens)
        except ParamsError as err:
            _check_error(err, "".join(tokens))
            continue
        assert all(is_valid_name(name) for name in result)


safe_text = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Cn", "Co", "Zl", "Zp"], exclude_characters="{")
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, safe_text, max_size=8), st.sampled_from(["double", "single"]))
def test_quoted_values_round_trip(expected: dict[str, str], style: str) -> None:
    def quote(value: str) -> str:
        if style == "double":
            return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML one
        return "'" + value.replace("'", "''") + "'"

    body = "\n".join(f"{name}: {quote(value)}" for name, value in expected.items())
    assert parse_body(body) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_a_variable_can_never_break_the_yaml(value: str) -> None:
    body = "aa: {{ v }}\nbb: 'x{{v}}y'\ncc: [{{ v }}]\n"
    result = parse_body(body, {"v": value})
    assert result["aa"] == value
    assert result["bb"] == f"x{value}y"
    assert len(json.loads(result["cc"])) == 1


# --- the line fast path reads what YAML reads ---------------------------------------------------

# What a one-line value may hold: the fast grammar's edges (indicators, blanks, comments,
# quotes, numbers and literals as JSON sees them, private-use and odd Unicode characters).
LINE_PIECES = [
    "a", "b1", "x y", "0", "-1", "0.10", "1e-3", "010", ".5", "+1", "True", "NULL", "~", "no",
    " ", "  ", "\t", ":", ": ", "::", "#", " #c", "-", "- ", "?", "? ", ",", ", ", "[", "]",
    "{", "}", "[]", "{}", "[a, b]", "[1, [2, 3]]", "{k: v}", "{k: 1, k: 2}", "{1: a}", "'",
    "''", "'q'", '"', '"d"', "\\", "&", "*", "!", "|", ">", "%", "@", "`", "<<", "é", "\xa0",
    "\ue000", "\U000f0001", "\u2028", "\x85", "\ufeff", "\r", "{{ lr }}", "{{ xs }}",
    "[{{ lr }}]", "\\{{",
]  # fmt: skip
line_values = st.lists(st.sampled_from(LINE_PIECES), min_size=1, max_size=6).map("".join)
line_names = st.sampled_from(["lr", "xs", "name", "ab", "a", "Lr", "a-", "null"])
line_bodies = st.lists(
    st.one_of(
        st.tuples(line_names, line_values).map(lambda pair: f"{pair[0]}: {pair[1]}"),
        st.sampled_from(["", "# note", "  # note", "  x", "- a", "---", "...", "ab:", "  "]),
        st.tuples(st.sampled_from(["", " ", "  ", "   "]), line_values).map(
            lambda pair: f"{pair[0]}- {pair[1]}"
        ),
        st.sampled_from(["xs:", "xs:  # c", "ab: ", "  -", "-"]),
        # A flow list spread over lines, and the ways it goes wrong.
        st.sampled_from(
            ["xs: [", "xs: [  ", "  ab,", "  1 ,", "   2,", "  a b]", "  x]  # c", "  ]"]
        ),
    ),
    max_size=8,
).map("\n".join)


def _both_ways(read: Callable[[Body], Any], text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def outcome() -> Any:
        try:
            return read(Body(text, NS))
        except ParamsError as err:
            return ("error", str(err), err.line, err.column)

    fast = outcome()
    with monkeypatch.context() as patch:
        patch.setattr(_lines, "ENABLED", False)
        slow = outcome()
    assert fast == slow


@settings(max_examples=600, deadline=None)
@given(st.one_of(line_bodies, structured, yamlish))
def test_the_line_fast_path_reads_what_yaml_reads(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(flat_params, text, monkeypatch)
        _both_ways(grid_axes, text, monkeypatch)


@pytest.mark.parametrize(
    "text",
    [
        "aa: 1\nbb: [1, 2]\ncc: foo\n  bar\n",  # the last fast line goes on below
        "aa: 1\nbb: 2\n\tcc: 3\n",
        "aa: 1\nbb: 2\ncc: 'x\n",
        "aa: 1\nbb: 2\n---\ncc: 3\n",
        "aa: 1\nbb: {k: 1, k: 2}\n",
        "aa: 1\nbb: 2\naa: 3\n",
        "aa: [1, 2, " + "3, " * 200 + "x: y\n",
        "aa: [1, 2, " + "3, " * 200 + "4]\nbb: [1,\n  2]\n",
        "aa: [" + "1, " * 200 + "\n  2]\n",  # squeezed, read fine, then read for real
        "aa: 1\nbb: [{{ lr }}, 2]\ncc: x{{ run_id }}\n",
        "aa:\n  - 1\n  - x y  # c\n  - True\nbb:  # c\n- a\n- -1\n",
        "aa:\n  - 1\n  - 2\n    more\nbb: 1\n",  # an item goes on below
        "aa:\n  - 1\n   - 2\n",
        "aa:\n  - 1\n  # c\n  - 2\n",
        "aa:\n  - 1\n  -\n",
        "aa:\n  - {{ lr }}\n  - [1]\n",
        "aa: [\n  1,\n  x y,\n  2]\nbb: 1\n",  # a flow list spread over lines
        "aa: [\n  1,\n  2,\n]\n",  # its trailing comma is YAML's to read
        "aa: [\n  1,\n   2]\n",
        "aa: [\n  1,\n  2]  # c\nbb: [\n  {{ lr }},\n  3]\n",
        "aa: [\n  1,\n  2]\naa: 3\n",
        "aa: [\n  1,\n  2]\n\tbb: 1\n",
        "aa: [\n  True,\n  ~,\n  010]\nbb: [\n  1,\n  2\n",
    ],
)
def test_the_line_fast_path_hands_over_at_the_right_line(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_ways(flat_params, text, monkeypatch)


def test_the_line_fast_path_reads_list_heavy_bodies_itself() -> None:
    body = "".join(f"k{i:05d}: [1, 2.50, abc, True, {{x: y}}]  # c\n" for i in range(300))
    part = _lines.read_lines(body, Body(body, None).source)
    assert part.restart == len(body) and len(part.nodes) == 600
    assert parse_body(body)["k00299"] == '[1,2.50,"abc",true,{"x":"y"}]'


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from("{}\\ x\n"), max_size=30))
def test_placeholders_found_fast_are_those_the_scan_finds(text: str) -> None:
    assert placeholder_spans(text) == scan_spans(text)
