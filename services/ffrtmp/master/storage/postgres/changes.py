"""Every compare-and-set of a write batch in few statements: the changes that
set the same columns share one `UPDATE … FROM unnest(…)` (rows locked, updated
and their events written together), so a batch of state changes costs a round
trip per kind of change, not per change. Semantics are `rows.apply_change`'s;
a batch that changes one job twice runs change by change, in order."""

from __future__ import annotations

from typing import Any

from ffrtmp.core.model import Job, JobState
from ffrtmp.master.storage.postgres.db import Conn
from ffrtmp.master.storage.postgres.rows import Submit, apply_change, insert_jobs
from ffrtmp.master.storage.protocol import SETTABLE, Before, Change

# The PostgreSQL type of each settable column (a column missing here makes its
# changes go one by one, which is always correct).
FIELD_TYPES = {
    "exit_code": "int",
    "error": "text",
    "failure_reason": "text",
    "log_tail": "text",
    "output": "text",
    "output_bytes": "bigint",
    "output_info": "text",
    "progress": "text",
    "not_before_ms": "bigint",
    "retry_base": "int",
    "lost_attempts": "int",
}

Shape = tuple[bool, bool, bool, tuple[str, ...]]


def _shape(ch: Change) -> Shape | None:
    names = tuple(name for name, _ in ch.fields)
    known = all(n in FIELD_TYPES and n in SETTABLE for n in names)
    if not known or len(set(names)) < len(names):
        return None
    return (ch.node_id is not None, ch.attempt is not None, ch.expect_attempt is not None, names)


def _statement(shape: Shape) -> str:
    node, attempt, expect_attempt, names = shape
    cols = [("job_id", "text"), ("to_state", "int"), ("at_ms", "bigint"), ("reason", "text"),
            ("mask", "bigint")]
    if expect_attempt:
        cols.append(("expect_attempt", "int"))
    if node:
        cols.append(("node_id", "text"))
    if attempt:
        cols.append(("attempt", "int"))
    cols += [(f"f_{n}", FIELD_TYPES[n]) for n in names]
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(cols, 1))
    sets = ["state = c.to_state", "updated_ms = c.at_ms"]
    if node:
        sets.append("node_id = c.node_id")
    if attempt:
        sets.append("attempt = c.attempt")
    sets += [f"{n} = c.f_{n}" for n in names]
    match = " AND j.attempt = c.expect_attempt" if expect_attempt else ""
    return f"""
    WITH c AS (
        SELECT * FROM unnest({arrays}) AS c({", ".join(n for n, _ in cols)})
    ), old AS (
        SELECT j.id, j.state, j.attempt, j.node_id, j.queue, j.updated_ms
        FROM jobs j JOIN c ON j.id = c.job_id
        WHERE (c.mask >> j.state) & 1 = 1{match}
        FOR UPDATE OF j
    ), upd AS (
        UPDATE jobs j SET {", ".join(sets)}
        FROM old JOIN c ON c.job_id = old.id WHERE j.id = old.id
        RETURNING old.id, old.state, old.attempt, old.node_id, old.queue, old.updated_ms,
                  j.node_id AS new_node, j.attempt AS new_attempt,
                  c.to_state AS to_state, c.at_ms AS at_ms, c.reason AS reason
    ), ev AS (
        INSERT INTO job_events(job_id, at_ms, from_state, to_state, reason, node_id, attempt)
        SELECT id, at_ms, state, to_state, reason, new_node, new_attempt FROM upd
    )
    SELECT id, state, attempt, node_id, queue, updated_ms FROM upd
    """


def _args(shape: Shape, changes: list[Change]) -> list[list[Any]]:
    node, attempt, expect_attempt, names = shape
    args: list[list[Any]] = [
        [ch.job_id for ch in changes],
        [int(ch.to_state) for ch in changes],
        [ch.at_ms for ch in changes],
        [ch.reason for ch in changes],
        [sum(1 << int(s) for s in ch.expect_states) for ch in changes],
    ]
    if expect_attempt:
        args.append([ch.expect_attempt for ch in changes])
    if node:
        args.append([ch.node_id for ch in changes])
    if attempt:
        args.append([ch.attempt for ch in changes])
    for k in range(len(names)):
        args.append([ch.fields[k][1] for ch in changes])
    return args


async def apply_all(conn: Conn, items: list[list[Change]]) -> list[list[Before | None]]:
    """Each item is one `apply` call's changes; returns what each change found."""
    flat = [ch for item in items for ch in item]
    shapes = [_shape(ch) for ch in flat]
    ids = [ch.job_id for ch in flat]
    if len(set(ids)) < len(ids) or any(s is None for s in shapes) or any(
        int(st) > 62 for ch in flat for st in ch.expect_states
    ):
        return [[await apply_change(conn, ch) for ch in item] for item in items]
    found: dict[str, Before] = {}
    groups: dict[Shape, list[Change]] = {}
    for ch, shape in zip(flat, shapes, strict=True):
        assert shape is not None
        groups.setdefault(shape, []).append(ch)
    for shape, changes in groups.items():
        if len(changes) == 1:  # the single-change statement is prepared and cached
            before = await apply_change(conn, changes[0])
            if before is not None:
                found[changes[0].job_id] = before
            continue
        for r in await conn.fetch(_statement(shape), *_args(shape, changes)):
            found[r[0]] = Before(r[0], r[4], JobState(r[1]), r[5], r[3], r[2])
    return [[found.get(ch.job_id) for ch in item] for item in items]


# A submit with its assign-on-submit change, if any (see JobStore.insert_job).
Assigned = tuple[Submit, Change | None]


async def submit_all(
    conn: Conn, items: list[Assigned]
) -> list[tuple[Job, bool, Before | None]]:
    """A batch of submits, then the assignments of those that are new, in the
    same transaction (so under the same term check)."""
    stored = await insert_jobs(conn, [submit for submit, _ in items])
    assigns = [
        ch for (_, ch), (_, created) in zip(items, stored, strict=True)
        if created and ch is not None
    ]
    found = {
        ch.job_id: before
        for ch, [before] in zip(assigns, await apply_all(conn, [[ch] for ch in assigns]),
                                strict=True)
    } if assigns else {}
    return [(job, created, found.get(job.id) if created and ch is not None else None)
            for (_, ch), (job, created) in zip(items, stored, strict=True)]
