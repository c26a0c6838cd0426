"""The SQLite store: one writer task that group-commits, and a reader connection.

Every write is a function of a sqlite3 connection. The writer runs all the
functions queued while the previous commit was in flight in one transaction, so
many concurrent submits share one fsync. Each function runs in its own savepoint:
one that raises is rolled back alone and its caller gets the exception.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ffrtmp.core.matching import requirements
from ffrtmp.core.model import Job, JobEvent, JobSpec, JobState, ProgressInfo
from ffrtmp.master.migrations import migrate

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 512

_JOB_COLUMNS = (
    "seq, id, request_id, spec, state, node_id, attempt, created_ms, updated_ms, progress,"
    " exit_code, error, failure_reason, log_tail, output, output_bytes, not_before_ms, retry_base"
)


@dataclass(frozen=True, slots=True)
class Change:
    """A state change to apply with compare-and-set on (state, attempt)."""

    job_id: str
    expect_states: frozenset[JobState]
    to_state: JobState
    reason: str
    at_ms: int
    expect_attempt: int | None = None
    node_id: str | None = None
    attempt: int | None = None
    fields: tuple[tuple[str, Any], ...] = ()


_SETTABLE = frozenset(
    {
        "exit_code",
        "error",
        "failure_reason",
        "log_tail",
        "output",
        "output_bytes",
        "progress",
        "not_before_ms",
        "retry_base",
    }
)


@dataclass(frozen=True, slots=True)
class QueuedKey:
    id: str
    queue: str
    priority: str
    seq: int
    created_ms: int
    needs: str


def encode_needs(tokens: frozenset[str]) -> str:
    return "\n".join(sorted(tokens))


def decode_needs(text: str) -> frozenset[str]:
    return frozenset(text.split("\n")) if text else frozenset()


def _row_to_job(row: Sequence[Any]) -> Job:
    spec = JobSpec.from_dict(json.loads(row[3]))
    return Job(
        seq=row[0],
        id=row[1],
        request_id=row[2] or "",
        spec=spec,
        state=JobState(row[4]),
        node_id=row[5],
        attempt=row[6],
        created_ms=row[7],
        updated_ms=row[8],
        progress=ProgressInfo(**json.loads(row[9])),
        exit_code=row[10],
        error=row[11],
        failure_reason=row[12],
        log_tail=row[13],
        output=row[14],
        output_bytes=row[15],
        not_before_ms=row[16],
        retry_base=row[17],
    )


def _insert_event(conn: sqlite3.Connection, job_id: str, ev: JobEvent) -> None:
    conn.execute(
        "INSERT INTO job_events(job_id, at_ms, from_state, to_state, reason, node_id, attempt)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            job_id,
            ev.at_ms,
            None if ev.from_state is None else int(ev.from_state),
            int(ev.to_state),
            ev.reason,
            ev.node_id,
            ev.attempt,
        ),
    )


class Store:
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

    # -- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self._writer.execute(f"PRAGMA synchronous={self._synchronous}")
        await self._writer.execute("PRAGMA busy_timeout=5000")
        await self._writer.execute("PRAGMA foreign_keys=ON")
        await self._run(migrate)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        await self._reader.execute("PRAGMA busy_timeout=5000")
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def ping(self) -> bool:
        try:
            await self._read("SELECT 1")
        except Exception:
            return False
        return True

    # -- the writer ------------------------------------------------------
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._writer is not None
        # aiosqlite runs the function in the connection's own thread: one hop per batch.
        conn = self._writer
        result: T = await conn._execute(lambda: fn(conn._conn))  # type: ignore[no-untyped-call]
        return result

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._closing or self._task is None:
            raise RuntimeError("store is closed")
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
                try:
                    results = await self._run(partial(_commit_batch, ops=ops))
                except Exception as exc:  # the commit itself failed: nobody's write landed
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.batches += 1
                self.writes += len(batch)
                for (_, fut), res in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
            if self._closing:
                return

    # -- writes ----------------------------------------------------------
    async def insert_job(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        """Store a new job, or return the one already stored under its request_id."""

        def op(conn: sqlite3.Connection) -> tuple[Job, bool]:
            if job.request_id:
                row = conn.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE request_id=?", (job.request_id,)
                ).fetchone()
                if row is not None:
                    return _row_to_job(row), False
            cur = conn.execute(
                "INSERT INTO jobs(id, request_id, spec, queue, priority, state, created_ms,"
                " updated_ms, needs) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    job.id,
                    job.request_id or None,
                    json.dumps(asdict(job.spec)),
                    job.spec.queue,
                    job.spec.priority,
                    int(job.state),
                    job.created_ms,
                    job.updated_ms,
                    encode_needs(requirements(job.spec)),
                ),
            )
            _insert_event(conn, job.id, event)
            job.seq = int(cur.lastrowid or 0)
            return job, True

        return await self.write(op)

    async def apply(self, change: Change) -> bool:
        """Compare-and-set: False when the job is not in an expected state/attempt."""
        return (await self.apply_many([change]))[0]

    async def apply_many(self, changes: Iterable[Change]) -> list[bool]:
        items = list(changes)

        def op(conn: sqlite3.Connection) -> list[bool]:
            return [_apply_change(conn, ch) for ch in items]

        return await self.write(op)

    async def upsert_node(
        self, node_id: str, capabilities: dict[str, Any], address: str, now_ms: int
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO nodes(id, capabilities, address, first_seen_ms, last_seen_ms)"
                " VALUES (?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                " capabilities=excluded.capabilities, address=excluded.address,"
                " last_seen_ms=excluded.last_seen_ms",
                (node_id, json.dumps(capabilities), address, now_ms, now_ms),
            )

        await self.write(op)

    # -- reads -----------------------------------------------------------
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        assert self._reader is not None
        return list(await self._reader.execute_fetchall(sql, params))

    async def get_job(self, job_id: str, *, with_events: bool = False) -> Job | None:
        rows = await self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,))
        if not rows:
            return None
        job = _row_to_job(rows[0])
        if with_events:
            job.events = await self.events(job_id)
        return job

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        if not ids:
            return {}
        rows = await self._read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id IN ({','.join('?' * len(ids))})", list(ids)
        )
        return {j.id: j for j in map(_row_to_job, rows)}

    async def events(self, job_id: str) -> list[JobEvent]:
        rows = await self._read(
            "SELECT at_ms, from_state, to_state, reason, node_id, attempt FROM job_events"
            " WHERE job_id=? ORDER BY id",
            (job_id,),
        )
        return [
            JobEvent(
                r[0], None if r[1] is None else JobState(r[1]), JobState(r[2]), r[3], r[4], r[5]
            )
            for r in rows
        ]

    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] = (),
        queue: str = "",
        node_id: str = "",
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first; `before_seq` continues a previous page."""
        where, params = [], []  # type: tuple[list[str], list[Any]]
        state_list = [int(s) for s in states]
        if state_list:
            where.append(f"state IN ({','.join('?' * len(state_list))})")
            params.extend(state_list)
        if queue:
            where.append("queue=?")
            params.append(queue)
        if node_id:
            where.append("node_id=?")
            params.append(node_id)
        if before_seq is not None:
            where.append("seq<?")
            params.append(before_seq)
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)
        return [_row_to_job(r) for r in await self._read(sql, params)]

    async def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        """Every job in `states`, oldest first (start-up recovery)."""
        state_list = [int(s) for s in states]
        rows = await self._read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({','.join('?' * len(state_list))})"
            " ORDER BY seq",
            state_list,
        )
        return [_row_to_job(r) for r in rows]

    async def queued_keys(self) -> list[QueuedKey]:
        """What the heaps need of every queued job, without parsing specs."""
        rows = await self._read(
            "SELECT id, queue, priority, seq, created_ms, needs FROM jobs WHERE state=?"
            " ORDER BY seq",
            (int(JobState.QUEUED),),
        )
        return [QueuedKey(*r) for r in rows]

    async def known_nodes(self) -> list[tuple[str, dict[str, Any], str, int, bool]]:
        """(id, capabilities, address, last seen ms, drained) of every node seen."""
        rows = await self._read(
            "SELECT id, capabilities, address, last_seen_ms, drained FROM nodes ORDER BY id"
        )
        return [(r[0], json.loads(r[1]), r[2], r[3], bool(r[4])) for r in rows]

    async def set_drained(self, node_id: str, drained: bool, now_ms: int) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO nodes(id, first_seen_ms, last_seen_ms, drained) VALUES (?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET drained=excluded.drained",
                (node_id, now_ms, now_ms, int(drained)),
            )

        await self.write(op)


