"""How jobs lie in SQLite: rows to domain objects, event rows, and the
compare-and-set that every state change goes through."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from ffrtmp.core.matching import requirements
from ffrtmp.core.memo import ByIdentity
from ffrtmp.core.model import Job, JobEvent, JobSpec, JobState, OutputInfo, ProgressInfo
from ffrtmp.master.storage.protocol import SETTABLE, Before, Change, encode_needs

JOB_COLUMNS = (
    "seq, id, request_id, spec, state, node_id, attempt, created_ms, updated_ms, progress,"
    " exit_code, error, failure_reason, log_tail, output, output_bytes, not_before_ms, retry_base,"
    " owner, output_info, lost_attempts, parent_id, depends_on, grp"
)


def row_to_job(row: Sequence[Any]) -> Job:
    spec = JobSpec.from_dict(json.loads(row[3]))
    return Job(
        seq=row[0],
        id=row[1],
        request_id=(row[2] or "").rpartition(" ")[2],  # "owner id"
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
        owner=row[18],
        output_info=OutputInfo.from_dict(json.loads(row[19])) if row[19] else None,
        lost_attempts=row[20],
        parent_id=row[21],
        depends_on=tuple(json.loads(row[22])) if row[22] else (),
        group=bool(row[23]),
    )


def insert_row(conn: sqlite3.Connection, job: Job, request_key: str | None) -> int:
    """A new job's row; returns its seq."""
    cur = conn.execute(
        "INSERT INTO jobs(id, request_id, spec, queue, priority, state, created_ms,"
        " updated_ms, needs, owner, parent_id, depends_on, grp)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            job.id,
            request_key,
            spec_json(job.spec),
            job.spec.queue,
            job.spec.priority,
            int(job.state),
            job.created_ms,
            job.updated_ms,
            encode_needs(requirements(job.spec)),
            job.owner,
            job.parent_id,
            json.dumps(list(job.depends_on)) if job.depends_on else "",
            int(job.group),
        ),
    )
    return int(cur.lastrowid or 0)


def insert_event(conn: sqlite3.Connection, job_id: str, ev: JobEvent) -> None:
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


def apply_change(conn: sqlite3.Connection, ch: Change) -> Before | None:
    """The compare-and-set; the job as it was when the change applied, else None."""
    states = [int(s) for s in ch.expect_states]
    row = conn.execute(
        "SELECT state, attempt, node_id, queue, updated_ms FROM jobs WHERE id=?", (ch.job_id,)
    ).fetchone()
    if row is None or row[0] not in states:
        return None
    if ch.expect_attempt is not None and row[1] != ch.expect_attempt:
        return None
    sets = ["state=?", "updated_ms=?"]
    params: list[Any] = [int(ch.to_state), ch.at_ms]
    if ch.node_id is not None:
        sets.append("node_id=?")
        params.append(ch.node_id)
    if ch.attempt is not None:
        sets.append("attempt=?")
        params.append(ch.attempt)
    for name, value in ch.fields:
        if name not in SETTABLE:
            raise ValueError(f"not a settable column: {name}")
        sets.append(f"{name}=?")
        params.append(value)
    # The WHERE repeats the check so the update is itself a compare-and-set.
    cur = conn.execute(
        f"UPDATE jobs SET {', '.join(sets)} WHERE id=? AND state=? AND attempt=?",
        (*params, ch.job_id, row[0], row[1]),
    )
    if cur.rowcount != 1:
        return None
    node = ch.node_id if ch.node_id is not None else row[2]
    attempt = ch.attempt if ch.attempt is not None else row[1]
    insert_event(
        conn, ch.job_id, JobEvent(ch.at_ms, JobState(row[0]), ch.to_state, ch.reason, node, attempt)
    )
    return Before(ch.job_id, row[3], JobState(row[0]), row[4], row[2], row[1])


_SPEC_FIELDS = tuple(f.name for f in fields(JobSpec))


def _spec_json(spec: JobSpec) -> str:
    """JSON of a spec. Shallow where it can be: dataclasses.asdict deep-copies every
    field, and this runs once per submit."""
    d = {name: getattr(spec, name) for name in _SPEC_FIELDS}
    d["requirements"] = asdict(spec.requirements)
    d["renditions"] = [asdict(r) for r in spec.renditions]
    return json.dumps(d)


# Once per spec object: a spec submitted again is the same resolved object.
spec_json: ByIdentity[JobSpec, str] = ByIdentity(_spec_json)
