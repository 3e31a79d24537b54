"""A run's text in every view: no control characters, no terminal escapes, valid HTML (issue 22).

The pure part: :func:`view_text` and :func:`view_html`, by example and by property (hypothesis).
The real part: the sandbox's ``hostile`` demo job (colours, an OSC title, cursor moves, NUL,
BEL, C1 controls, markup, every byte value; it fails with such an error) through a real
InteractiveShell over real HTTP, cards on: its card (error, events, Logs panel, snapshot), a
board, ``%job_runs --table``, the ``--wait --logs`` output, the cell's error, the notebook
those outputs make, and the sandbox's runs page. Every HTML part is parsed by html5lib in
strict mode (a parse error raises), and no text holds a control character but TAB and LF.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import html5lib
import httpx
import nbformat
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jobmagic.domain.handle import RunHandle
from jobmagic.models import Event, JobRun, LogLine, RunStatus
from jobmagic.models.formatting import format_params, short_error
from jobmagic.models.text import view_html, view_text
from jobmagic.sandbox import SandboxServer
from jobmagic.sandbox.web.runs_page import render_runs_page

#: What no view may show: C0 controls but TAB and LF, DEL, C1 controls.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Noncharacters and lone surrogates: what an HTML parser or a UTF-8 encoder rejects.
UNENCODABLE = re.compile("[\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
DEADLINE = 60.0
WIDGET = "application/vnd.jupyter.widget-view+json"


def assert_clean(text: str, what: str = "text") -> None:
    found = CONTROL.search(text) or UNENCODABLE.search(text)
    if found is not None:
        near = text[max(found.start() - 80, 0) : found.end() + 80]
        pytest.fail(f"{what} holds {found.group()!r} at {found.start()}: …{near!r}…")


def assert_valid_html(markup: str, what: str = "html", *, document: bool = False) -> None:
    """No control character, and html5lib in strict mode parses it without one error."""
    assert_clean(markup, what)
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        parser.parse(markup) if document else parser.parseFragment(markup)
    except html5lib.html5parser.ParseError as exc:
        pytest.fail(f"{what} does not parse: {exc}\n{markup[:2000]}")


def _text_of(markup: str) -> str:
    """The text content of an HTML fragment, as a browser reads it."""
    fragment = html5lib.parseFragment(markup, namespaceHTMLElements=False)
    return "".join(fragment.itertext())


# --- by example ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[38;2;255;0;0mtrue colour\x1b[m", "true colour"),
        ("\x1b]0;title\x07after", "after"),  # OSC ended by BEL
        ("\x1b]8;;https://x.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # hyperlink, ST
        ("\x1bP1$r0m\x1b\\dcs", "dcs"),  # DCS
        ("\x1b]0;never closed\nnext line", "\nnext line"),  # an open OSC ends at its line
        ("half \x1b[", "half "),  # a CSI cut short loses all it has
        ("half \x1b[12;", "half "),
        ("\x1b[2J\x1b[H\x1b[3Acleared", "cleared"),
        ("\x1bcreset \x1b7saved \x1b(Bcharset", "reset saved charset"),
        ("lone \x1b", "lone "),
        ("\u009b31mc1 csi \u009d0;c1 osc\u009cend", "c1 csi end"),
        ("a\x00b\x07c\x08d\x7fe", "a␀b␇c␈d␡e"),
        ("vt\x0bff\x0c", "vt␋ff␌"),
        ("nel\u0085 pad\u0080", "nel\ufffd pad\ufffd"),
        ("crlf\r\nlf\n", "crlf\nlf\n"),
        ("10%\r50%\r100%", "10%\n50%\n100%"),
        ("tab\tkept", "tab\tkept"),
        ("lone \ud800 surrogate \ufffe \U0010ffff", "lone \ufffd surrogate \ufffd \ufffd"),
        ("plain ünïcode ✓ 😀 <b>", "plain ünïcode ✓ 😀 <b>"),
        ("cjk \U00020000\U0002fffe \U0010fffd\x00", "cjk \U00020000\ufffd \U0010fffd␀"),
    ],
)
def test_view_text_removes_sequences_and_shows_controls(raw: str, shown: str) -> None:
    assert view_text(raw) == shown


def test_cut_to_length_before_escaping() -> None:
    # The old table: "got lr=&#…" (the cut fell inside an entity).
    text = "got lr=" + "'" * 80
    assert view_html(text, limit=10) == "got lr=&#x27;&#x27;…"
    assert view_text(text, limit=10) == "got lr=''…"
    assert view_html("<" * 100, limit=3) == "&lt;&lt;…"
    # Sequences go before the cut: a limit never leaves half an escape.
    assert view_text("\x1b[31m" * 50 + "abcdef", limit=4) == "abc…"
    assert view_text("x\ny \t z", one_line=True) == "x y z"
    assert view_html(None) == "" and view_text(12) == "12"


def test_shared_formatting_cleans_what_runs_bring() -> None:
    assert format_params({"a": "\x1b]0;t\x07x\ny", "b": "\x00"}) == "a=x y b=␀"
    assert short_error(ValueError("\x1b[31mboom\x1b[0m\x07")) == "ValueError: boom␇"


# --- by property ---------------------------------------------------------------------------

#: Pieces of what jobs print: sequences (whole and cut), their introducers, controls.
_PIECES = st.sampled_from(
    [
        "\x1b", "\x1b[", "\x1b]", "\x1bP", "\x1b\\", "\x07", "\x9b", "\x9c", "\x9d", "\r",
        "\r\n", "\n", "\t", "\x00", "\x7f", "\x85", "31m", ";", "0;title", "[", "]", "<",
        "&", '"', "'", "&#x27;", "</pre>", "<script>", "\ud800", "\ufffe", " ",
    ]
)  # fmt: skip
#: Any code point: surrogates and noncharacters included (a JSON string may hold them).
_ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
RUN_TEXT = st.lists(st.one_of(_PIECES, _ANY_CHAR, st.text(max_size=5)), max_size=40).map("".join)


@given(RUN_TEXT, st.none() | st.integers(min_value=1, max_value=50), st.booleans())
@example("\x1b]0;x" + "\x1b[" * 3, 5, False)
def test_view_text_leaves_no_control_but_tab_and_lf(
    raw: str, limit: int | None, one_line: bool
) -> None:
    shown = view_text(raw, limit=limit, one_line=one_line)
    assert_clean(shown)
    assert "\x1b" not in shown
    shown.encode("utf-8")  # no lone surrogate left
    if limit is not None:
        assert len(shown) <= limit
    if one_line:
        assert "\n" not in shown and "\t" not in shown
    # Cleaning twice changes nothing: views may clean what formatting already cleaned.
    assert view_text(shown, one_line=one_line) == shown


@given(RUN_TEXT, st.none() | st.integers(min_value=1, max_value=50))
def test_view_html_parses_without_errors_and_reads_as_the_text(raw: str, limit: int | None) -> None:
    text = view_text(raw, limit=limit)
    escaped = view_html(raw, limit=limit)
    markup = f'<div title="{escaped}"><pre>\n{escaped}</pre><span>{escaped}</span></div>'
    assert_valid_html(markup)
    # A browser reads exactly the cleaned text (nothing half-escaped, nothing cut inside
    # an entity), in the element and in the attribute.
    assert _text_of(f"<span>{escaped}</span>") == text
    fragment = html5lib.parseFragment(markup, namespaceHTMLElements=False)
    assert fragment[0].get("title") == text


# --- the static fragments, without a server --------------------------------------------------

HOSTILE = "\x1b[1;31merror:\x1b[0m \x1b]0;owned\x07boom\x00\x07 <b>bad</b> & \x9b\ufffd"


def test_snapshots_of_a_hostile_run_parse_and_hold_no_controls() -> None:
    from jobmagic.widgets.static import (
        events_html,
        log_lines_html,
        render_run_html,
        render_runs_html,
    )

    run = JobRun(name="r\x1b[31m", status=RunStatus.FAILED, error=HOSTILE, exit_code=4)
    params = {"note\x07": HOSTILE, "lr": "0.1"}
    events = [Event(reason="Failed\x1b[m", type="Warning", message=HOSTILE)]
    lines = [LogLine(log=HOSTILE, stream="stderr"), LogLine(log="\x00" * 3 + "\r\n")]
    for what, markup in {
        "snapshot": render_run_html(run, params=params, events=events),
        "board": render_runs_html([(run, params)]),
        "events": events_html(events),
        "logs": log_lines_html(lines),
    }.items():
        assert_valid_html(markup, what)
        assert "boom" in _text_of(markup), what


def test_the_runs_page_of_a_hostile_run_parses() -> None:
    from jobmagic.sandbox.storage.records import RunRecord

    record = RunRecord(
        id="run-1",
        name="r1",
        application_id="app-1",
        application_name="job",
        deployment_id="dep-1",
        deployment_version="1",
        created_at_ms=0,
        end_time_ms=1000,
        status="FAILED",
        command="run \x1b[2J",
        params={"x\x00": HOSTILE},
        exit_code=4,
        error=HOSTILE,
        triggered_by="me\x07",
    )
    page = render_runs_page("job\x1b]0;t\x07", [record], {"r1": [HOSTILE]}, total=1, now_ms=0)
    assert_valid_html(page, "runs page", document=True)


# --- through a real shell, over real HTTP ---------------------------------------------------


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def shell(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("TFY_HOST", sandbox.host)
    monkeypatch.setenv("TFY_API_KEY", sandbox.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jobmagic")
    ip.run_line_magic("config", f"JobMagic.ledger_path = {str(tmp_path / 'ledger.db')!r}")
    ip.run_line_magic("config", "JobMagic.poll_interval = 0.2")
    yield ip
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


@pytest.fixture
def frontend(shell: InteractiveShell) -> Iterator[CapturingDisplayPublisher]:
    """A display publisher that keeps every output, as a notebook front end would."""
    original = shell.display_pub
    publisher = CapturingDisplayPublisher()
    shell.display_pub = publisher
    yield publisher
    shell.display_pub = original


def _check_bundle(data: dict[str, Any], what: str) -> None:
    for mime, value in data.items():
        if mime == "text/html":
            assert_valid_html(value, f"{what} {mime}")
        elif isinstance(value, str):
            assert_clean(value, f"{what} {mime}")


def test_a_hostile_run_in_every_view(
    shell: InteractiveShell,
    frontend: CapturingDisplayPublisher,
    sandbox: SandboxServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from jobmagic.widgets.card import RunCard

    # YAML's escapes: the param itself carries BEL and a colour code.
    body = 'note: "bell \\a colour \\e[31mred"\n'
    result = shell.run_cell(f"%%trigger_job sandbox:demo:hostile --wait --logs -o h\n{body}")
    error = result.error_in_exec
    assert isinstance(error, UsageError)
    paragraph = str(error)
    assert "FAILED with exit code 4" in paragraph and "boom" in paragraph
    assert "<b>bad</b>" in paragraph  # plain text: shown, not escaped
    assert_clean(paragraph, "the cell's error")
    printed = capsys.readouterr()
    assert "red and bold green text" in printed.out  # --logs, colours stripped
    assert "after an OSC title" in printed.out and "hostile title" not in printed.out
    assert_clean(printed.out, "--logs output")
    assert_clean(printed.err, "the shell's stderr")

    handle: RunHandle = shell.user_ns["h"]
    assert handle.run.status == RunStatus.FAILED and "\x1b" in (handle.run.error or "")
    assert handle.params == {"note": "bell \x07 colour \x1b[31mred"}  # sent as written
    assert "note: bell ␇ colour red" in printed.out

    # The card: error box, events, Logs panel, its static copy and its bundle.
    card = RunCard(handle)
    _until(lambda: bool(handle.events), "the run's events")
    card.logs_toggle.value = True
    _until(lambda: "after an OSC title" in card.logs.value, "the Logs panel")
    _until(lambda: "boom" in card.events_box.value, "the events row")
    for what, markup in {
        "error box": card.error_box.value,
        "events": card.events_box.value,
        "Logs panel": card.logs.value,
        "card snapshot": card.snapshot_html(),
    }.items():
        assert_valid_html(markup, what)
    assert "boom" in _text_of(card.error_box.value)
    logs = _text_of(card.logs.value)
    assert "&lt;script&gt;" not in logs and "<script>alert(1)</script>" in logs
    assert "progress 10%\nprogress 50%\nprogress 100%" in logs
    _check_bundle(card._repr_mimebundle_(), "card")
    card.close()

    # A board and the styled table.
    shell.run_cell("b = %job_runs\nb")
    shell.run_cell("t = %job_runs --table\nfrom IPython.display import display\ndisplay(t)")
    table = shell.user_ns["t"].to_html()
    assert_valid_html(table, "%job_runs --table")
    assert "boom" in _text_of(table) and "&#" not in _text_of(table)
    board = shell.user_ns["b"]
    assert_valid_html(board.table.value, "board table")
    assert_valid_html(board.snapshot_html(), "board snapshot")

    # Everything the front end kept, and the notebook they make.
    shell.run_cell("pass")  # a cell's end re-sends what changed
    outputs = []
    for output in frontend.outputs:
        _check_bundle(output["data"], "display")
        outputs.append(nbformat.v4.new_output("display_data", data=output["data"]))
    assert any("boom" in o.data.get("text/html", "") for o in outputs)
    outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed.out))
    outputs.append(
        nbformat.v4.new_output(
            "error", ename="UsageError", evalue=paragraph, traceback=[f"UsageError: {paragraph}"]
        )
    )
    cell = nbformat.v4.new_code_cell("%%trigger_job sandbox:demo:hostile", outputs=outputs)
    notebook = nbformat.v4.new_notebook(cells=[cell])
    nbformat.validate(notebook)
    saved = nbformat.writes(notebook)
    assert_clean(saved, "the saved notebook")
    # JSON would write a control character as \u001b: none is escaped that way either.
    assert not re.search(r"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\u00[89][0-9a-fA-F]", saved)
    assert_clean(json.dumps(json.loads(saved), ensure_ascii=False), "the notebook's strings")

    # The sandbox's runs page, where the card's link goes.
    assert handle.url
    page = httpx.get(handle.url, trust_env=False, timeout=10)
    assert page.status_code == 200
    assert "boom" in page.text and "after an OSC title" in page.text
    assert_valid_html(page.text, "the sandbox's runs page", document=True)


def test_cards_off_the_snapshot_and_text_plain_are_clean(
    shell: InteractiveShell, frontend: CapturingDisplayPublisher
) -> None:
    shell.run_line_magic("config", "JobMagic.show_cards = False")
    shell.run_cell('%%trigger_job sandbox:demo:hostile -o h\nnote: "\\e]0;t\\a"\n')
    handle: RunHandle = shell.user_ns["h"]
    _until(lambda: handle.run.is_terminal, "the run to end")
    shell.run_cell("h")
    shell.run_cell("pass")
    assert any("boom" in o["data"].get("text/html", "") for o in frontend.outputs)
    for output in frontend.outputs:
        assert WIDGET not in output["data"]
        _check_bundle(output["data"], "snapshot")


# --- a notebook run by nbclient, then saved ---------------------------------------------------

NOTEBOOK_CELLS = (
    "%load_ext jobmagic",
    '%%trigger_job sandbox:demo:hostile --wait --logs -o h\nnote: "\\e]0;title\\a"',
    "h",
    "%job_runs",
    "%job_runs --table",
)


@pytest.mark.notebook
def test_a_saved_notebook_holds_no_control_character(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient import NotebookClient

    for name in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("TFY_HOST", sandbox.host)
    monkeypatch.setenv("TFY_API_KEY", sandbox.token)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    )
    NotebookClient(
        notebook, kernel_name="python3", timeout=120, allow_errors=True, store_widget_state=True
    ).execute()
    saved = nbformat.writes(notebook)
    path = tmp_path / "hostile.ipynb"
    path.write_text(saved, encoding="utf-8")
    texts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            texts.append(str(output.get("text", "")) + str(output.get("evalue", "")))
            for mime, value in output.get("data", {}).items():
                if mime == "text/html":
                    assert_valid_html(str(value), f"cell {cell.source[:20]!r} {mime}")
                texts.append(str(value))
    shown = "\n".join(texts)
    assert "boom" in shown and "FAILED with exit code 4" in shown
    assert "after an OSC title" in shown  # --logs printed the lines, cleaned
    assert_clean(saved, "the saved notebook")
    assert not re.search(r"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\u00[89][0-9a-fA-F]", saved)
