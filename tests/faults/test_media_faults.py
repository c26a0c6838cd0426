"""Stored outputs under faults, with the S3 backend on a real S3-protocol server
(moto) that the test stops and starts: the workers' bytes go straight to it
through presigned URLs.

* The object store down when a run stores its output: a transient failure of the
  attempt, retried after the backoff, and the job ends SUCCEEDED with a
  downloadable output — not a lost one.
* A worker killed while its upload is in flight: the attempt is lost, the next
  attempt (another worker) uploads into its own name space, the job's artifacts
  are that attempt's, and nothing of the dead attempt is visible.
* The same two with `--output s3://bucket/key`: the store down is retried until
  the output lands at its key; after a kill nothing is at the key until the
  retry's success is accepted, and then the retry's bytes are.

About a minute of wall time, so not in the default suite: `make media-faults`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from aiobotocore.session import get_session
from grpc import aio

from ffrtmp.v1 import blobs_pb2, common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import wait_job
from tests.helpers.media import decode_errors, probe_media
from tests.helpers.procs import Proc
from tests.helpers.s3 import REGION, _wait_listening, moto_server

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(
        os.environ.get("FFRTMP_MEDIA_FAULTS") != "1", reason="make media-faults runs these"
    ),
]

BUCKET = "ffrtmp-faults"
OUT = "ffrtmp-faults-out"  # jobs' s3:// outputs (never the blob store's own bucket)
SUCCEEDED, RETRY_WAIT = common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_RETRY_WAIT


@dataclass
class Store:
    """moto on a fixed port, stopped and started again (its contents do not survive)."""

    endpoint: str
    log_dir: Path
    proc: Proc | None

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def down(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc = None

    async def up(self) -> None:
        self.proc = Proc.python(
            "moto.server", ["-H", "127.0.0.1", "-p", str(self.port)], self.log_dir / "moto2.log"
        )
        await asyncio.to_thread(_wait_listening, self.port, self.proc)
        await _bucket(self.endpoint)


async def _bucket(endpoint: str) -> None:
    async with get_session().create_client("s3", endpoint_url=endpoint, region_name=REGION) as s3:
        await s3.create_bucket(Bucket=BUCKET)
        await s3.create_bucket(Bucket=OUT)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    logs = tmp_path_factory.mktemp("moto")
    with moto_server(logs) as srv:
        asyncio.run(_bucket(srv.endpoint))
        store = Store(srv.endpoint, logs, srv.proc)
        try:
            yield store
        finally:
            if store.proc is not None and store.proc is not srv.proc:
                store.proc.stop()


@pytest.fixture(scope="module")
def cluster(s3: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("faults")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master(
            *["--blob-backend", "s3", "--s3-bucket", BUCKET, "--s3-endpoint", s3.endpoint],
            *["--s3-region", REGION, "--max-retries", "10", "--retry-backoff", "1s"],
            *["--output-buckets", OUT],
        )
        for name in ("w1", "w2"):
            c.start_worker(name, "--input-root", str(root / f"in-{name}"))
        yield c
    finally:
        c.stop()


def _spec(output: str) -> common_pb2.JobSpec:
    return common_pb2.JobSpec(
        scenario="test", input="lavfi:testsrc2", duration_s=1.0, output=output,
        width=160, height=120,
    )


def _fetched_decodes(cluster: Cluster, job: common_pb2.Job, dest: Path) -> None:
    got = cluster.cli("jobs", "fetch", job.id, "-o", str(dest))
    assert got.returncode == 0, got.stderr
    out = dest / job.output_info.artifacts[0].name
    assert probe_media(out).width == 160 and decode_errors(out) == ""


async def test_the_store_down_is_a_transient_failure_that_is_retried(
    cluster: Cluster, s3: Store, tmp_path: Path
) -> None:
    await cluster.wait_nodes(2)
    s3.down()
    try:
        async with cluster.client() as c:
            job = (await c.submit(_spec("down.mp4"))).job
        failed = await wait_job(
            cluster, job.id, lambda j: j.state == RETRY_WAIT, 180, "a retry wait"
        )
        assert "upload" in failed.error, failed.error
    finally:
        await s3.up()
    done = await wait_job(cluster, job.id, lambda j: j.state == SUCCEEDED, 90, "success")
    assert done.attempt >= 2 and done.lost_attempts == 0
    (art,) = done.output_info.artifacts
    assert art.resource == f"jobs/{job.id}/attempts/{done.attempt}/down.mp4"
    _fetched_decodes(cluster, done, tmp_path / "got")


async def test_the_store_down_under_an_s3_output_is_retried_until_it_lands(
    cluster: Cluster, s3: Store
) -> None:
    await cluster.wait_nodes(2)
    key = "outputs/down.mp4"
    s3.down()
    try:
        async with cluster.client() as c:
            job = (await c.submit(_spec(f"s3://{OUT}/{key}"))).job
        failed = await wait_job(
            cluster, job.id, lambda j: j.state == RETRY_WAIT, 180, "a retry wait"
        )
        assert "upload" in failed.error, failed.error
    finally:
        await s3.up()
    done = await wait_job(cluster, job.id, lambda j: j.state == SUCCEEDED, 90, "success")
    assert done.attempt >= 2 and done.lost_attempts == 0
    (art,) = done.output_info.artifacts
    assert art.resource == f"s3://{OUT}/{key}"
    async with get_session().create_client(
        "s3", endpoint_url=s3.endpoint, region_name=REGION
    ) as store:
        got = await store.get_object(Bucket=OUT, Key=key)
        async with got["Body"] as body:
            assert hashlib.sha256(await body.read()).hexdigest() == art.sha256


async def test_a_worker_killed_mid_upload_leaves_nothing_and_the_retry_uploads(
    cluster: Cluster, s3: Store, tmp_path: Path
) -> None:
    await cluster.wait_nodes(2)
    async with cluster.client() as c:
        await c.drain_node("w2")  # the job runs on w1
        s3.down()  # w1's upload cannot finish
        try:
            job = (await c.submit(_spec("killed.mp4"))).job
            cluster.workers["w1"].wait_for(rf"job {job.id} attempt 1: storing 1 output", 120)
            await asyncio.sleep(0.3)  # the upload is under way
            cluster.workers["w1"].kill()
        finally:
            await s3.up()
        await c.drain_node("w2", drain=False)
        done = await wait_job(cluster, job.id, lambda j: j.state == SUCCEEDED, 90, "success")
        assert done.node_id == "w2" and done.lost_attempts >= 1
        (art,) = done.output_info.artifacts
        assert art.resource == f"jobs/{job.id}/attempts/{done.attempt}/killed.mp4"
        # The dead attempt's name holds nothing (admins may read any job blob).
        stub_req = blobs_pb2.StatRequest(resource_name=f"jobs/{job.id}/attempts/1/killed.mp4")
        with pytest.raises(aio.AioRpcError) as info:
            await c.transfer().stub.Stat(stub_req, timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    _fetched_decodes(cluster, done, tmp_path / "got")


async def test_a_worker_killed_mid_upload_to_a_bucket_leaves_no_object_at_the_key(
    cluster: Cluster, s3: Store, tmp_path: Path
) -> None:
    if cluster.workers["w1"].popen.poll() is not None:  # the test before killed it
        cluster.start_worker("w1", "--input-root", str(cluster.root / "in-w1"))
    await cluster.wait_nodes(2)
    key = "outputs/killed.mp4"
    async with cluster.client() as c:
        await c.drain_node("w2")  # the job runs on w1
        s3.down()  # w1's upload cannot finish
        try:
            job = (await c.submit(_spec(f"s3://{OUT}/{key}"))).job
            cluster.workers["w1"].wait_for(rf"job {job.id} attempt 1: storing 1 output", 120)
            await asyncio.sleep(0.3)  # the upload is under way
            cluster.workers["w1"].kill()
        finally:
            await s3.up()
        async with get_session().create_client(
            "s3", endpoint_url=s3.endpoint, region_name=REGION
        ) as store:
            listed = await store.list_objects_v2(Bucket=OUT, Prefix="outputs/")
            assert listed.get("Contents", []) == []  # nothing at the key yet
            await c.drain_node("w2", drain=False)
            done = await wait_job(cluster, job.id, lambda j: j.state == SUCCEEDED, 90, "success")
            assert done.node_id == "w2" and done.lost_attempts >= 1
            (art,) = done.output_info.artifacts
            assert art.resource == f"s3://{OUT}/{key}"
            got = await store.get_object(Bucket=OUT, Key=key)
            async with got["Body"] as body:
                data = await body.read()
    assert hashlib.sha256(data).hexdigest() == art.sha256
    out = tmp_path / "killed.mp4"
    out.write_bytes(data)
    assert probe_media(out).width == 160 and decode_errors(out) == ""
