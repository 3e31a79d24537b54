"""Logs are followed, not re-read: ``--wait --logs``, ``run.logs()`` and ``run.iter_logs()``
page through ``GET /logs`` with its cursors (``startTs``, ``limit``, ``numLogsToIgnore``).

Over real parts: the sandbox over real HTTP, running the ``flood`` demo job (each line starts
with its number), and a real InteractiveShell; the memory test runs its kernel in a
subprocess so the sandbox's own memory is not counted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jobmagic.api.logs import (
    FIRST_PAGE_LINES,
    MAX_PAGE_LINES,
    PAGE_BUDGET_CHARS,
    LogCursor,
    LogPage,
)
from jobmagic.domain.handle import RunHandle
from jobmagic.models import LogLine, RunStatus
from jobmagic.sandbox import SandboxServer
from tests.sessions import shell_on

FLOOD = "sandbox:demo:flood"
#: A flood line as printed: its number, a space, then x up to the width.
FLOOD_LINE = re.compile(r"^(\d{8}) (x*)$")
#: Lines stamped to multiples of this share one time: every line of the coarse sandbox does.
ONE_TIME_NS = 10**15


def flood_line(number: int, width: int) -> str:
    head = f"{number:08d} "
    return head + "x" * (width - len(head))


@pytest.fixture(scope="module")
def coarse_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A sandbox whose log lines all share one time, as a log store with a coarse clock
    gives: every page boundary falls inside that group of equal times."""
    root = tmp_path_factory.mktemp("coarse")
    with SandboxServer(root, grace_period=1.0, log_time_step_ns=ONE_TIME_NS) as server:
        yield server


