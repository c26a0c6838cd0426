"""The throwaway PostgreSQL the HA tests stand on: fresh databases per test, fsync
on, and a restart on the same port that keeps committed rows."""

from __future__ import annotations

import asyncpg

from tests.helpers.postgres import PgServer


async def test_each_test_gets_a_fresh_database(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        assert tables == 0
        assert await conn.fetchval("SHOW fsync") == "on"
        await conn.execute("CREATE TABLE t (x INT)")
    finally:
        await conn.close()


async def test_a_restart_keeps_committed_rows_on_the_same_port(
    postgres: PgServer, pg_dsn: str
) -> None:
    conn = await asyncpg.connect(pg_dsn)
    await conn.execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (7)")
    await conn.close()
    postgres.restart("immediate")  # a crash: the WAL brings the row back
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT x FROM t") == 7
    finally:
        await conn.close()
    assert postgres.running
