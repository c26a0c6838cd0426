"""SQLite with group commit: one writer task and a reader connection.

Every write is a function of a sqlite3 connection. The writer runs all the
functions queued while the previous commit was in flight in one transaction, so
many concurrent submits share one fsync. One that raises is rolled back alone
and its caller gets the exception (the batch is run again with a savepoint per
function: see `_commit_batch`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ffrtmp.master.storage.protocol import StoreClosed, StoreError
from ffrtmp.master.storage.sqlite.file import prepare
from ffrtmp.master.storage.sqlite.migrations import migrate

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 512
# A commit this slow holds up every write queued behind it (a lost worker's
# re-queue, a submit's answer): said in the log, so an episode names its cause.
SLOW_COMMIT_S = 1.0

log = logging.getLogger(__name__)


class GroupCommitDb:
    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        self._synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.writes = 0
        # Called after each group commit with (writes in it, seconds it took).
        self.on_commit: list[Callable[[int, float], None]] = []

    # -- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        self._closing = False
        prepare(self.path)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self._writer.execute(f"PRAGMA synchronous={self._synchronous}")
        await self._writer.execute("PRAGMA busy_timeout=5000")
        await self._writer.execute("PRAGMA foreign_keys=ON")
        await self._run(migrate)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        await self._reader.execute("PRAGMA busy_timeout=5000")
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")

    @property
    def writer(self) -> asyncio.Task[None]:
        """The task that commits every write: if it dies, nothing is written."""
        assert self._task is not None
        return self._task

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        try:
            if self._task is not None:
                await self._task  # a writer that died raises here, once
        finally:
            # Closed even then: each connection holds a thread that would keep
            # the process from exiting.
            self._task = None
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()
            self._reader = self._writer = None

    # -- the writer ------------------------------------------------------
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._writer is not None
        # aiosqlite runs the function in the connection's own thread: one hop per batch.
        conn = self._writer
        result: T = await conn._execute(lambda: fn(conn._conn))  # type: ignore[no-untyped-call]
        return result

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._closing or self._task is None:
            raise StoreClosed("store is closed")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        self._wake.set()
        return await fut

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                ops = [op for op, _ in batch]
                started = time.perf_counter()
                try:
                    results = await self._run(partial(_commit_batch, ops=ops))
                except Exception as exc:  # the commit itself failed: nobody's write landed
                    failed = trouble(exc)
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(failed)
                    continue
                self.batches += 1
                self.writes += len(batch)
                took = time.perf_counter() - started
                if took >= SLOW_COMMIT_S:
                    log.warning("store: a commit of %d writes took %.1fs", len(batch), took)
                for hook in self.on_commit:
                    hook(len(batch), took)
                for (_, fut), res in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(trouble(res))
                    else:
                        fut.set_result(res)
            if self._closing:
                return

    async def _read_with(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` run on the reader connection in its thread: many statements, one hop."""
        if self._reader is None:
            raise StoreClosed("store is closed")
        conn = self._reader
        try:
            result: T = await conn._execute(lambda: fn(conn._conn))  # type: ignore[no-untyped-call]
        except sqlite3.Error as exc:
            if is_trouble(exc):
                raise StoreError(f"SQLite: {exc}") from exc
            raise
        return result

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._read_with(lambda conn: conn.execute(sql, params).fetchall())


# The database itself failed (disk full, I/O error, locked past the busy timeout,
# a damaged file): StoreError, which callers may retry and clients get as
# UNAVAILABLE. A constraint or SQL error is a bug and stays what it is.
_TROUBLE = (sqlite3.OperationalError, sqlite3.InternalError)


def is_trouble(exc: BaseException) -> bool:
    return isinstance(exc, _TROUBLE) or type(exc) is sqlite3.DatabaseError


def trouble(exc: BaseException) -> BaseException:
    """`exc` as the caller gets it: StoreError for the database's own failure."""
    if not is_trouble(exc):
        return exc
    err = StoreError(f"SQLite: {exc}")
    err.__cause__ = exc
    return err


class _OpFailed(Exception):
    """An op of a batch run without savepoints raised: run the batch carefully."""


def _commit_batch(conn: sqlite3.Connection, ops: list[Op]) -> list[Any]:
    """Run `ops` in one transaction and commit it. Nearly every batch succeeds
    whole, so it first runs without a savepoint per op (two statements fewer an
    op); if an op raises, that attempt is rolled back and the batch runs again
    with each op in its own savepoint, so that only the failing op is undone.
    An op may therefore run twice: it must be a function of the connection.
    (A failing BEGIN or COMMIT is not retried: it fails the batch.)"""
    try:
        return _run_ops(conn, ops, careful=False)
    except _OpFailed:
        return _run_ops(conn, ops, careful=True)


def _run_ops(conn: sqlite3.Connection, ops: list[Op], *, careful: bool) -> list[Any]:
    results: list[Any] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            if not careful:
                try:
                    results.append(op(conn))
                except Exception as exc:
                    raise _OpFailed from exc
                continue
            conn.execute("SAVEPOINT op")
            try:
                results.append(op(conn))
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                results.append(exc)
            conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results
