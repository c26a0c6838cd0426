"""Jobs and changes for store tests: a queued job as a submit makes it, its
insert, and the change that assigns it."""

from __future__ import annotations

from ffrtmp.core.model import Job, JobEvent, JobState
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.master.storage.protocol import Change, JobStore

S = JobState
T0 = 1_700_000_000_000


def job(n: int, *, queue: str = "default", priority: str = "medium", request_id: str = "",
         owner: str = "alice", codec: str = "") -> Job:
    spec = resolve(RawSpec(scenario="test", queue=queue, priority=priority, codec=codec))
    return Job(id=f"job{n}", seq=0, spec=spec, state=S.QUEUED, created_ms=T0 + n,
               updated_ms=T0 + n, request_id=request_id, owner=owner)


async def insert(store: JobStore, n: int, **kw: str) -> Job:
    made = job(n, **kw)
    event = JobEvent(made.created_ms, None, S.QUEUED, "submitted", "", 0)
    stored, created = await store.insert_job(made, event)
    assert created
    return stored


def assign(job_id: str, attempt: int, node: str = "a", at: int = T0 + 100) -> Change:
    return Change(job_id, frozenset({S.QUEUED}), S.ASSIGNED, f"assigned to {node}", at,
                  expect_attempt=attempt - 1, node_id=node, attempt=attempt)
