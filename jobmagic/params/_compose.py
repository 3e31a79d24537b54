"""Reading a body's YAML into the value tree: libyaml first, PyYAML's pure-Python parser to
explain what libyaml refused.

libyaml is the fast path (pure-Python PyYAML needs ~70 ms for 1000 lines of lists). Whenever
it fails, the pure-Python parser reads the body again: it is the reference whose error
messages :mod:`jobmagic.params._messages` knows, and it accepts a few things libyaml does not
(JSON-style surrogate-pair escapes).

Both streams are read one event at a time and stop at the first collection nested too deep:
the pure-Python scanner is quadratic in the depth of brackets on a line, and libyaml gives up
past 1000 levels, so deep nesting must be refused before either reads it all. A linear
bracket count guards the pure-Python parser for that reason.

A failure read again in full would take seconds in a big body, so the reference starts over
at the last top-level name libyaml read before failing (the lines above it blanked, so lines
and columns still match). A failing value too long even for that is explained from libyaml's
own error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import yaml

from jobmagic.errors import ParamsError
from jobmagic.params._limits import MAX_DEPTH, deep_flow_offset
from jobmagic.params._messages import yaml_error
from jobmagic.params._source import Source, row_column
from jobmagic.params._tree import DEPTH_MESSAGE, Node, build

__all__ = ["FAST_LOADER", "compose"]

#: libyaml when PyYAML was built with it (PyPI's wheels are); None reads with PyYAML alone.
FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)
# The most characters the pure-Python parser re-reads to explain an error (~0.1 s).
_SLOW_PARSE_CHARS: Final = 8 * 1024
# libyaml's wording of a problem → the start of PyYAML's, which _messages knows.
_LIBYAML_PROBLEMS: Final = {
    "did not find expected key": "expected <block end>",
    "did not find expected node content": "expected the node content",
}


def compose(source: Source, yaml_text: str, *, fast: bool = True) -> Node | None:
    """The document's tree of ``yaml_text`` (the body with placeholders set aside).

    ``source`` is what the user wrote, for messages; it has the same length and lines.
    """
    fast_error: yaml.MarkedYAMLError | None = None
    fast_events: list[yaml.Event] = []
    loader = FAST_LOADER
    if fast and loader is not None:
        try:
            return build(_read_events(loader(yaml_text), fast_events), source)
        except ParamsError:
            raise
        except yaml.MarkedYAMLError as err:
            fast_error = err
        except Exception:  # only the fast path failed: the reference decides
            pass
    deep = deep_flow_offset(yaml_text, MAX_DEPTH)
    if deep is not None:
        raise source.error_at(deep, DEPTH_MESSAGE)
    start = 0
    # Surrogate-pair escapes are where the parsers disagree: only the reference knows.
    if fast_error is not None and "Unicode character escape" not in (fast_error.problem or ""):
        start = _restart_offset(fast_events, yaml_text)
        if len(yaml_text) - start > _SLOW_PARSE_CHARS:
            raise yaml_error(_reference_style(fast_error, source), source) from None
    if start:
        _reference_events(source, yaml_text, start)  # raises, unless the parsers disagree
    return build(_reference_events(source, yaml_text, 0), source)


def _read_events(loader: Any, out: list[yaml.Event]) -> Iterator[yaml.Event]:
    """The loader's events one at a time, each also kept in ``out`` (to restart after an
    error); the loader is disposed of at the end, however it ends."""
    # One call per event (get_event; the stream's last is StreamEndEvent), not two.
    get_event, keep, end = loader.get_event, out.append, yaml.StreamEndEvent
    try:
        while True:
            event = get_event()
            keep(event)
            yield event
            if type(event) is end:
                return
    finally:
        loader.dispose()


def _reference_events(source: Source, yaml_text: str, start: int) -> list[yaml.Event]:
    """The pure-Python parser's events for the body from ``start`` (a line's start) on."""
    blanked = row_column(yaml_text, start)[0]
    shift = start - blanked  # from an index in the text read to one in the body
    text = "\n" * blanked + yaml_text[start:] if start else yaml_text
    try:
        return _depth_checked(yaml.parse(text, Loader=yaml.SafeLoader), source)
    except yaml.MarkedYAMLError as err:
        if shift:
            err.problem_mark = _shifted(err.problem_mark, shift)
            err.context_mark = _shifted(err.context_mark, shift)
        raise yaml_error(err, source) from None
    except yaml.reader.ReaderError as err:
        code = err.character if isinstance(err.character, int) else 0
        raise source.error_at(
            err.position + shift,
            f"the cell body contains the control character U+{code:04X}, which YAML does "
            "not allow; delete it",
        ) from None
    except yaml.YAMLError:
        raise ParamsError(
            "the cell body is not valid YAML; check the indentation, the `name: value` "
            "pairs and the quotes"
        ) from None


def _depth_checked(events: Iterable[yaml.Event], source: Source) -> list[yaml.Event]:
    """The events in a list, refused at the first collection too deep."""
    out: list[yaml.Event] = []
    depth = 0  # open collections, the top-level mapping included
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            # The top-level mapping counts too, so a value may nest MAX_DEPTH levels.
            if depth > MAX_DEPTH:
                raise source.mark_error(event.start_mark, DEPTH_MESSAGE)
            depth += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        out.append(event)
    return out


def _reference_style(err: yaml.MarkedYAMLError, source: Source) -> yaml.MarkedYAMLError:
    """libyaml's error worded, and its marks counted, as the pure-Python parser does."""
    problem = err.problem or ""
    problem = _LIBYAML_PROBLEMS.get(problem, problem.removeprefix("did not find "))
    if err.problem_mark is not None and err.problem_mark.index >= len(source.text):
        problem += ", but got '<stream end>'"
    return yaml.MarkedYAMLError(
        err.context,
        _recounted(err.context_mark, source),
        problem,
        _recounted(err.problem_mark, source),
    )


def _recounted(mark: Any, source: Source) -> Any:
    # libyaml puts the end of the body on a line of its own past the last one.
    if mark is None:
        return None
    row, column = row_column(source.text, min(mark.index, len(source.text)))
    return yaml.Mark(mark.name, mark.index, row, column, None, 0)


def _restart_offset(events: Sequence[yaml.Event], text: str) -> int:
    """The start of the line of the last top-level name in ``events`` (0 if there is none).

    Only a name alone at the start of its line in a block mapping counts: the body read from
    there on is then a mapping of the remaining params, as it was in the whole body.
    """
    depth = 0
    children = 0  # of the top-level mapping so far: names at even counts
    column = -1
    found = 0
    for event in events:
        mark: Any = event.start_mark  # both parsers always set it
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth == 1:
                if not isinstance(event, yaml.MappingStartEvent) or event.flow_style:
                    return 0
                column = mark.column
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            if depth == 1:
                children += 1
        elif isinstance(event, yaml.ScalarEvent) and depth == 1:
            line_start = mark.index - mark.column
            if (
                children % 2 == 0
                and mark.column == column
                and not text[line_start : mark.index].strip(" ")
            ):
                found = line_start
            children += 1
    return found


def _shifted(mark: Any, shift: int) -> Any:
    """``mark`` with its index moved by ``shift`` (a mark is immutable in spirit only)."""
    if mark is None:
        return None
    return yaml.Mark(mark.name, mark.index + shift, mark.line, mark.column, None, 0)
