"""The job writes of the PostgreSQL store as SQL: insert with its first event,
and the compare-and-set every state change is, each one round trip. Rows read
back have the SQLite store's column order, so `sqlite.rows.row_to_job` reads both."""

from __future__ import annotations

import json
from typing import Any

from ffrtmp.core.matching import requirements
from ffrtmp.core.model import Job, JobEvent, JobState
from ffrtmp.master.storage.postgres.db import Conn
from ffrtmp.master.storage.protocol import SETTABLE, Before, Change, encode_needs
from ffrtmp.master.storage.sqlite.rows import spec_json

INSERT_JOB = """
WITH j AS (
    INSERT INTO jobs(id, request_id, spec, queue, priority, state, created_ms, updated_ms,
                     needs, owner, parent_id, depends_on, grp)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $17, $18, $19) RETURNING seq
), e AS (
    INSERT INTO job_events(job_id, at_ms, from_state, to_state, reason, node_id, attempt)
    VALUES ($1, $11, $12, $13, $14, $15, $16)
)
SELECT seq FROM j
"""


async def insert_row(conn: Conn, job: Job, request_key: str | None, ev: JobEvent) -> int:
    """A new job's row and its first event; returns its seq."""
    seq: int = await conn.fetchval(
        INSERT_JOB,
        job.id, request_key, spec_json(job.spec), job.spec.queue, job.spec.priority,
        int(job.state), job.created_ms, job.updated_ms,
        encode_needs(requirements(job.spec)), job.owner, *event_args(ev),
        job.parent_id, json.dumps(list(job.depends_on)) if job.depends_on else "",
        int(job.group),
    )
    return seq


def event_args(ev: JobEvent) -> tuple[Any, ...]:
    return (
        ev.at_ms,
        None if ev.from_state is None else int(ev.from_state),
        int(ev.to_state),
        ev.reason,
        ev.node_id,
        ev.attempt,
    )


async def apply_change(conn: Conn, ch: Change) -> Before | None:
    """The compare-and-set; the job as it was when the change applied, else None.
    The row is locked, updated and its event written in one statement."""
    params: list[Any] = [ch.job_id, int(ch.to_state), ch.at_ms]

    def p(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    sets = ["state = $2", "updated_ms = $3"]
    if ch.node_id is not None:
        sets.append(f"node_id = {p(ch.node_id)}")
    if ch.attempt is not None:
        sets.append(f"attempt = {p(ch.attempt)}")
    for name, value in ch.fields:
        if name not in SETTABLE:
            raise ValueError(f"not a settable column: {name}")
        sets.append(f"{name} = {p(value)}")
    where = f"id = $1 AND state = ANY({p([int(s) for s in ch.expect_states])}::int[])"
    if ch.expect_attempt is not None:
        where += f" AND attempt = {p(ch.expect_attempt)}"
    reason = p(ch.reason)
    row = await conn.fetchrow(
        f"""
        WITH old AS (
            SELECT id, state, attempt, node_id, queue, updated_ms FROM jobs
            WHERE {where} FOR UPDATE
        ), upd AS (
            UPDATE jobs j SET {", ".join(sets)} FROM old WHERE j.id = old.id
            RETURNING old.state, old.attempt, old.node_id, old.queue, old.updated_ms,
                      j.node_id AS new_node, j.attempt AS new_attempt
        ), ev AS (
            INSERT INTO job_events(job_id, at_ms, from_state, to_state, reason, node_id, attempt)
            SELECT $1, $3, state, $2, {reason}, new_node, new_attempt FROM upd
        )
        SELECT state, attempt, node_id, queue, updated_ms FROM upd
        """,
        *params,
    )
    if row is None:
        return None
    return Before(ch.job_id, row[3], JobState(row[0]), row[4], row[2], row[1])
