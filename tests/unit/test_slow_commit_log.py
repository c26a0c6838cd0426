"""A slow commit is named in the log (it holds up every write queued behind it)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from ffrtmp.master.storage.sqlite import group_commit
from ffrtmp.master.storage.sqlite.store import SqliteStore

LOGGER = "ffrtmp.master.storage.sqlite.group_commit"


def _touch(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
    return 1


@pytest.mark.parametrize("threshold", [0.0, 60.0], ids=["slow", "fast"])
async def test_a_commit_over_the_threshold_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    threshold: float,
) -> None:
    monkeypatch.setattr(group_commit, "SLOW_COMMIT_S", threshold)
    caplog.set_level(logging.WARNING, LOGGER)
    store = SqliteStore(tmp_path / "m.db")
    await store.open()
    try:
        assert await store.write(_touch) == 1
    finally:
        await store.close()
    logged = "store: a commit of 1 writes took" in caplog.text
    assert logged == (threshold == 0.0)
