"""The election's metrics (several masters on PostgreSQL), on the master's registry.
A single SQLite master reports itself leader at term 0."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# A renew is one small UPDATE: milliseconds; past a few seconds the lease is at risk.
RENEW_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
TAKEOVER_BUCKETS = (0.5, 1, 2, 5, 10, 12, 15, 20, 30, 60, 120)


class LeaderMetrics:
    def __init__(self, r: CollectorRegistry) -> None:
        self.is_leader = Gauge(
            "ffrtmp_master_is_leader", "1 while this master holds the lease and acts on it",
            registry=r,
        )
        self.term = Gauge(
            "ffrtmp_master_leader_term", "The term of the lease this master last held",
            registry=r,
        )
        self.renew_seconds = Histogram(
            "ffrtmp_master_lease_renew_seconds", "Time a successful lease renew took",
            buckets=RENEW_BUCKETS, registry=r,
        )
        self.renew_failures = Counter(
            "ffrtmp_master_lease_renew_failures",
            "Lease renews that failed or timed out (the leader retries until its trust ends)",
            registry=r,
        )
        self.step_downs = Counter(
            "ffrtmp_master_step_downs",
            "Times this master stopped leading (lease lost, not renewed in time, or stopping)",
            ["reason"], registry=r,
        )
        self.takeovers = Counter(
            "ffrtmp_master_takeovers", "Times this master became leader", registry=r
        )
        self.takeover_seconds = Histogram(
            "ffrtmp_master_takeover_seconds",
            "From the previous leader's last sign of life seen by this standby (or its start)"
            " to this master leading",
            buckets=TAKEOVER_BUCKETS, registry=r,
        )
