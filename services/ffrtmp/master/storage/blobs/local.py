"""The local-directory backend: blobs in a directory of the master's.

Layout under `root`:
  objects/owners/{owner}/{sha256}/        data + meta.json: a visible blob
  objects/jobs/{job}/{attempt}/{quoted path}/
  partial/{key}/                          data + decl.json: an unfinished upload
A blob directory appears by one rename of its finished partial directory, after
the data and meta.json were fsynced: a reader sees all of a blob or nothing.
Partial uploads stay for resume until `expire_partials` drops them.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ffrtmp.core import blobnames
from ffrtmp.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from ffrtmp.master.storage.blobs.local_upkeep import META, LocalUpkeep
from ffrtmp.master.storage.blobs.protocol import (
    CHUNK,
    BlobInfo,
    Chunk,
    Declared,
    Presigned,
    WriteResult,
)
from ffrtmp.master.storage.blobs.spool import Spool

DATA, DECL = "data", "decl.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_prefix(path: Path, size: int) -> Any:
    """A SHA-256 state fed with the first `size` bytes of the file (a resume)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        left = size
        while left > 0 and (buf := f.read(min(CHUNK * 4, left))):
            h.update(buf)
            left -= len(buf)
    return h


def _settle(f: Any, pdir: Path) -> None:
    if f.closed:
        return
    if pdir.exists():
        f.flush()
        os.fsync(f.fileno())
    f.close()


