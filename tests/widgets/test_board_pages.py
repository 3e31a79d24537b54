"""Boards that page: ``%job_runs`` over a 10,000-run ledger in a real IPython shell shows
one page, counts every run, pages on a click and saves only what it shows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from ipywidgets.embed import dependency_state

from jobmagic.ledger import AttemptState, Ledger, LedgerEntry, LedgerQuery
from jobmagic.models import JobRun, RunStatus
from jobmagic.widgets import RunsBoard
from jobmagic.widgets.pages import LedgerPages, ListPages
from tests.widgets.fakes import FakeSource

RUNS = 10_000
#: The issue's bound on what one board saves into a notebook, at any ledger size.
BUNDLE_LIMIT_BYTES = 200_000
_CYCLE = (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.FINISHED, RunStatus.TERMINATED)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _entry(i: int, status: RunStatus, *, app: str = "train") -> LedgerEntry:
    created = datetime(2026, 2, 1, tzinfo=timezone.utc) + timedelta(seconds=30 * i)
    run = JobRun(
        name=f"{app}-{i:05d}",
        status=status,
        application_id=f"app-{app}",
        created_at=created,
        end_time=None if not status.is_terminal else created + timedelta(seconds=9),
    )
    return LedgerEntry(
        id=0,
        state=AttemptState.ACKNOWLEDGED,
        created_at=created,
        updated_at=created,
        host="http://127.0.0.1:9",
        target=f"sandbox:demo:{app}",
        application_id=f"app-{app}",
        application_fqn=f"sandbox:demo:{app}",
        run_name=run.name,
        params={"lr": f"0.{i % 10}", "seed": str(i)},
        session_id="earlier-kernel",
        run=run,
    )


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 ended runs of one job, one every 30 s, the statuses cycling through _CYCLE."""
    path = tmp_path_factory.mktemp("pages") / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.import_entries(_entry(i, _CYCLE[i % len(_CYCLE)]) for i in range(RUNS))
    return path


