"""The SQLite job store: `JobStore` over one file, writes group-committed by
`GroupCommitDb`. Jobs, their history, nodes, API keys and the audit log."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ffrtmp.core.model import Job, JobEvent, JobState
from ffrtmp.master.storage.protocol import (
    ApiKey,
    AuditEvent,
    Before,
    Change,
    NodeRecord,
    Observer,
    QueuedRun,
    StoreError,
    changed,
    notify,
)
from ffrtmp.master.storage.sqlite import upkeep
from ffrtmp.master.storage.sqlite.group_commit import GroupCommitDb
from ffrtmp.master.storage.sqlite.queued import queued_runs
from ffrtmp.master.storage.sqlite.rows import (
    JOB_COLUMNS,
    apply_change,
    insert_event,
    insert_row,
    row_to_job,
)

log = logging.getLogger(__name__)


READ_CHUNK = 500  # ids per statement (SQLite bounds its parameters)

class SqliteStore(GroupCommitDb):
    """A `JobStore` in one SQLite file. Hooks run after the commit that made
    their change durable."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        super().__init__(path, synchronous=synchronous)
        self.observers: list[Observer] = []
        self.inserted: list[Callable[[str], None]] = []

    # -- writes ----------------------------------------------------------
    async def insert_job(
        self,
        job: Job,
        event: JobEvent,
        more: Sequence[tuple[Job, JobEvent]] = (),
        assign: Change | None = None,
    ) -> tuple[Job, bool]:
        """Store a new job (and `more`, and its `assign`, in the same
        transaction), or return the one already stored under its request_id."""

        def op(conn: sqlite3.Connection) -> tuple[Job, bool, Before | None]:
            # A request_id is its owner's: stored as "owner id" (a space is in
            # neither), so another user's id is neither a repeat nor an oracle.
            # Rows from before the scoping hold the bare id.
            key = f"{job.owner} {job.request_id}" if job.request_id else None
            if job.request_id:
                row = conn.execute(
                    f"SELECT {JOB_COLUMNS} FROM jobs WHERE request_id IN (?, ?) AND owner=?",
                    (key, job.request_id, job.owner),
                ).fetchone()
                if row is not None:
                    return row_to_job(row), False, None
            job.seq = insert_row(conn, job, key)
            insert_event(conn, job.id, event)
            for child, child_event in more:
                child.seq = insert_row(conn, child, None)
                insert_event(conn, child.id, child_event)
            return job, True, None if assign is None else apply_change(conn, assign)

        stored, created, before = await self.write(op)
        if created:
            for new in (stored, *(j for j, _ in more)):
                for observe in self.inserted:
                    observe(new.id)
        if assign is not None and before is not None:
            changed(stored, assign)
            notify(self.observers, assign, before)
        return stored, created

    async def apply(self, changes: Sequence[Change]) -> list[Before | None]:
        items = list(changes)

        def op(conn: sqlite3.Connection) -> list[Before | None]:
            return [apply_change(conn, ch) for ch in items]

        applied = await self.write(op)
        for ch, before in zip(items, applied, strict=True):
            if before is not None:
                notify(self.observers, ch, before)
        return applied

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

    async def get_job(self, job_id: str, *, with_events: bool = False) -> Job | None:
        rows = await self._read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,))
        if not rows:
            return None
        job = row_to_job(rows[0])
        if with_events:
            job.events = await self.events(job_id)
        return job

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        if not ids:
            return {}
        wanted = list(ids)

        def read(conn: sqlite3.Connection) -> list[Any]:
            # In pieces: SQLite bounds a statement's parameters (one hop for all).
            rows: list[Any] = []
            for i in range(0, len(wanted), READ_CHUNK):
                part = wanted[i : i + READ_CHUNK]
                sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({','.join('?' * len(part))})"
                rows += conn.execute(sql, part).fetchall()
            return rows

        return {j.id: j for j in map(row_to_job, await self._read_with(read))}

    async def children(self, parent_id: str) -> list[Job]:
        if not parent_id:
            return []
        rows = await self._read(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE parent_id=? ORDER BY seq", (parent_id,)
        )
        return [row_to_job(r) for r in rows]

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
        state_list = [int(s) for s in states]
        conditions: list[tuple[bool, str, list[Any]]] = [
            (bool(state_list), f"state IN ({','.join('?' * len(state_list))})", state_list),
            (bool(queue), "queue=?", [queue]),
            (bool(node_id), "node_id=?", [node_id]),
            (before_seq is not None, "seq<?", [before_seq]),
        ]
        used = [(sql, values) for on, sql, values in conditions if on]
        where = " WHERE " + " AND ".join(sql for sql, _ in used) if used else ""
        params: list[Any] = [v for _, values in used for v in values]
        rows = await self._read(
            f"SELECT {JOB_COLUMNS} FROM jobs{where} ORDER BY seq DESC LIMIT ?", [*params, limit]
        )
        return [row_to_job(r) for r in rows]

    async def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        state_list = [int(s) for s in states]
        rows = await self._read(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ({','.join('?' * len(state_list))})"
            " ORDER BY seq",
            state_list,
        )
        return [row_to_job(r) for r in rows]

    async def queued_keys(self) -> list[QueuedRun]:
        return await self._read_with(queued_runs)

    async def known_nodes(self) -> list[NodeRecord]:
        rows = await self._read(
            "SELECT id, capabilities, address, last_seen_ms, drained FROM nodes ORDER BY id"
        )
        return [NodeRecord(r[0], json.loads(r[1]), r[2], r[3], bool(r[4])) for r in rows]

    async def set_drained(self, node_id: str, drained: bool, now_ms: int) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO nodes(id, first_seen_ms, last_seen_ms, drained) VALUES (?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET drained=excluded.drained",
                (node_id, now_ms, now_ms, int(drained)),
            )

        await self.write(op)

    # -- API keys and audit --------------------------------------------------
    async def add_api_key(self, key: ApiKey) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_keys(id, user, role, secret_sha256, created_ms, created_by,"
                " revoked_ms) VALUES (?,?,?,?,?,?,?)",
                (key.id, key.user, key.role, key.secret_sha256, key.created_ms,
                 key.created_by, key.revoked_ms),
            )

        await self.write(op)

    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_ms=? WHERE id=? AND revoked_ms=0", (now_ms, key_id)
            )
            return cur.rowcount == 1

        return await self.write(op)

    async def api_keys(self) -> list[ApiKey]:
        rows = await self._read(
            "SELECT id, user, role, secret_sha256, created_ms, created_by, revoked_ms"
            " FROM api_keys ORDER BY created_ms, id"
        )
        return [ApiKey(*r) for r in rows]

    async def audit(
        self, at_ms: int, actor: str, role: str, action: str, target: str, detail: str
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO audit(at_ms, actor, role, action, target, detail)"
                " VALUES (?,?,?,?,?,?)",
                (at_ms, actor, role, action, target, detail[:1024]),
            )

        await self.write(op)

    async def audit_events(self, before_id: int | None, limit: int) -> list[AuditEvent]:
        rows = await self._read(
            "SELECT id, at_ms, actor, role, action, target, detail FROM audit"
            + (" WHERE id<?" if before_id is not None else "")
            + " ORDER BY id DESC LIMIT ?",
            (*(() if before_id is None else (before_id,)), limit),
        )
        return [AuditEvent(*r) for r in rows]

    # -- health and upkeep ----------------------------------------------------
    async def ping(self) -> bool:
        """The reader answers and a write transaction goes through the writer task
        (a dead writer or a locked or read-only file fails or hangs here)."""
        try:
            await self._read("SELECT 1")
            return bool(await self.write(upkeep.select_one) == 1)
        except (sqlite3.Error, StoreError, RuntimeError):
            return False

    async def delete_finished(self, before_ms: int, limit: int) -> int:
        try:
            return await self.write(upkeep.delete_batch(before_ms, limit))
        except (sqlite3.Error, StoreError) as exc:
            raise StoreError(f"deleting finished jobs failed: {exc}") from exc

    async def reclaim(self) -> int:
        """`PRAGMA optimize` refreshes the planner's statistics; then an incremental
        vacuum hands free pages back to the file system, a few per writer turn so
        other writes are never held up for long."""
        try:
            await self.write(upkeep.optimize)
            freed = 0
            while (n := await self.write(upkeep.vacuum_some)) > 0:
                freed += n
            return freed
        except (sqlite3.Error, StoreError) as exc:
            raise StoreError(f"reclaiming space failed: {exc}") from exc
