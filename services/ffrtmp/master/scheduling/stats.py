"""The queue's figures, read from the scheduler's state: the same for GetQueueStats and
for the gauges Prometheus scrapes."""

from __future__ import annotations

from dataclasses import dataclass

from ffrtmp.core.matching import describe_missing
from ffrtmp.master.scheduling.sessions import NodeSession
from ffrtmp.master.scheduling.state import State


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: dict[tuple[str, str], int]  # (queue, priority) -> queued jobs
    oldest_wait_s: dict[str, float]  # queue -> how long its oldest job has waited
    retry_waiting: int
    running: int
    nodes: list[NodeSession]
    blocked: list[tuple[frozenset[str], int, str]]  # needs no worker offers, count, why


def queue_stats(st: State) -> QueueStats:
    """GetQueueStats and the scrape-time gauges: depth, waits, and what no worker offers."""
    now = st.now_ms()
    offered = [s.offers for s in st.nodes.values() if s.accepting]
    blocked = [
        (needs, n, describe_missing(needs, offered, st.draining_offers()))
        for needs, n in st.pending.needs_sets().items()
        if not any(needs <= o for o in offered)
    ]
    return QueueStats(
        depth=st.pending.depth(),
        oldest_wait_s={q: max(0.0, (now - t) / 1000) for q, t in st.pending.oldest_ms().items()},
        retry_waiting=st.retry_waiting,
        running=sum(1 for s in st.nodes.values() for a in s.leases.values() if a > 0),
        nodes=sorted(st.nodes.values(), key=lambda s: s.node_id),
        blocked=blocked,
    )
