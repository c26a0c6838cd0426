"""PostgreSQL with group commit and fencing: a connection pool for reads and one
writer task that runs every write queued while the previous commit was in flight
in one transaction, as the SQLite store does.

Every write transaction first locks the lease row (`FOR SHARE`) and checks that
its term is `fence_term`: a takeover's update of that row waits for writes in
flight, and every write after it sees the new term and is refused (NotLeader).
A batch runs without savepoints; when one of its writes raises, the batch is
rolled back and run again with a savepoint per write, so only that one fails.
Database trouble (connection lost, server restarting, timeout) becomes StoreError.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

from ffrtmp.master.storage.postgres.migrations import migrate
from ffrtmp.master.storage.protocol import NotLeader, StoreClosed, StoreError

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A connection of its own or one lent by the pool: the same calls work on both.
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Conn = asyncpg.Connection

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Grouped:
    """A write that shares one statement with the others of its kind in a batch
    (every submit of a batch is one INSERT): `run_all` takes their items in order
    and returns one result (or exception) per item."""

    run_all: Callable[[Conn, list[Any]], Awaitable[list[Any]]]
    item: Any


Op = Callable[[Conn], Awaitable[Any]] | Grouped

MAX_BATCH = 512
# Errors that mean the database, not the request, is at fault.
DB_TROUBLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    asyncio.TimeoutError,
)


def trouble(exc: BaseException, what: str) -> StoreError:
    return StoreError(f"{what}: {type(exc).__name__}: {exc}".rstrip(": "))


async def check_fence(conn: Conn, term: int | None) -> None:
    """In the caller's transaction: the lease still carries `term`, locked until commit."""
    if term is None:
        raise NotLeader("this master holds no leader term; writes are refused")
    current = await conn.fetchval("SELECT term FROM leader_lease WHERE id = 1 FOR SHARE")
    if current != term:
        raise NotLeader(f"leader term is {current}, this master's is {term}")


class PgDb:
    def __init__(self, dsn: str, *, pool_size: int = 8, timeout_s: float = 10.0) -> None:
        self.dsn = dsn
        self.fence_term: int | None = None
        self._pool_size = pool_size
        self._timeout_s = timeout_s
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.writes = 0
        self.on_commit: list[Callable[[int, float], None]] = []

    # -- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        self._closing = False
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout_s,
                command_timeout=self._timeout_s,
            )
            async with self._pool.acquire() as conn:
                await migrate(conn)
        except DB_TROUBLE as exc:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None
            raise trouble(exc, "cannot open the PostgreSQL store") from exc
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
                await self._task
        finally:
            self._task = None
            if self._pool is not None:
                pool, self._pool = self._pool, None
                try:
                    await asyncio.wait_for(pool.close(), self._timeout_s)
                except Exception:  # a stuck server: drop the sockets
                    pool.terminate()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled connection for the lease and other calls outside the writer."""
        if self._pool is None:
            raise StoreClosed("store is closed")
        async with self._pool.acquire() as conn:
            yield conn

    # -- reads -------------------------------------------------------------
    async def read(self, sql: str, *args: Any) -> list[Any]:
        # The pool replaces a connection the server closed (a restart) when it
        # lends it out; a read in flight at that moment fails like any other.
        if self._pool is None or self._closing:
            raise StoreClosed("store is closed")
        try:
            return list(await self._pool.fetch(sql, *args))
        except DB_TROUBLE as exc:
            raise trouble(exc, "reading failed") from exc

    async def read_all(self, sql: str, *args: Any, chunk: int = 50_000) -> list[Any]:
        """A read of any size (a restart reads a million queued jobs): fetched
        through a cursor `chunk` rows at a time, so the timeout bounds each chunk,
        not the whole read."""
        if self._pool is None or self._closing:
            raise StoreClosed("store is closed")
        rows: list[Any] = []
        try:
            async with self._pool.acquire() as conn, conn.transaction(readonly=True):
                cursor = await conn.cursor(sql, *args)
                while part := await cursor.fetch(chunk):
                    rows.extend(part)
        except DB_TROUBLE as exc:
            raise trouble(exc, "reading failed") from exc
        return rows

    # -- the writer ----------------------------------------------------------
    async def write(self, op: Callable[[Conn], Awaitable[T]] | Grouped) -> T:
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
                started = time.perf_counter()
                try:
                    results = await self._commit([op for op, _ in batch])
                except Exception as exc:  # nobody's write landed (or, at COMMIT, unknown)
                    err = exc if isinstance(exc, NotLeader | StoreError) else trouble(
                        exc, "writing failed"
                    )
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                self.batches += 1
                self.writes += len(batch)
                took = time.perf_counter() - started
                for hook in self.on_commit:
                    hook(len(batch), took)
                for (_, fut), res in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
            if self._closing:
                return

    async def _commit(self, ops: Sequence[Op]) -> list[Any]:
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await check_fence(conn, self.fence_term)
                    return await _run_batch(conn, ops)
            except (NotLeader, StoreError):
                raise
            except DB_TROUBLE:
                if conn.is_closed() or len(ops) == 1:
                    raise
            except Exception as exc:  # the write's own error (bad field, AlreadyExists)
                if len(ops) == 1:
                    return [exc]
            # One write raised: run the batch again, each in its own savepoint.
            results: list[Any] = []
            async with conn.transaction():
                await check_fence(conn, self.fence_term)
                for op in ops:
                    try:
                        async with conn.transaction():
                            results.extend(await _run_batch(conn, [op]))
                    except DB_TROUBLE as exc:
                        if conn.is_closed():
                            raise
                        results.append(trouble(exc, "write refused"))
                    except Exception as exc:
                        results.append(exc)
            return results


async def _run_batch(conn: Conn, ops: Sequence[Op]) -> list[Any]:
    """Every grouped write first, one statement per kind, then the others in order
    (a write never depends on another of the same batch: each caller awaits its own)."""
    results: list[Any] = [None] * len(ops)
    groups: dict[Any, list[int]] = {}
    for i, op in enumerate(ops):
        if isinstance(op, Grouped):
            groups.setdefault(op.run_all, []).append(i)
    for run_all, idx in groups.items():
        done = await run_all(conn, [ops[i].item for i in idx])  # type: ignore[union-attr]
        for i, res in zip(idx, done, strict=True):
            results[i] = res
    for i, op in enumerate(ops):
        if not isinstance(op, Grouped):
            results[i] = await op(conn)
    return results
