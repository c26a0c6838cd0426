"""Dispatch: queued jobs to free worker slots, woken by events, never polled.

A round gives each worker with a free slot the best job among the heaps it can
run, until no worker can take anything. All the assignments of a round are
committed in one transaction before any Assign is sent, so a job is assigned
only once its new attempt is durable.
"""

from __future__ import annotations

from dataclasses import replace

from ffrtmp.core.blobref import assigned_input
from ffrtmp.core.join import stored_parts
from ffrtmp.core.matching import Tokens, describe_missing
from ffrtmp.core.model import Job, JobSpec, JobState, Lease
from ffrtmp.core.outputs import owner_space
from ffrtmp.master.scheduling.sessions import AssignCmd, CancelCmd, NodeSession
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.protocol import Change

RESERVED = -1  # a slot taken by a dispatch whose commit is in flight


def _assigned_spec(job: Job, deps: dict[str, Job]) -> JobSpec:
    """The spec a worker runs: its local output in the owner's name space, and a
    blob input named by its full resource name (the owner's). A join's parts are
    the blobs its segments stored, else their outputs in the same name space.
    Only these three fields differ from the job's spec (wire.command_pb relies
    on it)."""
    spec = job.spec
    output = owner_space(spec.output, spec.live, job.owner, job.id)
    source = assigned_input(spec.input, job.owner)
    concat = stored_parts(job.depends_on, deps, spec.concat) if spec.concat else ()
    if concat is None or len(concat) != len(spec.concat):
        concat = tuple(owner_space(part, False, job.owner, job.id) for part in spec.concat)
    if output == spec.output and source == spec.input and concat == spec.concat:
        return spec
    return replace(spec, output=output, input=source, concat=concat)


class Dispatcher:
    def __init__(self, state: State) -> None:
        self.st = state
        # Workers a round left with free slots and nothing to take: where a
        # submit may assign at once. A hint, checked on use: one whose slot
        # freed since the last round is not in it (that submit queues instead).
        self.idle: set[str] = set()

    async def run(self) -> None:
        st = self.st
        while True:
            await st.wake_dispatch.wait()
            st.wake_dispatch.clear()
            while await self.dispatch_round():
                pass

    def _free(self) -> dict[str, int]:
        return {
            s.node_id: s.free_slots
            for s in self.st.nodes.values()
            if s.accepting and s.free_slots > 0
        }

    def _pick(self) -> list[tuple[NodeSession, str]]:
        """Round-robin over workers with free slots, most free first."""
        st = self.st
        if not st.pending:
            # Nothing queued: a worker's connect (thousands in a fleet's start)
            # must not cost a walk over every worker; only the workers whose slot
            # freed since the last round may have become idle.
            self.idle.update(st.freed)
            st.freed.clear()
            return []
        st.freed.clear()
        free = self._free()
        picks: list[tuple[NodeSession, str]] = []
        while free:
            for node_id in sorted(free, key=lambda n: (-free[n], n)):
                if node_id not in free:
                    continue
                popped = st.pending.pop_for(st.nodes[node_id].offers)
                if popped is None:
                    del free[node_id]  # nothing queued that this worker can run
                    self.idle.add(node_id)
                    continue
                job_id, needs = popped
                node = self._placement(job_id, needs, node_id, free)
                node.leases[job_id] = RESERVED
                picks.append((node, job_id))
                free[node.node_id] -= 1
                if free[node.node_id] <= 0:
                    del free[node.node_id]
        return picks

    def _placement(
        self, job_id: str, needs: Tokens, node_id: str, free: dict[str, int]
    ) -> NodeSession:
        """`node_id`, unless the job failed there and another free worker can run it."""
        nodes = self.st.nodes
        avoid = self.st.avoid(job_id)
        if avoid and node_id in avoid:
            for other in free:
                if other not in avoid and needs <= nodes[other].offers:
                    return nodes[other]
        return nodes[node_id]

    async def dispatch_round(self) -> bool:
        """Assign what can be assigned now in one commit; False when nothing moved."""
        st = self.st
        picks = self._pick()
        if not picks:
            return False
        jobs = await st.store.get_jobs([j for _, j in picks])
        joins = [d for j in jobs.values() if j.spec.concat for d in j.depends_on]
        deps = await st.store.get_jobs(joins) if joins else {}
        now = st.now_ms()
        changes, chosen = [], []
        for node, job_id in picks:
            job = jobs.get(job_id)
            if job is None or job.state != JobState.QUEUED:
                node.leases.pop(job_id, None)
                continue
            changes.append(
                Change(
                    job_id,
                    frozenset({JobState.QUEUED}),
                    JobState.ASSIGNED,
                    f"assigned to {node.node_id}",
                    now,
                    expect_attempt=job.attempt,
                    node_id=node.node_id,
                    attempt=job.attempt + 1,
                )
            )
            chosen.append((node, job))
        results = await st.apply(changes)
        for (node, job), before in zip(chosen, results, strict=True):
            if before is None:
                node.leases.pop(job.id, None)
                continue
            self.grant(node, Lease(job.id, job.attempt + 1), job, deps)
        return True

    def grant(self, node: NodeSession, lease: Lease, job: Job, deps: dict[str, Job]) -> None:
        """The assignment of `lease` to `node` is committed: the lease is the
        node's and its Assign goes out."""
        st = self.st
        node.leases[job.id] = lease.attempt
        node.assigns_sent += 1
        node.assign_seq[job.id] = node.assigns_sent
        spec = _assigned_spec(job, deps)
        node.send(
            AssignCmd(lease, spec, st.trace_context(job.id), node.assigns_sent, base=job.spec)
        )
        if st.is_canceled(lease):
            node.send(CancelCmd(lease, "canceled by user"))

    def reserve_idle(self, job_id: str, needs: Tokens) -> NodeSession | None:
        """Assign-on-submit: an idle worker that can run a new job and has nothing
        queued it could take instead (what waits goes first, in the dispatcher's
        order), its slot reserved for `job_id`; None when none fits. The one with
        the most free slots, or the first found with all its slots free."""
        st = self.st
        best: NodeSession | None = None
        gone = []
        for node_id in self.idle:
            s = st.nodes.get(node_id)
            if s is None or not s.accepting or s.free_slots <= 0:
                gone.append(node_id)
                continue
            empty = s.free_slots == s.slots
            if not needs <= s.offers or (
                best is not None and s.free_slots <= best.free_slots and not empty
            ):
                continue
            if st.pending.peek_for(s.offers) is not None:
                gone.append(node_id)  # the next round gives it what waits
                continue
            best = s
            if empty:
                break
        self.idle.difference_update(gone)
        if best is not None:
            best.leases[job_id] = RESERVED
        return best

    def unreserve(self, node: NodeSession, job_id: str) -> None:
        if node.leases.get(job_id) == RESERVED:
            del node.leases[job_id]
            self.st.wake_dispatch.set()  # the slot is free again

    def pending_reason(self, job: Job) -> str:
        """Why a queued job is not running yet, or "" when it will be soon."""
        st = self.st
        entry = st.pending.entry(job.id)
        if job.state != JobState.QUEUED or entry is None:
            return ""
        offers = [s.offers for s in st.nodes.values() if s.accepting]
        able = [o for o in offers if entry.needs <= o]
        if not able:
            return describe_missing(entry.needs, offers, st.draining_offers())
        return "waiting for a free slot"
