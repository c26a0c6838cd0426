"""BlobService: checks names, access and limits, then hands the bytes to the
BlobStore backend. Errors are FfrtmpError subclasses (rpc/errors.py maps them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from grpc import aio

from ffrtmp.core import blobnames
from ffrtmp.core.authz import Actor
from ffrtmp.core.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from ffrtmp.master.rpc.auth import current_actor
from ffrtmp.master.rpc.blob_access import BlobAccess, Lease
from ffrtmp.master.rpc.handlers import Ctx
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.blobs.protocol import BlobInfo, BlobStore, Chunk, Declared, Presigned
from ffrtmp.v1 import blobs_pb2, blobs_pb2_grpc

log = logging.getLogger("ffrtmp.master")


@dataclass(frozen=True, slots=True)
class BlobLimits:
    max_bytes: int = 64 * 1024**3  # one blob
    quota_bytes: int = 0  # per owner name space; 0: none


def blob_pb(info: BlobInfo) -> blobs_pb2.Blob:
    return blobs_pb2.Blob(
        resource_name=info.name,
        sha256=info.sha256,
        size_bytes=info.size,
        content_type=info.content_type,
        create_time_unix_ms=info.created_ms,
    )


def _resolve(name: str, actor: Actor) -> blobnames.BlobName:
    """Parse a resource name, `owners/-/` standing for the caller's own."""
    if name.startswith("owners/-/"):
        name = f"owners/{actor.name}/{name.removeprefix('owners/-/')}"
    return blobnames.parse(name)


def _lease(msg: blobs_pb2.BlobLease) -> Lease | None:
    return Lease(msg.job_id, msg.attempt) if msg.job_id else None


def _content_type(value: str) -> str:
    if len(value) > 128 or not value.isprintable():
        raise InvalidArgument("content_type", "at most 128 printable characters")
    return value


def _presigned_pb(p: Presigned | None) -> blobs_pb2.PresignResponse:
    if p is None:
        return blobs_pb2.PresignResponse(stream_through_master=True)
    urls = [
        blobs_pb2.PresignedUrl(
            url=u.url,
            headers=dict(u.headers),
            part_number=u.part_number,
            offset=u.offset,
            size_bytes=u.size,
        )
        for u in p.urls
    ]
    return blobs_pb2.PresignResponse(
        urls=urls, upload_id=p.upload_id, expire_time_unix_ms=p.expires_ms
    )


