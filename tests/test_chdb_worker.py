"""Accounting's chdb store runs ClickHouse's engine in a child process that it replaces when it dies."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from gateway_accounting.analytics import ChdbError, ChdbStore

_OPEN_ELSEWHERE = "import sys\nfrom chdb import session\nsession.Session(sys.argv[1]).close()\n"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ChdbStore]:
    store = ChdbStore(tmp_path / "clickhouse")
    await store.connect()
    yield store
    await store.close()


def _open_in_another_process(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _OPEN_ELSEWHERE, str(path)], capture_output=True, text=True, timeout=60, check=False
    )


async def test_worker_is_a_child_process(store: ChdbStore) -> None:
    assert store.worker_pid is not None
    worker = psutil.Process(store.worker_pid)

    assert worker.ppid() == psutil.Process().pid
    assert worker.pid != psutil.Process().pid


async def test_query_error_raises_and_store_goes_on(store: ChdbStore) -> None:
    with pytest.raises(ChdbError, match="Unknown expression identifier"):
        await store.query_json("SELECT no_such_column", {})

    assert await store.query_json("SELECT {word:String} AS word", {"word": "still here"}) == [{"word": "still here"}]


async def test_killed_worker_is_replaced(store: ChdbStore) -> None:
    await store.query_json("CREATE TABLE kept (n UInt8) ENGINE = MergeTree ORDER BY n", {})
    await store.query_json("INSERT INTO kept VALUES (7)", {})
    first_pid = store.worker_pid
    assert first_pid is not None

    psutil.Process(first_pid).kill()
    psutil.Process(first_pid).wait(timeout=10)
    # The call that finds the worker dead may fail; the one after must run on a new worker.
    with contextlib.suppress(ChdbError):
        await store.query_json("SELECT 1 AS one", {})
    rows = await store.query_json("SELECT n FROM kept", {})

    assert rows == [{"n": 7}]
    assert store.worker_pid not in (None, first_pid)


async def test_close_releases_data_directory(tmp_path: Path) -> None:
    path = tmp_path / "clickhouse"
    store = ChdbStore(path)
    await store.connect()

    while_open = _open_in_another_process(path)
    await store.close()
    after_close = _open_in_another_process(path)

    assert while_open.returncode != 0
    assert after_close.returncode == 0, after_close.stderr


async def test_store_answers_after_idle_purge(store: ChdbStore) -> None:
    await store.query_json("SELECT 1 AS one", {})
    # Longer than the worker's idle time, so that it purges its allocator before the next request.
    await asyncio.sleep(1.5)

    assert await store.query_json("SELECT 2 AS two", {}) == [{"two": 2}]