@pytest.fixture
def shell(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    with shell_on(sandbox, tmp_path / "ledger.db", monkeypatch) as ip:
        yield ip


def flood(shell: InteractiveShell, lines: int, width: int, *, logs: bool = True) -> RunHandle:
    """Run the flood job to its end (``--wait``, with ``--logs`` unless told not to)."""
    follow = " --logs" if logs else ""
    shell.run_cell_magic(
        "trigger_job",
        f"{FLOOD} --wait{follow} --timeout 240 -o run",
        f"lines: {lines}\nwidth: {width}\n",
    )
    run: RunHandle = shell.user_ns["run"]
    assert run.status == RunStatus.FINISHED
    return run


def printed_flood(out: str) -> list[str]:
    """The flood's lines among what was printed (the wait's status lines are left out)."""
    return [line for line in out.splitlines() if FLOOD_LINE.match(line)]


@pytest.mark.timeout(240)
def assert_same_lines(got: list[str], want: list[str]) -> None:
    """``got == want``, failing with the count and the first line that differs (a failing
    comparison of 50,000 lines would print them all)."""
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    assert first is None and len(got) == len(want), (
        f"{len(got)} lines, {len(want)} expected; first difference at line {first}: "
        f"{got[first][:80] if first is not None else None!r} != "
        f"{want[first][:80] if first is not None else None!r}"
    )


def test_wait_logs_prints_each_of_50000_lines_once_in_order_to_the_last(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    flood(shell, 50_000, 1024)
    out = capsys.readouterr().out
    # Every line, once, in order, the last one included (the old follower re-read the first
    # 5,000 lines on every poll and never printed the 5,001st).
    assert_same_lines(printed_flood(out), [flood_line(n, 1024) for n in range(50_000)])
    # ...and nothing else of them: no piece of a line printed twice.
    assert sum("xxxxxxxxxx" in line for line in out.splitlines()) == 50_000


def test_lines_sharing_one_time_are_neither_repeated_nor_dropped_at_page_boundaries(
    coarse_sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with shell_on(coarse_sandbox, tmp_path / "ledger.db", monkeypatch) as ip:
        run = flood(ip, 3000, 40)
        out = capsys.readouterr().out
        expected = [flood_line(n, 40) for n in range(3000)]
        assert_same_lines(printed_flood(out), expected)
        # Pages of 7 lines: hundreds of boundaries, all inside the one group of equal times.
        pages = list(run.iter_logs(budget=7 * 40))
    assert_same_lines([line.log for page in pages for line in page], expected)
    assert {line.time_ns for page in pages for line in page} == {pages[0][0].time_ns}
    assert len(pages) > 400 and max(len(page) for page in pages) <= FIRST_PAGE_LINES
    assert pages[-1].next is not None and pages[-1].next.skip == 3000


def test_iter_logs_yields_every_line_once_in_pages_that_grow_while_lines_are_short(
    shell: InteractiveShell,
) -> None:
    run = flood(shell, 5000, 100, logs=False)
    pages = list(run.iter_logs())
    assert [line.log for page in pages for line in page] == [
        flood_line(n, 100) for n in range(5000)
    ]
    sizes = [len(page) for page in pages]
    assert sizes[0] == FIRST_PAGE_LINES and max(sizes) == MAX_PAGE_LINES
    assert all(isinstance(page, LogPage) for page in pages)
    # From the last page's cursor there is nothing new: the run has ended.
    assert list(run.iter_logs(pages[-1].next)) == []


def test_a_tail_is_the_last_lines_shown_as_a_short_table(shell: InteractiveShell) -> None:
    run = flood(shell, 10, 20, logs=False)
    page = run.logs(tail=3)
    assert [line.log for line in page] == [flood_line(n, 20) for n in (7, 8, 9)]
    text = repr(page)
    assert text.splitlines()[0] == "<LogPage: 3 lines>"
    assert re.fullmatch(r"\s+time\s+stream\s+log", text.splitlines()[1])
    rows = text.splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["0", "1", "2"]
    for row, number in zip(rows, (7, 8, 9), strict=True):
        assert row.endswith(flood_line(number, 20)) and "stdout" in row
    # What a notebook shows: the table as text and as HTML, not a list of dataclasses.
    shown, _ = shell.display_formatter.format(page)
    assert shown["text/plain"] == text and "LogLine(" not in text
    assert shown["text/html"].count("<tr>") == 4  # the header and three rows
    # After a tail nothing is new, and a page from its cursor says so.
    assert run.logs(since=page.next) == []
    assert run.logs(limit=4) == run.logs(limit=4)  # pages compare by their lines
    assert len(run.logs()) == 10


def test_a_long_page_shows_its_head_and_tail_and_escapes_its_html() -> None:
    lines = [LogLine(f"<b>line {n}</b> & more", "stderr", 10**18 + n) for n in range(25)]
    page = LogPage(lines, limit=25)
    text = repr(page).splitlines()
    assert text[0] == "<LogPage: 25 lines; more after it: logs(since=page.next)>"
    assert len(text) == 2 + 11 and text[7].split() == ["...", "...", "...", "..."]
    assert text[-1].startswith("24 ") and text[-1].endswith("<b>line 24</b> & more")
    shown = page._repr_html_()
    assert "<b>" not in shown and "&lt;b&gt;line 24&lt;/b&gt; &amp; more" in shown
    long = LogPage([LogLine("y" * 5000)])
    assert len(repr(long).splitlines()[-1]) < 200  # a long line is cut short in the table
    # What a job prints to a terminal is shown as text: no escape sequence, no control.
    hostile = repr(LogPage([LogLine("\x1b[31mred\x1b[0m \x1b]0;title\x07NUL:\x00")]))
    assert hostile.splitlines()[-1].endswith("red NUL:\u2400") and "\x1b" not in hostile


def test_the_cards_logs_panel_reads_the_tail_once_then_follows_the_cursor(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobmagic.widgets import card as card_module
    from tests.widgets.fakes import wait_until

    shell.run_cell_magic("trigger_job", "sandbox:demo:train -o run", "epochs: 6\n")
    run: RunHandle = shell.user_ns["run"]
    asked: list[dict[str, Any]] = []
    read = run.client.logs

    def spy(*args: Any, **kwargs: Any) -> LogPage:  # the real call, what it asked noted
        page = read(*args, **kwargs)
        asked.append({**kwargs, "lines": len(page)})
        return page

    monkeypatch.setattr(run.client, "logs", spy)
    monkeypatch.setattr(card_module, "LOG_REFRESH_SECONDS", 0.2)
    card = card_module.RunCard(run)
    card.logs_toggle.value = True
    assert run.wait(timeout=60).status == RunStatus.FINISHED
    wait_until(lambda: "epoch=6 " in card.logs.value, timeout=30, what="the last epoch")
    shown = card.logs.value
    card.close()
    # Each line once, in order: the panel appended each page to what it showed.
    epochs = re.findall(r"epoch=(\d) ", shown)
    assert epochs == ["1", "2", "3", "4", "5", "6"]
    # The tail until there is a line, then only pages from the cursor, never the tail again.
    first = next(i for i, kwargs in enumerate(asked) if kwargs["lines"])
    assert all(kwargs.get("tail") is True for kwargs in asked[: first + 1])
    assert len(asked) > first + 1
    assert all(isinstance(kwargs["since"], LogCursor) for kwargs in asked[first + 1 :])
    assert not any(kwargs.get("tail") for kwargs in asked[first + 1 :])


#: The kernel of the memory test: a real InteractiveShell in its own process, printing to a
#: file, follows each flood while tracemalloc watches what the follow allocates.
KERNEL = """
import json, resource, sys, tracemalloc
from IPython.core.interactiveshell import InteractiveShell
ledger, out_dir, *floods = sys.argv[1:]
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "jobmagic")
shell.run_line_magic("config", f"JobMagic.ledger_path = {ledger!r}")
shell.run_line_magic("config", "JobMagic.poll_interval = 0.2")
shell.run_line_magic("config", "JobMagic.show_cards = False")
report = sys.stdout
measured = []
for number, body in enumerate([("lines: 3", "width: 10"), *(f.split(",") for f in floods)]):
    sys.stdout = open(f"{out_dir}/{number}.txt", "w")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    shell.run_cell_magic("trigger_job", "sandbox:demo:flood --wait --logs --timeout 200 -o run",
                         "\\n".join(body) + "\\n")
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    sys.stdout.close()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    measured.append({"peak": peak, "rss_kib": grown, "status": str(shell.user_ns["run"].status)})
report.write(json.dumps(measured[1:]))  # the first one only loaded what a follow needs
"""


@pytest.mark.timeout(240)
def test_following_very_long_lines_holds_about_a_page_in_memory(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    script = tmp_path / "kernel.py"
    script.write_text(KERNEL)
    env = {
        **os.environ,
        "TFY_HOST": sandbox.host,
        "TFY_API_KEY": sandbox.token,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    floods = [
        "lines: 1,width: 50000000",  # one line of 50 MB
        "lines: 3000,width: 10,last_width: 20000000",  # short lines, then one of 20 MB
    ]
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ledger.db"), str(tmp_path), *floods],
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    one_line, short_then_long = json.loads(result.stdout)
    assert one_line["status"] == short_then_long["status"] == "FINISHED"
    # A page is at most PAGE_BUDGET_CHARS of text and one line (the client reads an answer
    # only that far). Reading the 50 MB line in one request, as before, grew the kernel by
    # ~150 MB (tracemalloc); pages of many lines after short ones by ~40 MB.
    assert one_line["peak"] < 3 * PAGE_BUDGET_CHARS, one_line
    assert short_then_long["peak"] < 3 * PAGE_BUDGET_CHARS, short_then_long
    # The lines came whole and once: the sandbox cuts a long line in pieces of 64 KiB, each
    # printed on a line of its own.
    printed = (tmp_path / "1.txt").read_text().splitlines()
    pieces = [line for line in printed if len(line) > 100]
    assert "".join(pieces) == flood_line(0, 50_000_000)
    printed = (tmp_path / "2.txt").read_text().splitlines()
    short = [line for line in printed if FLOOD_LINE.match(line) and len(line) == 10]
    assert short == [flood_line(n, 10) for n in range(2999)]
    pieces = [line for line in printed if len(line) > 100]
    assert "".join(pieces) == flood_line(2999, 20_000_000)