@pytest.fixture
def shell(
    ledger_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    # Every run has ended, so nothing is asked of this host: nobody listens on it.
    monkeypatch.setenv("TFY_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("TFY_API_KEY", "not-a-token")
    monkeypatch.setenv("JOBMAGIC_HOME", str(tmp_path / "home"))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jobmagic")
    ip.run_line_magic("config", f"JobMagic.ledger_path = {str(ledger_file)!r}")
    ip.run_line_magic("config", "JobMagic.show_cards = False")
    yield ip
    ip.run_line_magic("unload_ext", "jobmagic")
    InteractiveShell.clear_instance()


def _names(board: RunsBoard) -> list[str]:
    return [source.run.name or "" for source in board.sources]


def test_the_board_shows_the_newest_page_and_counts_every_run(shell: InteractiveShell) -> None:
    board = shell.run_line_magic("job_runs", "--all")
    try:
        assert board.page_count == RUNS // 50 and board.page == 0
        assert _names(board) == [f"train-{i:05d}" for i in range(RUNS - 1, RUNS - 51, -1)]
        assert board.table.value.count('<tr class="jobmagic-row') == 50
        assert board.status_counts == {"FAILED": 2500, "FINISHED": 5000, "TERMINATED": 2500}
        assert "10,000 runs · 5,000 FINISHED · 2,500 FAILED · 2,500 TERMINATED" in (
            board.counts_label.value
        )
        assert "page 1 of 200 · runs 1–50 of 10,000" in board.page_label.value
        assert board.newer_button.disabled and not board.older_button.disabled
        assert board.pager.layout.display is None  # shown: there is more than one page
        assert [label for label, _ in board.select.options][:2] == ["train-09999", "train-09998"]
    finally:
        board.close()


def test_page_buttons_read_the_next_page_from_the_ledger(shell: InteractiveShell) -> None:
    board = shell.run_line_magic("job_runs", "--all")
    try:
        board.older_button.click()
        assert board.page == 1
        assert _names(board)[0] == "train-09949" and _names(board)[-1] == "train-09900"
        assert "page 2 of 200 · runs 51–100 of 10,000" in board.page_label.value
        assert "train-09949" in board.table.value and "train-09999" not in board.table.value
        assert board.select.options[0][0] == "train-09949"
        assert not board.newer_button.disabled
        board.show_page(10_000)  # past the end: the last page
        assert board.page == 199 and _names(board)[-1] == "train-00000"
        assert board.older_button.disabled
        board.newer_button.click()
        assert board.page == 198 and _names(board)[0] == "train-00099"
        # Counts are of every run, whichever page is shown.
        assert "10,000 runs · 5,000 FINISHED" in board.counts_label.value
        board.open(0)  # the row's card opens for the page shown
        assert board.card is not None and board.card.source.run.name == "train-00099"
    finally:
        board.close()


def test_the_saved_output_holds_one_page_and_the_counts(shell: InteractiveShell) -> None:
    with capture_output() as captured:
        result = shell.run_cell("%job_runs --all", store_history=False)
    result.raise_error()
    board = result.result
    try:
        # Twin outputs: the saved copy (what readers without a kernel see), then the widget.
        # (Updates other tests' views still send at a cell's end are not this cell's outputs.)
        shown = [o for o in captured.outputs if not o.update]
        assert len(shown) == 2, [
            (o.update, o.data.get("text/plain", "")[:80]) for o in captured.outputs
        ]
        output, widget_output = shown
        assert WIDGET_VIEW in widget_output.data and WIDGET_VIEW not in output.data
        data = output.data
        assert data["text/plain"].startswith("10,000 runs: 5,000 FINISHED · 2,500 FAILED")
        assert "page 1 of 200" in data["text/plain"]
        snapshot = data["text/html"]
        assert "10,000 runs: 5,000 FINISHED" in snapshot and "page 1 of 200" in snapshot
        assert snapshot.count('<tr class="jobmagic-row') == 50
        assert "train-09950" in snapshot and "train-09949" not in snapshot  # page 2
        saved = len(json.dumps(data)) + len(json.dumps(dependency_state(board.widget)))
        assert saved < BUNDLE_LIMIT_BYTES, saved
    finally:
        board.close()


def test_filters_and_limit_page_and_count_what_they_match(shell: InteractiveShell) -> None:
    board = shell.run_line_magic("job_runs", "--all --limit 120")
    try:
        assert board.page_count == 3 and board.total == 120
        board.show_page(2)
        assert len(board.sources) == 20 and _names(board)[-1] == "train-09880"
        assert "runs 101–120 of 120" in board.page_label.value
    finally:
        board.close()
    board = shell.run_line_magic("job_runs", "--all --status FAILED")
    try:
        assert board.status_counts == {"FAILED": 2500} and board.page_count == 50
        assert {source.run.status for source in board.sources} == {RunStatus.FAILED}
    finally:
        board.close()
    board = shell.run_line_magic("job_runs", "--all --limit 30")
    try:
        assert board.page_count == 1 and board.pager.layout.display == "none"
        assert board.text() == "30 runs: 15 FINISHED · 7 FAILED · 8 TERMINATED"
    finally:
        board.close()


def test_output_variable_holds_every_matching_run(shell: InteractiveShell) -> None:
    board = shell.run_line_magic("job_runs", "--all -o df")
    try:
        frame = shell.user_ns["df"]
        assert len(frame) == RUNS and len(board.sources) == 50
        assert frame["name"].iloc[0] == "train-09999" and frame["name"].iloc[-1] == "train-00000"
    finally:
        board.close()
    styled = shell.run_line_magic("job_runs", "--all --table -o whole")
    assert len(shell.user_ns["whole"]) == RUNS
    assert len(styled.data) < RUNS and f"of {RUNS:,} runs" in styled.to_html()


# --- pages in memory and the shown rows' own changes -----------------------------------


class _Source(FakeSource):
    """A RunSource in memory whose ``emit`` takes a status (the tracker's part)."""

    def __init__(self, name: str, status: RunStatus) -> None:
        super().__init__(
            JobRun(name=name, status=status), params={}, application_fqn=None, url=None
        )

    def emit_status(self, status: RunStatus) -> None:
        self.emit(JobRun(name=self.run.name, status=status))


def test_a_list_board_listens_only_to_its_page_and_counts_every_row() -> None:
    sources = [_Source(f"sweep-{i:03d}", RunStatus.RUNNING) for i in range(120)]
    board = RunsBoard(sources, min_interval=0.0)
    try:
        assert [len(s.callbacks) for s in sources[:51]] == [1] * 50 + [0]
        assert board.newer_button.description == "Previous"  # a sweep's runs in trigger order
        board.older()
        assert sum(len(s.callbacks) for s in sources) == 50 and len(sources[50].callbacks) == 1
        sources[0].emit_status(RunStatus.FINISHED)  # off the page: nobody listens, yet it counts
        board.render()
        assert "120 runs · 119 RUNNING · 1 FINISHED" in board.counts_label.value
        late = _Source("sweep-120", RunStatus.CREATED)
        board.add(late)  # onto page 3: counted now, listened to when its page is shown
        assert board.page_count == 3 and not late.callbacks
        board.render()
        assert "121 runs · 1 CREATED" in board.counts_label.value
        board.show_page(2)
        assert board.sources == [sources[100 + i] for i in range(20)] + [late]
        assert len(late.callbacks) == 1
    finally:
        board.close()
    assert all(not s.callbacks for s in [*sources, late])


def test_a_shown_run_that_ends_moves_the_ledger_counts_at_once(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.import_entries(
            _entry(i, [RunStatus.RUNNING, RunStatus.FINISHED][i % 2]) for i in range(80)
        )
        made: dict[str, _Source] = {}

        def to_sources(entries: Sequence[LedgerEntry]) -> list[Any]:
            for entry in entries:
                assert entry.run is not None and entry.run_name is not None
                made.setdefault(entry.run_name, _Source(entry.run_name, entry.run.status))
            return [made[entry.run_name or ""] for entry in entries]

        pages = LedgerPages(ledger, LedgerQuery(with_run=True), to_sources)
        board = RunsBoard(pages=pages, min_interval=0.0)
        try:
            assert board.newer_button.description == "Newer"
            assert board.status_counts == {"FINISHED": 40, "RUNNING": 40}
            made["train-00078"].emit_status(
                RunStatus.FINISHED
            )  # the tracker's news, not yet stored
            assert board.status_counts == {"FINISHED": 41, "RUNNING": 39}
            assert "80 runs · 39 RUNNING · 41 FINISHED" in board.counts_label.value
        finally:
            board.close()
    with pytest.raises(ValueError, match="sources or pages"):
        RunsBoard([made["train-00079"]], pages=ListPages())
