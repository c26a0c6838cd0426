"""New jobs: one at a time (perhaps waiting for others) or a group with its
children in one commit. A job is answered for only once it is durable; then it
is queued, or tracked as blocked and judged at once (what it waits for may have
ended between our read and the commit)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ffrtmp.core.authz import Actor
from ffrtmp.core.errors import AlreadyExists, Unavailable
from ffrtmp.core.graph import check_dependencies, start_state
from ffrtmp.core.matching import requirements
from ffrtmp.core.memo import ByKey
from ffrtmp.core.model import Job, JobEvent, JobSpec, JobState, Lease
from ffrtmp.core.s3_input import check_input_allowed
from ffrtmp.core.s3_output import check_allowed
from ffrtmp.core.spec import RawSpec, check_request_id, resolve
from ffrtmp.core.spec_split import check_together
from ffrtmp.core.split import segment_length
from ffrtmp.core.split_hls import is_hls, part_spec, plan_split
from ffrtmp.master.scheduling.dispatch import Dispatcher
from ffrtmp.master.scheduling.graph import Graph
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.protocol import Change
from ffrtmp.master.storage.sqlite.rows import spec_json

# What planning a split fills in on the group's own spec (core/split.py): not the
# client's to match when it repeats the request.
PLANNED = frozenset({"gop_s", "maxrate", "bufsize", "split_cuts"})


def check_same_request(found: Job, spec: JobSpec) -> None:
    """A request id names one request: repeated with another spec, it is refused
    (answering with the first job would let the client believe its second spec
    was taken)."""
    # Compared as JSON values: how the store keeps a spec (tuples read back as
    # lists, map order) does not matter.
    old, new = json.loads(spec_json(found.spec)), json.loads(spec_json(spec))
    if found.group:
        for name in PLANNED:
            old.pop(name, None)
            new.pop(name, None)
    if old != new:
        differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        raise AlreadyExists(
            f"request_id {found.request_id!r} was used for job {found.id} with another spec"
            f" (differs in {', '.join(differ[:5])}); a new job needs a new request_id"
        )


class Intake:
    def __init__(self, state: State, graph: Graph, dispatcher: Dispatcher) -> None:
        self.st = state
        self.graph = graph
        self.dispatcher = dispatcher
        # Resolved specs by the bytes a client sent (a new Intake with new settings).
        self.resolved: ByKey[JobSpec] = ByKey()

    async def submit(
        self, raw: RawSpec, request_id: str, actor: Actor, depends_on: Sequence[str]
    ) -> tuple[Job, bool]:
        st = self.st
        if not st.accepting:
            raise Unavailable("the master is shutting down and takes no new jobs")
        check_request_id(request_id)
        spec = self.resolved.get(raw.key, lambda: self._resolve(raw)) if raw.key else (
            self._resolve(raw))
        if spec.split and not depends_on:
            length = segment_length(spec, self.fitting_workers(spec))
            if length > 0:
                job, created = await self._split(spec, length, request_id, actor.name)
                if not created:
                    check_same_request(job, spec)
                return job, created
        found = await st.store.get_jobs(list(depends_on))
        check_dependencies(actor.name, depends_on, found)
        first = start_state({d: found[d].state for d in depends_on})
        job = self._new(spec, actor.name, first, request_id=request_id,
                        depends_on=tuple(depends_on))
        job, created = await self._insert(job, [])
        if not created:
            check_same_request(job, spec)
        return job, created

    def _resolve(self, raw: RawSpec) -> JobSpec:
        """The spec merged over its scenario and checked against this master's
        settings: the same for the same spec, so kept by its bytes."""
        spec = resolve(raw, self.st.config.scenarios)
        check_together(spec)
        check_allowed(spec.output, self.st.config.blobs.output_buckets)
        check_input_allowed(spec.input, self.st.config.blobs.input_buckets)
        return spec

    async def submit_group(
        self, parent: Job, children: Sequence[Job], request_id: str = ""
    ) -> tuple[Job, bool]:
        """A group and its children (made by `new_job`, depending only on one
        another), stored in one commit."""
        if not self.st.accepting:
            raise Unavailable("the master is shutting down and takes no new jobs")
        check_request_id(request_id)
        parent.request_id = request_id
        return await self._insert(parent, list(children))

    def fitting_workers(self, spec: JobSpec) -> int:
        """Connected workers taking jobs that could run this one."""
        needs = requirements(spec)
        return sum(s.connected and s.accepting and needs <= s.offers
                   for s in self.st.nodes.values())

    async def _split(
        self, spec: JobSpec, length_s: float, request_id: str, owner: str
    ) -> tuple[Job, bool]:
        """A group: one encode per segment, then the join that waits for them all.
        The children inherit the group's owner, queue and priority (its spec's)."""
        parent = self._new(spec, owner, JobState.BLOCKED, group=True)
        if is_hls(spec):  # a ladder cuts on its media-segment grid: candidates do not apply
            spec = replace(spec, split_cuts=())
        p = plan_split(spec, parent.id, length_s)
        parent.spec = p.parent
        segments = [self.new_job(part_spec(p, seg), owner, parent_id=parent.id)
                    for seg in p.segments]
        # The audio in parallel with the segments, queued first: the longest single
        # piece of work starts early, off the join's path, and never runs alone
        # at the end while the other workers wait.
        audio = [self.new_job(p.audio, owner, parent_id=parent.id)] if p.audio else []
        join = self.new_job(p.join, owner, parent_id=parent.id,  # in the join's part order
                            depends_on=tuple(s.id for s in [*segments, *audio]))
        children = [*audio, *segments, join]
        parent.depends_on = tuple(c.id for c in children)
        return await self.submit_group(parent, children, request_id)

    def new_job(self, spec: JobSpec, owner: str, **kw: Any) -> Job:
        """A job not stored yet: QUEUED, or BLOCKED when it depends on others."""
        first = JobState.BLOCKED if kw.get("depends_on") or kw.get("group") else JobState.QUEUED
        return self._new(spec, owner, first, **kw)

    def _new(self, spec: JobSpec, owner: str, state: JobState, **kw: Any) -> Job:
        now = self.st.now_ms()
        return Job(id=secrets.token_hex(8), seq=0, spec=spec, state=state, created_ms=now,
                   updated_ms=now, owner=owner, **kw)

    async def _insert(self, job: Job, children: list[Job]) -> tuple[Job, bool]:
        # Shielded: a caller that goes away (the client canceled its call) must
        # not stop between the commit and the steps after it, or a stored job
        # would be in no heap, or assigned with no Assign sent.
        return await asyncio.shield(self._store(job, children))

    async def _store(self, job: Job, children: list[Job]) -> tuple[Job, bool]:
        st = self.st

        def first(j: Job) -> JobEvent:
            return JobEvent(j.created_ms, None, j.state, "submitted", "", 0)

        # Assign-on-submit: an idle worker that fits gets the job in the
        # submit's own transaction (one commit), its Assign sent right after.
        node = None
        if job.state == JobState.QUEUED and not children:
            node = self.dispatcher.reserve_idle(job.id, requirements(job.spec))
        assign = None if node is None else Change(
            job.id, frozenset({JobState.QUEUED}), JobState.ASSIGNED,
            f"assigned to {node.node_id}", job.created_ms,
            expect_attempt=0, node_id=node.node_id, attempt=1,
        )
        try:
            stored, created = await st.store.insert_job(
                job, first(job), [(c, first(c)) for c in children], assign
            )
        except BaseException:
            if node is not None:
                self.dispatcher.unreserve(node, job.id)
            raise
        if node is not None:
            if created and stored.state == JobState.ASSIGNED:  # committed with its assignment
                self.dispatcher.grant(node, Lease(job.id, 1), stored, {})
                st.feed.publish(stored.id)
            else:  # an earlier job under the same request id: nothing assigned
                self.dispatcher.unreserve(node, job.id)
        if created:
            for j in (stored, *children):
                st.metrics.jobs_submitted.labels(j.spec.queue, j.spec.priority).inc()
                if j.state == JobState.QUEUED:
                    st.enqueue_job(j)
                elif j.state == JobState.BLOCKED:
                    self.graph.track(j)
            # A dependency may have ended between our read and the commit.
            for j in (stored, *children):
                if j.state == JobState.BLOCKED:
                    await self.graph.judge(j.id)
        return stored, created


