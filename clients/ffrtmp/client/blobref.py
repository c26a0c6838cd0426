"""What the transfer library hands back and raises, and the file digest."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import grpc

CHUNK = 1024 * 1024  # one Write/Read message; grpc's cap is 4 MiB
TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,  # an RST_STREAM from a cut connection shows as this
    }
)
# (bytes done, bytes in all)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class BlobRef:
    name: str
    sha256: str
    size: int


class TransferError(Exception):
    """The transfer cannot succeed: a digest mismatch, or retries used up."""


def hash_prefix(path: Path) -> Any:
    """A SHA-256 fed with the file's bytes so far (a resumed download)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while buf := f.read(4 * CHUNK):
            h.update(buf)
    return h


def sink(out: BinaryIO, h: Any, data: bytes) -> None:
    out.write(data)
    h.update(data)


def file_digest(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while buf := f.read(4 * CHUNK):
            h.update(buf)
            size += len(buf)
    return h.hexdigest(), size


def no_progress(done: int, total: int) -> None:
    return None


async def file_chunks(path: Path, offset: int, size: int) -> AsyncGenerator[bytes, None]:
    """The file's bytes from `offset` to `size`, CHUNK at a time (one empty chunk
    when there are none), the next read while one is used. TransferError when the
    file grew or shrank meanwhile."""
    with path.open("rb") as f:
        f.seek(offset)
        ahead = asyncio.ensure_future(asyncio.to_thread(f.read, CHUNK))
        try:
            while True:
                buf = await ahead
                offset += len(buf)
                if offset > size:
                    raise TransferError(f"{path} grew while it was uploaded")
                if offset < size:
                    if not buf:
                        raise TransferError(f"{path} shrank while it was uploaded")
                    ahead = asyncio.ensure_future(asyncio.to_thread(f.read, CHUNK))
                yield buf
                if offset == size:
                    return
        finally:
            if not ahead.done():  # the file stays open until its read ends
                await asyncio.wait([ahead])
