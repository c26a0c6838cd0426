"""BlobService with the local backend: round trips, resume, refusals, access."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.client.blobref import TransferError
from ffrtmp.client.transfer import Transfer
from ffrtmp.master.server import Master
from ffrtmp.v1 import blobs_pb2, blobs_pb2_grpc
from tests.helpers.blobs import BlobMaster, blob_master, random_file
from tests.helpers.proxy import TcpProxy

MIB = 1024 * 1024


def _visible(bm: BlobMaster) -> list[Path]:
    return list((bm.master.config.db.parent / "blobs" / "objects").rglob("data"))  # type: ignore[union-attr]


async def test_round_trip_skips_existing_and_reports_progress(tmp_path: Path) -> None:
    src, sha = random_file(tmp_path / "in.bin", 3 * MIB + 17)
    async with blob_master(tmp_path) as bm, bm.client("alice", "submitter") as alice:
        seen: list[tuple[int, int]] = []
        ref = await alice.transfer().upload(src, progress=lambda d, t: seen.append((d, t)))
        assert ref.name == f"owners/alice/blobs/{sha}" and ref.size == src.stat().st_size
        assert seen[-1] == (ref.size, ref.size) and len(seen) >= 4
        again: list[tuple[int, int]] = []
        assert await alice.transfer().upload(src, progress=lambda d, t: again.append((d, t))) == ref
        assert again == [(ref.size, ref.size)]  # nothing sent: the digest existed
        out = await alice.transfer().download(ref.name, tmp_path / "out.bin")
        assert out == ref and (tmp_path / "out.bin").read_bytes() == src.read_bytes()
        assert not (tmp_path / "out.bin.part").exists()


async def test_empty_blob_round_trip(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        ref = await admin.transfer().upload(tmp_path / "empty")
        assert ref.size == 0 and ref.sha256 == hashlib.sha256(b"").hexdigest()
        await admin.transfer().download(ref.name, tmp_path / "back")
        assert (tmp_path / "back").read_bytes() == b""


async def test_upload_and_download_resume_after_a_cut(tmp_path: Path) -> None:
    # Large enough that half of it is past what grpc and the sockets hold in flight.
    src, sha = random_file(tmp_path / "in.bin", 40 * MIB, seed=3)
    async with blob_master(tmp_path) as bm:
        proxy = TcpProxy(bm.master.port)
        try:
            async with bm.client("bob", "submitter", port=proxy.port) as bob:
                cut = {"done": False}
                seen: list[int] = []

                def cut_midway(done: int, total: int) -> None:
                    seen.append(done)
                    if not cut["done"] and done >= total // 2:
                        cut["done"] = True
                        proxy.reset()

                ref = await bob.transfer().upload(src, progress=cut_midway)
                assert cut["done"] and ref.sha256 == sha
                # The second stream started where the master stood, not at 0 (at
                # the count sent so far when the master had received all of it).
                restarts = [b for a, b in itertools.pairwise(seen) if b <= a]
                assert restarts and 0 < restarts[0] < ref.size, restarts
                assert await bm.master.blobs.stat(ref.name) is not None
                cut["done"], seen[:] = False, []
                await bob.transfer().download(ref.name, tmp_path / "out", progress=cut_midway)
                assert cut["done"]
                # A download keeps what it got: the next stream starts at the same count.
                restarts = [b for a, b in itertools.pairwise(seen) if b <= a]
                assert restarts and 0 < restarts[0] < ref.size, restarts
                assert (tmp_path / "out").read_bytes() == src.read_bytes()
        finally:
            proxy.close()


async def test_resume_continues_where_the_master_stands(tmp_path: Path) -> None:
    """A stream that ends without finish_write leaves its bytes; QueryWriteStatus
    reports them and a second stream from that offset completes the blob."""
    data = bytes(range(256)) * 4096  # 1 MiB
    sha = hashlib.sha256(data).hexdigest()
    name = f"owners/admin/blobs/{sha}"
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)

        def msg(offset: int, part: bytes, finish: bool) -> blobs_pb2.WriteRequest:
            return blobs_pb2.WriteRequest(
                resource_name=name,
                sha256=sha,
                size_bytes=len(data),
                write_offset=offset,
                data=part,
                finish_write=finish,
            )

        async def half() -> None:
            yield msg(0, data[:300_000], False)

        r = await stub.Write(half())
        assert (r.committed_size, r.complete) == (300_000, False)
        q = blobs_pb2.QueryWriteStatusRequest(resource_name=name, sha256=sha, size_bytes=len(data))
        assert (await stub.QueryWriteStatus(q)).committed_size == 300_000
        with pytest.raises(aio.AioRpcError) as info:
            await stub.Stat(blobs_pb2.StatRequest(resource_name=name))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND

        async def wrong_offset() -> None:
            yield msg(0, data[:10], False)

        with pytest.raises(aio.AioRpcError) as info:
            await stub.Write(wrong_offset())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "300000 bytes kept" in (info.value.details() or "")

        async def rest() -> None:
            yield msg(300_000, data[300_000:], True)

        r = await stub.Write(rest())
        assert r.complete and r.committed_size == len(data) and r.resource_name == name
        st = (await stub.Stat(blobs_pb2.StatRequest(resource_name=name))).blob
        assert (st.sha256, st.size_bytes) == (sha, len(data))


async def test_wrong_digest_is_refused_and_nothing_is_visible(tmp_path: Path) -> None:
    data = b"x" * 5000
    lie = hashlib.sha256(b"something else").hexdigest()
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)
        for name in (f"owners/admin/blobs/{lie}", "jobs/j1/attempts/1/out.mp4"):

            async def one(name: str = name) -> None:
                yield blobs_pb2.WriteRequest(
                    resource_name=name,
                    sha256=lie,
                    size_bytes=len(data),
                    data=data,
                    finish_write=True,
                )

            with pytest.raises(aio.AioRpcError) as info:
                await stub.Write(one())
            if name.startswith("jobs/"):  # clients never write job outputs
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
                continue
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "SHA-256" in (info.value.details() or "")
            q = blobs_pb2.QueryWriteStatusRequest(resource_name=name, sha256=lie, size_bytes=5000)
            status = await stub.QueryWriteStatus(q)
            assert (status.committed_size, status.complete) == (0, False)  # partial discarded
        assert _visible(bm) == []


async def test_size_cap_and_quota(tmp_path: Path) -> None:
    src, _ = random_file(tmp_path / "big", 2 * MIB)
    small, _ = random_file(tmp_path / "small", 600_000, seed=1)
    other, _ = random_file(tmp_path / "other", 600_000, seed=2)
    async with (
        blob_master(tmp_path, max_bytes=MIB, quota_bytes=MIB) as bm,
        bm.client("carol", "submitter") as carol,
    ):
        with pytest.raises(aio.AioRpcError) as info:
            await carol.transfer().upload(src)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "exceeds the cap" in (info.value.details() or "")
        await carol.transfer().upload(small)
        await carol.transfer().upload(small)  # the same bytes again take no quota
        with pytest.raises(aio.AioRpcError) as info:
            await carol.transfer().upload(other)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "quota" in (info.value.details() or "")


async def test_concurrent_uploads_cannot_share_the_same_free_space(tmp_path: Path) -> None:
    """Each of two uploads fits the quota alone, not both: while the first is
    under way (its first bytes sent, not finished), the second is refused; once
    the first ends the space it took is counted as stored."""
    first, second = (random_file(tmp_path / n, 600_000, seed=i)[0] for i, n in ((1, "a"), (2, "b")))
    async with (
        blob_master(tmp_path, quota_bytes=MIB) as bm,
        bm.client("carol", "submitter") as carol,
    ):
        stub = blobs_pb2_grpc.BlobServiceStub(carol._channel)
        data = first.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        sent = asyncio.Event()
        go_on = asyncio.Event()

        async def slow() -> AsyncIterator[blobs_pb2.WriteRequest]:
            head = dict(resource_name=f"owners/carol/blobs/{sha}", sha256=sha,
                        size_bytes=len(data))
            yield blobs_pb2.WriteRequest(**head, write_offset=0, data=data[:1000])
            sent.set()
            await go_on.wait()
            yield blobs_pb2.WriteRequest(**head, write_offset=1000, data=data[1000:],
                                         finish_write=True)

        call = stub.Write(slow())
        await sent.wait()
        await asyncio.sleep(0.5)  # the master has read the first message
        with pytest.raises(aio.AioRpcError) as info:
            await carol.transfer().upload(second)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        go_on.set()
        assert (await call).complete
        with pytest.raises(aio.AioRpcError) as info:
            await carol.transfer().upload(second)  # now stored, not under way
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_owner_name_spaces_and_roles(tmp_path: Path) -> None:
    src, sha = random_file(tmp_path / "in", 1000)
    async with blob_master(tmp_path) as bm:
        async with bm.client("alice", "submitter") as alice:
            ref = await alice.transfer().upload(src)
        async with bm.client("mallory", "submitter") as mallory:
            t = mallory.transfer()
            with pytest.raises(aio.AioRpcError) as info:
                await t.download(ref.name, tmp_path / "stolen")
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert not (tmp_path / "stolen").exists()
            with pytest.raises(aio.AioRpcError) as info:
                await t.upload(src, f"owners/alice/blobs/{sha}")
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            # Its own upload of the same bytes is its own blob.
            assert (await t.upload(src)).name == f"owners/mallory/blobs/{sha}"
        async with bm.client("vic", "viewer") as vic:
            await vic.transfer().download(ref.name, tmp_path / "viewed")
            with pytest.raises(aio.AioRpcError) as info:
                await vic.transfer().upload(tmp_path / "viewed")
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # A job's outputs: a client reads them only as artifacts of a job it may see.
        async with bm.client() as admin:
            with pytest.raises(TransferError, match="not found"):
                await admin.transfer().download("jobs/nojob/attempts/1/out.mp4", tmp_path / "x")
            stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)
            with pytest.raises(aio.AioRpcError) as info:
                req = blobs_pb2.StatRequest(resource_name="jobs/nojob/attempts/1/out.mp4")
                await stub.Stat(req)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            assert "job nojob not found" in (info.value.details() or "")


async def test_workers_are_refused_until_a_lease_check_allows_them(tmp_path: Path) -> None:
    src, _ = random_file(tmp_path / "out.mp4", 4000)
    async with blob_master(tmp_path) as bm, bm.worker_channel("w1") as ch:
        t = Transfer(ch, lease=("job1", 2))
        with pytest.raises(aio.AioRpcError) as info:
            await t.upload(src, "jobs/job1/attempts/2/out.mp4")
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        calls: list[tuple[str, str, int, str, bool]] = []

        def lease_check(node: str, job: str, attempt: int, name: str, write: bool) -> bool:
            calls.append((node, job, attempt, name, write))
            return (job, attempt) == ("job1", 2)

        bm.master.blob_access.authorize_worker = lease_check
        ref = await t.upload(src, "jobs/job1/attempts/2/out.mp4")
        assert ref.name == "jobs/job1/attempts/2/out.mp4"
        assert ("w1", "job1", 2, ref.name, True) in calls
        # Never replaced by other bytes.
        other, _ = random_file(tmp_path / "other.mp4", 4000, seed=9)
        with pytest.raises(aio.AioRpcError) as info:
            await t.upload(other, ref.name)
        assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # A stale attempt may not write into the winner's space, nor its own.
        stale = Transfer(ch, lease=("job1", 1))
        for name in ("jobs/job1/attempts/2/out.mp4", "jobs/job1/attempts/1/out.mp4"):
            with pytest.raises(aio.AioRpcError) as info:
                await stale.upload(src, name)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # Without a lease a worker is told to name one.
        with pytest.raises(aio.AioRpcError) as info:
            await Transfer(ch).upload(src, "jobs/job1/attempts/2/x")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


BAD_NAMES = [
    "",
    "blobs/abc",
    "owners/alice/blobs/XYZ",
    "owners/alice/blobs/" + "a" * 63,
    "owners/../blobs/" + "a" * 64,
    "jobs/j1/attempts/1/../../etc/passwd",
    "jobs/j1/attempts/one/out.mp4",
    "jobs/j1/attempts/1/",
    "jobs/j1/attempts/1/a//b",
    "jobs/j 1/attempts/1/out",
]


async def test_bad_names_are_refused(tmp_path: Path) -> None:
    """Through every call that takes a name (core/blobnames.py has the table of why)."""
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)
        for name in BAD_NAMES:
            calls = [
                stub.Stat(blobs_pb2.StatRequest(resource_name=name)),
                stub.QueryWriteStatus(
                    blobs_pb2.QueryWriteStatusRequest(
                        resource_name=name, sha256="a" * 64, size_bytes=1
                    )
                ),
            ]
            for call in calls:
                with pytest.raises(aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
                assert (info.value.details() or "").startswith("resource_name:"), name
        assert _visible(bm) == []


async def test_download_refuses_bytes_that_do_not_match(tmp_path: Path) -> None:
    src, _ = random_file(tmp_path / "in", 100_000)
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        ref = await admin.transfer().upload(src)
        # Corrupt the stored bytes behind the master's back (a bad disk).
        data = next(iter(_visible(bm)))
        data.write_bytes(b"\0" * 100_000)
        with pytest.raises(TransferError, match="do not match"):
            await admin.transfer().download(ref.name, tmp_path / "out")
        assert not (tmp_path / "out").exists() and not (tmp_path / "out.part").exists()


async def test_an_upload_resumes_across_a_master_restart(tmp_path: Path) -> None:
    """The kept bytes of an unfinished upload are on disk, synced: a new master on
    the same directory reports them, and the upload finishes from there."""
    data = bytes(range(256)) * 8192  # 2 MiB
    sha = hashlib.sha256(data).hexdigest()
    name = f"owners/admin/blobs/{sha}"
    src = tmp_path / "src"
    src.write_bytes(data)
    async with blob_master(tmp_path) as bm, bm.client() as admin:
        stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)

        async def half() -> AsyncIterator[blobs_pb2.WriteRequest]:
            yield blobs_pb2.WriteRequest(
                resource_name=name, sha256=sha, size_bytes=len(data), data=data[: 1 << 20]
            )

        assert (await stub.Write(half())).committed_size == 1 << 20
        config = bm.master.config
    master = Master(dataclasses.replace(config, listen="127.0.0.1:0"))
    await master.start()
    try:
        again = BlobMaster(master, bm.certs)
        async with again.client() as admin:
            stub = blobs_pb2_grpc.BlobServiceStub(admin._channel)
            q = blobs_pb2.QueryWriteStatusRequest(
                resource_name=name, sha256=sha, size_bytes=len(data)
            )
            assert (await stub.QueryWriteStatus(q)).committed_size == 1 << 20
            seen: list[int] = []
            ref = await admin.transfer().upload(src, progress=lambda d, t: seen.append(d))
            assert ref.name == name and seen[0] == 1 << 20  # only the second half was sent
    finally:
        await master.stop(grace=0)
