"""Figures driven from this process alone: (a) the echo ceiling, (b) SubmitJob
throughput, (d) submit→Assign latency with in-process simulated workers."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from grpc import aio
from tests.helpers.procs import CpuMeter, Proc
from tests.helpers.simworker import SimWorker, start_fleet, worker_creds, worker_name

from bench.cluster import ensure_workers, start_master, submit_request, wait_leading
from bench.context import BenchRun
from bench.load import closed_loop, percentile
from ffrtmp.v1 import jobs_pb2_grpc

Figures = dict[str, Any]


async def echo(ctx: BenchRun) -> Figures:
    """(a) calls/s of a bare mTLS unary echo: what grpc.aio itself allows here."""
    server = Proc.python("bench.echo", [str(ctx.certs.dir)], ctx.root / "echo.log")
    try:
        m = server.wait_for(r"echo ready port=(\d+)", 60)
        # Bytes the size of a SubmitJob request, so both figures move alike payloads.
        payload = submit_request("echo").SerializeToString()
        async with ctx.certs.client_channel(int(m.group(1))) as ch:
            call: aio.UnaryUnaryMultiCallable[bytes, bytes] = ch.unary_unary("/bench.Echo/Echo")
            meter, mine = CpuMeter(server.pid), CpuMeter(os.getpid())
            meter.start()
            mine.start()
            r = await closed_loop(
                lambda: call(payload), concurrency=ctx.sizes.callers, seconds=ctx.sizes.rpc_seconds
            )
            cpu, client_cpu = meter.stop(), mine.stop()
            # One call at a time: the round trip any latency figure here stands on.
            rtt = []
            for _ in range(ctx.sizes.latency_samples):
                t0 = time.perf_counter()
                await call(payload)
                rtt.append((time.perf_counter() - t0) * 1000)
    finally:
        server.stop()
    return {
        "echo_rps": r.rate,
        "echo_errors": r.errors,
        "echo_server_cpu_pct": cpu,
        "echo_client_cpu_pct": client_cpu,
        "echo_rtt_ms_p50": percentile(rtt, 50),
        "echo_rtt_ms_p99": percentile(rtt, 99),
    }


async def submit(ctx: BenchRun) -> Figures:
    """(b) SubmitJob/s on a master with no workers: validation, group commit, heap."""
    master = start_master(ctx.root, ctx.certs, "submit", db=ctx.db("submit"))
    await wait_leading(ctx.certs, master.port)
    try:
        async with ctx.certs.client_channel(master.port) as ch:
            stub = jobs_pb2_grpc.JobServiceStub(ch)
            meter, mine = CpuMeter(master.pid), CpuMeter(os.getpid())
            spy = ctx.profiler.start(master.pid, "submit")
            meter.start()
            mine.start()
            r = await closed_loop(
                lambda: stub.SubmitJob(submit_request("b")),
                concurrency=ctx.sizes.callers,
                seconds=ctx.sizes.rpc_seconds,
            )
            cpu, client_cpu = meter.stop(), mine.stop()
            ctx.profiler.finish(spy)
    finally:
        master.stop()
    return {
        "submit_rps": r.rate,
        "submit_errors": r.errors,
        "submit_master_cpu_pct": cpu,
        "submit_client_cpu_pct": client_cpu,
        # CPU per call moves less than calls/s when other work shares the cores.
        "submit_master_cpu_ms_per_call": cpu * 10 / r.rate if r.rate else None,
        # The same spawn-to-ready time as (e), over an empty database.
        "start_empty_s": master.ready_s,
    }


async def assign_latency(ctx: BenchRun) -> Figures:
    """(d) From just before SubmitJob is sent to the Assign reaching an idle worker.
    The workers run in this process, so both instants come from one clock."""
    n = ctx.sizes.latency_workers
    ensure_workers(ctx.certs, n)
    master = start_master(ctx.root, ctx.certs, "latency", db=ctx.db("latency"))
    await wait_leading(ctx.certs, master.port)
    assigned: dict[str, float] = {}
    arrived = asyncio.Event()

    def on_assign(job_id: str, at: float) -> None:
        assigned[job_id] = at
        arrived.set()

    workers = [
        SimWorker(worker_name(i), master.target, worker_creds(ctx.certs.dir, worker_name(i)),
                  on_assign=on_assign)
        for i in range(n)
    ]  # fmt: skip
    tasks: list[asyncio.Task[None]] = []
    try:
        async with asyncio.timeout(60):
            tasks = await start_fleet(workers)
        async with ctx.certs.client_channel(master.port) as ch:
            stub = jobs_pb2_grpc.JobServiceStub(ch)

            async def one() -> tuple[float, float]:
                req = submit_request("d")
                t0 = time.perf_counter()
                resp = await stub.SubmitJob(req)
                answered = time.perf_counter()
                # The Assign may well arrive before the SubmitJob answer does.
                while resp.job.id not in assigned:
                    arrived.clear()
                    await asyncio.wait_for(arrived.wait(), 10)
                # Let the worker's Started/Result land, so the next job meets idle workers.
                await asyncio.sleep(0.02)
                return assigned[resp.job.id] - t0, answered - t0

            for _ in range(20):  # warm-up: connection, caches, first-call paths
                await one()
            spy = ctx.profiler.start(master.pid, "latency")
            samples = [await one() for _ in range(ctx.sizes.latency_samples)]
            ctx.profiler.finish(spy)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        master.stop()
    lat = [a * 1000 for a, _ in samples]
    rtt = [b * 1000 for _, b in samples]
    return {
        "assign_latency_ms_p50": percentile(lat, 50),
        "assign_latency_ms_p99": percentile(lat, 99),
        "assign_latency_ms_max": max(lat),
        "submit_rtt_ms_p50": percentile(rtt, 50),
        "submit_rtt_ms_p99": percentile(rtt, 99),
    }
