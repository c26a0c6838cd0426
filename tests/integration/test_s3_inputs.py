"""`--input s3://bucket/key`: a real worker with no AWS credentials transcodes an
object of a real S3-protocol server (moto) through a GET the master presigns for
its lease; what a job may name is checked at submit, a missing key fails the job
once, and a replaced object is never read as the version the master signed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from ffrtmp.client.transfer import Transfer
from ffrtmp.core.s3_input import job_input_resource
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.blobs.inputs import InputBuckets
from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import blobs_pb2, common_pb2
from ffrtmp.worker import s3input
from ffrtmp.worker.environment import Refused
from tests.helpers.blobs import blob_master
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, ffmpeg_under_test, probe_media
from tests.helpers.s3 import CREDENTIALS, REGION, moto_server
from tests.helpers.s3 import s3_call as _s3
from tests.helpers.s3relay import S3Relay

pytestmark = pytest.mark.media

MEDIA, OTHER = "ffrtmp-media", "ffrtmp-elsewhere"
TINY = ["--scenario", "test", "--width", "160", "--height", "120", "--fps", "10"]


@contextmanager
def _without_credentials() -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in CREDENTIALS if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("moto-in")
    clip = root / "clip.mp4"
    subprocess.run(
        [ffmpeg_under_test(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4", "-g", "10",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
        check=True,
    )
    with moto_server(root) as srv:
        for b in (MEDIA, OTHER):
            asyncio.run(_s3(srv.endpoint, "create_bucket", Bucket=b))
        for key in ("clips/in.mp4", "clips/cut.mp4", "clips/denied.mp4"):
            asyncio.run(_s3(srv.endpoint, "put_object", Bucket=MEDIA, Key=key,
                            Body=clip.read_bytes(), ChecksumAlgorithm="SHA256"))
        yield srv.endpoint


@pytest.fixture(scope="module")
def relay(s3: str) -> Iterator[S3Relay]:
    """The store as the cluster sees it: counts what each GET was served, and breaks."""
    r = S3Relay(s3)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(scope="module")
def cluster(relay: S3Relay, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("s3in")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master("--input-buckets", MEDIA, "--s3-endpoint", relay.endpoint,
                       "--s3-region", REGION)
        with _without_credentials():  # the worker only ever has the master's URLs
            c.start_worker("w1", "--input-root", str(root / "in-w1"))
        yield c
    finally:
        c.stop()


def _submit(cluster: Cluster, *args: str) -> dict[str, Any]:
    done = cluster.cli("-o", "json", "jobs", "submit", *TINY, *args, "--wait", timeout=180)
    assert done.stdout, done.stderr
    job: dict[str, Any] = json.loads(done.stdout)
    return job


async def _presign(cluster: Cluster, node: str, job_id: str) -> blobs_pb2.PresignResponse:
    cert, key = cluster.certs.worker(node)
    creds = channel_credentials(cluster.certs.ca, cert, key)
    async with aio.secure_channel(cluster.address, creds) as ch:
        t = Transfer(ch, lease=(job_id, 1), retries=0)
        req = blobs_pb2.PresignRequest(resource_name=job_input_resource(job_id),
                                       method=blobs_pb2.PRESIGN_METHOD_GET, lease=t.lease)
        plan: blobs_pb2.PresignResponse = await t.stub.Presign(req, timeout=10)
        return plan


async def test_an_s3_input_is_transcoded_and_only_its_lease_could_read_it(
    cluster: Cluster,
) -> None:
    job = _submit(cluster, "--input", f"s3://{MEDIA}/clips/in.mp4", "--output", "from-s3.mp4")
    assert job["state"] == "SUCCEEDED", job
    out = cluster.output_dir("w1") / "admin" / "from-s3.mp4"  # under its owner
    assert probe_media(out).width == 160 and decode_errors(out) == ""
    environ = Path(f"/proc/{cluster.workers['w1'].pid}/environ").read_bytes()
    assert b"AWS_SECRET_ACCESS_KEY" not in environ
    # The lease is over: neither the worker that ran it nor another one gets a URL.
    for node in ("w1", "w9"):
        with pytest.raises(aio.AioRpcError) as info:
            await _presign(cluster, node, job["id"])
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, node
        assert "does not hold lease" in (info.value.details() or "")
    # Nor does a client, whatever its role.
    async with cluster.client() as admin:
        req = blobs_pb2.PresignRequest(resource_name=job_input_resource(job["id"]),
                                       method=blobs_pb2.PRESIGN_METHOD_GET)
        with pytest.raises(aio.AioRpcError) as info:
            await admin.transfer().stub.Presign(req, metadata=admin.transfer().metadata)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_split_job_reads_its_s3_input_in_every_segment(cluster: Cluster) -> None:
    """The audio part, each segment and the join are leases of their own, each given its own GET;
    the worker's cache fetched the object once (this module's jobs all read the
    same version) and every segment seeks in the local copy."""
    group = _submit(cluster, "--input", f"s3://{MEDIA}/clips/in.mp4", "--duration", "4",
                    "--gop", "1", "--split", "2s", "--output", "split-s3.mp4")
    assert group["state"] == "SUCCEEDED" and group["group"], json.dumps(group)
    audio, *segments, join = group["children"]
    assert audio["output"].endswith("audio.mp4") and len(segments) == 2, group
    assert join["output"].endswith("split-s3.mp4"), group
    out = cluster.output_dir("w1") / "admin" / "split-s3.mp4"
    info = probe_media(out)
    assert info.width == 160 and abs(info.duration_s - 4.0) < 0.3 and decode_errors(out) == ""
    log = (cluster.root / "worker-w1.log").read_text()
    assert log.count(f"fetching s3://{MEDIA}/clips/in.mp4 ") == 1


async def test_a_missing_key_fails_the_job_once_naming_it(cluster: Cluster) -> None:
    job = _submit(cluster, "--input", f"s3://{MEDIA}/clips/nope.mp4", "--output", "nope.mp4")
    assert job["state"] == "FAILED", job
    assert f"s3://{MEDIA}/clips/nope.mp4" in job["error"], job
    assert job["attempt"] == 1, job  # permanent: not retried


async def test_a_download_cut_mid_way_resumes_from_where_it_was(
    cluster: Cluster, relay: S3Relay, s3: str
) -> None:
    """The input GET is cut twice; the worker asks for the rest each time (Range,
    still If-Match), no byte is fetched twice, and the job succeeds on attempt 1."""
    start = len(relay.gets())
    relay.faults.script = [20_000, 15_000]
    job = _submit(cluster, "--input", f"s3://{MEDIA}/clips/cut.mp4", "--output", "cut.mp4")
    assert job["state"] == "SUCCEEDED" and job["attempt"] == 1, job
    gets = relay.gets()[start:]
    head = await _s3(s3, "head_object", Bucket=MEDIA, Key="clips/cut.mp4")
    assert [g.body_bytes for g in gets] == [20_000, 15_000, head["ContentLength"] - 35_000]
    assert [g.headers.get("Range") for g in gets] == [None, "bytes=20000-", "bytes=35000-"]
    assert all(g.status in (200, 206) and g.headers.get("If-Match") for g in gets)


async def test_a_bucket_policy_denial_fails_the_job_once_naming_the_action(
    cluster: Cluster, relay: S3Relay
) -> None:
    relay.faults.denied = True
    try:
        job = _submit(cluster, "--input", f"s3://{MEDIA}/clips/denied.mp4", "--output", "d.mp4")
    finally:
        relay.faults.denied = False
    assert job["state"] == "FAILED" and job["attempt"] == 1, job  # permanent: not retried
    assert f"s3://{MEDIA}/clips/denied.mp4" in job["error"], job
    assert "s3:GetObject" in job["error"] and "AccessDenied" in job["error"], job


async def test_bad_and_disallowed_buckets_are_refused_at_submit(cluster: Cluster) -> None:
    async with cluster.client() as c:
        for value, code, says in [
            (f"s3://{OTHER}/x.mp4", grpc.StatusCode.PERMISSION_DENIED, OTHER),
            ("s3://Not_A_Bucket/x.mp4", grpc.StatusCode.INVALID_ARGUMENT, "spec.input"),
            (f"s3://{MEDIA}/", grpc.StatusCode.INVALID_ARGUMENT, "spec.input"),
            (f"s3://{MEDIA}/dir/", grpc.StatusCode.INVALID_ARGUMENT, "spec.input"),
            (f"s3://{MEDIA}/.ffrtmp/jobs/x", grpc.StatusCode.INVALID_ARGUMENT, "spec.input"),
        ]:
            spec = common_pb2.JobSpec(scenario="test", input=value, output="x.mp4")
            with pytest.raises(aio.AioRpcError) as info:
                await c.submit(spec)
            assert info.value.code() == code and says in (info.value.details() or ""), value


async def test_a_master_without_input_buckets_names_the_flag(tmp_path: Path) -> None:
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        spec = common_pb2.JobSpec(scenario="test", input=f"s3://{MEDIA}/clips/in.mp4",
                                  output="x.mp4")
        with pytest.raises(aio.AioRpcError) as info:
            await admin.submit(spec)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "--input-buckets" in (info.value.details() or "")


async def test_an_object_replaced_after_the_signature_is_not_read(
    s3: str, tmp_path: Path
) -> None:
    """The signed If-Match pins the version the master looked at: the store refuses
    the URL once the object is replaced, and the worker's fetch says so (a
    transient failure: the next attempt gets a URL for the new version)."""
    await _s3(s3, "put_object", Bucket=MEDIA, Key="clips/moving.mp4", Body=b"v1" * 1000)
    inputs = InputBuckets(BlobConfig(input_buckets=(MEDIA,), s3_endpoint=s3, s3_region=REGION))
    await inputs.open()
    try:
        p = await inputs.presign_get(f"s3://{MEDIA}/clips/moving.mp4")
        u = p.urls[0]
        got = s3input.InputGet(u.url, u.headers, u.size)
        await s3input.fetch(got, tmp_path / "v1")
        assert (tmp_path / "v1").read_bytes() == b"v1" * 1000
        await _s3(s3, "put_object", Bucket=MEDIA, Key="clips/moving.mp4", Body=b"v2" * 1000)
        with pytest.raises(s3input.InputChanged, match="replaced"):
            await s3input.fetch(got, tmp_path / "v2")
        again = (await inputs.presign_get(f"s3://{MEDIA}/clips/moving.mp4")).urls[0]
        assert s3input.cache_key("x", got) != s3input.cache_key(
            "x", s3input.InputGet(again.url, again.headers, again.size))
    finally:
        await inputs.close()


@pytest.mark.parametrize(
    ("size", "etag", "md5", "checksum", "says"),
    [
        (9, '"' + "a" * 32 + '"', "a" * 32, "", "bytes"),  # fewer bytes than the object
        (10, '"' + "b" * 32 + '"', "a" * 32, "", "ETag"),  # another version answered
        (10, '"' + "a" * 32 + '"', "c" * 32, "", "MD5"),  # the bytes are not the ETag's
        (10, '"' + "a" * 32 + '"', "a" * 32, "other=", "SHA-256"),  # nor the checksum's
    ],
)
def test_what_the_fetch_checks(size: int, etag: str, md5: str, checksum: str, says: str) -> None:
    got = s3input.InputGet("http://x/", (("If-Match", '"' + "a" * 32 + '"'),), 10)
    with pytest.raises(Refused, match=says):
        s3input._verify(got, size, etag, md5, "sum=", checksum)
    s3input._verify(got, 10, got.etag, "a" * 32, "sum=", "sum=")  # all agree: no error
