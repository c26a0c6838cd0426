"""Capability matching, slots, drains and queue stats on a real cluster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2, nodes_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import TERMINAL, wait_job

RUNNING = common_pb2.JOB_STATE_RUNNING
SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master()
        yield c
    finally:
        c.stop()


def _rt(seconds: float, name: str, **req: object) -> common_pb2.JobSpec:
    spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=seconds, output=f"{name}.mp4")
    if req:
        spec.requirements.CopyFrom(common_pb2.Requirements(**req))  # type: ignore[arg-type]
    return spec


async def test_gpu_job_waits_with_a_reason_and_blocks_no_cpu_job(cluster: Cluster) -> None:
    cluster.start_worker("cpu")
    async with cluster.client() as c:
        gpu = (await c.submit(common_pb2.JobSpec(
            scenario="test", queue="live", priority="high",
            requirements=common_pb2.Requirements(gpu=True, encoders=["h264_nvenc"])))).job
        cpu = [(await c.submit(_rt(0.5, f"cpu{i}"))).job for i in range(3)]
        for job in cpu:
            await wait_job(cluster, job.id, lambda j: j.state == SUCCEEDED)
        waiting = await c.get(gpu.id)
        assert waiting.state == common_pb2.JOB_STATE_QUEUED
        assert "no connected worker offers" in waiting.pending_reason
        assert "gpu" in waiting.pending_reason and "h264_nvenc" in waiting.pending_reason
        stats = await c.queue_stats()
    assert stats.queued == 1
    [blocked] = stats.blocked
    assert blocked.count == 1 and "gpu" in blocked.needs
    r = cluster.cli("-o", "json", "queue", "stats")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["queued"] == 1 and data["blocked"][0]["count"] == 1
    assert data["depths"] == [{"queue": "live", "priority": "high", "depth": 1}]
    assert data["nodes"][0]["id"] == "cpu" and data["nodes"][0]["slots"] == 1


async def test_label_requirement_picks_the_labelled_worker(cluster: Cluster) -> None:
    cluster.start_worker("us", "--labels", "zone=us")
    cluster.start_worker("eu", "--labels", "zone=eu,tier=gold")
    await cluster.wait_nodes(2)
    async with cluster.client() as c:
        jobs = [(await c.submit(_rt(0.3, f"eu{i}", labels={"zone": "eu"}))).job
                for i in range(3)]
    for job in jobs:
        done = await wait_job(cluster, job.id, lambda j: j.state in TERMINAL)
        assert (done.state, done.node_id) == (SUCCEEDED, "eu")


async def test_master_never_assigns_more_than_the_slots(cluster: Cluster) -> None:
    cluster.start_worker("big", slots=2)
    async with cluster.client() as c:
        ids = [(await c.submit(_rt(2, f"s{i}"))).job.id for i in range(5)]
        peak = 0
        for _ in range(60):
            node = await c.get_node("big")
            peak = max(peak, len(node.running_job_ids))
            running = [j for j in await c.list_all() if j.state == RUNNING]
            assert len(running) <= 2
            states = [(await c.get(i)).state for i in ids]
            if all(s in TERMINAL for s in states):
                break
            await asyncio.sleep(0.2)
    assert peak == 2
    for i in ids:
        assert (await wait_job(cluster, i, lambda j: j.state in TERMINAL)).state == SUCCEEDED


async def test_drain_finishes_running_jobs_and_takes_no_new_ones(cluster: Cluster) -> None:
    cluster.start_worker("a")
    async with cluster.client() as c:
        running = (await c.submit(_rt(3, "before"))).job
        await wait_job(cluster, running.id, lambda j: j.state == RUNNING)
        r = cluster.cli("-o", "json", "nodes", "drain", "a")
        assert r.returncode == 0, r.stderr
        node = json.loads(r.stdout)
        assert node["state"] == "DRAINING" and node["drained"] is True
        later = (await c.submit(_rt(0.5, "later"))).job
        done = await wait_job(cluster, running.id, lambda j: j.state in TERMINAL)
        assert done.state == SUCCEEDED  # the running job finished
        await asyncio.sleep(1.5)
        assert (await c.get(later.id)).state == common_pb2.JOB_STATE_QUEUED
        listed = {n.id: n for n in await c.list_nodes()}
        assert listed["a"].state == nodes_pb2.NODE_STATE_DRAINING
    # A drain survives a master restart.
    port = cluster.port
    cluster.master.stop()  # type: ignore[union-attr]
    cluster.start_master(port=port)
    await asyncio.sleep(2)
    async with cluster.client() as c:
        assert (await c.get_node("a")).drained
        assert (await c.get(later.id)).state == common_pb2.JOB_STATE_QUEUED
    r = cluster.cli("nodes", "undrain", "a")
    assert r.returncode == 0, r.stderr
    done = await wait_job(cluster, later.id, lambda j: j.state in TERMINAL)
    assert (done.state, done.node_id) == (SUCCEEDED, "a")
    r = cluster.cli("nodes", "drain", "nope")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
