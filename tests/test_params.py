"""jobmagic.params: every rule, every error (with where it points), and properties.

The properties check the promise the magic relies on: whatever a user types, reading the cell
body gives valid params or one ParamsError — never another exception, never a leaked sentinel.
"""

from __future__ import annotations

import doctest
import importlib
import json
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jobmagic.params as params_module
from jobmagic.errors import ParamsError
from jobmagic.params import (
    NAME_PATTERN,
    NAME_RULE,
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


class _Unprintable:
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
    "bad": _Unprintable(),
}


def error(func: Callable[..., Any], *args: Any, **kwargs: Any) -> ParamsError:
    with pytest.raises(ParamsError) as info:
        func(*args, **kwargs)
    return info.value


@pytest.fixture(params=["lines", "libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test three ways: the line fast path first (the default), libyaml alone, and the
    pure-Python parser alone."""
    if request.param != "lines":
        monkeypatch.setattr(_lines, "ENABLED", False)
    if request.param == "python":
        monkeypatch.setattr(_compose, "FAST_LOADER", None)
    elif _compose.FAST_LOADER is None:
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)


def test_module_examples_hold() -> None:
    attempted = 0
    for module in [params_module, *_private_modules()]:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 20


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
        "ParamsError",
        "check_text_size",
        "expand_grid",
        "grid_size",
        "is_valid_name",
        "parse_body",
        "parse_grid_body",
        "parse_kv_args",
        "parse_kv_grid",
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


# --- errors in the body, and where they point ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "column", "message"),
    [
        (
            "- a\n- b",
            1,
            1,
            "the cell body must be a YAML mapping of param name to value, not a list; "
            "write `name: value` lines, e.g. `lr: 0.01`",
        ),
        (
            "42",
            1,
            1,
            "the cell body must be a YAML mapping of param name to value, e.g. `lr: 0.01`",
        ),
        ("\n\n  'text'", 3, 3, "must be a YAML mapping of param name to value"),
        ("lr:0.1", 1, 1, "put a space after the `:`, e.g. `lr: 0.01`"),
        (
            "lr: 1\n---\nepochs: 2",
            2,
            1,
            "the cell body holds more than one YAML document; remove the `---` line and put "
            "all params in one mapping",
        ),
        ("lr: 1\nbb: 2\nlr: 3", 3, 1, "`lr` is given twice (first on line 1); keep one of them"),
        ("bb: 1\nlr:\n", 2, 1, '`lr` has no value; give one, or write `lr: ""` to send an empty'),
        ("bb: 1\nlr:   # nothing\n", 2, 1, "`lr` has no value"),
        ("? [a, b]\n: 1", 1, 3, "a param name must be plain text, not a list or mapping"),
        ("{lr: 1, [a]: 2}", 1, 9, "a param name must be plain text"),
        (
            "<<: {lr: 1}",
            1,
            1,
            "YAML merge keys (`<<`) cannot be used in a cell body; write the params out",
        ),
        ("cfg: {a: 1, <<: {b: 2}}", 1, 13, "YAML merge keys (`<<`) cannot be used"),
        ("lr: &x 1", 1, 5, "`&x` is a YAML anchor, which a cell body cannot use"),
        ("lr: 1\nbb: *x", 2, 5, "`*x` is a YAML alias, which a cell body cannot use; write the"),
        ("lr: !!int 1", 1, 5, "`!!int` is a YAML tag, which a cell body cannot use"),
        ("lr: !foo 1", 1, 5, "`!foo` is a YAML tag"),
        ("lr: !!map {}", 1, 5, "`!!map` is a YAML tag"),
        ("lr: [1, !!str 2, !!int 3]", 1, 18, "`!!int` is a YAML tag"),
        ("lr: 1\nbb: x\x07y", 2, 6, "the control character U+0007, which YAML does not allow"),
        ("lr: " + "[" * 65 + "]" * 65, 1, 69, "the value is nested more than 64 levels deep"),
        ('lr: "\\ud800"', 1, 5, "this string has a lone surrogate escape"),
        (
            "cfg: {x: 1, x: 2}",
            1,
            13,
            "the key `x` appears twice in the value of `cfg` (first on line 1); keep one",
        ),
        ("cfg: {[x]: 1}", 1, 7, "a key inside the value of `cfg` must be text"),
    ],
)
def test_body_errors(parser: str, body: str, line: int, column: int, message: str) -> None:
    err = error(parse_body, body)
    assert (err.line, err.column) == (line, column)
    assert str(err).startswith(f"line {line}, column {column}: ")
    assert message in str(err)


@pytest.mark.parametrize(
    ("body", "line", "column", "message"),
    [
        (
            "lr: 0.1\n  epochs: 3\n",
            2,
            9,
            'unexpected `:` here; quote a value that contains `: ` (e.g. `note: "a: b"`), or '
            "start every param name in the same column",
        ),
        ("note: a: b", 1, 8, "unexpected `:` here"),
        (
            "lr: 0.1\nepochs 3\nbb: 1\n",
            2,
            1,
            "this line has no `:` after the param name; write `name: value`",
        ),
        ("lr: 'abc\nbb: 1\n", 1, 5, "the `'` opened here is never closed; add the closing `'`"),
        ('lr: "abc', 1, 5, 'the `"` opened here is never closed'),
        ('lr: "abc\\', 1, 5, 'the `"` opened here is never closed'),
        ('lr: "\\xZZ"', 1, 6, "`\\x` is not a valid escape inside double quotes"),
        (
            'lr: "x\\qy"',
            1,
            7,
            "`\\q` is not a valid escape inside double quotes; use single quotes, or write "
            "`\\\\` for a backslash",
        ),
        ("lr: [1, 2\nbb: 3\n", 1, 5, "this `[` is not closed on its line; add the closing `]`"),
        ("lr: {a: 1 b: 2}\n", 1, 12, "the items inside `{ }` must be separated by commas"),
        ("lr: {bb: 1\n", 1, 5, "this `{` is never closed; add `}`, or quote the value"),
        ("lr: [a, [b]", 1, 5, "this `[` is never closed; add `]`"),
        (
            "  lr: 1\nbb: 2\n",
            2,
            1,
            "this line does not line up with the lines above; start every param name in the "
            "same column, one `name: value` per line",
        ),
        ("lr: 1\n- b\n", 2, 1, "this line does not line up with the lines above"),
        ("\tlr: 1\n", 1, 1, "YAML does not allow a tab here; use spaces"),
        ("lr: @x\n", 1, 5, "a value cannot start with `@`; put the value in quotes"),
        ("lr: `x`\n", 1, 5, "a value cannot start with ```"),
        ("lr: ]\n", 1, 5, "a value cannot start with `]`"),
        ("lr: *.txt\n", 1, 5, 'a value starting with `*` must be quoted, e.g. `"*.txt"`'),
        ("lr: |x\n", 1, 5, 'a value starting with `|` must be quoted, e.g. `"|x"`'),
        (
            "lr: - 1\n",
            1,
            5,
            "a `- ` list cannot start on the line of its name; put the items on the next lines, "
            "indented, or write `[a, b]`",
        ),
        ("lr: 1\n...\nbb: 2\n", 3, 1, "nothing can follow a `...` (end of document) line"),
        ("lr: 'x' y\n", 1, 9, "there is text after the closing quote; put the whole value"),
        ("lr: [a, b] c\n", 1, 12, "there is text after the closing `]`; quote the whole value"),
        (": x\n", 1, 1, "a param name is missing before `:`; write `name: value`"),
        ("lr: " + "[" * 60, 1, 65, "the cell body ends in the middle of a value"),
    ],
)
def test_yaml_errors_are_one_sentence(
    parser: str, body: str, line: int, column: int, message: str
) -> None:
    err = error(parse_body, body)
    assert (err.line, err.column) == (line, column)
    assert message in str(err)
    assert "\n" not in str(err)
    assert "while scanning" not in str(err)
    assert "<" not in str(err)  # no "<block end>" parser jargon


def test_tab_after_colon(parser: str) -> None:
    # libyaml takes a tab as the space after `:`; PyYAML's own parser refuses it. The line
    # fast path leaves any line with a tab to YAML.
    if parser in ("lines", "libyaml"):
        assert parse_body("lr:\t1") == {"lr": "1"}
    else:
        err = error(parse_body, "lr:\t1")
        assert (err.line, err.column, "tab" in str(err)) == (1, 4, True)


def test_a_body_that_is_not_text() -> None:
    assert "must be text" in str(error(parse_body, None))


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