def _commit_batch(conn: sqlite3.Connection, ops: list[Op]) -> list[Any]:
    results: list[Any] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
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


def _apply_change(conn: sqlite3.Connection, ch: Change) -> bool:
    states = [int(s) for s in ch.expect_states]
    row = conn.execute(
        "SELECT state, attempt, node_id FROM jobs WHERE id=?", (ch.job_id,)
    ).fetchone()
    if row is None or row[0] not in states:
        return False
    if ch.expect_attempt is not None and row[1] != ch.expect_attempt:
        return False
    sets = ["state=?", "updated_ms=?"]
    params: list[Any] = [int(ch.to_state), ch.at_ms]
    if ch.node_id is not None:
        sets.append("node_id=?")
        params.append(ch.node_id)
    if ch.attempt is not None:
        sets.append("attempt=?")
        params.append(ch.attempt)
    for name, value in ch.fields:
        if name not in _SETTABLE:
            raise ValueError(f"not a settable column: {name}")
        sets.append(f"{name}=?")
        params.append(value)
    # The WHERE repeats the check so the update is itself a compare-and-set.
    cur = conn.execute(
        f"UPDATE jobs SET {', '.join(sets)} WHERE id=? AND state=? AND attempt=?",
        (*params, ch.job_id, row[0], row[1]),
    )
    if cur.rowcount != 1:
        return False
    node = ch.node_id if ch.node_id is not None else row[2]
    attempt = ch.attempt if ch.attempt is not None else row[1]
    _insert_event(
        conn, ch.job_id, JobEvent(ch.at_ms, JobState(row[0]), ch.to_state, ch.reason, node, attempt)
    )
    return True
