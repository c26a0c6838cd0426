"""The master's Prometheus metrics, on a registry of its own so several masters
can live in one process (tests). docs/METRICS.md lists every one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Unary calls take milliseconds; streams (WatchJob, Connect) last minutes to days,
# so the top buckets are wide enough to tell them apart from stuck unary calls.
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600, 3600)
# A group commit is one fsync: sub-millisecond on NVMe, tens of ms on slow disks.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# Jobs wait seconds to hours and run seconds to days (live pushes).
WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
RUN_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 7 * 86400)


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
        # Queue depth, running jobs and per-node load are read from the scheduler at
        # scrape time (master/queue_metrics.py), not updated on every event.
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
        self.attempts_lost = Counter(
            "ffrtmp_recovery_attempts_lost",
            "Attempts lost to the infrastructure (worker lost, fenced or no longer holding"
            " the lease), not charged to the job's retries",
            ["cause"],
            registry=r,
        )
        self.stale_leases = Counter(
            "ffrtmp_recovery_stale_leases_refused",
            "Worker messages refused for carrying a stale lease",
            registry=r,
        )
        self.store_batches = Counter("ffrtmp_store_commit_batches", "Group commits", registry=r)
        self.store_commit_seconds = Histogram(
            "ffrtmp_store_commit_seconds",
            "Time to run and commit one group-commit batch",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.store_batch_size = Histogram(
            "ffrtmp_store_commit_batch_size",
            "Writes sharing one group commit",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.store_up = Gauge(
            "ffrtmp_store_up", "1 while the periodic store probe succeeds", registry=r
        )
        self.rpc_seconds = Histogram(
            "ffrtmp_rpc_duration_seconds",
            "Server-side duration of RPCs (whole stream for streaming methods)",
            ["method"],
            buckets=RPC_BUCKETS,
            registry=r,
        )
        self.rpc_handled = Counter(
            "ffrtmp_rpc_handled",
            "RPCs completed, by method and final gRPC status code",
            ["method", "code"],
            registry=r,
        )
        self.job_wait_seconds = Histogram(
            "ffrtmp_job_wait_seconds",
            "Time a job spent QUEUED before it was assigned",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.job_run_seconds = Histogram(
            "ffrtmp_job_run_seconds",
            "Time from assignment to the end of an attempt",
            ["queue", "outcome"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.certificate_expiry = Gauge(
            "ffrtmp_certificate_expiry_seconds",
            "Seconds until a certificate the master uses expires (negative once expired)",
            ["cert"],
            registry=r,
        )
        self.retention_deleted = Counter(
            "ffrtmp_retention_jobs_deleted",
            "Terminal jobs (with their events) deleted by retention",
            registry=r,
        )
