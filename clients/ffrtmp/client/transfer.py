"""Moving files to and from the master's BlobService: `upload(path) -> ref` and
`download(name, dest)`.

Both resume after a broken connection (an upload asks the master how much it
kept, a download continues its `.part` file), both check the SHA-256, and both
take the same path whatever the backend: the master answers Presign with URLs
(S3; the bytes go straight to the object store) or with "stream through the
master" (the local backend; Write/Read on this service).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from ffrtmp.client.blobref import (
    TRANSIENT,
    BlobRef,
    Progress,
    TransferError,
    file_chunks,
    file_digest,
    hash_prefix,
    no_progress,
    sink,
)
from ffrtmp.client.presigned import HttpError, http_get, http_put, part_md5
from ffrtmp.v1 import blobs_pb2, blobs_pb2_grpc


class Transfer:
    """Uploads and downloads over one channel. A worker passes its `lease`."""

    def __init__(
        self,
        channel: aio.Channel,
        metadata: tuple[tuple[str, str], ...] = (),
        *,
        lease: tuple[str, int] | None = None,
        retries: int = 8,
        timeout: float = 30.0,
        patience_s: float = 0.0,
    ) -> None:
        self.stub = blobs_pb2_grpc.BlobServiceStub(channel)
        self.metadata = metadata
        self.lease = blobs_pb2.BlobLease(job_id=lease[0], attempt=lease[1]) if lease else None
        self.retries = retries
        self.timeout = timeout  # unary calls; streams run as long as they move
        # Transient failures are retried at least `retries` times and for at least
        # this long (a master restarting: its upload then resumes where it was cut).
        self.patience_s = patience_s

    async def _retrying(self, what: Callable[[], Any]) -> Any:
        delay, attempt, started = 0.1, 0, time.monotonic()
        while True:
            spent = attempt >= self.retries and time.monotonic() - started >= self.patience_s
            try:
                return await what()
            except aio.AioRpcError as exc:
                if exc.code() not in TRANSIENT or spent:
                    raise
            except HttpError as exc:
                if exc.status < 500 or spent:
                    raise
            except OSError:
                if spent:
                    raise
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 3.0)
            attempt += 1

    async def stat(self, name: str) -> blobs_pb2.Blob | None:
        req = blobs_pb2.StatRequest(resource_name=name, lease=self.lease)
        try:
            resp = await self.stub.Stat(req, timeout=self.timeout, metadata=self.metadata)
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return resp.blob

    async def upload(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        content_type: str = "",
        progress: Progress = no_progress,
    ) -> BlobRef:
        """Store a file as `name` (default: the caller's own content-named blob,
        skipped when it exists) and return its reference."""
        path = Path(path)
        sha, size = await asyncio.to_thread(file_digest, path)
        name = name or f"owners/-/blobs/{sha}"
        have = await self._retrying(lambda: self.stat(name))
        if have is not None and have.sha256 == sha:
            progress(size, size)
            return BlobRef(have.resource_name, sha, size)
        req = blobs_pb2.PresignRequest(
            resource_name=name,
            method=blobs_pb2.PRESIGN_METHOD_PUT,
            sha256=sha,
            size_bytes=size,
            content_type=content_type,
            lease=self.lease,
        )
        plan = await self._retrying(
            lambda: self.stub.Presign(req, timeout=self.timeout, metadata=self.metadata)
        )
        if plan.already_exists:
            progress(size, size)
        elif plan.stream_through_master:
            await self._write_through(path, name, sha, size, content_type, progress)
        else:
            await self._put_presigned(plan, path, name, sha, size, content_type, progress)
        blob = await self._retrying(lambda: self.stat(name))
        if blob is None or blob.sha256 != sha:
            raise TransferError(f"{name} is not visible after its upload")
        return BlobRef(blob.resource_name, sha, size)

    async def _write_through(
        self, path: Path, name: str, sha: str, size: int, ctype: str, progress: Progress
    ) -> None:
        async def once() -> None:
            status = await self.stub.QueryWriteStatus(
                blobs_pb2.QueryWriteStatusRequest(
                    resource_name=name, sha256=sha, size_bytes=size, lease=self.lease
                ),
                timeout=self.timeout,
                metadata=self.metadata,
            )
            if status.complete:
                return
            chunks = self._chunks(path, name, sha, size, ctype, status.committed_size, progress)
            resp = await self.stub.Write(chunks, metadata=self.metadata)
            if not resp.complete:
                raise TransferError(f"the master kept {resp.committed_size} of {size} bytes")

        await self._retrying(once)

    async def _chunks(
        self,
        path: Path,
        name: str,
        sha: str,
        size: int,
        ctype: str,
        offset: int,
        progress: Progress,
    ) -> AsyncIterator[blobs_pb2.WriteRequest]:
        first: blobs_pb2.WriteRequest | None = blobs_pb2.WriteRequest(
            resource_name=name,
            sha256=sha,
            size_bytes=size,
            content_type=ctype,
            lease=self.lease,
        )
        progress(offset, size)
        async with aclosing(file_chunks(path, offset, size)) as chunks:
            async for buf in chunks:
                msg, first = (blobs_pb2.WriteRequest() if first is None else first), None
                msg.write_offset = offset
                msg.data = buf
                msg.finish_write = offset + len(buf) == size
                yield msg
                offset += len(buf)
                progress(offset, size)

    async def _put_presigned(
        self,
        plan: blobs_pb2.PresignResponse,
        path: Path,
        name: str,
        sha: str,
        size: int,
        ctype: str,
        progress: Progress,
    ) -> None:
        done = 0

        def moved(n: int) -> None:
            nonlocal done
            done += n
            progress(min(done, size), size)

        parts = []
        multipart = any(u.part_number for u in plan.urls)
        for url in plan.urls:
            length = url.size_bytes if multipart else size
            headers = dict(url.headers)
            if multipart:
                headers["Content-MD5"] = await asyncio.to_thread(part_md5, path, url.offset, length)
            put = partial(
                asyncio.to_thread, http_put, url.url, headers, path, url.offset, length, moved
            )
            etag = await self._retrying(put)
            parts.append(blobs_pb2.CompletedPart(part_number=url.part_number, etag=etag))
        req = blobs_pb2.CompletePresignedWriteRequest(
            resource_name=name,
            sha256=sha,
            size_bytes=size,
            upload_id=plan.upload_id,
            parts=parts if multipart else [],
            content_type=ctype,
            lease=self.lease,
        )
        await self._retrying(
            lambda: self.stub.CompletePresignedWrite(
                req, timeout=self.timeout, metadata=self.metadata
            )
        )

    async def download(
        self, name: str, dest: str | Path, *, progress: Progress = no_progress
    ) -> BlobRef:
        """Fetch a blob into `dest` through `dest.part` (kept for a resume), checked
        against its SHA-256 before it takes the final name."""
        dest = Path(dest)
        blob = await self._retrying(lambda: self.stat(name))
        if blob is None:
            raise TransferError(f"blob {name} not found")
        part = dest.with_name(dest.name + ".part")
        if part.exists() and part.stat().st_size > blob.size_bytes:
            part.unlink()
        part.touch()
        req = blobs_pb2.PresignRequest(
            resource_name=name, method=blobs_pb2.PRESIGN_METHOD_GET, lease=self.lease
        )
        plan = await self._retrying(
            lambda: self.stub.Presign(req, timeout=self.timeout, metadata=self.metadata)
        )
        # Hashed as it arrives (a resumed .part first): no second pass over the file.
        h = await asyncio.to_thread(hash_prefix, part)
        await self._retrying(lambda: self._fetch_once(plan, blob, part, h, progress))
        size = await asyncio.to_thread(os.path.getsize, part)
        if h.hexdigest() != blob.sha256 or size != blob.size_bytes:
            part.unlink()
            raise TransferError(f"{name}: the bytes received do not match its SHA-256")
        part.replace(dest)
        return BlobRef(blob.resource_name, blob.sha256, size)

    async def _fetch_once(
        self,
        plan: blobs_pb2.PresignResponse,
        blob: blobs_pb2.Blob,
        part: Path,
        h: Any,
        progress: Progress,
    ) -> None:
        offset = await asyncio.to_thread(os.path.getsize, part)
        total = blob.size_bytes
        progress(offset, total)
        if offset >= total:
            return

        def moved(n: int) -> None:
            nonlocal offset
            offset += n
            progress(offset, total)

        if not plan.stream_through_master:
            url = plan.urls[0]
            get = partial(http_get, url.url, dict(url.headers), part, offset, h, moved)
            await asyncio.to_thread(get)
            return
        req = blobs_pb2.ReadRequest(
            resource_name=blob.resource_name, read_offset=offset, lease=self.lease
        )
        # One chunk is written and hashed in a thread while the next arrives.
        pending: asyncio.Future[None] | None = None
        with part.open("ab") as out:
            try:
                async for msg in self.stub.Read(req, metadata=self.metadata):
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(sink, out, h, msg.data))
                    moved(len(msg.data))
            finally:
                if pending is not None:
                    await asyncio.wait([pending])
                out.flush()
