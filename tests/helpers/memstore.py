"""A `JobStore` in plain dictionaries: no SQL, no durability. It exists to keep
the protocol honest — the conformance tests run it beside the SQLite store, so
nothing SQLite-shaped can creep into the interface unnoticed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from ffrtmp.core.matching import requirements
from ffrtmp.core.model import TERMINAL, Job, JobEvent, JobState, OutputInfo, ProgressInfo
from ffrtmp.core.priority import QUEUE_CLASSES
from ffrtmp.master.storage.protocol import (
    SETTABLE,
    ApiKey,
    AuditEvent,
    Before,
    Change,
    NodeRecord,
    Observer,
    QueuedRun,
    StoreClosed,
    changed,
    encode_needs,
    notify,
    runs_of,
)

_CLASS = {qp: i for i, qp in enumerate(QUEUE_CLASSES)}
_JSON_FIELDS: dict[str, Callable[[Any], Any]] = {
    "progress": lambda d: ProgressInfo(**d),
    "output_info": OutputInfo.from_dict,
}


class MemoryStore:
    def __init__(self) -> None:
        self.observers: list[Observer] = []
        self.inserted: list[Callable[[str], None]] = []
        self.on_commit: list[Callable[[int, float], None]] = []
        self._open = False
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, list[JobEvent]] = {}
        self._nodes: dict[str, NodeRecord] = {}
        self._keys: dict[str, ApiKey] = {}
        self._audit: list[AuditEvent] = []
        self._seq = 0

    def _check(self) -> None:
        if not self._open:
            raise StoreClosed("store is closed")

    def _committed(self, writes: int) -> None:
        for hook in self.on_commit:
            hook(writes, 0.0)

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def ping(self) -> bool:
        return self._open

    async def insert_job(
        self,
        job: Job,
        event: JobEvent,
        more: Sequence[tuple[Job, JobEvent]] = (),
        assign: Change | None = None,
    ) -> tuple[Job, bool]:
        self._check()
        if job.request_id:
            for existing in self._jobs.values():
                # A request_id is its owner's: another user's is a new job.
                if existing.request_id == job.request_id and existing.owner == job.owner:
                    return replace(existing, events=[]), False
        for new, new_event in ((job, event), *more):
            self._seq += 1
            new.seq = self._seq
            self._jobs[new.id] = replace(new, events=[])
            self._events[new.id] = [new_event]
        before = None if assign is None else self._apply(assign)
        self._committed(1)
        for new, _ in ((job, event), *more):
            for observe in self.inserted:
                observe(new.id)
        if assign is not None and before is not None:
            changed(job, assign)
            notify(self.observers, assign, before)
        return job, True

    async def apply(self, changes: Sequence[Change]) -> list[Before | None]:
        self._check()
        for ch in changes:  # validate all first: a transaction applies whole or not at all
            for name, _ in ch.fields:
                if name not in SETTABLE:
                    raise ValueError(f"not a settable column: {name}")
        out = [self._apply(ch) for ch in changes]
        self._committed(1)
        for ch, before in zip(changes, out, strict=True):
            if before is not None:
                for observe in self.observers:
                    observe(before, ch.to_state, ch.at_ms, ch.node_id or "", ch.attempt or 0)
        return out

    def _apply(self, ch: Change) -> Before | None:
        job = self._jobs.get(ch.job_id)
        if job is None or job.state not in ch.expect_states:
            return None
        if ch.expect_attempt is not None and job.attempt != ch.expect_attempt:
            return None
        before = Before(job.id, job.spec.queue, job.state, job.updated_ms, job.node_id,
                        job.attempt)
        values: dict[str, Any] = {"state": ch.to_state, "updated_ms": ch.at_ms}
        if ch.node_id is not None:
            values["node_id"] = ch.node_id
        if ch.attempt is not None:
            values["attempt"] = ch.attempt
        for name, value in ch.fields:
            decode = _JSON_FIELDS.get(name)
            values[name] = decode(json.loads(value)) if decode and value else value
        new = self._jobs[job.id] = replace(job, **values)
        self._events[job.id].append(
            JobEvent(ch.at_ms, job.state, ch.to_state, ch.reason, new.node_id, new.attempt)
        )
        return before

    async def get_job(self, job_id: str, *, with_events: bool = False) -> Job | None:
        self._check()
        job = self._jobs.get(job_id)
        if job is None:
            return None
        return replace(job, events=list(self._events[job_id]) if with_events else [])

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        return {j: replace(self._jobs[j], events=[]) for j in ids if j in self._jobs}

    async def children(self, parent_id: str) -> list[Job]:
        return [replace(j, events=[]) for j in sorted(self._jobs.values(), key=lambda j: j.seq)
                if parent_id and j.parent_id == parent_id]

    async def events(self, job_id: str) -> list[JobEvent]:
        return list(self._events.get(job_id, ()))

    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] = (),
        queue: str = "",
        node_id: str = "",
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        wanted = set(states)
        jobs = [
            replace(j, events=[])
            for j in sorted(self._jobs.values(), key=lambda j: -j.seq)
            if (not wanted or j.state in wanted)
            and (not queue or j.spec.queue == queue)
            and (not node_id or j.node_id == node_id)
            and (before_seq is None or j.seq < before_seq)
        ]
        return jobs[:limit]

    async def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        wanted = set(states)
        return [replace(j, events=[]) for j in sorted(self._jobs.values(), key=lambda j: j.seq)
                if j.state in wanted]

    async def queued_keys(self) -> list[QueuedRun]:
        return runs_of(sorted(
            (_CLASS[j.spec.queue, j.spec.priority], encode_needs(requirements(j.spec)),
             j.seq, j.id, j.created_ms)
            for j in self._jobs.values()
            if j.state == JobState.QUEUED
        ))

    async def delete_finished(self, before_ms: int, limit: int) -> int:
        self._check()
        def open_group(j: Job) -> bool:
            parent = self._jobs.get(j.parent_id) if j.parent_id else None
            return parent is not None and parent.state not in TERMINAL

        old = [j.id for j in self._jobs.values()
               if j.state in TERMINAL and j.updated_ms < before_ms and not open_group(j)][:limit]
        for job_id in old:
            del self._jobs[job_id], self._events[job_id]
        return len(old)

    async def reclaim(self) -> int:
        return 0

    async def upsert_node(
        self, node_id: str, capabilities: dict[str, Any], address: str, now_ms: int
    ) -> None:
        self._check()
        old = self._nodes.get(node_id)
        self._nodes[node_id] = NodeRecord(node_id, dict(capabilities), address, now_ms,
                                          old.drained if old else False)

    async def set_drained(self, node_id: str, drained: bool, now_ms: int) -> None:
        self._check()
        old = self._nodes.get(node_id) or NodeRecord(node_id, {}, "", now_ms, False)
        self._nodes[node_id] = replace(old, drained=drained)

    async def known_nodes(self) -> list[NodeRecord]:
        return [self._nodes[n] for n in sorted(self._nodes)]

    async def add_api_key(self, key: ApiKey) -> None:
        self._check()
        if key.id in self._keys:
            raise ValueError(f"API key {key.id} exists")
        self._keys[key.id] = key

    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool:
        key = self._keys.get(key_id)
        if key is None or key.revoked_ms:
            return False
        self._keys[key_id] = replace(key, revoked_ms=now_ms)
        return True

    async def api_keys(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_ms, k.id))

    async def audit(
        self, at_ms: int, actor: str, role: str, action: str, target: str, detail: str
    ) -> None:
        self._check()
        event = AuditEvent(len(self._audit) + 1, at_ms, actor, role, action, target,
                           detail[:1024])
        self._audit.append(event)

    async def audit_events(self, before_id: int | None, limit: int) -> list[AuditEvent]:
        newest = [e for e in reversed(self._audit) if before_id is None or e.id < before_id]
        return newest[:limit]
