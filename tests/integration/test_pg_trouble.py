"""Database trouble on a real PostgreSQL: a restart, a connection cut in the
middle of a transaction, and a silent partition each give StoreError (which
callers retry), never a half-written job; the pool reconnects when the
database is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from ffrtmp.core.model import JobState
from ffrtmp.master.storage.postgres.db import Conn
from ffrtmp.master.storage.postgres.lease import lead
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.protocol import Change, StoreError
from tests.helpers.postgres import PgServer
from tests.helpers.proxy import TcpProxy
from tests.helpers.store_rows import insert as _insert


async def _whole(store: PgStore) -> list[tuple[str, int]]:
    """Each job with its number of events: a half-written job would show 0."""
    async with store.connection() as conn:
        rows = await conn.fetch(
            "SELECT j.id, count(e.id) FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id"
            " GROUP BY j.id ORDER BY j.id"
        )
    return [(r[0], r[1]) for r in rows]


async def _until_ok(store: PgStore, n: int, timeout_s: float = 30.0) -> None:
    """Retry a submit as callers do, until the database answers again."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await _insert(store, n)
            return
        except StoreError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.fixture
async def proxied(pg_dsn: str) -> AsyncIterator[tuple[PgStore, TcpProxy]]:
    url = urlsplit(pg_dsn)
    proxy = TcpProxy(url.port or 5432)
    store = PgStore(url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}").geturl(),
                    timeout_s=2.0)
    await store.open()
    await lead(store, "m1")
    try:
        yield store, proxy
    finally:
        proxy.resume()
        proxy.admit()
        await store.close()
        proxy.close()


async def test_a_restart_of_postgresql_loses_nothing_acknowledged(
    postgres: PgServer, pg_dsn: str
) -> None:
    store = PgStore(pg_dsn, timeout_s=5.0)
    await store.open()
    await lead(store, "m1", lease_s=600)
    try:
        await _insert(store, 1)
        acked = {"job1"}

        async def submit(n: int) -> None:
            try:
                await _insert(store, n)
                acked.add(f"job{n}")
            except StoreError:
                pass  # not acknowledged: may or may not be stored, never half

        writers = [asyncio.create_task(submit(n)) for n in range(2, 40)]
        await asyncio.sleep(0.01)
        await asyncio.to_thread(postgres.restart, "immediate")  # a crash, then recovery
        await asyncio.gather(*writers)
        await _until_ok(store, 49)
        # Restarted while idle: the pool's connections died with the server, and
        # the next write and read go through on fresh ones without an error.
        await asyncio.to_thread(postgres.restart, "fast")
        await _insert(store, 50)
        assert (await store.get_job("job50")) is not None
        whole = await _whole(store)
        assert all(events == 1 for _, events in whole), whole
        assert acked | {"job49", "job50"} <= {job for job, _ in whole}
    finally:
        await store.close()


async def test_a_connection_cut_mid_transaction_writes_nothing(
    proxied: tuple[PgStore, TcpProxy],
) -> None:
    store, proxy = proxied
    await _insert(store, 1)
    inside = asyncio.Event()

    async def two_statements(conn: Conn) -> None:
        await conn.execute("INSERT INTO nodes(id, first_seen_ms, last_seen_ms) VALUES ('w', 1, 1)")
        inside.set()
        await asyncio.sleep(0.5)
        await conn.execute("INSERT INTO audit(at_ms, actor, action) VALUES (1, 'a', 'x')")

    write = asyncio.create_task(store.write(two_statements))
    await inside.wait()
    proxy.reset()  # the link drops with the transaction open
    with pytest.raises(StoreError):
        await write
    await _insert(store, 2)  # the pool reconnects by itself
    assert await store.known_nodes() == []  # the cut transaction left no row
    assert await store.audit_events(None, 10) == []
    assert await _whole(store) == [("job1", 1), ("job2", 1)]


async def test_a_partition_times_out_as_store_error_and_heals(
    proxied: tuple[PgStore, TcpProxy],
) -> None:
    store, proxy = proxied
    await _insert(store, 1)
    proxy.pause()  # bytes held: no error, no answer
    with pytest.raises(StoreError):
        await _insert(store, 2)
    with pytest.raises(StoreError):
        await store.get_job("job1")
    proxy.resume()
    await _until_ok(store, 3)
    whole = dict(await _whole(store))
    assert whole["job1"] == 1 and whole["job3"] == 1
    assert whole.get("job2", 1) == 1  # the timed-out one: whole or absent


async def test_one_bad_write_in_a_batch_fails_alone(pg_dsn: str) -> None:
    store = PgStore(pg_dsn)
    await store.open()
    await lead(store, "m1")
    try:
        bad = Change("job1", frozenset({JobState.QUEUED}), JobState.FAILED, "", 1,
                     fields=(("spec", "{}"),))
        results = await asyncio.gather(
            *(_insert(store, n) for n in range(1, 20)), store.apply([bad]),
            *(_insert(store, n) for n in range(20, 40)), return_exceptions=True,
        )
        assert store.batches < 40  # they shared commits
        assert isinstance(results[19], ValueError)
        assert not any(isinstance(r, BaseException) for i, r in enumerate(results) if i != 19)
        assert len(await _whole(store)) == 39
    finally:
        await store.close()
