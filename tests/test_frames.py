"""runs_to_dataframe, style_runs and plot_timeline."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from jobmagic.errors import ValidationError
from jobmagic.frames import (
    BASE_COLUMNS,
    STATUS_COLORS,
    STATUS_ORDER,
    ledger_frame,
    plot_timeline,
    runs_to_dataframe,
    style_runs,
)
from jobmagic.ledger import Ledger, LedgerQuery
from jobmagic.models import JobRun, RunStatus, Subject

T0 = 1_700_000_000_000  # ms
UTC = timezone.utc


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JOBMAGIC_HOME", str(tmp_path / "jobmagic-home"))


@dataclass
class Handle:
    """A run handle as runs_to_dataframe sees one: .run and .params (and maybe .command)."""

    run: JobRun
    params: Mapping[str, str] = field(default_factory=dict)
    command: str | None = None


def _is_string_dtype(dtype: Any) -> bool:
    # "string" == the NaN-flavoured "str" dtype too in pandas 3; insist on the NA one.
    return isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA


def _assert_base_dtypes(frame: pd.DataFrame, extra_statuses: tuple[str, ...] = ()) -> None:
    assert frame["status"].dtype == pd.CategoricalDtype(
        [*STATUS_ORDER, *extra_statuses], ordered=False
    )
    for column in ("created_at", "end_time"):
        assert frame[column].dtype == pd.DatetimeTZDtype("ns", "UTC"), column
    assert frame["duration"].dtype == np.dtype("timedelta64[ns]")
    assert frame["exit_code"].dtype == pd.Int64Dtype()
    assert frame["total_retries"].dtype == pd.Int64Dtype()
    text = [
        "name",
        "application_name",
        "deployment_version",
        "triggered_by",
        "command",
        "error",
        "rerun_of",
    ]
    for column in text:
        assert _is_string_dtype(frame[column].dtype), column


def _api(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": "FINISHED", "applicationName": "train", "createdAt": T0} | extra


# --- columns and dtypes -----------------------------------------------------------------


def test_status_order_is_the_nine_api_statuses() -> None:
    assert STATUS_ORDER == (
        "CREATED",
        "SCHEDULED",
        "RUNNING",
        "FINISHED",
        "FAILED",
        "TERMINATION_REQUESTED",
        "TERMINATING",
        "TERMINATED",
        "UNKNOWN",
    )


def test_columns_and_dtypes_exactly() -> None:
    frame = runs_to_dataframe(
        [
            _api(
                "r1",
                endTime=T0 + 12_500,
                duration=12.5,
                exitCode=0,
                totalRetries=1,
                deploymentVersion="3",
                triggeredBy="u-1",
                command="python train.py",
                params={"lr": "0.1", "epochs": "3"},
            ),
            _api("r2", status="RUNNING", params={"lr": "0.01", "seed": "7"}),
        ]
    )
    assert list(frame.columns) == [*BASE_COLUMNS, "params.lr", "params.epochs", "params.seed"]
    assert list(BASE_COLUMNS) == [
        "name",
        "application_name",
        "status",
        "created_at",
        "end_time",
        "duration",
        "exit_code",
        "total_retries",
        "deployment_version",
        "triggered_by",
        "command",
        "error",
        "rerun_of",
        "sweep",
    ]
    _assert_base_dtypes(frame)
    for column in ("params.lr", "params.epochs", "params.seed"):
        assert _is_string_dtype(frame[column].dtype)
    assert isinstance(frame.index, pd.RangeIndex) and len(frame) == 2

    first = frame.iloc[0]
    assert first["name"] == "r1" and first["status"] == "FINISHED"
    assert first["created_at"] == pd.Timestamp(T0, unit="ms", tz="UTC")
    assert first["end_time"] == pd.Timestamp(T0 + 12_500, unit="ms", tz="UTC")
    assert first["duration"] == pd.Timedelta(seconds=12.5)
    assert (first["exit_code"], first["total_retries"]) == (0, 1)
    assert (first["deployment_version"], first["triggered_by"]) == ("3", "u-1")
    assert frame["params.lr"].tolist() == ["0.1", "0.01"]
    assert frame["params.epochs"].tolist() == ["3", pd.NA]
    assert frame["params.seed"].tolist() == [pd.NA, "7"]
    second = frame.iloc[1]
    # A live run: no end, and the duration every view shows (created -> the clock's now).
    assert second["end_time"] is pd.NaT
    since = pd.Timestamp.now(tz="UTC") - second["created_at"]
    assert since - pd.Timedelta(seconds=2) <= second["duration"] <= since
    assert second["exit_code"] is pd.NA and second["error"] is pd.NA


@pytest.mark.parametrize("empty", [[], (), iter([])])
def test_empty_input_gives_typed_empty_frame(empty: Any) -> None:
    frame = runs_to_dataframe(empty)
    assert list(frame.columns) == list(BASE_COLUMNS)
    assert len(frame) == 0
    _assert_base_dtypes(frame)


def test_params_false_drops_params_columns() -> None:
    frame = runs_to_dataframe([_api("r1", params={"lr": "1"})], params=False)
    assert list(frame.columns) == list(BASE_COLUMNS)


def test_params_columns_follow_first_appearance_and_many_sparse_names() -> None:
    runs = [_api(f"r{i}", params={f"p{i}": str(i)}) for i in range(40)]
    runs.insert(0, _api("first", params={"z": "1", "a": "2"}))
    frame = runs_to_dataframe(runs)
    params = [c for c in frame.columns if c.startswith("params.")]
    assert params == ["params.z", "params.a", *(f"params.p{i}" for i in range(40))]
    assert frame["params.p5"].notna().sum() == 1
    assert frame.loc[6, "params.p5"] == "5"


# --- inputs --------------------------------------------------------------------------------


def test_mixed_inputs_in_one_list(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        acknowledged = ledger.record_attempt(
            host="h",
            target="c:w:train",
            application_fqn="c:w:train",
            params={"lr": "0.3"},
            command="python sent.py",
        )
        ledger.record_acknowledged(
            acknowledged, JobRun(name="from-ledger", status=RunStatus.RUNNING)
        )
        rejected = ledger.record_attempt(
            host="h", target="c:w:train", application_fqn="c:w:train", params={"lr": "9"}
        )
        ledger.record_rejected(rejected, ValidationError("lr too big", status_code=422))
        pending = ledger.record_attempt(host="h", target="train")
        entries = {e.id: e for e in ledger.entries()}

    subject = Subject("u-1", "user", "ada", "Ada Lovelace")
    job_run = JobRun(
        name="a-jobrun",
        status=RunStatus.FAILED,
        created_at=datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        end_time=datetime(2024, 1, 1, 12, 1, 0, tzinfo=UTC),
        exit_code=1,
        triggered_by="u-1",
        triggered_by_subject=subject,
    )
    handle = Handle(JobRun(name="a-handle", status=RunStatus.SCHEDULED), {"lr": "0.2"}, "cmd")
    raw = _api("a-dict", params={"lr": "0.1", "batch": "64"})
    frame = runs_to_dataframe(
        [
            job_run,
            raw,
            handle,
            entries[acknowledged],
            entries[rejected],
            entries[pending],
        ]
    )
    _assert_base_dtypes(frame, ("PENDING", "REJECTED"))
    assert frame["name"].tolist() == ["a-jobrun", "a-dict", "a-handle", "from-ledger", pd.NA, pd.NA]
    assert frame["status"].astype(str).tolist() == [
        "FAILED",
        "FINISHED",
        "SCHEDULED",
        "RUNNING",
        "REJECTED",
        "PENDING",
    ]
    assert frame["params.lr"].fillna("-").tolist() == ["-", "0.1", "0.2", "0.3", "9", "-"]
    assert frame["params.batch"].fillna("-").tolist() == ["-", "64", "-", "-", "-", "-"]
    # A JobRun's microseconds survive; its triggered_by is the friendliest name.
    assert frame.loc[0, "created_at"] == pd.Timestamp("2024-01-01 12:00:00.123456", tz="UTC")
    assert frame.loc[0, "duration"] == pd.Timedelta(seconds=59.876544)
    assert frame.loc[0, "triggered_by"] == "Ada Lovelace"
    # The command that was sent, where the JobRun does not say.
    assert frame["command"].fillna("-").tolist() == ["-", "-", "cmd", "python sent.py", "-", "-"]
    # Attempts without a run: application from the FQN, the attempt's time, the error.
    assert frame.loc[4, "application_name"] == "train"
    assert frame.loc[4, "error"] == "ValidationError: lr too big"
    assert frame.loc[5, "created_at"] == pd.Timestamp(entries[pending].created_at)


def test_handles_of_one_class_in_bulk() -> None:
    handles = [
        Handle(JobRun(name=f"r{i}", status=RunStatus.RUNNING, command=None), {"i": str(i)}, "c")
        for i in range(5)
    ]
    frame = runs_to_dataframe(handles)
    assert frame["params.i"].tolist() == ["0", "1", "2", "3", "4"]
    assert frame["command"].tolist() == ["c"] * 5


def test_unknown_status_is_kept_as_a_category() -> None:
    frame = runs_to_dataframe(
        [
            _api("a", status="PAUSED"),
            JobRun(name="b", status=RunStatus("PAUSED")),
            _api("c", status="HIBERNATING"),
            _api("d", status=None),
            _api("e", status=7),
            _api("f", status=""),
        ]
    )
    _assert_base_dtypes(frame, ("PAUSED", "HIBERNATING"))
    assert frame["status"].astype(str).tolist() == [
        "PAUSED",
        "PAUSED",
        "HIBERNATING",
        "UNKNOWN",
        "UNKNOWN",
        "UNKNOWN",
    ]
    # The category order sorts by lifecycle.
    ordered = runs_to_dataframe([_api("x", status="FAILED"), _api("y", status="CREATED")])
    assert ordered.sort_values("status")["name"].tolist() == ["y", "x"]


def test_raw_dicts_with_ms_timestamps_and_string_values() -> None:
    frame = runs_to_dataframe(
        [
            _api("int-ms", createdAt=T0 + 123, endTime=T0 + 60_123),
            _api("str-ms", createdAt=str(T0), duration="12.5"),
            _api("frac-ms", createdAt=T0 + 0.5, duration="0:05:00"),
            _api("iso", createdAt="2024-01-01T00:00:00Z", duration="soon"),
            _api("none", createdAt=None, duration=None),
            _api("garbage", createdAt="yesterday", exitCode="1", totalRetries="2"),
            _api("huge", createdAt=1e30, exitCode=2.0, deploymentVersion=4),
            _api("argv", command=["python", "train.py", "--lr", "0.1"], error=""),
        ]
    )
    _assert_base_dtypes(frame)
    created = frame["created_at"]
    assert created[0] == pd.Timestamp(T0 + 123, unit="ms", tz="UTC")
    assert created[0].value == (T0 + 123) * 1_000_000  # exact to the nanosecond
    assert created[1] == pd.Timestamp(T0, unit="ms", tz="UTC")
    assert created[2].value == T0 * 1_000_000 + 500_000
    assert created[3] == pd.Timestamp("2024-01-01", tz="UTC")
    assert created[4] is pd.NaT and created[5] is pd.NaT and created[6] is pd.NaT
    duration = frame["duration"]
    assert duration[0] == pd.Timedelta(seconds=60)  # from end - created, no duration sent
    assert duration[1] == pd.Timedelta(seconds=12.5)
    assert duration[2] == pd.Timedelta(minutes=5)
    assert duration[3] is pd.NaT
    assert frame.loc[5, "exit_code"] == 1 and frame.loc[5, "total_retries"] == 2
    assert frame.loc[6, "exit_code"] == 2 and frame.loc[6, "deployment_version"] == "4"
    assert frame.loc[7, "command"] == "python train.py --lr 0.1"
    assert frame.loc[7, "error"] is pd.NA


def test_triggered_by_prefers_the_subjects_name() -> None:
    frame = runs_to_dataframe(
        [
            _api("a", triggeredBy="u-1", triggeredBySubject={"subjectSlug": "ada"}),
            _api("b", triggeredBy="u-2", triggeredBySubject={"subjectType": "user"}),
            _api("c", triggeredBy="u-3"),
        ]
    )
    assert frame["triggered_by"].tolist() == ["ada", "u-2", "u-3"]


def test_mapping_subclass_and_generator_input() -> None:
    class Frozen(dict[str, Any]):
        pass

    frame = runs_to_dataframe(x for x in [Frozen(_api("a")), _api("b")])
    assert frame["name"].tolist() == ["a", "b"]


def test_unsupported_items_are_named() -> None:
    with pytest.raises(TypeError, match="item 1 is a int"):
        runs_to_dataframe([_api("a"), 3])


def test_dicts_and_jobruns_give_the_same_frame() -> None:
    raws = [
        _api(
            f"r{i}",
            status=["RUNNING", "FINISHED", "PAUSED"][i % 3],
            endTime=T0 + 1000 * i,
            duration=float(i),
            exitCode=i % 2,
            triggeredBySubject={"subjectDisplayName": "Ada"},
        )
        for i in range(30)
    ]
    from_dicts = runs_to_dataframe(raws)
    from_runs = runs_to_dataframe([JobRun.from_api(r) for r in raws])
    pd.testing.assert_frame_equal(from_dicts, from_runs)


# --- the styled table --------------------------------------------------------------------------


def test_style_runs_escapes_and_colours() -> None:
    frame = runs_to_dataframe(
        [_api("<script>x</script>", status="FAILED", duration=3723.0, endTime=T0 + 3_723_000)]
    )
    html = style_runs(frame).to_html()
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    # The card's badge colours (not the timeline's palette): one look for the same facts.
    assert "var(--jp-error-color1, #c62828)" in html
    assert "1:02:03" in html and "2023-11-14 22:13:20" in html


def test_style_runs_keeps_names_on_one_line_and_shortens_commands() -> None:
    command = "python train.py " + "--flag value " * 40
    frame = runs_to_dataframe([_api("train-abcde", status="RUNNING", command=command)])
    html = style_runs(frame).to_html()
    assert "white-space: nowrap" in html
    shown = re.sub(r'title="[^"]*"', "", html)  # the cell's text, not its tooltip
    assert command.strip() not in shown and "python train.py --flag value" in shown
    assert f'title="{command.strip()}' in html  # the whole text a hover away
    assert frame.loc[0, "command"] == command  # the frame keeps the whole text


# --- the timeline ---------------------------------------------------------------------------------


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _sweep() -> list[Any]:
    base = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    runs = []
    for i, (status, minutes) in enumerate(
        [("FINISHED", 10), ("FAILED", 4), ("RUNNING", None), ("TERMINATED", 2), ("PAUSED", None)]
    ):
        created = base + timedelta(minutes=3 * i)
        run = JobRun(
            name=f"train-{i}",
            status=RunStatus(status),
            created_at=created,
            end_time=created + timedelta(minutes=minutes) if minutes else None,
        )
        runs.append(Handle(run, {"lr": str(10 ** -(i + 1))}))
    # No creation time: cannot be placed, so no bar.
    runs.append(Handle(JobRun(name="never-started", status=RunStatus.CREATED), {"lr": "1"}))
    return runs


def test_timeline_renders_one_bar_per_placed_run_with_param_labels() -> None:
    now = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    figure = plot_timeline(_sweep(), label="lr", now=now)
    assert _png(figure)[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = figure.axes
    assert len(ax.patches) == 5
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == ["lr=0.1", "lr=0.01", "lr=0.001", "lr=0.0001", "lr=1e-05"]
    legend_box = ax.get_legend()
    assert legend_box is not None
    legend = [text.get_text() for text in legend_box.get_texts()]
    assert legend == ["RUNNING", "FINISHED", "FAILED", "TERMINATED", "PAUSED"]  # lifecycle
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Rectangle

    bars = [bar for bar in ax.patches if isinstance(bar, Rectangle)]
    assert len(bars) == 5
    colours = [bar.get_facecolor()[:3] for bar in bars]

    assert colours[0] == pytest.approx(to_rgb(STATUS_COLORS["FINISHED"]))
    assert colours[1] == pytest.approx(to_rgb(STATUS_COLORS["FAILED"]))
    assert colours[2] == pytest.approx(to_rgb(STATUS_COLORS["RUNNING"]))
    # The running run is drawn up to `now`; the finished one up to its end.
    from matplotlib import dates as mdates

    running = bars[2]
    assert running.get_x() + running.get_width() == pytest.approx(
        mdates.date2num(now.replace(tzinfo=None))
    )
    assert bars[0].get_width() == pytest.approx(10 / (24 * 60))
    assert "5 runs" in ax.get_title()


def test_timeline_labels_default_to_run_names_and_draws_on_a_given_axes() -> None:
    from matplotlib.figure import Figure

    figure = Figure()
    ax = figure.add_subplot()
    returned = plot_timeline([_api("a", duration=5.0), _api("b", status="RUNNING")], ax=ax)
    assert returned is figure
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(ax.patches) == 2
    assert _png(figure).startswith(b"\x89PNG")


def test_timeline_renders_off_the_main_thread() -> None:
    result: list[bytes] = []
    thread = threading.Thread(target=lambda: result.append(_png(plot_timeline(_sweep()))))
    thread.start()
    thread.join(timeout=60)
    assert result and result[0].startswith(b"\x89PNG")


def test_timeline_of_nothing_still_renders() -> None:
    figure = plot_timeline([])
    assert len(figure.axes[0].patches) == 0
    assert _png(figure).startswith(b"\x89PNG")


def test_timeline_without_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import matplotlib` fail, as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'jobmagic\[plot\]'"):
        plot_timeline([_api("a")])


def test_timeline_of_many_runs_stays_legible() -> None:
    runs = [_api(f"r{i}", createdAt=T0 + 60_000 * i, duration=30.0) for i in range(100)]
    figure = plot_timeline(runs)
    (ax,) = figure.axes
    assert len(ax.patches) == 100
    assert [t.get_text() for t in ax.get_yticklabels() if t.get_text()] == []
    assert figure.get_figheight() <= 24


def test_readme_dataframe_and_timeline_match_the_code() -> None:
    """The README's column list and its DataFrame (from tools/make_readme_figures.py) name the
    columns runs_to_dataframe really gives, and the timeline picture it links exists."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    columns = list(runs_to_dataframe([]).columns)
    listed = readme.split("Columns: ", 1)[1].split(", then the params", 1)[0]
    assert re.findall(r"`([a-z_]+)`", listed) == columns
    block = readme.split("<!-- runs-dataframe -->\n```text\n", 1)[1].split("```", 1)[0]
    header = block.splitlines()[0].split()
    assert header and all(c in columns or c.startswith("params.") for c in header)
    assert "FINISHED" in block and "FAILED" in block and "TERMINATED" in block
    png = (root / "docs" / "timeline.png").read_bytes()
    assert png.startswith(b"\x89PNG") and "](docs/timeline.png)" in readme


