"""What the blob service needs of a backend: `BlobStore`.

Names are resource names already checked by core/blobnames.py. A backend
makes a blob visible only after its last byte arrived and the declared SHA-256
matched; what it kept of an unfinished upload is reported so the writer can
resume. A backend that hands out URLs (S3) answers `presign`; one that does not
(the local directory) returns None there and the bytes stream through the master.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

# Chunks of a Read and of the transfer library's Write: under grpc's 4 MiB cap.
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobInfo:
    name: str
    sha256: str
    size: int
    content_type: str = ""
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Declared:
    """What an upload promises: the blob it writes, its digest and size."""

    name: str
    sha256: str
    size: int
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    offset: int
    data: bytes
    finish: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    committed: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Url:
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    part_number: int = 0
    offset: int = 0
    size: int = 0


@dataclass(frozen=True, slots=True)
class Presigned:
    urls: tuple[Url, ...]
    expires_ms: int
    upload_id: str = ""  # multipart


class BlobStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def stat(self, name: str) -> BlobInfo | None:
        """The visible blob, or None."""

    async def committed(self, declared: Declared) -> int:
        """Bytes kept of an unfinished upload with this declaration (0: none)."""

    async def write(self, declared: Declared, chunks: AsyncIterator[Chunk]) -> WriteResult:
        """Append chunks at the committed offset; on `finish`, verify and commit.
        Raises InvalidArgument (offset, size, digest) or AlreadyExists."""

    def read(self, name: str, offset: int, limit: int) -> AsyncIterator[bytes]:
        """The bytes from `offset`, at most `limit` (0: all); NotFound if absent."""

    async def presign_get(self, name: str) -> Presigned | None: ...

    async def presign_put(self, declared: Declared) -> Presigned | None: ...

    async def complete_presigned(
        self, declared: Declared, upload_id: str, etags: Sequence[tuple[int, str]]
    ) -> BlobInfo: ...

    async def delete(self, name: str) -> bool: ...

    async def delete_job(self, job_id: str) -> int:
        """Remove every blob of a job (all attempts); how many."""

    async def job_ids(self) -> list[str]:
        """The jobs that have blobs."""

    async def owner_blobs(self) -> list[tuple[str, int]]:
        """Every input blob: (resource name, created ms)."""

    async def usage(self, owner: str) -> int:
        """Bytes held in owners/{owner}/ (visible blobs)."""

    async def expire_partials(self, older_than_s: float) -> int:
        """Drop unfinished uploads untouched for that long; how many."""
