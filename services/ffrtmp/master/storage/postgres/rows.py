"""The job writes of the PostgreSQL store as SQL: a batch of submits with their
first events, and the compare-and-set every state change is (one round trip
each). Rows read back have the SQLite store's column order, so
`sqlite.rows.row_to_job` reads both."""

from __future__ import annotations

import json
from typing import Any

from ffrtmp.core.matching import requirements
from ffrtmp.core.model import Job, JobEvent, JobState
from ffrtmp.master.storage.postgres.db import Conn
from ffrtmp.master.storage.protocol import SETTABLE, Before, Change, encode_needs
from ffrtmp.master.storage.sqlite.rows import JOB_COLUMNS, row_to_job, spec_json

# Every new job of a batch and its first event, in one statement.
INSERT_JOBS = """
WITH j AS (
    INSERT INTO jobs(id, request_id, spec, queue, priority, state, created_ms, updated_ms,
                     needs, owner, parent_id, depends_on, grp)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::int[], $7::bigint[], $8::bigint[], $9::text[], $10::text[],
                         $17::text[], $18::text[], $19::int[])
    RETURNING id, seq
), e AS (
    INSERT INTO job_events(job_id, at_ms, from_state, to_state, reason, node_id, attempt)
    SELECT * FROM unnest($1::text[], $11::bigint[], $12::int[], $13::int[], $14::text[],
                         $15::text[], $16::int[])
)
SELECT id, seq FROM j
"""


# A submit: the job, its first event, and further jobs stored with it when it
# is new (a group's children, which carry no request id).
Submit = tuple[Job, JobEvent, tuple[tuple[Job, JobEvent], ...]]


async def insert_jobs(conn: Conn, items: list[Submit]) -> list[tuple[Job, bool]]:
    """Store new jobs, or return the one already stored under each request_id
    ("owner id", as in SQLite; rows from before the scoping hold the bare id):
    two round trips for a whole batch of submits."""
    keys = [f"{j.owner} {j.request_id}" if j.request_id else None for j, _, _ in items]
    stored: dict[str, Job] = {}  # key -> the job it names
    wanted = [k for k in keys if k] + [j.request_id for j, _, _ in items if j.request_id]
    if wanted:
        rows = await conn.fetch(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE request_id = ANY($1::text[])", wanted
        )
        for row in rows:
            job = row_to_job(tuple(row))
            stored[row[2] if " " in row[2] else f"{job.owner} {row[2]}"] = job
    out: list[tuple[Job, bool]] = []
    new: list[tuple[Job, JobEvent, str | None]] = []
    for (job, event, more), key in zip(items, keys, strict=True):
        if key is not None and key in stored:
            out.append((stored[key], False))
            continue
        if key is not None:
            stored[key] = job  # a repeat later in this batch gets this one
        out.append((job, True))
        new.append((job, event, key))
        new.extend((child, child_event, None) for child, child_event in more)
    if new:
        cols: list[list[Any]] = [[] for _ in range(19)]
        for job, ev, key in new:
            values = (
                job.id, key, spec_json(job.spec), job.spec.queue, job.spec.priority,
                int(job.state), job.created_ms, job.updated_ms,
                encode_needs(requirements(job.spec)), job.owner, *event_args(ev),
                job.parent_id, json.dumps(list(job.depends_on)) if job.depends_on else "",
                int(job.group),
            )
            for col, v in zip(cols, values, strict=True):
                col.append(v)
        seqs = {r[0]: r[1] for r in await conn.fetch(INSERT_JOBS, *cols)}
        for job, _, _ in new:
            job.seq = seqs[job.id]
    return out


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
