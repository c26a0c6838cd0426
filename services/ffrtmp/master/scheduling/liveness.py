"""Workers coming and going: connects, heartbeats, drains, and losing a worker
that has been silent for the heartbeat timeout. Also the one timer loop, which
wakes jobs whose retry backoff is over.

A worker fences itself (and its launchers kill ffmpeg) by FENCE_FRACTION of the
timeout after the send time of its last acknowledged heartbeat, which the master
received later still: so by the time the master declares it lost, its runs are
surely stopped, with a quarter of the timeout to spare for scheduling delays and
clock-rate drift. A lease the worker no longer lists (in Hello, or in a heartbeat
sent after its Assign arrived) is resolved at once. These attempts are lost to the
infrastructure, not charged to the job (see core/retry.py).

Heartbeats are answered no more often than core/timings.ack_spacing allows: with
a 5 s interval and a 2 min timeout, one in three or four, which is what keeps a
large idle fleet cheap; fewer answers can only make a worker fence earlier."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ffrtmp.core.errors import AlreadyExists, NotFound
from ffrtmp.core.matching import offers
from ffrtmp.core.model import Lease
from ffrtmp.core.retry import LOST
from ffrtmp.core.timings import ack_spacing
from ffrtmp.lifecycle import wait_event
from ffrtmp.master.scheduling.attempts import Attempts, Ended
from ffrtmp.master.scheduling.dispatch import RESERVED
from ffrtmp.master.scheduling.outbox import Outbox
from ffrtmp.master.scheduling.sessions import CancelCmd, DrainCmd, HeartbeatAckCmd, NodeSession
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.scheduling.until_stored import until_stored

log = logging.getLogger(__name__)


def _offers(caps: dict[str, object]) -> frozenset[str]:
    labels = caps.get("labels") or {}
    encoders = caps.get("encoders") or []
    gpus = caps.get("gpus") or 0
    assert isinstance(labels, dict) and isinstance(encoders, list) and isinstance(gpus, int)
    return offers(encoders, gpus, labels, bool(caps.get("allow_raw_args")))


def _caps_key(caps: dict[str, object]) -> tuple[object, ...]:
    """Equal capabilities, equal key (lists and dicts made hashable)."""
    def frozen(v: object) -> object:
        if isinstance(v, dict):
            return tuple(sorted(v.items()))
        return tuple(v) if isinstance(v, list) else v

    return tuple((k, frozen(v)) for k, v in sorted(caps.items()))


class Liveness:
    def __init__(self, state: State, attempts: Attempts) -> None:
        self.st = state
        self.attempts = attempts
        # Workers alike share one capabilities dict, as they share an offer set:
        # never changed in place (a reconnect replaces a session's).
        self._caps: dict[tuple[object, ...], dict[str, object]] = {}

    def connect(
        self,
        node_id: str,
        capabilities: dict[str, object],
        slots: int,
        address: str,
        offered: Iterable[Lease],
        instance: str = "",
    ) -> tuple[NodeSession, list[Lease], list[Lease]]:
        """Register a (re)connected worker; returns its session and which offered
        leases it keeps or must abort."""
        st = self.st
        s = st.session(node_id)
        self.check_instance(node_id, instance)
        s.instance = instance or s.instance
        if s.connected:
            s.outbox.put_nowait(None)  # the newer stream wins; end the old one
        s.outbox = Outbox()
        s.generation += 1
        capabilities = self._caps.setdefault(_caps_key(capabilities), capabilities)
        s.capabilities, s.slots, s.address = capabilities, max(1, slots), address
        # Workers alike share one set: a fleet of ten thousand holds a few, not
        # ten thousand (≈ 2.5 KiB each, their token strings included).
        offer_set = _offers(capabilities)
        s.offers = st.offer_sets.setdefault(offer_set, offer_set)
        s.connected, s.connected_ms, s.draining = True, st.now_ms(), False
        s.stale_contact = False  # the Welcome answers a Hello just sent
        s.assigns_sent, s.assign_seq = 0, {}  # Assigns are numbered per stream
        self.touch(s)
        s.acked_at = s.last_seen  # the Welcome answers the Hello
        keep: list[Lease] = []
        abort: list[Lease] = []
        offered_map = {lease.job_id: lease.attempt for lease in offered}
        for job_id, attempt in offered_map.items():
            (keep if s.leases.get(job_id) == attempt else abort).append(Lease(job_id, attempt))
        disowned: list[Ended] = []
        for job_id, attempt in list(s.leases.items()):
            if attempt != RESERVED and offered_map.get(job_id) != attempt:
                # Assigned, but the worker no longer runs it (it restarted, or the
                # Assign was lost with the old stream).
                del s.leases[job_id]
                disowned.append(
                    Ended(job_id, attempt, LOST, "the worker no longer runs this job",
                          immediate=True, cause="reconnect")
                )
        if disowned:
            st.spawn(until_stored(lambda: self.attempts.end_attempts(disowned), "disowned runs"))
        for lease in st.canceled_among(Lease(j, a) for j, a in s.leases.items()):
            s.send(CancelCmd(lease, "canceled by user"))
        if s.drained:
            s.send(DrainCmd(True))
        st.spawn(st.store.upsert_node(node_id, capabilities, address, st.now_ms()))
        st.freed.add(node_id)
        st.wake_dispatch.set()
        if st.config.heartbeat_timeout_s < st.config.scheduler_interval_s:
            # Its loss deadline may come before the timer's next wake (a sweep
            # walks every worker: not for each of a fleet's connects otherwise).
            st.wake_timers.set()
        return s, keep, abort

    def check_instance(self, node_id: str, instance: str) -> None:
        """A second process under the node's identity while the first is connected
        and heard from is refused: the newer would disown the older's runs (its
        Hello lists none of them), which would run again elsewhere while the older
        process's ffmpeg went on, and the two would take the stream from each other
        in turn. A process that is gone is lost by the timeout; then the newer one
        gets in."""
        s = self.st.session(node_id)
        if not (instance and s.instance and instance != s.instance and s.connected):
            return
        if self.st.clock() - s.last_seen >= self.st.config.heartbeat_timeout_s:
            return
        raise AlreadyExists(
            f"node {s.node_id!r} is already connected from another process "
            f"({s.address or 'unknown address'}): each worker process needs its own "
            "certificate name"
        )

    def disconnect(self, s: NodeSession, generation: int) -> None:
        if s.generation == generation and s.connected:
            s.connected = False
            self.st.wake_timers.set()

    def touch(self, s: NodeSession) -> None:
        s.last_seen = self.st.clock()
        s.last_seen_ms = self.st.now_ms()

    def on_heartbeat(
        self,
        s: NodeSession,
        running: Iterable[Lease],
        seq: int,
        draining: bool = False,
        assign_seq: int = 0,
    ) -> None:
        self.st.metrics.heartbeats.inc()
        if draining != s.draining:
            s.draining = draining
            self.st.freed.add(s.node_id)
            self.st.wake_dispatch.set()
        now = self.st.clock()
        cfg = self.st.config
        if s.stale_contact or now - s.acked_at >= ack_spacing(
            cfg.heartbeat_interval_s, cfg.heartbeat_timeout_s
        ):
            s.acked_at = now
            s.send(HeartbeatAckCmd(seq))
            if s.stale_contact:
                # Sent after the report that set the flag (one stream keeps order),
                # so the answer makes its contact fresh before a later Assign lands;
                # unless it sat in a buffer through a stall of this master: then one
                # more Assign is refused, and the heartbeats after that are new.
                s.stale_contact = False
                self.st.freed.add(s.node_id)
                self.st.wake_dispatch.set()
        listed = list(running)
        self.attempts.check_running(s, listed)
        self._drop_unlisted(s, {lease.job_id for lease in listed}, assign_seq)

    def _drop_unlisted(self, s: NodeSession, listed: set[str], assign_seq: int) -> None:
        """Leases whose Assign the worker had received when it sent this heartbeat,
        but which it does not list: it fenced them or refused them. Ended at once."""
        for job_id in [j for j in s.assign_seq if j not in s.leases]:
            del s.assign_seq[job_id]  # finished: forget its Assign's number
        dropped: list[Ended] = []
        for job_id, attempt in list(s.leases.items()):
            if attempt == RESERVED or job_id in listed or s.assign_seq.get(job_id, 0) > assign_seq:
                continue
            del s.leases[job_id]
            s.assign_seq.pop(job_id, None)
            dropped.append(
                Ended(job_id, attempt, LOST, f"node {s.node_id} no longer holds the lease",
                      immediate=True, cause="dropped")
            )
        if dropped:
            self.st.freed.add(s.node_id)
            self.st.wake_dispatch.set()
            self.st.spawn(until_stored(lambda: self.attempts.end_attempts(dropped), "dropped runs"))

    async def set_drained(self, node_id: str, drained: bool) -> NodeSession:
        s = self.st.nodes.get(node_id)
        if s is None:
            raise NotFound(f"node {node_id!r} not found")
        await self.st.store.set_drained(node_id, drained, self.st.now_ms())
        s.drained = drained
        self.st.freed.add(node_id)
        if s.connected:
            s.send(DrainCmd(drained))
        self.st.wake_dispatch.set()
        log.info("node %s %s by an operator", node_id, "drained" if drained else "undrained")
        return s

    async def run_timers(self) -> None:
        st = self.st
        while True:
            wait = await self.sweep()
            st.wake_timers.clear()
            await wait_event(st.wake_timers, max(0.01, wait))  # a stop's cancel must land

    async def sweep(self) -> float:
        """Loses silent nodes and wakes jobs whose retry backoff is over; returns
        the seconds until the next timer is due. Every node lost in one sweep has
        its jobs re-queued in one commit: after a restart of the whole cluster
        several go at once, and none should wait behind another's write."""
        st = self.st
        timeout = st.config.heartbeat_timeout_s
        now = st.clock()
        lost: list[Ended] = []
        for s in list(st.nodes.values()):
            if (s.leases or s.connected) and now - s.last_seen >= timeout:
                lost += self._lose(s)
        if lost:
            await self.attempts.end_attempts(lost)
        if due := st.due_retries(now):
            await self.attempts.requeue_after_backoff(*due)
        deadlines = [s.last_seen + timeout for s in st.nodes.values() if s.leases or s.connected]
        deadlines += st.retry_deadlines()
        return min([st.config.scheduler_interval_s, *(d - now for d in deadlines)])

    def _lose(self, s: NodeSession) -> list[Ended]:
        """Marks the node lost and takes its leases; returns their attempts to end."""
        log.warning(
            "node %s lost: nothing heard for %.1fs; re-queuing %d jobs",
            s.node_id,
            self.st.clock() - s.last_seen,
            len(s.leases),
        )
        self.st.metrics.nodes_lost.inc()
        if s.connected:
            s.connected = False
            s.outbox.put_nowait(None)  # close its stream
        leases = [(j, a) for j, a in s.leases.items() if a != RESERVED]
        for job_id, _ in leases:
            del s.leases[job_id]
        reason = f"node {s.node_id} lost"
        return [Ended(j, a, LOST, reason, immediate=True, cause="node_lost") for j, a in leases]
