"""What a cell body's values become, and the package's public names.

Names, scalars as written, lists and mappings as JSON, placeholders.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import pytest

import jobmagic.params as params_module
from jobmagic.params import (
    NAME_PATTERN,
    NAME_RULE,
    is_valid_name,
    parse_body,
    parse_grid_body,
)
from tests.params.params_helpers import NS, error


def _private_modules() -> list[Any]:
    names = [info.name for info in pkgutil.iter_modules(params_module.__path__)]
    return [importlib.import_module(f"jobmagic.params.{name}") for name in names]


def test_the_public_names_and_each_modules_own() -> None:
    """Every public name stays importable from the package; each private module lists its
    names in ``__all__`` and defines or imports each of them."""
    assert params_module.__all__ == [
        "MAX_BODY_BYTES",
        "NAME_PATTERN",
        "NAME_RULE",
        "Choice",
        "Fixed",
        "ParamsError",
        "Range",
        "SpaceEntry",
        "check_text_size",
        "expand_grid",
        "grid_size",
        "is_valid_name",
        "parse_body",
        "parse_fields",
        "parse_grid_body",
        "parse_kv_args",
        "parse_kv_grid",
        "parse_space_body",
        "space_from_mapping",
        "validate_params",
    ]
    for name in params_module.__all__:
        assert getattr(params_module, name) is not None
    for module in _private_modules():
        assert module.__all__, module.__name__
        assert all(hasattr(module, name) for name in module.__all__), module.__name__


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lr", "learning-rate", "a1", "ab_c", "a" + "b" * 31, "x-1"])
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "a", "A", "LR", "1a", "a-", "a_", "a b", "é1", "a" * 33, "lr\n", "-lr", None, 3],
)
def test_invalid_names(name: Any) -> None:
    assert not is_valid_name(name)


def test_name_pattern_is_the_apis() -> None:
    assert NAME_PATTERN.pattern == r"^[a-z][a-z0-9\-_]{0,30}[a-z0-9]$"


@pytest.mark.parametrize(
    ("name", "why", "suggestion"),
    [
        ("LR", "it has uppercase letters", "e.g. `lr`"),
        ("Learning Rate", "it has uppercase letters", "e.g. `learning_rate`"),
        ("x", "it has only one character", None),
        ("1abc", "it starts with `1`", "e.g. `abc`"),
        ("ab-", "it ends with `-`", "e.g. `ab`"),
        ("a b", "it contains ` `", "e.g. `a_b`"),
        ("a" * 40, "it has 40 characters", "e.g. `" + "a" * 32 + "`"),
    ],
)
def test_name_errors_say_why_and_the_rule(name: str, why: str, suggestion: str | None) -> None:
    err = error(parse_body, f"{name}: 1")
    assert (err.line, err.column) == (1, 1)
    assert "is not a valid param name" in str(err)
    assert why in str(err)
    assert NAME_RULE in str(err)
    if suggestion:
        assert suggestion in str(err)
    else:
        assert "e.g." not in str(err)


# --- scalars are sent as written -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("lr: 0.10", "0.10"),
        ("lr: yes", "yes"),
        ("lr: 010", "010"),
        ("lr: 1e3", "1e3"),
        ("lr: true", "true"),
        ("lr: ~", "~"),
        ("lr: null", "null"),
        ("lr: -1", "-1"),
        ("lr: 0x1F", "0x1F"),
        ("lr: .inf", ".inf"),
        ("lr: 2020-01-01", "2020-01-01"),
        ("lr: 1_000", "1_000"),
        ('lr: "Ada"', "Ada"),
        ("lr: 'it''s'", "it's"),
        ('lr: "a\\tb\\u00e9"', "a\tbé"),
        ("lr: '  padded  '", "  padded  "),
        ("lr: ''", ""),
        ('lr: ""', ""),
        ("lr: 0.10   # the comment is dropped", "0.10"),
        ("lr: http://x/y?a=1#frag", "http://x/y?a=1#frag"),
        ("lr: a:b", "a:b"),
        ("lr: hello\n  world", "hello world"),
        ("lr: héllo 😀", "héllo 😀"),
        ("lr: !!str 010", "010"),
        ("lr: |\n  line 1\n  line 2\n", "line 1\nline 2\n"),
        ("lr: |-\n  line 1\n  line 2\n", "line 1\nline 2"),
        ("lr: >\n  folded\n  text\n", "folded text\n"),
        ('lr: "\\ud83d\\ude00"', "😀"),
    ],
)
def test_scalars_are_sent_as_written(parser: str, body: str, expected: str) -> None:
    assert parse_body(body) == {"lr": expected}


@pytest.mark.parametrize("body", ["", "   ", "\n\n", "# just a comment\n  # another", "---", "{}"])
def test_an_empty_body_means_no_params(parser: str, body: str) -> None:
    assert parse_body(body) == {}
    assert parse_grid_body(body) == {}


def test_keys_keep_their_order_and_forms(parser: str) -> None:
    body = '---\nzz: 1\n"quoted": 2\naa: 3\ntrue: 4\n...\n'
    result = parse_body(body)
    assert result == {"zz": "1", "quoted": "2", "aa": "3", "true": "4"}
    assert list(result) == ["zz", "quoted", "aa", "true"]


def test_flow_mapping_body_and_crlf(parser: str) -> None:
    assert parse_body("{lr: 0.10, epochs: 3}") == {"lr": "0.10", "epochs": "3"}
    assert parse_body("lr: 0.10\r\nepochs: 3\r\n") == {"lr": "0.10", "epochs": "3"}


def test_a_leading_byte_order_mark_is_ignored(parser: str) -> None:
    assert parse_body("\ufefflr: 1\nepochs: 2") == {"lr": "1", "epochs": "2"}


def test_a_long_body(parser: str) -> None:
    body = "\n".join(f"param-{i}: [{{{{ lr }}}}, {i}, 'v{i}']  # c" for i in range(1000))
    result = parse_body(body, NS)
    assert len(result) == 1000
    assert result["param-999"] == '[0.1,999,"v999"]'


# --- lists and mappings become JSON --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ll: [1, 2]", "[1,2]"),
        ("ll: [0.10, 1e3, -0.5, 1E-3, 0]", "[0.10,1e3,-0.5,1E-3,0]"),
        ("ll: [010, .5, +1, 0x1F, .inf, 1_000]", '["010",".5","+1","0x1F",".inf","1_000"]'),
        (
            "ll: [yes, no, NO, true, False, TRUE, ~, null, Null]",
            '["yes","no","NO",true,false,true,null,null,null]',
        ),
        ("ll: ['1', \"true\", 'null']", '["1","true","null"]'),
        ("ll: [!!str 1]", '["1"]'),
        ("ll: [é, 'a \"q\"']", '["é","a \\"q\\""]'),
        ("ll:\n  - a\n  -\n  - 3\n", '["a",null,3]'),
        ("ll: []", "[]"),
        ("ll: {}", "{}"),
        ("ll: {depth: 3, act: relu, p: 0.10}", '{"depth":3,"act":"relu","p":0.10}'),
        ("ll: {1: one, true: yes}", '{"1":"one","true":"yes"}'),
        (
            "ll:\n  layers: [64, 64]\n  opt:\n    name: adam\n    betas: [0.9, 0.999]\n",
            '{"layers":[64,64],"opt":{"name":"adam","betas":[0.9,0.999]}}',
        ),
        ("ll: [[1, [2]], {a: [b]}]", '[[1,[2]],{"a":["b"]}]'),
    ],
)
def test_lists_and_mappings_are_compact_json(parser: str, body: str, expected: str) -> None:
    value = parse_body(body)["ll"]
    assert value == expected
    json.loads(value)  # always valid JSON


def test_nesting_up_to_the_limit_is_fine(parser: str) -> None:
    body = "ll: " + "[" * 64 + "]" * 64
    assert parse_body(body)["ll"] == "[" * 64 + "]" * 64


# --- placeholders --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("lr: {{ lr }}", "0.1"),
        ("lr: {{lr}}", "0.1"),
        ("lr: {{   lr   }}", "0.1"),
        ("lr: runs/{{ run_id }}/model", "runs/r-7/model"),
        ("lr: {{ lr }}-{{ run_id }}", "0.1-r-7"),
        ("lr: '{{ lr }}'", "0.1"),
        ('lr: "{{ lr }}"', "0.1"),
        ("lr: |\n  lr={{ lr }}\n", "lr=0.1\n"),
        ("lr: {{ flag }}", "True"),
        ("lr: {{ xs }}", "[1, 2]"),
        ("lr: {{ tricky }}", NS["tricky"]),
        ("lr: '{{ tricky }}'", NS["tricky"]),
        ("lr: \\{{ lr }}", "{{ lr }}"),
        ('lr: "\\{{ nope }}"', "{{ nope }}"),
        ("lr: 1  # {{ nope }} and {{ 1 + 1 }} in a comment are ignored", "1"),
        ("lr: {{ lr }}}", "0.1}"),
    ],
)
def test_placeholders_are_filled_after_parsing(parser: str, body: str, expected: str) -> None:
    assert parse_body(body, NS) == {"lr": expected}


def test_placeholders_inside_json_take_the_type_of_their_text(parser: str) -> None:
    ns = {"a": 0.5, "b": "x,y", "c": "true", "d": ""}
    result = parse_body("ll: [{{ a }}, {{ b }}, {{ c }}, '{{ a }}', {{ d }}]", ns)
    assert result == {"ll": '[0.5,"x,y",true,"0.5",null]'}


def test_placeholder_errors_point_at_the_braces(parser: str) -> None:
    err = error(parse_body, "lr: 1\nepochs: x {{ nope }}", NS)
    assert (err.line, err.column) == (2, 11)
    assert str(err) == (
        "line 2, column 11: no variable `nope` in the notebook for `{{ nope }}`; define it, "
        "or write `\\{{ nope }}` to send the braces as they are"
    )


def test_placeholder_without_a_namespace(parser: str) -> None:
    err = error(parse_body, "lr: {{ lr }}")
    assert "no variable `lr` (no namespace given)" in str(err)
    assert (err.line, err.column) == (1, 5)


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("lr: {{ lr + 1 }}", "lr + 1"),
        ("lr: {{ }}", ""),
        ("lr: {{}}", ""),
        ("lr: {{ a.b }}", "a.b"),
        ("lr: {{ 'x' }}", "'x'"),
        ("lr: {{{ lr }}}", "{ lr"),
    ],
)
def test_only_a_variable_name_goes_in_braces(parser: str, body: str, shown: str) -> None:
    err = error(parse_body, body, NS)
    assert (err.line, err.column) == (1, 5)
    assert f"only a variable name can go inside `{{{{ }}}}`, not `{shown}`" in str(err)


def test_a_placeholder_in_a_name_is_refused(parser: str) -> None:
    err = error(parse_body, "aa: 1\n{{ lr }}-x: 2", NS)
    assert (err.line, err.column) == (2, 1)
    assert "`{{ lr }}` is in a param name; placeholders can only go in values" in str(err)


def test_str_failing_on_a_variable(parser: str) -> None:
    err = error(parse_body, "lr: {{ bad }}", NS)
    assert (err.line, err.column) == (1, 5)
    assert "str(bad) failed (RuntimeError)" in str(err)


def test_an_unclosed_placeholder(parser: str) -> None:
    err = error(parse_body, "lr: 1\nepochs: {{x}\n", NS)
    assert (err.line, err.column) == (2, 9)
    assert "this `{{` has no closing `}}` on its line; write `{{ name }}`" in str(err)


def test_marks_after_a_placeholder_still_point_at_the_users_text(parser: str) -> None:
    body = "lr: {{ lr }} {{ run_id }}: x\n"
    err = error(parse_body, body, NS)
    assert (err.line, err.column) == (1, body.index(": x") + 1)
    body = "lr: {{ lr }}\nbb: [{{lr}}, {{ run_id }}, '{{ lr }}' oops]\n"
    err = error(parse_body, body, NS)
    assert (err.line, err.column) == (2, body.splitlines()[1].index("oops") + 1)
