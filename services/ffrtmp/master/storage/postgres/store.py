"""The PostgreSQL job store: `JobStore` over a database several masters share,
writes group-committed and fenced by the leader's term (see db.py). A write is
acknowledged only after its transaction committed on the server."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ffrtmp.core.model import TERMINAL, Job, JobEvent, JobState
from ffrtmp.core.priority import QUEUE_CLASSES
from ffrtmp.master.storage.postgres.changes import apply_all, submit_all
from ffrtmp.master.storage.postgres.db import DB_TROUBLE, Conn, Grouped, PgDb, trouble
from ffrtmp.master.storage.protocol import (
    ApiKey,
    AuditEvent,
    Before,
    Change,
    NodeRecord,
    Observer,
    QueuedRun,
    changed,
    notify,
    runs_of,
)
from ffrtmp.master.storage.sqlite.rows import JOB_COLUMNS, row_to_job

log = logging.getLogger(__name__)

# SQL turns a row's (queue, priority) into its index in QUEUE_CLASSES.
_CLASS_SQL = (
    "CASE queue || '/' || priority "
    + " ".join(f"WHEN '{q}/{p}' THEN {i}" for i, (q, p) in enumerate(QUEUE_CLASSES))
    + " END"
)
_TERMINAL = sorted(int(s) for s in TERMINAL)


class PgStore(PgDb):
    """A `JobStore` in PostgreSQL. Hooks run after the commit that made their
    change durable. `fence_term` must be the leader's term for writes to pass."""

    def __init__(self, dsn: str, *, pool_size: int = 8, timeout_s: float = 10.0) -> None:
        super().__init__(dsn, pool_size=pool_size, timeout_s=timeout_s)
        self.observers: list[Observer] = []
        self.inserted: list[Callable[[str], None]] = []

    # -- jobs -------------------------------------------------------------
    async def insert_job(
        self,
        job: Job,
        event: JobEvent,
        more: Sequence[tuple[Job, JobEvent]] = (),
        assign: Change | None = None,
    ) -> tuple[Job, bool]:
        item = ((job, event, tuple(more)), assign)
        done: tuple[Job, bool, Before | None] = await self.write(Grouped(submit_all, item))
        stored, created, before = done
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

        applied: list[Before | None] = await self.write(Grouped(apply_all, items))
        for ch, before in zip(items, applied, strict=True):
            if before is not None:
                notify(self.observers, ch, before)
        return applied

    async def get_job(self, job_id: str, *, with_events: bool = False) -> Job | None:
        rows = await self.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1", job_id)
        if not rows:
            return None
        job = row_to_job(rows[0])
        if with_events:
            job.events = await self.events(job_id)
        return job

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        if not ids:
            return {}
        rows = await self.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1)", list(ids))
        return {j.id: j for j in map(row_to_job, rows)}

    async def children(self, parent_id: str) -> list[Job]:
        if not parent_id:
            return []
        sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE parent_id = $1 ORDER BY seq"
        return [row_to_job(r) for r in await self.read(sql, parent_id)]

    async def events(self, job_id: str) -> list[JobEvent]:
        rows = await self.read(
            "SELECT at_ms, from_state, to_state, reason, node_id, attempt FROM job_events"
            " WHERE job_id = $1 ORDER BY id",
            job_id,
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
        params: list[Any] = []

        def p(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        state_list = [int(s) for s in states]
        where: list[str] = []
        if state_list:
            where.append(f"state = ANY({p(state_list)}::int[])")
        if queue:
            where.append(f"queue = {p(queue)}")
        if node_id:
            where.append(f"node_id = {p(node_id)}")
        if before_seq is not None:
            where.append(f"seq < {p(before_seq)}")
        clause = " WHERE " + " AND ".join(where) if where else ""
        rows = await self.read(
            f"SELECT {JOB_COLUMNS} FROM jobs{clause} ORDER BY seq DESC LIMIT {p(limit)}", *params
        )
        return [row_to_job(r) for r in rows]

    async def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        rows = await self.read_all(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = ANY($1::int[]) ORDER BY seq",
            [int(s) for s in states],
        )
        return [row_to_job(r) for r in rows]

    async def queued_keys(self) -> list[QueuedRun]:
        rows = await self.read_all(
            f"SELECT {_CLASS_SQL}, needs, seq, id, created_ms FROM jobs WHERE state = $1"
            " ORDER BY 1, 2, 3",
            int(JobState.QUEUED),
        )
        return runs_of(rows)

    async def delete_finished(self, before_ms: int, limit: int) -> int:
        async def op(conn: Conn) -> int:
            ids = await conn.fetch(
                "SELECT id FROM jobs WHERE state = ANY($1::int[]) AND updated_ms < $2"
                " AND (parent_id = '' OR NOT EXISTS (SELECT 1 FROM jobs p"  # an open group's
                " WHERE p.id = jobs.parent_id AND NOT p.state = ANY($1::int[]))) LIMIT $3",
                _TERMINAL, before_ms, limit,
            )
            gone = [r[0] for r in ids]
            if gone:
                await conn.execute("DELETE FROM job_events WHERE job_id = ANY($1)", gone)
                await conn.execute("DELETE FROM jobs WHERE id = ANY($1)", gone)
            return len(gone)

        return await self.write(op)

    async def reclaim(self) -> int:
        """Autovacuum gives space back by itself; fresh statistics help the planner
        after a large delete."""
        try:
            async with self.connection() as conn:
                await conn.execute("ANALYZE jobs, job_events")
        except DB_TROUBLE as exc:
            raise trouble(exc, "refreshing statistics failed") from exc
        return 0

    async def ping(self) -> bool:
        """Reads answer, a write transaction commits, and the writer task lives."""
        try:
            if self._task is None or self._task.done():
                return False
            async with self.connection() as conn, conn.transaction():
                await conn.fetchval("SELECT txid_current()")
            return True
        except Exception:
            return False

    # -- nodes --------------------------------------------------------------
    async def upsert_node(
        self, node_id: str, capabilities: dict[str, Any], address: str, now_ms: int
    ) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO nodes(id, capabilities, address, first_seen_ms, last_seen_ms)"
                " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO UPDATE SET"
                " capabilities = EXCLUDED.capabilities, address = EXCLUDED.address,"
                " last_seen_ms = EXCLUDED.last_seen_ms",
                node_id, json.dumps(capabilities), address, now_ms,
            )

        await self.write(op)

    async def set_drained(self, node_id: str, drained: bool, now_ms: int) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO nodes(id, first_seen_ms, last_seen_ms, drained)"
                " VALUES ($1, $2, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET drained = EXCLUDED.drained",
                node_id, now_ms, drained,
            )

        await self.write(op)

    async def known_nodes(self) -> list[NodeRecord]:
        rows = await self.read(
            "SELECT id, capabilities, address, last_seen_ms, drained FROM nodes ORDER BY id"
        )
        return [NodeRecord(r[0], json.loads(r[1]), r[2], r[3], bool(r[4])) for r in rows]

    # -- API keys and audit ---------------------------------------------------
    async def add_api_key(self, key: ApiKey) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                'INSERT INTO api_keys(id, "user", role, secret_sha256, created_ms, created_by,'
                " revoked_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                key.id, key.user, key.role, key.secret_sha256, key.created_ms,
                key.created_by, key.revoked_ms,
            )

        await self.write(op)

    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool:
        async def op(conn: Conn) -> bool:
            status = await conn.execute(
                "UPDATE api_keys SET revoked_ms = $1 WHERE id = $2 AND revoked_ms = 0",
                now_ms, key_id,
            )
            return bool(status == "UPDATE 1")

        return await self.write(op)

    async def api_keys(self) -> list[ApiKey]:
        rows = await self.read(
            'SELECT id, "user", role, secret_sha256, created_ms, created_by, revoked_ms'
            " FROM api_keys ORDER BY created_ms, id"
        )
        return [ApiKey(*r) for r in rows]

    async def audit(
        self, at_ms: int, actor: str, role: str, action: str, target: str, detail: str
    ) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO audit(at_ms, actor, role, action, target, detail)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                at_ms, actor, role, action, target, detail[:1024],
            )

        await self.write(op)

    async def audit_events(self, before_id: int | None, limit: int) -> list[AuditEvent]:
        if before_id is None:
            rows = await self.read(
                "SELECT id, at_ms, actor, role, action, target, detail FROM audit"
                " ORDER BY id DESC LIMIT $1", limit,
            )
        else:
            rows = await self.read(
                "SELECT id, at_ms, actor, role, action, target, detail FROM audit"
                " WHERE id < $1 ORDER BY id DESC LIMIT $2", before_id, limit,
            )
        return [AuditEvent(*r) for r in rows]