def test_a_finished_runs_duration_is_precise_from_its_times_like_jobrun_says() -> None:
    # Real servers round duration to whole seconds; createdAt/endTime keep milliseconds.
    dicts = [
        _api("both", endTime=T0 + 2_499, duration=2),
        _api("only-duration", duration=7),
        _api("skewed", endTime=T0 - 1_000, duration=0),
    ]
    runs = [JobRun.from_api(item) for item in dicts]
    for frame in (runs_to_dataframe(dicts), runs_to_dataframe(runs)):
        assert list(frame["duration"]) == [
            pd.Timedelta(milliseconds=2_499),
            pd.Timedelta(seconds=7),
            pd.Timedelta(0),
        ]
    # One rule for frames and models: the frame agrees with JobRun.duration_seconds.
    expected = [run.duration_seconds for run in runs]
    assert [d.total_seconds() for d in runs_to_dataframe(runs)["duration"]] == expected


# --- straight from the ledger -----------------------------------------------------------


def _mixed_ledger(path: Path) -> Ledger:
    """Every kind of row %job_runs lists: answered triggers (raw JSON with a subject, an
    unknown status, a command only the attempt knows, a rerun), attempts without a run, a
    damaged row."""
    ledger = Ledger(path)
    started = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)
    raw = {
        "name": "train-a",
        "status": "FINISHED",
        "createdAt": 1_775_000_000_123,
        "endTime": 1_775_000_012_623,
        "duration": 12,
        "exitCode": 0,
        "totalRetries": "1",
        "deploymentVersion": 4,
        "triggeredBySubject": {"subjectSlug": "ada", "subjectDisplayName": "Ada L."},
        "command": ["python", "train.py", "--lr", "0.1"],
    }
    a = ledger.record_attempt(host="h", target="train", application_id="app", params={"lr": "0.1"})
    ledger.record_acknowledged(a, JobRun(name="train-a", status=RunStatus.FINISHED), raw=raw)
    b = ledger.record_attempt(
        host="h",
        target="train",
        application_id="app",
        command="python train.py --x",
        rerun_of="train-a",
    )
    ledger.record_acknowledged(
        b, JobRun(name="train-b", status=RunStatus.RUNNING, created_at=started)
    )
    c = ledger.record_attempt(
        host="h", target="eval", application_fqn="c:w:eval", params={"k": "3"}
    )
    ledger.record_rejected(c, ValidationError("no such param k", status_code=422))
    ledger.record_attempt(host="h", target="eval", application_fqn="c:w:eval")  # pending
    d = ledger.record_attempt(host="h", target="train", application_id="app")
    ledger.record_acknowledged(d, JobRun(name="train-d", status=RunStatus.FAILED, exit_code=3))
    e = ledger.record_attempt(host="h", target="train", application_id="app", params={"z": "1"})
    ledger.record_acknowledged(
        e, JobRun(name="train-e", status=RunStatus.FINISHED), raw={"status": "PAUSED"}
    )
    with sqlite3.connect(path) as conn:  # a row edited by hand: its run reads as missing
        conn.execute('UPDATE attempts SET run_json = \'{"name": "cut\' WHERE id = ?', (d,))
    return ledger


