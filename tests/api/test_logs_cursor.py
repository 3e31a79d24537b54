"""``client.logs`` pages with the log API's cursors, in both clients, against the sandbox.

``startTs`` is inclusive and ``numLogsToIgnore`` skips that many lines *at* ``startTs``
(truefoundry-sdk 0.6.0: "Number of log lines at the start timestamp to skip"), never later
ones; a page's ``next`` is the cursor after its last line. With a ``budget`` the client
reads an answer's lines only until they hold that many characters.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import httpx
import pytest

from jobmagic.api import AsyncJobsClient, JobsClient, RetryPolicy, TransportError
from jobmagic.api._listreader import CUT, ListReader
from jobmagic.api.logs import LogCursor, LogPage
from jobmagic.sandbox import Fault, SandboxServer

WIDTH = 20
FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05)


def flood_run(client: JobsClient, sandbox: SandboxServer, lines: int) -> tuple[str, str]:
    """Run the flood demo job to its end; its application id and run name."""
    app = client.find_app("sandbox:demo:flood")
    name = client.trigger(
        application_id=app.id, params={"lines": str(lines), "width": str(WIDTH)}
    ).job_run_name
    sandbox.wait_for_run(app.id, name)
    return app.id, name


def numbers(page: LogPage) -> list[int]:
    return [int(line.log.split()[0]) for line in page]


def test_pages_follow_each_other_from_the_cursor_in_both_clients(
    sandbox: SandboxServer, isolated_home: Path
) -> None:
    with JobsClient(sandbox.host, sandbox.token) as client:
        app_id, name = flood_run(client, sandbox, 50)
        first = client.logs(app_id, name, limit=10)
        second = client.logs(app_id, name, since=first.next, limit=10)
        rest = client.logs(app_id, name, since=second.next, limit=1000)
        tail = client.logs(app_id, name, limit=3, tail=True)
        after_tail = client.logs(app_id, name, since=tail.next)

    assert numbers(first) == list(range(10)) and first.full
    assert first.next == LogCursor(first[-1].time_ns or 0, 1)  # the sandbox stamps apart
    assert numbers(second) == list(range(10, 20))
    assert numbers(rest) == list(range(20, 50)) and not rest.full
    # A tail keeps its behaviour: the last lines, oldest first; nothing after it.
    assert numbers(tail) == [47, 48, 49] and tail.tail
    assert after_tail == []

    async def the_same_with_awaits() -> list[list[int]]:
        async with AsyncJobsClient(sandbox.host, sandbox.token) as aclient:
            first = await aclient.logs(app_id, name, limit=10)
            second = await aclient.logs(app_id, name, since=first.next, limit=10)
            tail = await aclient.logs(app_id, name, limit=3, tail=True)
            return [numbers(first), numbers(second), numbers(tail)]

    assert asyncio.run(the_same_with_awaits()) == [
        list(range(10)),
        list(range(10, 20)),
        [47, 48, 49],
    ]


def test_num_logs_to_ignore_skips_lines_at_the_start_time_only(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    with JobsClient(sandbox.host, sandbox.token) as client:
        app_id, name = flood_run(client, sandbox, 10)
        lines = client.logs(app_id, name)
        start = lines[3].time_ns
        assert start is not None
        # One line has that time: skipping 5 there skips it alone, not four later lines.
        page = client.logs(app_id, name, since=LogCursor(start, skip=5))
    assert numbers(page) == list(range(4, 10))
    answer = sandbox_client.get(
        "/logs",
        params={
            "applicationId": app_id,
            "jobRunName": name,
            "startTs": str(start),
            "numLogsToIgnore": "5",
        },
    )
    assert [item["log"][:8] for item in answer.json()["data"]] == [f"{n:08d}" for n in range(4, 10)]


def test_lines_of_one_time_are_skipped_by_count(tmp_path: Path, isolated_home: Path) -> None:
    with (
        SandboxServer(tmp_path / "sandbox", grace_period=1.0, log_time_step_ns=10**15) as sandbox,
        JobsClient(sandbox.host, sandbox.token) as client,
    ):
        app_id, name = flood_run(client, sandbox, 50)
        first = client.logs(app_id, name, limit=20)
        time_ns = first[0].time_ns
        assert time_ns is not None and {line.time_ns for line in first} == {time_ns}
        assert first.next == LogCursor(time_ns, 20)
        second = client.logs(app_id, name, since=first.next, limit=20)
        assert second.next == LogCursor(time_ns, 40)  # the skips add up within one time
        last = client.logs(app_id, name, since=LogCursor(time_ns, 45))
        beyond = client.logs(app_id, name, since=LogCursor(time_ns, 60))
        # A full tail of one time cannot know how many lines of that time it missed: the
        # cursor after it starts after that time.
        tail = client.logs(app_id, name, limit=3, tail=True)
    assert numbers(second) == list(range(20, 40))
    assert numbers(last) == [45, 46, 47, 48, 49]
    assert beyond == []
    assert numbers(tail) == [47, 48, 49] and tail.next == LogCursor(time_ns + 1, 0)


def test_a_budget_leaves_the_rest_of_an_answer_unread_and_the_walk_goes_on(
    sandbox: SandboxServer, isolated_home: Path
) -> None:
    with JobsClient(sandbox.host, sandbox.token, retry=FAST) as client:
        app_id, name = flood_run(client, sandbox, 50)
        first = client.logs(app_id, name, limit=1000, budget=300)
        walked, cursor, pages = [], None, 0
        while True:
            page = client.logs(app_id, name, since=cursor, limit=1000, budget=300)
            walked += numbers(page)
            cursor, pages = page.next, pages + 1
            if not page.full:
                break
        one = client.logs(app_id, name, limit=1000, budget=1)  # one line, never less
        tail = client.logs(app_id, name, limit=1000, tail=True, budget=300)
        # Answers the client cannot read are retried, as when read whole.
        sandbox.set_faults(Fault.malformed("logs"), Fault.drop("logs"))
        after_faults = client.logs(app_id, name, limit=1000, budget=300)
        sandbox.set_faults(Fault.replace_body('{"other": 1}', "logs"))
        with pytest.raises(TransportError, match="no list of lines"):
            client.logs(app_id, name, limit=1000, budget=300)

    # The page holds what fits 300 characters of JSON (and the line that crossed them),
    # and says there is more although it is shorter than its limit.
    assert 0 < len(first) < 50 and first.full and numbers(first) == list(range(len(first)))
    assert walked == list(range(50)) and pages > 5
    assert numbers(one) == [0] and one.full
    assert numbers(tail) == list(range(50 - len(tail), 50)) and len(tail) == len(first)
    assert numbers(after_faults) == numbers(first)

    async def with_awaits() -> list[int]:
        async with AsyncJobsClient(sandbox.host, sandbox.token) as aclient:
            return numbers(await aclient.logs(app_id, name, limit=1000, budget=300))

    assert asyncio.run(with_awaits()) == numbers(first)


def test_the_list_reader_reads_items_in_any_chunks_and_stops_at_its_budget() -> None:
    items = [
        {"log": f'{n} "quoted" \\ back] {{brace}} é' * (n % 7), "stream": "stdout", "time": str(n)}
        for n in range(300)
    ]
    body = json.dumps({"data": items}, ensure_ascii=False).encode()
    chunks = random.Random(7)
    for _ in range(50):
        reader, position, done = ListReader(max_chars=10**9), 0, False
        while position < len(body) and not done:
            size = chunks.randint(1, 64)  # cuts inside strings, escapes and UTF-8 sequences
            done = reader.feed(body[position : position + size])
            position += size
        assert done and reader.result() == {"data": items}
    reader = ListReader(max_chars=2000)
    assert reader.feed(body)
    cut = reader.result()
    assert (
        cut[CUT] is True and 0 < len(cut["data"]) < 300 and cut["data"] == items[: len(cut["data"])]
    )
    # One item is read whole, however long; an answer of another shape is kept whole.
    reader = ListReader(max_chars=1)
    assert reader.feed(b'{"data": [{"log": "' + b"y" * 10_000 + b'"}, {"log": "z"}]}')
    assert reader.result()["data"] == [{"log": "y" * 10_000}]
    reader = ListReader(max_chars=1)
    for byte in json.dumps({"pagination": {}, "data": items[:2]}).encode():
        reader.feed(bytes([byte]))
    assert reader.result() == {"pagination": {}, "data": items[:2]}
    for broken in (body[: len(body) // 2], b'{"data": [1, 2]}', b'{"data": [{"log": x}]}'):
        reader = ListReader(max_chars=10**9)
        reader.feed(broken)
        with pytest.raises(ValueError):
            reader.result()
