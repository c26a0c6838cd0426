"""Figures with simulated workers in their own processes, or none: (c) the whole
job lifecycle, (e) a restart over a deep backlog, (f) the idle cost of 10,000 workers."""

from __future__ import annotations

import asyncio
import compileall
import time
from collections.abc import Sequence
from functools import partial
from itertools import pairwise
from pathlib import Path

from tests.helpers.procs import CpuMeter, Proc, cpu_seconds, peak_rss_mib, rss_mib

import ffrtmp
from bench.cluster import (
    Master,
    Spy,
    allocator,
    ensure_workers,
    start_master,
    submit_request,
    wait_leading,
)
from bench.context import BenchRun
from bench.load import closed_loop
from bench.rpc import Figures
from bench.seed import seed
from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

UNFINISHED = [
    common_pb2.JOB_STATE_QUEUED,
    common_pb2.JOB_STATE_ASSIGNED,
    common_pb2.JOB_STATE_RUNNING,
    common_pb2.JOB_STATE_PAUSED,
    common_pb2.JOB_STATE_RETRY_WAIT,
]
UNSUCCESSFUL = [common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELED]


# Simulated workers per client process: the clients' side of 10,000 TLS streams
# spread over both cores rather than held by one or two processes (with two of
# 5,000, a run stalled past 8,000 streams; see docs/PERFORMANCE.md, (f)).
PER_PROCESS = 2_000


def spawn_workers(ctx: BenchRun, master: Master, total: int, name: str) -> list[Proc]:
    """`total` simulated workers, each with its own channel, split evenly over
    processes of at most PER_PROCESS (at least two)."""
    ensure_workers(ctx.certs, total)
    return spawn_sims(ctx.certs.dir, master.target, total, ctx.root, name, min_procs=2)


