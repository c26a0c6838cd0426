"""The lease row and the masters table in memory, with the semantics the
PostgreSQL primitives have (the database's clock decides expiry), for the
election loop's own tests. Each master gets its own `MemLeaseBackend`, which a
test can cut off from the "database" (`down`) or make hang (`hang`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ffrtmp.master.leadership.backend import LeaderInfo, MasterInfo


@dataclass
class _Row:
    holder: str
    address: str
    term: int
    since: float
    expires: float


class MemLeaseDb:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.row: _Row | None = None
        self.last_term = 0
        self.seen: dict[str, tuple[str, float, float]] = {}  # id -> address, started, seen
        self.renews = 0

    def backend(self) -> MemLeaseBackend:
        return MemLeaseBackend(self)


class MemLeaseBackend:
    def __init__(self, db: MemLeaseDb) -> None:
        self.db = db
        self.down = False
        self.hang = False

    async def _reach(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise ConnectionError("database unreachable")

    async def acquire(self, holder: str, address: str, lease_s: float) -> int | None:
        await self._reach()
        db, now = self.db, self.db.clock()
        if db.row is not None and db.row.expires > now:
            return None
        db.last_term += 1
        db.row = _Row(holder, address, db.last_term, now, now + lease_s)
        return db.last_term

    async def renew(self, holder: str, term: int, lease_s: float) -> bool:
        await self._reach()
        db, now = self.db, self.db.clock()
        row = db.row
        # The row is ours until another master takes it, even past its expiry.
        if row is None or row.holder != holder or row.term != term:
            return False
        row.expires = now + lease_s
        db.renews += 1
        return True

    async def release(self, holder: str, term: int) -> None:
        await self._reach()
        row = self.db.row
        if row is not None and row.holder == holder and row.term == term:
            row.expires = self.db.clock()

    async def current(self) -> LeaderInfo | None:
        await self._reach()
        row, now = self.db.row, self.db.clock()
        if row is None:
            return None
        return LeaderInfo(row.holder, row.address, row.term, row.since, row.expires - now)

    async def heartbeat(self, master_id: str, address: str) -> None:
        await self._reach()
        now = self.db.clock()
        _, started, _ = self.db.seen.get(master_id, (address, now, now))
        self.db.seen[master_id] = (address, started, now)

    async def masters(self) -> list[MasterInfo]:
        await self._reach()
        now = self.db.clock()
        return [MasterInfo(m, a, s, now - seen) for m, (a, s, seen) in sorted(self.db.seen.items())]

    async def close(self) -> None:
        return None
