"""`ffrtmp-master migrate --from ffrtmp.db --to postgresql://…`: copy a SQLite
store into PostgreSQL (jobs, their history, nodes, API keys, audit log).

The copy holds the leader lease, so no master can write meanwhile, and runs in
one transaction: the target gets every row, the same counts as the source
(checked before the commit), or nothing. A target that already holds rows is
refused unless --replace is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ffrtmp.master.storage.factory import make_store, redact
from ffrtmp.master.storage.postgres.db import Conn, check_fence
from ffrtmp.master.storage.postgres.lease import lead, release
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.protocol import StoreError
from ffrtmp.master.storage.sqlite.migrations import MIGRATIONS

# In dependency order; identity columns get their sequences moved past the rows.
TABLES = ("jobs", "job_events", "nodes", "api_keys", "audit")
IDENTITY = {"jobs": "seq", "job_events": "id", "audit": "id"}
HOLDER = "ffrtmp-master migrate"


class MigrateError(Exception):
    """What the user must fix, said in one line."""


def open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise MigrateError(f"--from {path}: no such file")
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        version = int(src.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise MigrateError(f"--from {path}: not a SQLite database ({exc})") from None
    if version != len(MIGRATIONS):
        src.close()
        raise MigrateError(
            f"--from {path}: schema version {version}, this ffrtmp has {len(MIGRATIONS)};"
            " start this version's master on it once (it upgrades the file), then migrate"
        )
    return src


async def _columns(conn: Conn, table: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return [(r[0], r[1]) for r in rows]


def _rows(src: sqlite3.Connection, table: str, cols: list[tuple[str, str]]) -> Iterator[Any]:
    names = ", ".join(f'"{c}"' for c, _ in cols)
    flags = [kind == "boolean" for _, kind in cols]  # SQLite keeps booleans as 0/1
    for row in src.execute(f"SELECT {names} FROM {table}"):
        yield tuple(bool(v) if f and v is not None else v for v, f in zip(row, flags, strict=True))


async def copy(src: sqlite3.Connection, store: PgStore, *, replace: bool) -> dict[str, int]:
    """Copy every table in one transaction; the counts copied, per table."""
    counts: dict[str, int] = {}
    async with store.connection() as conn, conn.transaction():
        await check_fence(conn, store.fence_term)
        present = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
        if any(present.values()) and not replace:
            held = ", ".join(f"{t} {n}" for t, n in present.items() if n)
            raise MigrateError(f"the target already holds rows ({held}); --replace empties it")
        if replace:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        for table in TABLES:
            cols = await _columns(conn, table)
            await conn.copy_records_to_table(
                table, records=_rows(src, table, cols), columns=[c for c, _ in cols]
            )
            want = int(src.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            got = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
            if got != want:  # rolled back with the transaction
                raise MigrateError(f"{table}: copied {got} rows of {want}; nothing was kept")
            counts[table] = got
        for table, col in IDENTITY.items():
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'),"
                f" GREATEST((SELECT max({col}) FROM {table}), 1),"
                f" (SELECT max({col}) FROM {table}) IS NOT NULL)"
            )
    return counts


async def run(source: Path, target: str, *, replace: bool) -> dict[str, int]:
    store = make_store(target)
    if not isinstance(store, PgStore):
        raise MigrateError(f"--to {redact(target)!r}: give a postgresql:// URL")
    src = open_source(source)
    try:
        await store.open()
        try:
            term = await lead(store, HOLDER, lease_s=600)
            try:
                return await copy(src, store, replace=replace)
            finally:
                async with store.connection() as conn:
                    await release(conn, HOLDER, term)
        finally:
            await store.close()
    finally:
        src.close()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ffrtmp-master migrate",
        description="copy a SQLite job store into PostgreSQL (stop the masters first)",
    )
    p.add_argument("--from", dest="source", required=True, type=Path,
                   help="the SQLite file (a master's --db)")
    p.add_argument("--to", dest="target", required=True,
                   help="postgresql://USER@HOST[:PORT]/DATABASE")
    p.add_argument("--replace", action="store_true",
                   help="empty a target that already holds rows first")
    args = p.parse_args(argv)
    try:
        counts = asyncio.run(run(args.source, args.target, replace=args.replace))
    except (MigrateError, StoreError, ValueError) as exc:
        print(f"ffrtmp-master migrate: {exc}", file=sys.stderr)
        return 2
    print(f"copied {args.source} to {redact(args.target)}: "
          + ", ".join(f"{t} {n}" for t, n in counts.items()) + " (counts checked)")
    return 0