def spawn_sims(
    certs: Path, target: str, total: int, root: Path, name: str, *, min_procs: int
) -> list[Proc]:
    """`bench.simworkers` processes for `total` workers whose certificates exist."""
    n = max(min_procs, -(-total // PER_PROCESS))
    bounds = [total * i // n for i in range(n + 1)]
    procs = []
    for i, (first, end) in enumerate(pairwise(bounds)):
        args = ["--target", target, "--certs", str(certs)]
        args += ["--first", str(first), "--count", str(end - first)]
        procs.append(Proc.python("bench.simworkers", args, root / f"{name}-sim{i}.log"))
    return procs


async def _wait_connected(procs: list[Proc], within_s: float) -> int:
    """How many streams had to be opened again before their Welcome."""
    retried = 0
    # Blocking waits on reader threads; off the loop, which has nothing else to do.
    for p in procs:
        m = await asyncio.to_thread(p.wait_for, r"simworkers connected .*retried=(\d+)", within_s)
        retried += int(m.group(1))
    return retried


async def _count(
    stub: jobs_pb2_grpc.JobServiceAsyncStub, states: Sequence[common_pb2.JobState.ValueType]
) -> int:
    """0 or 1: whether any job is in `states` (one row is enough to know)."""
    resp = await stub.ListJobs(jobs_pb2.ListJobsRequest(states=states, page_size=1))
    return len(resp.jobs)


async def lifecycle(ctx: BenchRun) -> Figures:
    """(c) Jobs/s from the first SubmitJob until every job is SUCCEEDED, with sim
    workers that finish each run the moment it is assigned."""
    s = ctx.sizes
    master = start_master(ctx.root, ctx.certs, "lifecycle", db=ctx.db("lifecycle"))
    await wait_leading(ctx.certs, master.port)
    sims = spawn_workers(ctx, master, s.lifecycle_workers, "lifecycle")
    try:
        await _wait_connected(sims, 120)
        async with ctx.certs.client_channel(master.port) as ch:
            stub = jobs_pb2_grpc.JobServiceStub(ch)
            meter = CpuMeter(master.pid)
            spy = ctx.profiler.start(master.pid, "lifecycle")
            meter.start()
            t0 = time.perf_counter()
            r = await closed_loop(
                lambda: stub.SubmitJob(submit_request("c")),
                concurrency=s.callers,
                total=s.lifecycle_jobs,
                warmup=0,
            )
            submitted = time.perf_counter()
            deadline = submitted + 600
            while await _count(stub, UNFINISHED):
                if time.perf_counter() > deadline:
                    raise RuntimeError("jobs still unfinished after 10 minutes")
                await asyncio.sleep(0.05)
            done = time.perf_counter()
            cpu = meter.stop()
            ctx.profiler.finish(spy)
            failed = await _count(stub, UNSUCCESSFUL)
    finally:
        for p in sims:
            p.stop()
        master.stop()
    if r.errors or failed:
        raise RuntimeError(f"{r.errors} submits failed; failed or canceled jobs: {failed}")
    return {
        "lifecycle_jobs_per_s": r.calls / (done - t0),
        "lifecycle_jobs": r.calls,
        "lifecycle_workers": s.lifecycle_workers,
        "lifecycle_submit_phase_s": submitted - t0,
        "lifecycle_master_cpu_pct": cpu,
        "lifecycle_master_cpu_ms_per_job": cpu * 10 * (done - t0) / r.calls,
    }


async def restart(ctx: BenchRun) -> Figures:
    """(e) Spawn-to-ready time, and RSS once ready, of a master whose database
    holds a deep backlog of QUEUED jobs."""
    n = ctx.sizes.restart_jobs
    db = ctx.root / "restart.db"
    seed_s = await asyncio.to_thread(seed, db, n)
    size_mib = sum(p.stat().st_size for p in ctx.root.glob("restart.db*")) / 2**20
    spies: list[Spy] = []

    def attach(pid: int) -> None:
        spies.append(ctx.profiler.start(pid, "restart"))

    # What a restart costs, not a first import: an installed master has its
    # bytecode, but PYTHONDONTWRITEBYTECODE (set here) would compile every module
    # of ours at each start (16 % of the samples of a restart).
    for package in ffrtmp.__path__:  # a namespace package: no __file__
        await asyncio.to_thread(compileall.compile_dir, package, quiet=1)
    start = partial(start_master, ctx.root, ctx.certs, "restart", db=db, timeout=600)
    master = await asyncio.to_thread(start, on_spawn=attach)
    try:
        # CPU says more than the wall time on a shared machine: it does not count
        # the time spent waiting for a core.
        cpu = cpu_seconds(master.pid)
        rss = master.rss_mib()
        await asyncio.sleep(1.0)  # what it settles at, once start-up garbage is gone
        settled, peak = master.rss_mib(), peak_rss_mib(master.pid)
    finally:
        ctx.profiler.finish(spies[0] if spies else None)
        master.stop()
    return {
        "restart_1m_s": master.ready_s,
        "restart_1m_cpu_s": cpu,
        "restart_1m_rss_mib": max(rss, settled),
        "restart_peak_rss_mib": peak,
        "restart_jobs": n,
        "restart_seed_s": seed_s,
        "restart_db_mib": size_mib,
    }


async def idle_fleet(ctx: BenchRun) -> Figures:
    """(f) The master's CPU share and RSS while a large fleet of idle workers
    heartbeats every 5 s."""
    s = ctx.sizes
    await asyncio.to_thread(ensure_workers, ctx.certs, s.fleet_workers)
    master = start_master(ctx.root, ctx.certs, "fleet", "--heartbeat-interval", "5s")
    t0 = time.perf_counter()
    sims = spawn_workers(ctx, master, s.fleet_workers, "fleet")
    try:
        retried = await _wait_connected(sims, 900)
        connect_s = time.perf_counter() - t0
        # Past the burst of connects: the Welcome-driven heartbeats settle into step.
        await asyncio.sleep(2.0)
        meter = CpuMeter(master.pid)
        sim_cpu0 = sum(cpu_seconds(p.pid) for p in sims)
        spy = ctx.profiler.start(master.pid, "fleet")
        meter.start()
        await asyncio.sleep(s.fleet_seconds)
        cpu = meter.stop()
        sim_cpu = 100 * (sum(cpu_seconds(p.pid) for p in sims) - sim_cpu0) / s.fleet_seconds
        ctx.profiler.finish(spy)
        rss = rss_mib(master.pid)
        for p in sims:
            if p.popen.poll() is not None:
                raise RuntimeError("a simworkers process died during the measurement")
    finally:
        for p in sims:
            p.stop()
        master.stop()
    return {
        "fleet_cpu_pct": cpu,
        "fleet_rss_mib": rss,
        "fleet_workers": s.fleet_workers,
        "fleet_connect_s": connect_s,
        "fleet_simworkers_cpu_pct": sim_cpu,
        "fleet_allocator": allocator(),
        "fleet_reconnects": retried,  # streams cut before their Welcome, opened again
    }