def test_ledger_frame_is_runs_to_dataframe_of_the_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One second for both frames: a live run's duration counts to the clock's now.
    import jobmagic.frames._convert as convert

    frozen = convert.clock_now()
    monkeypatch.setattr(convert, "clock_now", lambda: frozen)
    with _mixed_ledger(tmp_path / "ledger.sqlite3") as ledger:
        fast = ledger_frame(ledger)
        pd.testing.assert_frame_equal(fast, runs_to_dataframe(ledger.entries()))
        # Newest first; the damaged row is an attempt whose run cannot be read.
        assert list(fast["status"].astype(str)) == [
            "PAUSED",
            "ACKNOWLEDGED",
            "PENDING",
            "REJECTED",
            "RUNNING",
            "FINISHED",
        ]
        assert fast.loc[5, "command"] == "python train.py --lr 0.1"
        assert fast.loc[4, "command"] == "python train.py --x"  # what the attempt sent
        assert fast.loc[4, "rerun_of"] == "train-a"
        assert fast.loc[3, "error"] == "ValidationError: no such param k"
        assert fast.loc[5, "triggered_by"] == "Ada L." and fast.loc[5, "total_retries"] == 1
        assert fast.loc[5, "params.lr"] == "0.1" and fast.loc[0, "params.z"] == "1"
        query = LedgerQuery(app="c:w:eval")
        pd.testing.assert_frame_equal(
            ledger_frame(ledger, query), runs_to_dataframe(ledger.page(query, size=None))
        )
        empty = ledger_frame(ledger, LedgerQuery(statuses=()))
        pd.testing.assert_frame_equal(empty, runs_to_dataframe([]))