class LocalBlobStore(LocalUpkeep):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.partial = self.root / "partial"
        # One writer per partial upload; a resumed stream waits for the old one.
        self._locks: dict[str, asyncio.Lock] = {}

    async def open(self) -> None:
        for d in (self.objects, self.partial):
            d.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def path_of(self, name: str) -> Path:
        parsed = blobnames.parse(name)
        if isinstance(parsed, blobnames.OwnerBlob):
            return self.objects / "owners" / parsed.owner / parsed.sha256
        if isinstance(parsed, blobnames.JobInput):  # read from its bucket, never kept here
            raise NotFound(f"{name} is not kept by this store")
        return self.objects / "jobs" / parsed.job_id / str(parsed.attempt) / quote(parsed.path, "")

    def _partial_of(self, d: Declared) -> Path:
        key = hashlib.sha256(f"{d.name}\0{d.sha256}\0{d.size}".encode()).hexdigest()
        return self.partial / key

    async def stat(self, name: str) -> BlobInfo | None:
        return await asyncio.to_thread(self._stat, self.path_of(name))

    @staticmethod
    def _stat(where: Path) -> BlobInfo | None:
        try:
            meta = json.loads((where / META).read_text())
        except FileNotFoundError:
            return None
        return BlobInfo(
            meta["name"], meta["sha256"], meta["size"], meta["content_type"], meta["created_ms"]
        )

    async def committed(self, declared: Declared) -> int:
        pdir = self._partial_of(declared)
        lock = self._locks.get(pdir.name)
        if lock is not None:
            # A stream just cut still writes what it received: answer once it has
            # (the resume is refused if it starts short of what the master keeps).
            async with lock:
                pass
        try:
            return (pdir / DATA).stat().st_size
        except FileNotFoundError:
            return 0

    async def write(self, declared: Declared, chunks: AsyncIterator[Chunk]) -> WriteResult:
        done = await self.stat(declared.name)
        if done is not None:
            if done.sha256 != declared.sha256:
                raise AlreadyExists(f"{declared.name} exists with other content")
            return WriteResult(done.size, True)
        pdir = self._partial_of(declared)
        lock = self._locks.setdefault(pdir.name, asyncio.Lock())
        try:
            async with lock:
                return await self._write_locked(declared, pdir, chunks)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # refuse the upload, not the master
                raise ResourceExhausted("the master's blob storage is full") from None
            raise
        finally:
            if not lock.locked() and self._locks.get(pdir.name) is lock:
                del self._locks[pdir.name]

    async def _write_locked(
        self, d: Declared, pdir: Path, chunks: AsyncIterator[Chunk]
    ) -> WriteResult:
        await asyncio.to_thread(self._begin, d, pdir)
        f = await asyncio.to_thread((pdir / DATA).open, "r+b")
        spool: Spool | None = None
        try:
            f.seek(0, os.SEEK_END)
            committed = f.tell()
            h = await asyncio.to_thread(_hash_prefix, pdir / DATA, committed)
            # Chunks are written and hashed in a thread of their own, a few queued.
            spool = Spool(f, h)
            async for chunk in chunks:
                if chunk.offset != committed:
                    raise InvalidArgument(
                        "write_offset",
                        f"{chunk.offset} is not where the upload stands ({committed} bytes kept)",
                    )
                if committed + len(chunk.data) > d.size:
                    await spool.close()
                    self._discard(pdir)
                    raise InvalidArgument("data", f"more bytes than the declared {d.size}")
                if chunk.data:
                    await spool.put(chunk.data)
                    committed += len(chunk.data)
                if chunk.finish:
                    await spool.close()
                    await asyncio.to_thread(f.flush)
                    return WriteResult(committed, await self._finish(d, pdir, committed, h))
        finally:
            # A cut stream lands here too: keep what arrived, durably, for a resume.
            if spool is not None:
                await spool.close()
            _settle(f, pdir)
        return WriteResult(committed, False)

    def _begin(self, d: Declared, pdir: Path) -> None:
        if pdir.exists():
            os.utime(pdir)  # touched: not expired while in use
            return
        pdir.mkdir(parents=True)
        (pdir / DATA).touch()
        (pdir / DECL).write_text(json.dumps({"name": d.name, "sha256": d.sha256, "size": d.size}))

    def _discard(self, pdir: Path) -> None:
        shutil.rmtree(pdir, ignore_errors=True)

    async def _finish(self, d: Declared, pdir: Path, committed: int, h: Any) -> bool:
        if committed != d.size:
            self._discard(pdir)
            raise InvalidArgument(
                "finish_write", f"{committed} bytes arrived, {d.size} were declared"
            )
        if h.hexdigest() != d.sha256:
            self._discard(pdir)
            raise InvalidArgument(
                "sha256", f"the bytes' SHA-256 is {h.hexdigest()}, not the declared {d.sha256}"
            )
        info = BlobInfo(d.name, d.sha256, d.size, d.content_type, int(time.time() * 1000))
        await asyncio.to_thread(self._commit, info, pdir, self.path_of(d.name))
        return True

    def _commit(self, info: BlobInfo, pdir: Path, dest: Path) -> None:
        # meta.json is written before the data's fsync so that one journal commit
        # carries both (after it, its own fsync took a second: 0.24 s measured
        # under load). Until the rename the directory is a partial: a crash in
        # between leaves a partial with a meta.json, which no reader looks at.
        with (pdir / META).open("w") as meta, (pdir / DATA).open("rb+") as data:
            json.dump(_as_dict(info), meta)
            meta.flush()
            os.fsync(data.fileno())
            os.fsync(meta.fileno())
        (pdir / DECL).unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(pdir, dest)
        except OSError:  # another upload of the same blob won the race
            existing = self._stat(dest)
            self._discard(pdir)
            if existing is None or existing.sha256 != info.sha256:
                raise AlreadyExists(f"{info.name} exists with other content") from None
            return
        _fsync_dir(dest.parent)

    async def read(self, name: str, offset: int, limit: int) -> AsyncIterator[bytes]:
        where = self.path_of(name)
        info = await self.stat(name)
        if info is None:
            raise NotFound(f"blob {name} not found")
        if offset < 0 or offset > info.size or limit < 0:
            raise InvalidArgument("read_offset", f"must be within 0..{info.size}")
        left = info.size - offset if limit == 0 else min(limit, info.size - offset)
        with (where / DATA).open("rb") as f:
            f.seek(offset)
            # The next chunk is read while this one is sent.
            ahead = asyncio.ensure_future(asyncio.to_thread(f.read, min(CHUNK, left)))
            try:
                while left > 0:
                    buf = await ahead
                    if not buf:
                        break
                    left -= len(buf)
                    if left > 0:
                        ahead = asyncio.ensure_future(asyncio.to_thread(f.read, min(CHUNK, left)))
                    yield buf
            finally:
                if not ahead.done():
                    await asyncio.wait([ahead])

    async def presign_get(self, name: str) -> Presigned | None:
        return None

    async def presign_put(self, declared: Declared) -> Presigned | None:
        return None

    async def complete_presigned(
        self, declared: Declared, upload_id: str, etags: Sequence[tuple[int, str]]
    ) -> BlobInfo:
        raise FailedPrecondition("this master stores blobs itself: upload with Write")

    async def delete(self, name: str) -> bool:
        where = self.path_of(name)
        return await asyncio.to_thread(self._remove, where)


def _as_dict(info: BlobInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "sha256": info.sha256,
        "size": info.size,
        "content_type": info.content_type,
        "created_ms": info.created_ms,
    }
