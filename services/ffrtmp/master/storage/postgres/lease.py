"""The leader lease and the masters' roll call, as SQL on an asyncpg connection.

One row, `leader_lease` (id = 1), says who leads, at which term, until when; all
times are the database's `now()`, so the masters' clocks never matter. Taking
the lease raises the term by one every time (a new holder, or the same one after
its lease lapsed); every write of the leader is fenced by that term (db.py).
These are plain statements; when to call them is the election loop's business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ffrtmp.master.storage.postgres.db import Conn, PgDb
from ffrtmp.master.storage.protocol import NotLeader


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    holder: str
    address: str
    term: int
    since: dt.datetime
    expires_at: dt.datetime
    now: dt.datetime  # the database's clock when this was read

    @property
    def remaining_s(self) -> float:
        """Seconds left on the lease by the database's clock (negative once lapsed)."""
        return (self.expires_at - self.now).total_seconds()

    @property
    def live(self) -> bool:
        return self.expires_at > self.now


@dataclass(frozen=True, slots=True)
class MasterInfo:
    id: str
    address: str
    started_at: dt.datetime
    seen_at: dt.datetime


async def acquire(
    conn: Conn, holder: str, address: str, lease_s: float
) -> int | None:
    """Take the lease if nobody holds it or it has lapsed; the new term, else None
    (also None while `holder` itself still holds it: renew instead)."""
    term = await conn.fetchval(
        """
        INSERT INTO leader_lease AS l (id, holder, address, term, expires_at, since)
        VALUES (1, $1, $2, 1, now() + make_interval(secs => $3), now())
        ON CONFLICT (id) DO UPDATE
            SET holder = EXCLUDED.holder, address = EXCLUDED.address, term = l.term + 1,
                expires_at = EXCLUDED.expires_at, since = EXCLUDED.since
            WHERE l.expires_at <= now()
        RETURNING term
        """,
        holder, address, float(lease_s),
    )
    return None if term is None else int(term)


async def renew(conn: Conn, holder: str, term: int, lease_s: float) -> bool:
    """Extend the lease by `lease_s` from now; False when it is no longer ours or
    has lapsed (then only `acquire`, with a new term, can lead again)."""
    status = await conn.execute(
        "UPDATE leader_lease SET expires_at = now() + make_interval(secs => $3)"
        " WHERE id = 1 AND holder = $1 AND term = $2 AND expires_at > now()",
        holder, term, float(lease_s),
    )
    return bool(status == "UPDATE 1")


async def release(conn: Conn, holder: str, term: int) -> bool:
    """End our lease now so a standby need not wait for it to lapse."""
    status = await conn.execute(
        "UPDATE leader_lease SET expires_at = now()"
        " WHERE id = 1 AND holder = $1 AND term = $2 AND expires_at > now()",
        holder, term,
    )
    return bool(status == "UPDATE 1")


async def current(conn: Conn) -> LeaseInfo | None:
    """The lease row (live or lapsed) with the database's now, or None if never taken."""
    row = await conn.fetchrow(
        "SELECT holder, address, term, since, expires_at, now() FROM leader_lease WHERE id = 1"
    )
    return None if row is None else LeaseInfo(*row)


async def heartbeat_master(conn: Conn, id: str, address: str) -> None:
    """Say this master is alive (leader or standby); `started_at` is kept from its
    first heartbeat under this id."""
    await conn.execute(
        "INSERT INTO masters(id, address, started_at, seen_at) VALUES ($1, $2, now(), now())"
        " ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, seen_at = now()",
        id, address,
    )


async def list_masters(conn: Conn) -> list[MasterInfo]:
    rows = await conn.fetch("SELECT id, address, started_at, seen_at FROM masters ORDER BY id")
    return [MasterInfo(*r) for r in rows]


async def lead(store: PgDb, holder: str, address: str = "", lease_s: float = 60.0) -> int:
    """For tools and tests that write outside a running master (migrate, key tools):
    take the lease and fence `store`'s writes by its term. Raises NotLeader naming
    the holder while a master leads."""
    async with store.connection() as conn:
        term = await acquire(conn, holder, address, lease_s)
        if term is None:
            info = await current(conn)
            who = f"{info.holder} ({info.address})" if info else "another process"
            raise NotLeader(f"{who} holds the leader lease; stop the masters first")
    store.fence_term = term
    return term


async def adopt(store: PgDb, holder: str) -> int | None:
    """For offline tools whose writes never race the scheduler's (API keys): write
    under the live leader's term, or take the lease while nobody leads. Returns
    the term taken (give it back with `release`), None when one was adopted."""
    async with store.connection() as conn:
        info = await current(conn)
        if info is not None and info.live:
            store.fence_term = info.term
            return None
    return await lead(store, holder, lease_s=60)
