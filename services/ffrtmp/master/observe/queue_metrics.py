"""Gauges read from the scheduler when Prometheus scrapes, so the hot path
(submit, dispatch, results) never updates them: the same figures as
GetQueueStats."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ffrtmp.master.scheduling.scheduler import Scheduler


class QueueCollector(Collector):
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def use(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[GaugeMetricFamily]:
        st = self.scheduler.stats()
        depth = GaugeMetricFamily(
            "ffrtmp_queue_depth",
            "Jobs waiting, by queue and priority",
            labels=["queue", "priority"],
        )
        for (queue, priority), n in sorted(st.depth.items()):
            depth.add_metric([queue, priority], n)
        yield depth
        oldest = GaugeMetricFamily(
            "ffrtmp_queue_oldest_wait_seconds",
            "How long the oldest queued job of a queue has waited",
            labels=["queue"],
        )
        for queue, secs in sorted(st.oldest_wait_s.items()):
            oldest.add_metric([queue], secs)
        yield oldest
        yield GaugeMetricFamily(
            "ffrtmp_jobs_retry_waiting", "Jobs waiting out a retry backoff", value=st.retry_waiting
        )
        yield GaugeMetricFamily("ffrtmp_jobs_running", "Jobs held by workers", value=st.running)
        blocked = GaugeMetricFamily(
            "ffrtmp_queue_unrunnable", "Queued jobs that no connected worker can run"
        )
        blocked.add_metric([], sum(b[1] for b in st.blocked))
        yield blocked
        connected = sum(1 for node in st.nodes if node.connected)
        yield GaugeMetricFamily("ffrtmp_workers_connected", "Worker streams open", value=connected)
        running = GaugeMetricFamily(
            "ffrtmp_node_running_jobs", "Jobs running on a node", labels=["node"]
        )
        slots = GaugeMetricFamily("ffrtmp_node_slots", "Slots a node offers", labels=["node"])
        up = GaugeMetricFamily(
            "ffrtmp_node_accepting",
            "1 when a node is connected and takes new jobs",
            labels=["node"],
        )
        for node in st.nodes:
            running.add_metric([node.node_id], sum(1 for a in node.leases.values() if a > 0))
            slots.add_metric([node.node_id], node.slots)
            up.add_metric([node.node_id], 1 if node.accepting else 0)
        yield running
        yield slots
        yield up
