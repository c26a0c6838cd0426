"""Blob garbage collection and limits on the local backend: the blobs of deleted
jobs, inputs nobody refers to, unfinished uploads."""

from __future__ import annotations

import time
from pathlib import Path

from ffrtmp.client.transfer import Transfer
from ffrtmp.v1 import blobs_pb2, blobs_pb2_grpc, common_pb2
from tests.helpers.blobs import blob_master, random_file

DAY = 86400.0


async def test_sweep_removes_what_no_job_needs(tmp_path: Path) -> None:
    used, _ = random_file(tmp_path / "used", 2000, seed=1)
    unused, _ = random_file(tmp_path / "unused", 2000, seed=2)
    out, _ = random_file(tmp_path / "out", 3000, seed=3)
    async with blob_master(tmp_path) as bm, bm.client("alice", "submitter") as alice:
        used_ref = await alice.transfer().upload(used)
        unused_ref = await alice.transfer().upload(unused)
        spec = common_pb2.JobSpec(scenario="test", input=f"blob:sha256:{used_ref.sha256}")
        job = (await alice.submit(spec)).job
        bm.master.blob_access.authorize_worker = lambda *a: True
        async with bm.worker_channel("w1") as ch:
            for job_id in (job.id, "deletedjob"):
                await Transfer(ch, lease=(job_id, 1)).upload(
                    out, f"jobs/{job_id}/attempts/1/out.mp4"
                )
        stub = blobs_pb2_grpc.BlobServiceStub(alice._channel)

        async def partial() -> None:
            yield blobs_pb2.WriteRequest(
                resource_name=f"owners/alice/blobs/{'0' * 64}",
                sha256="0" * 64,
                size_bytes=10,
                data=b"12345",
            )

        assert (await stub.Write(partial())).committed_size == 5
        blobs = bm.master.blobs
        gc = bm.master.blob_gc
        # Today: only the job that is gone loses its blobs; inputs are young.
        swept = await gc.sweep()
        assert (swept.jobs, swept.inputs, swept.partials) == (1, 0, 0)
        assert await blobs.job_ids() == [job.id]
        # A month later: the input no job refers to goes; the one a job names stays;
        # the upload nobody finished is dropped after its time to live.
        gc.wall = lambda: time.time() + 30 * DAY
        gc.partial_ttl_s = 0.0
        swept = await gc.sweep()
        assert (swept.jobs, swept.inputs, swept.partials) == (0, 1, 1)
        assert await blobs.stat(used_ref.name) is not None
        assert await blobs.stat(unused_ref.name) is None
        # A caller that deletes a job itself removes its blobs at once.
        assert await gc.forget_job(job.id) == 1
        assert await blobs.job_ids() == []
        assert await blobs.usage("alice") == used_ref.size


async def test_gc_keeps_inputs_when_told_to(tmp_path: Path) -> None:
    src, _ = random_file(tmp_path / "in", 1000)
    async with blob_master(tmp_path, keep_inputs_s=0.0) as bm, bm.client() as admin:
        ref = await admin.transfer().upload(src)
        bm.master.blob_gc.wall = lambda: time.time() + 365 * DAY
        assert (await bm.master.blob_gc.sweep()).inputs == 0
        assert await bm.master.blobs.stat(ref.name) is not None


async def test_retention_takes_a_jobs_blobs_with_it(tmp_path: Path) -> None:
    """The real path: retention deletes an old finished job, the next sweep removes
    every blob of it; its input goes once no job names it and it is old enough."""
    src, _ = random_file(tmp_path / "in", 3000, seed=4)
    out, _ = random_file(tmp_path / "out", 2000, seed=5)
    async with blob_master(tmp_path) as bm, bm.client("alice", "submitter") as alice:
        ref = await alice.transfer().upload(src)
        spec = common_pb2.JobSpec(scenario="test", input=f"blob:sha256:{ref.sha256}")
        job = (await alice.submit(spec)).job
        bm.master.blob_access.authorize_worker = lambda *a: True
        async with bm.worker_channel("w1") as ch:
            made = await Transfer(ch, lease=(job.id, 1)).upload(
                out, f"jobs/{job.id}/attempts/1/out.mp4"
            )
        await alice.cancel(job.id)
        blobs, gc, retention = bm.master.blobs, bm.master.blob_gc, bm.master.retention
        assert (await gc.sweep()).jobs == 0  # the job is still held: nothing goes
        assert await blobs.stat(made.name) is not None
        retention.wall = lambda: time.time() + retention.keep_s + 60
        assert await retention.sweep() == 1
        assert await bm.master.store.get_job(job.id) is None
        swept = await gc.sweep()
        assert (swept.jobs, swept.inputs) == (1, 0)  # the input is young yet
        assert await blobs.stat(made.name) is None and await blobs.job_ids() == []
        gc.wall = lambda: time.time() + 30 * DAY
        assert (await gc.sweep()).inputs == 1
        assert await blobs.stat(ref.name) is None and await blobs.usage("alice") == 0
