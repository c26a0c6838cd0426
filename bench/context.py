"""Sizes of a run and what every figure is handed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.helpers.certs import Certs
from tests.helpers.postgres import PgServer

from bench.cluster import Profiler


@dataclass(frozen=True, slots=True)
class Sizes:
    smoke: bool
    rpc_seconds: float  # (a) and (b), each
    callers: int  # concurrent unary callers in (a), (b) and the submitters of (c)
    lifecycle_jobs: int
    lifecycle_workers: int
    latency_samples: int
    latency_workers: int
    restart_jobs: int
    fleet_workers: int
    fleet_seconds: float
    blob_mib: int  # (g): the file moved each way


FULL = Sizes(
    smoke=False,
    rpc_seconds=10,
    callers=64,
    lifecycle_jobs=10_000,
    lifecycle_workers=200,
    latency_samples=500,
    latency_workers=4,
    restart_jobs=1_000_000,
    fleet_workers=10_000,
    fleet_seconds=30,
    blob_mib=256,
)

# Proves every part works, in well under two minutes; the figures mean little.
SMOKE = Sizes(
    smoke=True,
    rpc_seconds=2,
    callers=64,
    lifecycle_jobs=300,
    lifecycle_workers=20,
    latency_samples=50,
    latency_workers=4,
    restart_jobs=20_000,
    fleet_workers=50,
    fleet_seconds=5,
    blob_mib=4,
)


@dataclass(frozen=True, slots=True)
class BenchRun:
    root: Path  # a temporary directory for databases and logs
    certs: Certs
    sizes: Sizes
    profiler: Profiler
    pg: PgServer | None = None  # --postgres: masters store in PostgreSQL

    def db(self, name: str) -> Path | str:
        """A fresh store for one master: a SQLite file, or a new PostgreSQL database."""
        if self.pg is None:
            return self.root / f"{name}.db"
        return self.pg.dsn(self.pg.create_database("template0"))
