"""The S3 backend against a real S3-protocol server (moto in server mode): the
bytes go between the client and the store through presigned URLs."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from aiobotocore.session import get_session
from grpc import aio

from ffrtmp.client.presigned import http_put
from ffrtmp.client.transfer import Transfer
from ffrtmp.master.storage.blobs.s3 import S3BlobStore
from ffrtmp.v1 import blobs_pb2, blobs_pb2_grpc
from tests.helpers.blobs import BlobMaster, blob_master, random_file
from tests.helpers.s3 import REGION, moto_server

MIB = 1024 * 1024
BUCKET = "ffrtmp-media"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto server for the module (it takes seconds to start); a bucket in it."""
    with moto_server(tmp_path_factory.mktemp("moto")) as srv:

        async def bucket() -> None:
            async with get_session().create_client(
                "s3", endpoint_url=srv.endpoint, region_name=REGION
            ) as s3:
                await s3.create_bucket(Bucket=BUCKET)

        asyncio.run(bucket())
        yield srv.endpoint


@pytest.fixture
async def s3_master(s3_server: str, tmp_path: Path) -> AsyncIterator[tuple[BlobMaster, str]]:
    """A master on the S3 backend, with a key prefix of its own (each test sees only its
    own objects)."""
    settings = {
        "backend": "s3",
        "s3_bucket": BUCKET,
        "s3_prefix": f"{tmp_path.name}/",
        "s3_endpoint": s3_server,
        "s3_region": REGION,
    }
    async with blob_master(tmp_path, **settings) as bm:
        yield bm, s3_server


async def _objects(bm: BlobMaster) -> dict[str, int]:
    """The objects under this master's prefix, without the prefix."""
    prefix = bm.master.config.blobs.s3_prefix
    endpoint = bm.master.config.blobs.s3_endpoint
    async with get_session().create_client("s3", endpoint_url=endpoint, region_name=REGION) as s3:
        listed = await s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return {o["Key"].removeprefix(prefix): o["Size"] for o in listed.get("Contents", [])}


async def test_presigned_round_trip_never_streams_through_the_master(
    s3_master: tuple[BlobMaster, str], tmp_path: Path
) -> None:
    bm, endpoint = s3_master
    src, sha = random_file(tmp_path / "in.bin", 3 * MIB + 5)
    async with bm.client("alice", "submitter") as alice:
        stub = blobs_pb2_grpc.BlobServiceStub(alice._channel)
        # The master refuses to carry the bytes itself with this backend...
        with pytest.raises(aio.AioRpcError) as info:

            async def one() -> AsyncIterator[blobs_pb2.WriteRequest]:
                yield blobs_pb2.WriteRequest(
                    resource_name=f"owners/alice/blobs/{sha}", sha256=sha, size_bytes=1
                )

            await stub.Write(one())
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # ...so a finished upload and download went through presigned URLs.
        ref = await alice.transfer().upload(src, content_type="video/mp4")
        assert ref.name == f"owners/alice/blobs/{sha}"
        keys = await _objects(bm)
        assert keys == {f"owners/alice/blobs/{sha}": src.stat().st_size}  # no staging
        st = (await stub.Stat(blobs_pb2.StatRequest(resource_name=ref.name))).blob
        assert (st.sha256, st.size_bytes, st.content_type) == (sha, ref.size, "video/mp4")
        plan = await stub.Presign(
            blobs_pb2.PresignRequest(resource_name=ref.name, method=blobs_pb2.PRESIGN_METHOD_GET)
        )
        assert not plan.stream_through_master and plan.urls[0].url.startswith(endpoint)
        assert 0 < plan.expire_time_unix_ms - time.time() * 1000 <= 300_000
        await alice.transfer().download(ref.name, tmp_path / "out.bin")
        assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
        # The same digest again: nothing is uploaded.
        seen: list[tuple[int, int]] = []
        await alice.transfer().upload(src, progress=lambda d, t: seen.append((d, t)))
        assert seen == [(ref.size, ref.size)]


async def _presigned_put(
    stub: blobs_pb2_grpc.BlobServiceStub, name: str, sha: str, body: Path
) -> blobs_pb2.PresignResponse:
    size = body.stat().st_size
    plan = await stub.Presign(
        blobs_pb2.PresignRequest(
            resource_name=name, method=blobs_pb2.PRESIGN_METHOD_PUT, sha256=sha, size_bytes=size
        )
    )
    url = plan.urls[0]
    http_put(url.url, dict(url.headers), body, 0, size, lambda n: None)
    return plan


