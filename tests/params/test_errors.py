"""Errors in a cell body: one sentence each, and where they point."""

from __future__ import annotations

import pytest

from jobmagic.params import (
    parse_body,
)
from tests.params.params_helpers import error

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
