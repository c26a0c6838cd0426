"""The master's Prometheus metrics, on a registry of its own so several masters
can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class MasterMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.jobs_submitted = Counter(
            "ffrtmp_jobs_submitted", "Jobs accepted by SubmitJob", ["queue", "priority"], registry=r
        )
        self.jobs_finished = Counter(
            "ffrtmp_jobs_finished",
            "Jobs that reached a terminal state",
            ["queue", "outcome"],
            registry=r,
        )
        self.queue_depth = Gauge("ffrtmp_queue_depth", "Jobs waiting in the queue", registry=r)
        self.workers_connected = Gauge(
            "ffrtmp_workers_connected", "Worker streams open", registry=r
        )
        self.jobs_running = Gauge("ffrtmp_jobs_running", "Jobs held by workers", registry=r)
        self.heartbeats = Counter("ffrtmp_worker_heartbeats", "Heartbeats received", registry=r)
        self.nodes_lost = Counter(
            "ffrtmp_recovery_nodes_lost",
            "Workers declared lost after the heartbeat timeout",
            registry=r,
        )
        self.jobs_reassigned = Counter(
            "ffrtmp_recovery_jobs_reassigned",
            "Jobs re-queued after their worker was lost",
            registry=r,
        )
        self.retries_scheduled = Counter(
            "ffrtmp_recovery_retries_scheduled",
            "Retries scheduled after transient failures",
            registry=r,
        )
        self.stale_leases = Counter(
            "ffrtmp_recovery_stale_leases_refused",
            "Worker messages refused for carrying a stale lease",
            registry=r,
        )
        self.store_batches = Counter("ffrtmp_store_commit_batches", "Group commits", registry=r)