class BlobServicer(blobs_pb2_grpc.BlobServiceServicer):
    def __init__(self, blobs: BlobStore, access: BlobAccess, limits: BlobLimits) -> None:
        self.blobs = blobs
        self.access = access
        self.limits = limits
        # Uploads under way, per owner (name -> size): they count against the
        # quota until they end, and one lock makes check-and-count atomic, so
        # concurrent uploads cannot each pass on the same free space.
        self._uploading: dict[str, dict[str, int]] = {}
        self._quota_lock = asyncio.Lock()

    async def _declared(
        self, actor: Actor, name: str, sha256: str, size: int, ctype: str, lease: Lease | None
    ) -> Declared:
        """A checked upload declaration the caller may write, within the limits."""
        parsed = _resolve(name, actor)
        blobnames.check_sha256(sha256)
        if isinstance(parsed, blobnames.OwnerBlob) and parsed.sha256 != sha256:
            raise InvalidArgument("sha256", "must equal the digest in the resource name")
        if size < 0:
            raise InvalidArgument("size_bytes", "must not be negative")
        if size > self.limits.max_bytes:
            raise InvalidArgument(
                "size_bytes", f"{size} bytes exceeds the cap of {self.limits.max_bytes} per blob"
            )
        await self.access.check(actor, parsed, lease, write=True)
        declared = Declared(str(parsed), sha256, size, _content_type(ctype))
        if isinstance(parsed, blobnames.OwnerBlob):
            await self._within_quota(parsed.owner, declared)
        return declared

    async def _within_quota(self, owner: str, declared: Declared) -> None:
        quota = self.limits.quota_bytes
        if quota <= 0 or await self.blobs.stat(declared.name) is not None:
            return  # no quota, or the bytes are there already (no new space)
        others = self._uploading.get(owner, {})
        used = await self.blobs.usage(owner)
        used += sum(size for name, size in others.items() if name != declared.name)
        if used + declared.size > quota:
            raise ResourceExhausted(
                f"owners/{owner}/ holds {used} bytes; {declared.size} more would pass "
                f"its quota of {quota}"
            )

    @asynccontextmanager
    async def _counted(self, actor: Actor, declared: Declared) -> AsyncIterator[None]:
        """An upload's bytes held against its owner's quota while it runs."""
        parsed = _resolve(declared.name, actor)
        if not isinstance(parsed, blobnames.OwnerBlob) or self.limits.quota_bytes <= 0:
            yield
            return
        async with self._quota_lock:
            await self._within_quota(parsed.owner, declared)
            uploading = self._uploading.setdefault(parsed.owner, {})
            uploading[declared.name] = declared.size
        try:
            yield
        finally:
            uploading.pop(declared.name, None)
            if not uploading:
                self._uploading.pop(parsed.owner, None)

    async def _exists(self, declared: Declared) -> bool:
        """The blob is there with these bytes; AlreadyExists if with others."""
        info = await self.blobs.stat(declared.name)
        if info is not None and info.sha256 != declared.sha256:
            raise AlreadyExists(f"{declared.name} exists with other content")
        return info is not None

    async def _readable(self, name: str, lease: Lease | None) -> str:
        actor = current_actor()
        parsed = _resolve(name, actor)
        await self.access.check(actor, parsed, lease, write=False)
        return str(parsed)

    async def Write(
        self, request_iterator: AsyncIterator[blobs_pb2.WriteRequest], context: Ctx
    ) -> blobs_pb2.WriteResponse:
        it = aiter(request_iterator)
        first = await anext(it, None)
        if first is None:
            raise InvalidArgument("resource_name", "the upload stream carried no message")
        actor = current_actor()
        declared = await self._declared(
            actor,
            first.resource_name,
            first.sha256,
            first.size_bytes,
            first.content_type,
            _lease(first.lease),
        )

        if first.write_offset:  # what a cut costs: the bytes sent again are size - offset
            log.info("%s: upload resumed at byte %d of %d",
                     declared.name, first.write_offset, declared.size)

        async def chunks() -> AsyncIterator[Chunk]:
            yield Chunk(first.write_offset, first.data, first.finish_write)
            async for msg in it:
                if msg.resource_name and msg.resource_name != declared.name:
                    raise InvalidArgument("resource_name", "changed within one upload")
                yield Chunk(msg.write_offset, msg.data, msg.finish_write)

        async with self._counted(actor, declared):
            result = await self.blobs.write(declared, chunks())
        return blobs_pb2.WriteResponse(
            committed_size=result.committed, complete=result.complete, resource_name=declared.name
        )

    async def QueryWriteStatus(
        self, request: blobs_pb2.QueryWriteStatusRequest, context: Ctx
    ) -> blobs_pb2.QueryWriteStatusResponse:
        declared = await self._declared(
            current_actor(),
            request.resource_name,
            request.sha256,
            request.size_bytes,
            "",
            _lease(request.lease),
        )
        info = await self.blobs.stat(declared.name)
        if info is not None and info.sha256 == declared.sha256:
            return blobs_pb2.QueryWriteStatusResponse(committed_size=info.size, complete=True)
        return blobs_pb2.QueryWriteStatusResponse(
            committed_size=await self.blobs.committed(declared)
        )

    async def Read(
        self, request: blobs_pb2.ReadRequest, context: Ctx
    ) -> AsyncIterator[blobs_pb2.ReadResponse]:
        name = await self._readable(request.resource_name, _lease(request.lease))
        if request.read_offset < 0 or request.read_limit < 0:
            raise InvalidArgument("read_offset", "offset and limit must not be negative")
        async for buf in self.blobs.read(name, request.read_offset, request.read_limit):
            yield blobs_pb2.ReadResponse(data=buf)

    async def Stat(self, request: blobs_pb2.StatRequest, context: Ctx) -> blobs_pb2.StatResponse:
        name = await self._readable(request.resource_name, _lease(request.lease))
        info = await self.blobs.stat(name)
        if info is None:
            raise NotFound(f"blob {name} not found")
        return blobs_pb2.StatResponse(blob=blob_pb(info))

    async def Presign(
        self, request: blobs_pb2.PresignRequest, context: Ctx
    ) -> blobs_pb2.PresignResponse:
        lease = _lease(request.lease)
        if request.method == blobs_pb2.PRESIGN_METHOD_GET:
            name = await self._readable(request.resource_name, lease)
            if await self.blobs.stat(name) is None:
                raise NotFound(f"blob {name} not found")
            return _presigned_pb(await self.blobs.presign_get(name))
        if request.method != blobs_pb2.PRESIGN_METHOD_PUT:
            raise InvalidArgument("method", "GET or PUT")
        declared = await self._declared(
            current_actor(),
            request.resource_name,
            request.sha256,
            request.size_bytes,
            request.content_type,
            lease,
        )
        if await self._exists(declared):
            return blobs_pb2.PresignResponse(already_exists=True)
        return _presigned_pb(await self.blobs.presign_put(declared))

    async def CompletePresignedWrite(
        self, request: blobs_pb2.CompletePresignedWriteRequest, context: Ctx
    ) -> blobs_pb2.CompletePresignedWriteResponse:
        declared = await self._declared(
            current_actor(),
            request.resource_name,
            request.sha256,
            request.size_bytes,
            request.content_type,
            _lease(request.lease),
        )
        await self._exists(declared)  # never replaced by other bytes
        parts = [(p.part_number, p.etag) for p in request.parts]
        info = await self.blobs.complete_presigned(declared, request.upload_id, parts)
        return blobs_pb2.CompletePresignedWriteResponse(blob=blob_pb(info))


def add_blob_service(
    server: aio.Server, blobs: BlobStore, access: BlobAccess, c: BlobConfig
) -> None:
    servicer = BlobServicer(blobs, access, BlobLimits(c.max_bytes, c.quota_bytes))
    blobs_pb2_grpc.add_BlobServiceServicer_to_server(servicer, server)
