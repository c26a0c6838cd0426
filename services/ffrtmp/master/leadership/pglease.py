"""The election's backend on PostgreSQL: the lease SQL of the store
(storage/postgres/lease.py) on a connection of the election's own, so a renew
never queues behind the store's reads and writes. A connection that failed or
was cut off mid-call (a timeout cancels it) is dropped and opened again on the
next call."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from ffrtmp.master.leadership.backend import LeaderInfo, MasterInfo
from ffrtmp.master.storage.postgres import lease

CONNECT_TIMEOUT_S = 5.0


class PgLeaseBackend:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None
        self._lock = asyncio.Lock()  # one statement at a time (the loop and status calls)

    async def _connection(self) -> asyncpg.Connection[asyncpg.Record]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_S)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def _run(self, fn: object, *args: object) -> object:
        async with self._lock:
            try:
                conn = await self._connection()
                return await fn(conn, *args)  # type: ignore[operator]
            except BaseException:
                # Failed or cancelled mid-statement: its state is unknown, start afresh.
                self._drop()
                raise

    async def acquire(self, holder: str, address: str, lease_s: float) -> int | None:
        term = await self._run(lease.acquire, holder, address, lease_s)
        assert term is None or isinstance(term, int)
        return term

    async def renew(self, holder: str, term: int, lease_s: float) -> bool:
        return bool(await self._run(lease.renew, holder, term, lease_s))

    async def release(self, holder: str, term: int) -> None:
        await self._run(lease.release, holder, term)

    async def current(self) -> LeaderInfo | None:
        info = await self._run(lease.current)
        if info is None:
            return None
        assert isinstance(info, lease.LeaseInfo)
        return LeaderInfo(info.holder, info.address, info.term, info.since.timestamp(),
                          info.remaining_s)

    async def heartbeat(self, master_id: str, address: str) -> None:
        await self._run(lease.heartbeat_master, master_id, address)

    async def masters(self) -> list[MasterInfo]:
        rows = await self._run(lease.list_masters)
        info = await self._run(lease.current)
        assert isinstance(rows, list)
        # The database's clock, read with the lease row (this one's, if never taken).
        now = info.now.timestamp() if isinstance(info, lease.LeaseInfo) else time.time()
        return [MasterInfo(m.id, m.address, m.started_at.timestamp(),
                           now - m.seen_at.timestamp()) for m in rows]

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close(timeout=2.0)
            except Exception:
                conn.terminate()
