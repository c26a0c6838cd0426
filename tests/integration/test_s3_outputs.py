"""`--output s3://bucket/key`: a real worker's output lands in the user's bucket
(a real S3-protocol server, moto), through URLs the master presigns; the worker
holds no AWS credentials and nothing is at the final key before the job succeeds."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiobotocore.session import get_session
from grpc import aio

from ffrtmp.master.storage.blobs.s3_copy import copy_object
from ffrtmp.v1 import common_pb2
from tests.helpers.blobs import blob_master
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, probe_media
from tests.helpers.s3 import CREDENTIALS, REGION, moto_server
from tests.helpers.s3 import s3_call as _s3

pytestmark = pytest.mark.media

BUCKET, OTHER = "ffrtmp-out", "ffrtmp-other"
TINY = ["--scenario", "test", "--width", "160", "--height", "120", "--fps", "10"]


async def _keys(endpoint: str, prefix: str = "") -> dict[str, int]:
    listed = await _s3(endpoint, "list_objects_v2", Bucket=BUCKET, Prefix=prefix)
    return {o["Key"]: o["Size"] for o in listed.get("Contents", [])}


async def _get(endpoint: str, key: str) -> bytes:
    async with get_session().create_client("s3", endpoint_url=endpoint, region_name=REGION) as s3:
        got = await s3.get_object(Bucket=BUCKET, Key=key)
        async with got["Body"] as body:
            data: bytes = await body.read()
            return data


@contextmanager
def _without(names: Iterable[str]) -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in list(names) if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as srv:
        for b in (BUCKET, OTHER):
            asyncio.run(_s3(srv.endpoint, "create_bucket", Bucket=b))
        yield srv.endpoint


@pytest.fixture(scope="module")
def cluster(s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("s3out")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        # The master's blobs stay local; only the outputs go to the bucket.
        c.start_master("--output-buckets", BUCKET, "--s3-endpoint", s3, "--s3-region", REGION)
        # The worker gets no AWS credentials: it only ever has the master's URLs.
        with _without(CREDENTIALS):
            c.start_worker("w1", "--input-root", str(root / "in-w1"))
        yield c
    finally:
        c.stop()


def _submit(cluster: Cluster, *args: str) -> dict[str, Any]:
    done = cluster.cli("-o", "json", "jobs", "submit", *TINY, *args, "--wait", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    job: dict[str, Any] = json.loads(done.stdout)
    return job


async def test_a_file_output_lands_at_its_key_with_its_digest(
    cluster: Cluster, s3: str, tmp_path: Path
) -> None:
    job = _submit(cluster, "--input", "lavfi:testsrc2", "--duration", "1",
                  "--output", f"s3://{BUCKET}/films/clip.mp4")
    assert job["state"] == "SUCCEEDED", job
    assert job["output"] == f"s3://{BUCKET}/films/clip.mp4"  # not the worker's scratch copy
    (art,) = job["output_info"]["artifacts"]
    assert (art["name"], art["content_type"]) == ("clip.mp4", "video/mp4")
    assert art["resource"] == f"s3://{BUCKET}/films/clip.mp4"
    data = await _get(s3, "films/clip.mp4")
    assert hashlib.sha256(data).hexdigest() == art["sha256"] and len(data) == int(art["size_bytes"])
    out = tmp_path / "clip.mp4"
    out.write_bytes(data)
    assert probe_media(out).width == 160 and decode_errors(out) == ""
    # The attempt's upload was a copy: the hidden space holds nothing of the job.
    assert await _keys(s3, f".ffrtmp/jobs/{job['id']}/") == {}
    fetched = cluster.cli("jobs", "fetch", job["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 1 and "S3 tools" in fetched.stderr
    environ = Path(f"/proc/{cluster.workers['w1'].pid}/environ").read_bytes()
    assert b"AWS_SECRET_ACCESS_KEY" not in environ


async def test_an_hls_ladder_lands_as_many_keys(cluster: Cluster, s3: str) -> None:
    job = _submit(cluster, "--input", "lavfi:testsrc2", "--duration", "2",
                  "--output", f"s3://{BUCKET}/shows/ep1/",
                  "--rendition", "320x180@300k", "--rendition", "160x90@100k")
    assert job["state"] == "SUCCEEDED", job
    keys = await _keys(s3, "shows/")
    arts = {a["name"]: a for a in job["output_info"]["artifacts"]}
    assert set(keys) == {f"shows/{n}" for n in arts} and "shows/ep1/master.m3u8" in keys
    master = (await _get(s3, "shows/ep1/master.m3u8")).decode()
    variants = [x for x in master.splitlines() if x and not x.startswith("#")]
    assert len(variants) == 2
    for v in variants:
        playlist = (await _get(s3, f"shows/ep1/{v}")).decode()
        segments = [x for x in playlist.splitlines() if x and not x.startswith("#")]
        assert segments and all(f"shows/ep1/{s}" in keys for s in segments)
    for name, a in arts.items():
        assert hashlib.sha256(await _get(s3, f"shows/{name}")).hexdigest() == a["sha256"]


async def test_bad_and_disallowed_buckets_are_refused(cluster: Cluster) -> None:
    async with cluster.client() as c:
        for output, code, says in [
            (f"s3://{OTHER}/x.mp4", grpc.StatusCode.PERMISSION_DENIED, OTHER),
            ("s3://Not_A_Bucket/x.mp4", grpc.StatusCode.INVALID_ARGUMENT, "spec.output"),
            (f"s3://{BUCKET}/", grpc.StatusCode.INVALID_ARGUMENT, "spec.output"),
            (f"s3://{BUCKET}/x.avi", grpc.StatusCode.INVALID_ARGUMENT, "spec.output"),
        ]:
            spec = common_pb2.JobSpec(scenario="test", input="lavfi:testsrc2", output=output)
            with pytest.raises(aio.AioRpcError) as info:
                await c.submit(spec)
            assert info.value.code() == code and says in (info.value.details() or ""), output


async def test_a_master_without_output_buckets_names_the_flag(tmp_path: Path) -> None:
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        spec = common_pb2.JobSpec(scenario="test", output=f"s3://{BUCKET}/x.mp4")
        with pytest.raises(aio.AioRpcError) as info:
            await admin.submit(spec)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "--output-buckets" in (info.value.details() or "")


async def test_a_copy_over_the_single_copy_limit_goes_in_parts(s3: str) -> None:
    """Files over 5 GiB are copied to their key part by part; shown here with the
    limit and the part size lowered to 5 MiB (the store's smallest part)."""
    data = os.urandom(11 * 1024 * 1024 + 7)
    async with get_session().create_client("s3", endpoint_url=s3, region_name=REGION) as c:
        await c.put_object(Bucket=BUCKET, Key=".ffrtmp/big-src", Body=data)

        async def call(op: str, **kw: Any) -> Any:
            calls.append(op)
            return await getattr(c, op)(**kw)

        calls: list[str] = []
        meta = {"Metadata": {"sha256": "x"}, "ContentType": "video/mp4"}
        await copy_object(call, BUCKET, ".ffrtmp/big-src", "big/out.mp4", len(data), meta,
                          part_bytes=5 * 1024 * 1024, single_max=5 * 1024 * 1024)
        assert calls.count("upload_part_copy") == 3 and "copy_object" not in calls
        got = await c.get_object(Bucket=BUCKET, Key="big/out.mp4")
        async with got["Body"] as body:
            assert await body.read() == data
        assert got["ContentType"] == "video/mp4" and got["Metadata"] == {"sha256": "x"}