async def test_digest_mismatch_is_refused_and_nothing_visible(
    s3_master: tuple[BlobMaster, str], tmp_path: Path
) -> None:
    bm, _endpoint = s3_master
    body, _ = random_file(tmp_path / "body", 10_000, seed=1)
    lie = hashlib.sha256(b"declared, not sent").hexdigest()
    name = f"owners/admin/blobs/{lie}"
    async with bm.client() as admin:
        stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)
        plan = await _presigned_put(stub, name, lie, body)
        with pytest.raises(aio.AioRpcError) as info:
            await stub.CompletePresignedWrite(
                blobs_pb2.CompletePresignedWriteRequest(
                    resource_name=name, sha256=lie, size_bytes=10_000, upload_id=plan.upload_id
                )
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not what was declared" in (info.value.details() or "")
        with pytest.raises(aio.AioRpcError) as info:
            await stub.Stat(blobs_pb2.StatRequest(resource_name=name))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert await _objects(bm) == {}  # the staged bytes were removed too


async def test_upload_after_the_url_expired_is_refused(
    s3_master: tuple[BlobMaster, str], tmp_path: Path
) -> None:
    """moto does not enforce a presigned URL's expiry itself (AWS and MinIO do):
    the master refuses to make a blob of bytes the store stamped after it."""
    bm, _endpoint = s3_master
    store = bm.master.blobs
    assert isinstance(store, S3BlobStore)
    store.config = dataclasses.replace(store.config, presign_ttl_s=1.0)
    body, sha = random_file(tmp_path / "body", 5000, seed=2)
    name = f"owners/admin/blobs/{sha}"
    async with bm.client() as admin:
        stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)
        plan = await stub.Presign(
            blobs_pb2.PresignRequest(
                resource_name=name,
                method=blobs_pb2.PRESIGN_METHOD_PUT,
                sha256=sha,
                size_bytes=5000,
            )
        )
        assert plan.expire_time_unix_ms - time.time() * 1000 <= 1000
        # Past the expiry, the one-second grace and the store's whole-second stamps.
        time.sleep(3.5)
        url = plan.urls[0]
        http_put(url.url, dict(url.headers), body, 0, 5000, lambda n: None)
        with pytest.raises(aio.AioRpcError) as info:
            await stub.CompletePresignedWrite(
                blobs_pb2.CompletePresignedWriteRequest(
                    resource_name=name, sha256=sha, size_bytes=5000, upload_id=plan.upload_id
                )
            )
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "expired" in (info.value.details() or "")
        assert await _objects(bm) == {}


async def test_multipart_upload_of_a_file_over_64_mib(
    s3_master: tuple[BlobMaster, str], tmp_path: Path
) -> None:
    bm, _endpoint = s3_master
    src, sha = random_file(tmp_path / "big.bin", 64 * MIB + 3 * MIB + 1, seed=4)
    async with bm.client("bob", "submitter") as bob:
        stub = blobs_pb2_grpc.BlobServiceStub(bob._channel)
        plan = await stub.Presign(
            blobs_pb2.PresignRequest(
                resource_name=f"owners/bob/blobs/{sha}",
                method=blobs_pb2.PRESIGN_METHOD_PUT,
                sha256=sha,
                size_bytes=src.stat().st_size,
            )
        )
        assert [u.part_number for u in plan.urls] == [1, 2]
        assert [u.size_bytes for u in plan.urls] == [64 * MIB, 3 * MIB + 1]
        # That plan is left unfinished (the store keeps it until expiry); the
        # library makes its own.
        ref = await bob.transfer().upload(src)
        assert ref.name == f"owners/bob/blobs/{sha}"
        assert (await _objects(bm))[ref.name] == src.stat().st_size
        await bob.transfer().download(ref.name, tmp_path / "back.bin")
        assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == sha
        assert await bm.master.blobs.expire_partials(0.0) == 1  # the abandoned plan


async def test_an_unreachable_store_is_unavailable_not_an_internal_error(tmp_path: Path) -> None:
    """A store that is down: UNAVAILABLE, which clients retry, naming the cause."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed
    settings = {"backend": "s3", "s3_bucket": BUCKET, "s3_endpoint": dead, "s3_region": REGION}
    async with blob_master(tmp_path, **settings) as bm, bm.client() as admin:
        store = bm.master.blobs
        assert isinstance(store, S3BlobStore)
        stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)
        with pytest.raises(aio.AioRpcError) as info:
            await stub.Stat(blobs_pb2.StatRequest(resource_name=f"owners/admin/blobs/{'a' * 64}"))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "object store unreachable" in (info.value.details() or "")


async def test_a_job_output_is_never_replaced_by_other_bytes(
    s3_master: tuple[BlobMaster, str], tmp_path: Path
) -> None:
    bm, _ = s3_master
    first, _ = random_file(tmp_path / "first", 3000, seed=5)
    other, _ = random_file(tmp_path / "other", 3000, seed=6)
    bm.master.blob_access.authorize_worker = lambda *a: True
    async with bm.worker_channel("w1") as ch:
        t = Transfer(ch, lease=("job7", 1))
        ref = await t.upload(first, "jobs/job7/attempts/1/out.mp4")
        assert await t.upload(first, ref.name) == ref  # the same bytes again: fine
        with pytest.raises(aio.AioRpcError) as info:
            await t.upload(other, ref.name)
        assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
        await t.download(ref.name, tmp_path / "back")
        assert (tmp_path / "back").read_bytes() == first.read_bytes()
