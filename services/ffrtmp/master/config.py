"""The master's configuration, built once at the edge from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.core.election import DEFAULT_LEASE_S, DEFAULT_RENEW_S
from ffrtmp.core.retry import Backoff
from ffrtmp.core.scenarios import BUILTIN, Scenario
from ffrtmp.core.timings import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S
from ffrtmp.master.storage.blobs.config import BlobConfig

STOP_GRACE_S = 10.0  # the unit's TimeoutStopSec is set from it (docs/deploy)


@dataclass(frozen=True, slots=True)
class MasterConfig:
    listen: str = "0.0.0.0:50051"
    metrics_port: int = 9090
    metrics_host: str = "0.0.0.0"
    db: str | Path = "ffrtmp.db"  # a SQLite file, or sqlite:PATH
    ca: Path = Path("certs/ca.crt")
    cert: Path = Path("certs/master.crt")
    key: Path = Path("certs/master.key")
    max_retries: int = 3
    max_lost_attempts: int = 10  # attempts lost to the infrastructure, apart from max_retries
    scheduler_interval_s: float = 10.0
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S
    stall_timeout_s: float = 60.0
    aging_interval_s: float = 0.0  # 0: off
    scenarios: dict[str, Scenario] = field(default_factory=lambda: dict(BUILTIN))
    require_api_key: bool = False
    rate_limit: float = 0.0  # requests per second per identity; 0: off
    rate_burst: float = 50.0
    max_watches: int = 16  # concurrent WatchJob streams per identity
    deny_list: Path | None = None  # certificate serials refused, one hex number a line
    backoff: Backoff = field(default_factory=Backoff)
    sqlite_synchronous: str = "FULL"
    # Plaintext grpc.health.v1-only port for probes without mTLS; 0 = off.
    health_port: int = 0
    health_host: str = "127.0.0.1"
    # Terminal jobs older than this are deleted; 0 keeps them forever.
    retention_s: float = 7 * 86400.0
    retention_interval_s: float = 3600.0
    trace_exporter: str = "none"
    # On SIGTERM, calls get this long to finish; the process exits within it + 1.5 s.
    stop_grace_s: float = STOP_GRACE_S
    blobs: BlobConfig = field(default_factory=BlobConfig)
    # Several masters on PostgreSQL: the leader's lease, how often it renews, and
    # the address clients and workers are sent to when this master leads.
    lease_s: float = DEFAULT_LEASE_S
    lease_renew_s: float = DEFAULT_RENEW_S
    advertise: str = ""  # "" : this host's name and the listen port
