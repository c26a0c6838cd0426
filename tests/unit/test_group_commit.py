"""A group commit runs its batch without a savepoint per write and falls back to
one savepoint each when a write raises: then only that write is undone, every
other one lands, and each caller gets its own result."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ffrtmp.master.storage.sqlite import group_commit
from ffrtmp.master.storage.sqlite.store import SqliteStore


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")


def _insert(x: int) -> Callable[[sqlite3.Connection], int]:
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t(x) VALUES (?)", (x,))
        return x

    return op


def _half_then_fail(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO t(x) VALUES (1000)")  # written, then undone
    raise ValueError("refused half way")


async def _batch(store: SqliteStore, *ops: Callable[[sqlite3.Connection], Any]) -> list[Any]:
    # Queued in one loop turn: the writer takes them all into one commit.
    return await asyncio.gather(*(store.write(op) for op in ops), return_exceptions=True)


async def test_a_write_that_raises_is_undone_alone(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    await store.open()
    try:
        await store.write(_create)
        batches = store.batches
        got = await _batch(store, _insert(1), _half_then_fail, _insert(2), _insert(1))
        assert store.batches == batches + 1  # one commit for all four
        assert got[0] == 1 and got[2] == 2
        assert isinstance(got[1], ValueError) and "half way" in str(got[1])
        assert isinstance(got[3], sqlite3.IntegrityError)  # its own error, not the other's
        rows = await store._read("SELECT x FROM t ORDER BY x")
        assert [r[0] for r in rows] == [1, 2]  # nothing of the failed writes
    finally:
        await store.close()


async def test_a_batch_that_succeeds_runs_each_write_once_without_savepoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[str] = []
    modes: list[bool] = []
    real = group_commit._run_ops

    def spy(conn: sqlite3.Connection, ops: list[group_commit.Op], *, careful: bool) -> list[Any]:
        modes.append(careful)
        return real(conn, ops, careful=careful)

    monkeypatch.setattr(group_commit, "_run_ops", spy)

    def counted(x: int) -> Callable[[sqlite3.Connection], int]:
        def op(conn: sqlite3.Connection) -> int:
            runs.append(f"op{x}")
            conn.execute("INSERT INTO t(x) VALUES (?)", (x,))
            return x

        return op

    store = SqliteStore(tmp_path / "m.db")
    await store.open()
    try:
        await store.write(_create)
        modes.clear()
        assert await _batch(store, counted(1), counted(2)) == [1, 2]
        assert runs == ["op1", "op2"] and modes == [False]
        runs.clear()
        modes.clear()
        got = await _batch(store, counted(3), _half_then_fail)
        assert got[0] == 3 and isinstance(got[1], ValueError)
        assert modes == [False, True]  # the fallback ran
        assert runs == ["op3", "op3"]  # so the good write ran twice, and landed once
        rows = await store._read("SELECT x FROM t ORDER BY x")
        assert [r[0] for r in rows] == [1, 2, 3]
    finally:
        await store.close()
