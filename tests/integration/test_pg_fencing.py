"""The leader lease and term fencing of the PostgreSQL store, on a real server:
the lease follows the database's clock and its term grows at every taking; a
deposed leader's writes change no row, even when they race the takeover."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from ffrtmp.core.model import JobEvent, JobState
from ffrtmp.master.storage.postgres import lease
from ffrtmp.master.storage.postgres.db import Conn
from ffrtmp.master.storage.postgres.migrations import MIGRATIONS as PG_MIGRATIONS
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.protocol import ApiKey, NotLeader
from ffrtmp.master.storage.sqlite.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from ffrtmp.master.storage.sqlite.migrations import migrate as sqlite_migrate
from tests.helpers.store_rows import assign as _assign
from tests.helpers.store_rows import insert as _insert
from tests.helpers.store_rows import job as _job

S = JobState


@pytest.fixture
async def stores(pg_dsn: str) -> AsyncIterator[tuple[PgStore, PgStore]]:
    a, b = PgStore(pg_dsn), PgStore(pg_dsn)
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _count(store: PgStore, sql: str) -> int:
    async with store.connection() as conn:
        return int(await conn.fetchval(sql))


async def test_the_lease_follows_the_database_clock_and_terms_grow(
    stores: tuple[PgStore, PgStore],
) -> None:
    a, _ = stores
    async with a.connection() as conn:
        assert await lease.current(conn) is None
        assert await lease.acquire(conn, "m1", "10.0.0.1:50051", 30) == 1
        assert await lease.acquire(conn, "m2", "10.0.0.2:50051", 30) is None  # held
        assert await lease.acquire(conn, "m1", "10.0.0.1:50051", 30) is None  # renew instead
        info = await lease.current(conn)
        assert info is not None and info.holder == "m1" and info.term == 1 and info.live
        assert 29 < info.remaining_s <= 30
        assert await lease.renew(conn, "m1", 1, 30)
        assert not await lease.renew(conn, "m2", 1, 30)
        assert not await lease.renew(conn, "m1", 2, 30)
        assert await lease.release(conn, "m1", 1)
        assert not await lease.renew(conn, "m1", 1, 30)  # released: gone for good
        assert await lease.acquire(conn, "m2", "10.0.0.2:50051", 0.05) == 2
        await asyncio.sleep(0.3)  # lapses by the database's clock
        assert not await lease.renew(conn, "m2", 2, 30)
        # The same holder after a lapse gets a new term: its old writes stay fenced.
        assert await lease.acquire(conn, "m2", "10.0.0.2:50051", 30) == 3
        info = await lease.current(conn)
        assert info is not None and (info.holder, info.address, info.term) == (
            "m2", "10.0.0.2:50051", 3)
        await lease.heartbeat_master(conn, "m1", "10.0.0.1:50051")
        await lease.heartbeat_master(conn, "m2", "10.0.0.2:50051")
        await lease.heartbeat_master(conn, "m1", "10.0.0.9:50051")
        masters = await lease.list_masters(conn)
        assert [(m.id, m.address) for m in masters] == [
            ("m1", "10.0.0.9:50051"), ("m2", "10.0.0.2:50051")]
        assert masters[0].seen_at >= masters[0].started_at


async def test_a_store_without_a_term_writes_nothing(stores: tuple[PgStore, PgStore]) -> None:
    a, _ = stores
    job = _job(1)
    with pytest.raises(NotLeader):
        await a.insert_job(job, JobEvent(job.created_ms, None, S.QUEUED, "submitted", "", 0))
    with pytest.raises(NotLeader):
        await a.audit(1, "alice", "admin", "x", "", "")
    assert await _count(a, "SELECT count(*) FROM jobs") == 0
    assert await _count(a, "SELECT count(*) FROM audit") == 0


async def test_a_deposed_leaders_writes_change_no_row(stores: tuple[PgStore, PgStore]) -> None:
    old, new = stores
    assert await lease.lead(old, "old", lease_s=0.05) == 1
    await _insert(old, 1)
    await asyncio.sleep(0.3)  # old's lease lapses (it stalled); new takes over
    assert await lease.lead(new, "new") == 2
    with pytest.raises(NotLeader, match="term is 2"):
        await _insert(old, 2)
    with pytest.raises(NotLeader):
        await old.apply([_assign("job1", 1)])
    with pytest.raises(NotLeader):  # assign-on-submit: the insert and its assignment
        late = _job(3)
        await old.insert_job(late, JobEvent(late.created_ms, None, S.QUEUED, "submitted", "", 0),
                             (), _assign("job3", 1))
    with pytest.raises(NotLeader):
        await old.upsert_node("w1", {}, "", 1)
    with pytest.raises(NotLeader):
        await old.add_api_key(ApiKey("k", "u", "admin", b"x" * 32, 1, "t"))
    with pytest.raises(NotLeader):
        await old.delete_finished(2**62, 100)
    # Nothing of old's moved: the job is still QUEUED with one event, no node, no key.
    job = await new.get_job("job1", with_events=True)
    assert job is not None and job.state == S.QUEUED and len(job.events) == 1
    assert await _count(new, "SELECT count(*) FROM jobs") == 1
    assert await _count(new, "SELECT count(*) FROM nodes") == 0
    assert await _count(new, "SELECT count(*) FROM api_keys") == 0
    assert (await new.apply([_assign("job1", 1)]))[0] is not None  # the leader's go through


async def test_a_takeover_waits_for_a_write_in_flight_and_fences_the_next(
    stores: tuple[PgStore, PgStore], pg_dsn: str
) -> None:
    old, new = stores
    await lease.lead(old, "old", lease_s=0.05)
    await asyncio.sleep(0.3)  # lapsed, but old does not know yet
    inside, go_on = asyncio.Event(), asyncio.Event()

    async def slow_write(conn: Conn) -> None:  # runs after the fence check, lock held
        await conn.execute("INSERT INTO nodes(id, first_seen_ms, last_seen_ms) VALUES ('w', 1, 1)")
        inside.set()
        await go_on.wait()

    write = asyncio.create_task(old.write(slow_write))
    await inside.wait()
    take = asyncio.create_task(lease.lead(new, "new"))
    await asyncio.sleep(0.5)
    assert not take.done()  # the lease row is share-locked by the write in flight
    go_on.set()
    await write  # committed under its own term, before the takeover
    assert await take == 2
    with pytest.raises(NotLeader):
        await old.upsert_node("w2", {}, "", 1)
    # The other order: a takeover not yet committed holds the row; a write waits
    # for it, then sees the new term and is refused.
    conn = await asyncpg.connect(pg_dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("UPDATE leader_lease SET expires_at = now()")
        assert await lease.acquire(conn, "third", "", 30) == 3
        pending = asyncio.create_task(new.upsert_node("w3", {}, "", 1))
        await asyncio.sleep(0.5)
        assert not pending.done()
        await tx.commit()
        with pytest.raises(NotLeader, match="term is 3"):
            await pending
    finally:
        await conn.close()
    assert await _count(new, "SELECT count(*) FROM nodes") == 1  # only the first write


async def test_migrations_line_up_with_sqlites(pg_dsn: str, tmp_path: Path) -> None:
    """Step N is the same change on both engines: same count, same tables and columns."""
    assert len(PG_MIGRATIONS) == len(SQLITE_MIGRATIONS)
    lite = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    sqlite_migrate(lite)
    tables = [r[0] for r in lite.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    want = {t: {r[1] for r in lite.execute(f"PRAGMA table_info({t})")} for t in tables}
    store = PgStore(pg_dsn)
    await store.open()
    try:
        async with store.connection() as conn:
            rows = await conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public'")
            version = await conn.fetchval("SELECT max(version) FROM schema_version")
    finally:
        await store.close()
    got: dict[str, set[str]] = {}
    for r in rows:
        got.setdefault(r[0], set()).add(r[1])
    assert version == len(SQLITE_MIGRATIONS)
    assert {t: got.get(t) for t in want} == want
    # Only what HA needs is PostgreSQL's alone.
    assert set(got) - set(want) == {"leader_lease", "masters", "schema_version"}

