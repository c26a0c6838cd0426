"""Prometheus on a live cluster: RPC, store, job-time and certificate metrics on
the master; per-job ffmpeg gauges and the probes on a worker."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc import aio

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster
from tests.helpers.scrape import get, scrape, value, worker_port

SUBMIT = "/ffrtmp.v1.JobService/SubmitJob"
GET = "/ffrtmp.v1.JobService/GetJob"


async def _run_job(cluster: Cluster, **spec: object) -> common_pb2.Job:
    async with cluster.client() as c:
        resp = await c.submit(common_pb2.JobSpec(scenario="test", **spec))  # type: ignore[arg-type]
        states = [j async for j in c.watch(resp.job.id)]
    return states[-1]


async def test_master_exports_rpc_store_job_and_certificate_metrics(cluster: Cluster) -> None:
    await cluster.wait_nodes(2)
    job = await _run_job(cluster, duration_s=0.5)
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED
    async with cluster.client() as c:
        with pytest.raises(aio.AioRpcError) as info:
            await c.get("no-such-job")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # The status the client saw, after the error interceptor mapped the domain error.
    # grpc sends an aborted call's status before the handler's layers unwind, so the
    # client can hold it a moment before the master has counted it.
    deadline = time.monotonic() + 5
    while True:
        text = scrape(cluster.metrics_port)
        not_found = value(text, "ffrtmp_rpc_handled_total", method=GET, code="NOT_FOUND")
        if not_found or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert (not_found or 0) >= 1
    assert (value(text, "ffrtmp_rpc_handled_total", method=SUBMIT, code="OK") or 0) >= 1
    assert (value(text, "ffrtmp_rpc_duration_seconds_count", method=SUBMIT) or 0) >= 1
    assert (value(text, "ffrtmp_store_commit_seconds_count") or 0) >= 1
    assert (value(text, "ffrtmp_store_commit_batch_size_sum") or 0) >= 1
    assert (value(text, "ffrtmp_store_commit_batches_total") or 0) >= 1
    assert value(text, "ffrtmp_store_up") == 1
    assert (value(text, "ffrtmp_job_wait_seconds_count", queue="default") or 0) >= 1
    assert (
        value(text, "ffrtmp_job_run_seconds_count", queue="default", outcome="succeeded") or 0
    ) >= 1
    assert (value(text, "ffrtmp_jobs_finished_total", outcome="succeeded") or 0) >= 1
    # A fresh certificate: good for about two years, and the CA for longer.
    master_left = value(text, "ffrtmp_certificate_expiry_seconds", cert="master")
    ca_left = value(text, "ffrtmp_certificate_expiry_seconds", cert="ca")
    assert master_left is not None and master_left > 300 * 86400
    assert ca_left is not None and ca_left >= master_left - 60


async def test_worker_exports_per_job_ffmpeg_gauges_while_the_job_runs(cluster: Cluster) -> None:
    await cluster.wait_nodes(2)
    ports = {name: worker_port(proc) for name, proc in cluster.workers.items()}
    async with cluster.client() as c:
        # -re paces a live job at real time, so it reports progress for seconds.
        spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=5, output="paced.flv")
        resp = await c.submit(spec)
        job_id = resp.job.id
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            for port in ports.values():
                text = scrape(port)
                for name in ("fps", "speed", "bitrate_bps"):
                    v = value(text, f"ffrtmp_worker_job_{name}", job_id=job_id)
                    if v is not None:
                        seen[name] = v
            await asyncio.sleep(0.2)
        assert {"fps", "speed"} <= set(seen), seen
        assert any(value(scrape(p), "ffrtmp_worker_jobs_running") == 1 for p in ports.values())
        states = [j.state async for j in c.watch(job_id)]
    assert states[-1] == common_pb2.JOB_STATE_SUCCEEDED
    # The job's series go when the job ends.
    for port in ports.values():
        assert value(scrape(port), "ffrtmp_worker_job_fps", job_id=job_id) is None


def test_worker_probes(cluster: Cluster) -> None:
    for proc in cluster.workers.values():
        port = worker_port(proc)
        assert get(port, "/healthz") == (200, "ok\n")
        deadline = time.monotonic() + 20
        while get(port, "/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert get(port, "/readyz") == (200, "ready\n")
        assert get(port, "/nope")[0] == 404
        text = scrape(port)
        assert value(text, "ffrtmp_worker_connected") == 1
        assert value(text, "ffrtmp_worker_draining") == 0
