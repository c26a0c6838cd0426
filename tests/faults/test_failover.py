"""Failover with real processes: masters on one real PostgreSQL, workers given
every master's address, a stream of submits and live (real-time) jobs, and an
independent /proc watcher of ffmpeg. The leader is SIGKILLed, frozen (SIGSTOP)
for longer than its lease then thawed, cut from the database, and the database
itself restarted. After all of it: every acknowledged job ended exactly once,
no job's ffmpeg ran on two workers (or two attempts) at once, the live jobs kept
their first attempt, and a thawed or cut-off leader stepped down by itself.

Printed: the time from the leader's death to the first assignment by the new
leader, for each failover (target: at most the lease plus 2 s).

The default suite runs one short seeded case (`test_failover_short`); the whole
storm is `make ha` (FFRTMP_HA=1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ffrtmp.client import Client
from ffrtmp.v1 import common_pb2
from tests.chaos.seen import Seen
from tests.helpers.ha import HaCluster
from tests.helpers.jobs import TERMINAL, event_states
from tests.helpers.postgres import PgServer
from tests.helpers.procs import Proc

pytestmark = pytest.mark.media
SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED
ASSIGNED = common_pb2.JOB_STATE_ASSIGNED
STORM = os.environ.get("FFRTMP_HA") == "1"
# The target is the lease plus 2 s (printed, and in the docs); the bound asserted is
# generous, for a shared and busy test host: this is a check that a failover happens
# in about one lease, not a benchmark.
SLACK_S = 5.0


@pytest.fixture
def ha(tmp_path: Path, postgres: PgServer, pg_dsn: str) -> Iterator[HaCluster]:
    cluster = HaCluster(tmp_path, postgres, pg_dsn)
    try:
        yield cluster
    finally:
        for proc in cluster.masters.values():  # a frozen master cannot stop
            proc.signal(signal.SIGCONT)
        if not postgres.running:
            postgres.start()
        cluster.stop()


def _spec(rid: str, seconds: float, live: bool = False) -> common_pb2.JobSpec:
    return common_pb2.JobSpec(
        scenario="test", live=live, duration_s=seconds, output=f"chaos/{rid}.mp4"
    )


@dataclass
class Load:
    """Submits with request ids; a submit is acknowledged once an answer came back."""

    ha: HaCluster
    seen: Seen
    acked: dict[str, str] = field(default_factory=dict)  # request id -> job id
    live: list[str] = field(default_factory=list)

    _client: Client | None = None

    @property
    def c(self) -> Client:
        """One client for the run: it follows the leader and remembers it."""
        if self._client is None:
            self._client = self.ha.client(timeout=3.0)
        return self._client

    async def submit(self, rid: str, spec: common_pb2.JobSpec) -> str:
        while True:  # the same request id until it is answered: one job however often
            try:
                job = (await self.c.submit(spec, request_id=rid)).job
            except Exception:
                await asyncio.sleep(0.2)
                continue
            self.acked[rid] = job.id
            self.seen.rid_to_job[rid] = job.id
            return job.id

    async def stream(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await self.submit(f"s{n}", _spec(f"s{n}", 0.5 + n % 3 * 0.5))
            await asyncio.sleep(0.4)

    async def jobs(self) -> list[common_pb2.Job]:
        return [await self.c.get(job_id) for job_id in list(self.acked.values())]


async def _until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not met in {timeout:.0f}s: {what}"
        await asyncio.sleep(0.25)


async def failover(ha: HaCluster, load: Load, kind: str, n: int) -> float:
    """One fault of the leader (or the database); returns the seconds from it to
    the first assignment the next leader made."""
    name, term = await ha.leader()
    proc: Proc = ha.masters[name]
    at = time.time()
    if kind == "kill":
        proc.kill()
    elif kind == "stop":
        proc.signal(signal.SIGSTOP)
    elif kind == "cut":
        ha.proxies[name].pause()
    elif kind == "db":
        await asyncio.to_thread(ha.pg.restart, "immediate")
    probe = await load.submit(f"probe{n}", _spec(f"probe{n}", 0.5))
    new, new_term = await ha.leader(not_=None if kind == "db" else name)
    # A database back within the leader's trust: it may renew and keep its term.
    assert new_term > term or (kind == "db" and new_term == term), (kind, term, new_term)

    async def assigned() -> bool:
        return any(e.to_state == ASSIGNED for e in (await load.c.get(probe)).events)

    await _until(assigned, 60, f"probe{n} assigned")
    # The first assignment after the fault, of any job (the probe's submit waits out
    # the client's backoff; jobs queued at the fault need no submit).
    first = min(
        e.at_unix_ms / 1000
        for job in await load.jobs()
        for e in job.events
        if e.to_state == ASSIGNED and e.at_unix_ms / 1000 > at
    )
    if kind == "stop":
        await asyncio.sleep(max(0.0, at + 2 * ha.lease_s - time.time()))
        proc.signal(signal.SIGCONT)
        # Thawed, it finds its trust long gone and steps down by itself.
        proc.wait_for(r"stepping down as leader .*lease not renewed in time", 30)
    elif kind == "cut":
        proc.wait_for(r"stepping down as leader", 30)
        ha.proxies[name].resume()
    elif kind == "kill":
        ha.start_master(name)
    took = first - at
    print(f"failover {n} ({kind}): leader {name} -> {new} term {term}->{new_term};"
          f" first assignment by the new leader {took:.2f}s after the fault"
          f" (lease {ha.lease_s:g}s)")
    return took


async def run_failovers(ha: HaCluster, tmp_path: Path, kinds: list[str], workers: int,
                        live: int, live_s: float, masters: int = 3) -> list[float]:
    for name in "abc"[:masters]:
        ha.start_master(name)
    await ha.leader()
    for i in range(workers):
        # Free slots at every fault: the first assignment then measures the failover,
        # not when a running job happens to end.
        ha.start_worker(f"w{i}", slots=3)
    seen = Seen(tmp_path)
    load = Load(ha, seen)
    figures: list[float] = []
    try:
        await _wait_nodes(load.c, workers)
        for i in range(live):
            load.live.append(await load.submit(f"live{i}", _spec(f"live{i}", live_s, live=True)))
        stop = asyncio.Event()
        streaming = asyncio.create_task(load.stream(stop))

        async def live_running() -> bool:
            jobs = await load.jobs()
            return all(j.state == common_pb2.JOB_STATE_RUNNING for j in jobs if j.id in load.live)

        await _until(live_running, 60, "live jobs running")
        for n, kind in enumerate(kinds, 1):
            await asyncio.sleep(1.0)
            figures.append(await failover(ha, load, kind, n))
        stop.set()
        await streaming

        async def all_ended() -> bool:
            return all(j.state in TERMINAL for j in await load.jobs())

        await _until(all_ended, live_s + 120, "every acknowledged job ended")
        jobs = await load.jobs()
    finally:
        summary = await asyncio.to_thread(seen.stop)
    listed = await load.c.list_all(limit=100_000)
    await load.c.close()
    assert len(listed) == len(load.acked)  # a retried submit made no second job
    for job in jobs:
        assert job.state == SUCCEEDED, (job.id, job.error, [tuple(e.reason for e in job.events)])
        assert event_states(job).count(SUCCEEDED) == 1
    for job in (j for j in jobs if j.id in load.live):
        assert job.attempt == 1, (job.id, [e.reason for e in job.events])  # never restarted
    overlaps = [e for e in summary.get("episodes", []) if not e["after_freeze"]]
    assert overlaps == [], overlaps
    assert summary.get("jobs_seen", 0) >= len(jobs) // 2, summary.get("jobs_seen")
    return figures


async def _wait_nodes(c: object, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            nodes = await c.list_nodes()  # type: ignore[attr-defined]
            if sum(1 for x in nodes if x.state == 1) >= n:
                return
        assert time.monotonic() < deadline, f"{n} workers not online"
        await asyncio.sleep(0.2)


async def test_failover_short(ha: HaCluster, tmp_path: Path) -> None:
    """The default suite's case: two masters, one worker, one SIGKILL of the leader."""
    figures = await run_failovers(ha, tmp_path, ["kill"], workers=1, live=1, live_s=8, masters=2)
    assert figures[0] <= ha.lease_s + SLACK_S, figures


@pytest.mark.timeout(1500)
@pytest.mark.skipif(not STORM, reason="the full storm runs under `make ha` (FFRTMP_HA=1)")
async def test_failover_storm(ha: HaCluster, tmp_path: Path) -> None:
    kinds = ["kill", "kill", "stop", "kill", "cut", "db"]
    started = time.monotonic()
    figures = await run_failovers(ha, tmp_path, kinds, workers=3, live=3, live_s=60)
    print(f"storm: {len(kinds)} failovers in {time.monotonic() - started:.0f}s;"
          f" time to first assignment {min(figures):.2f}-{max(figures):.2f}s"
          f" (lease {ha.lease_s:g}s)")
    for kind, took in zip(kinds, figures, strict=True):
        if kind != "db":  # a database restart adds its own recovery time
            assert took <= ha.lease_s + SLACK_S, (kind, took)
