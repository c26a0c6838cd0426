"""A database of many QUEUED jobs, written straight with sqlite3 in the master's
own schema and row format, to time a restart over a deep backlog."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from ffrtmp.core.matching import requirements
from ffrtmp.core.model import JobState
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.master.storage.protocol import encode_needs
from ffrtmp.master.storage.sqlite.migrations import migrate

QUEUES = ("live", "default", "batch")
PRIORITIES = ("high", "medium", "low")
CHUNK = 50_000
OWNER = "bench"  # the CN of the client certificate the other figures submit with


def _specs() -> list[tuple[str, str, str, str]]:
    # (queue, priority, spec JSON, needs) exactly as SqliteStore.insert_job writes a
    # resolved spec, so the master reads back what it would have written itself.
    out = []
    for q, p in itertools.product(QUEUES, PRIORITIES):
        spec = resolve(RawSpec(scenario="test", queue=q, priority=p))
        out.append((q, p, json.dumps(asdict(spec)), encode_needs(requirements(spec))))
    return out


def _rows(
    n: int, start_ms: int, columns: frozenset[str]
) -> Iterator[tuple[tuple[object, ...], tuple[object, ...]]]:
    specs = _specs()
    queued = int(JobState.QUEUED)
    for i in range(n):
        job_id = os.urandom(8).hex()
        q, p, spec, needs = specs[i % len(specs)]
        at = start_ms + i // 10  # a backlog submitted over a while, not in one ms
        job: tuple[object, ...] = (job_id, os.urandom(16).hex(), spec, q, p, queued, at, at)
        job += tuple(v for c, v in (("needs", needs), ("owner", OWNER)) if c in columns)
        event = (job_id, at, None, queued, "submitted", "", 0)
        yield job, event


def seed(path: Path, n: int) -> float:
    """Write `n` queued jobs (with their "submitted" events); returns seconds taken."""
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # migrate() sets user_version, so the master finds the schema current.
        migrate(conn)
        # Speed of the seeding is not what is measured; durability is not needed.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        # Columns later migrations added, written when this schema has them.
        columns = frozenset(r[1] for r in conn.execute("PRAGMA table_info(jobs)"))
        names = ["id", "request_id", "spec", "queue", "priority", "state", "created_ms"]
        names += ["updated_ms", *(c for c in ("needs", "owner") if c in columns)]
        insert = f"INSERT INTO jobs({', '.join(names)}) VALUES ({','.join('?' * len(names))})"
        rows = _rows(n, int(time.time() * 1000) - n, columns)
        while chunk := list(itertools.islice(rows, CHUNK)):
            conn.execute("BEGIN")
            conn.executemany(insert, [job for job, _ in chunk])
            conn.executemany(
                "INSERT INTO job_events(job_id, at_ms, from_state, to_state, reason, node_id,"
                " attempt) VALUES (?,?,?,?,?,?,?)",
                [event for _, event in chunk],
            )
            conn.execute("COMMIT")
        # The master's own journal mode, so its start does no conversion.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - t0