def test_ledger_frame_has_the_dtypes_of_the_sqlite_json_pandas_baseline(tmp_path: Path) -> None:
    from benchmarks.bench_frames import baseline_with_params

    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        for i in range(30):
            attempt = ledger.record_attempt(
                host="h", target="t", application_id="app", params={"lr": str(i), "seed": "1"}
            )
            status = [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.RUNNING][i % 3]
            ledger.record_acknowledged(
                attempt, JobRun(name=f"r-{i}", status=status, exit_code=i % 2)
            )
        rows = ledger.rows(LedgerQuery(), ["run_json", "params_json"])
        expected = baseline_with_params(
            [json.loads(run) for run, _ in rows], [json.loads(params) for _, params in rows]
        )
        ours = ledger_frame(ledger)
    assert list(ours.columns) == list(expected.columns)
    assert list(ours.dtypes) == list(expected.dtypes)
    pd.testing.assert_series_equal(ours["status"], expected["status"])
    pd.testing.assert_series_equal(ours["params.lr"], expected["params.lr"])


def test_style_runs_of_a_large_frame_shows_the_first_rows_and_says_how_many() -> None:
    frame = runs_to_dataframe([{"name": f"r-{i}", "status": "FINISHED"} for i in range(250)])
    styled = style_runs(frame, rows=100)
    assert len(styled.data) == 100 and list(styled.data["name"])[-1] == "r-99"
    html = styled.to_html()
    assert "The first 100 of 250 runs; the DataFrame holds them all." in html
    assert "r-100" not in html
    assert "The first" not in style_runs(frame.head(3)).to_html()


def test_style_runs_is_calm_a_badge_no_painted_cells_and_errors_on_one_line() -> None:
    error = "ValueError: could not convert <lr> to float\n  " + "and more detail " * 10
    frame = runs_to_dataframe([_api("train-x", status="FAILED", error=error)])
    html = style_runs(frame).to_html()
    css = html.split("</style>", 1)[0]
    # No cell is painted: colours live in the status badge only.
    assert "background" not in css
    badge = re.search(
        r'<span class="jobmagic-table-status[^"]*" style="([^"]*)">FAILED</span>', html
    )
    assert badge is not None
    assert "#c62828" in badge.group(1) and "border-radius" in badge.group(1)
    assert "font-size: 11px" in badge.group(1)  # the cards' badge size
    # The error stays on one line, cut, its text in the title (escaped for the attribute).
    error_cell = re.search(
        r'class="data row0 col(\d+)" ><span title="([^"]*)">([^<]*)</span>', html
    )
    assert error_cell is not None
    column = frame.columns[int(error_cell.group(1))]
    assert column == "error"
    assert "nowrap" in css and f"col{error_cell.group(1)}" in css.split("nowrap")[0]
    assert error_cell.group(2).startswith("ValueError: could not convert &lt;lr&gt; to float\n")
    assert "and more detail " * 5 in error_cell.group(2)
    assert error_cell.group(3).endswith("…") and "\n" not in error_cell.group(3)
    # A short error is shown as it is, with no tooltip repeating it.
    short = style_runs(runs_to_dataframe([_api("t", status="FAILED", error="bad lr")])).to_html()
    assert ">bad lr</td>" in short and "title=" not in short
