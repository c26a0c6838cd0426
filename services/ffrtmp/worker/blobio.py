"""A job's media through the master's blob service: its input in, its outputs out.

Every call names the lease it acts for; the master lets a worker read only its
current lease's input and write only under that attempt's name space
(`jobs/{job}/attempts/{n}/`), so a stale attempt can neither read nor write.
Outputs are uploaded after the run's local commit and before its Result: a
SUCCEEDED job's artifacts are already stored. A failed upload is a transient
failure (the retry uploads again); nothing half-uploaded is ever visible, since
the store shows a blob only once its digest has been checked.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from ffrtmp.core.artifacts import MAX_ARTIFACTS, content_type
from ffrtmp.core.blobref import assigned_resource, attempt_space
from ffrtmp.core.errors import FfrtmpError
from ffrtmp.core.model import Artifact, Lease
from ffrtmp.core.s3_input import is_s3_input
from ffrtmp.worker import s3input
from ffrtmp.worker.blobcache import InputCache
from ffrtmp.worker.environment import Refused
from ffrtmp.worker.paths import S3_SCRATCH

T = TypeVar("T")
log = logging.getLogger("ffrtmp.worker")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class BlobAccess(Protocol):
    """What the worker needs of the blob service, for one lease at a time."""

    async def size(self, resource: str, lease: Lease) -> int: ...

    async def download(self, resource: str, dest: Path, lease: Lease) -> None: ...

    async def upload(self, resource: str, path: Path, ctype: str, lease: Lease) -> tuple[str, int]:
        """Store the file; its SHA-256 and size as stored (checked by the store)."""
        ...


class UploadFailed(Refused):
    """The output is written but could not be stored: transient, retried."""


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    name: str


def safe_name(relative: str) -> str:
    """A relative path the blob names accept: each segment's other characters
    become '_' (a space in a file name is common; the artifact keeps the rest)."""
    parts = [_UNSAFE.sub("_", p) or "_" for p in relative.split("/")]
    return "/".join("_" + p if p in (".", "..") else p for p in parts)


def _files(output: Path) -> list[_File]:
    """The files of an output: itself, or every visible file of an HLS directory
    (named under the directory's own name, so a download recreates it)."""
    if output.is_file():
        return [_File(output, safe_name(output.name))]
    found = []
    for p in sorted(output.rglob("*")):
        rel = p.relative_to(output)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            found.append(_File(p, safe_name(f"{output.name}/{rel.as_posix()}")))
    if len(found) > MAX_ARTIFACTS:
        raise UploadFailed(f"output has {len(found)} files, more than {MAX_ARTIFACTS}")
    return found


async def upload_output(
    blobs: BlobAccess,
    output: Path,
    lease: Lease,
    *,
    parallel: int = 4,
    on_file: Callable[[Artifact], None] = lambda a: None,
) -> tuple[Artifact, ...]:
    """Store every file of `output` under the attempt's name space; the list of
    artifacts, in name order. Raises UploadFailed when any upload fails."""
    files = await asyncio.to_thread(_files, output)
    prefix = attempt_space(lease.job_id, lease.attempt)
    log.info("job %s attempt %d: storing %d output file(s) under %s",
             lease.job_id, lease.attempt, len(files), prefix)
    gate = asyncio.Semaphore(parallel)  # several HLS segments at once, not thousands

    async def one(f: _File) -> Artifact:
        async with gate:
            ctype, resource = content_type(f.name), prefix + f.name
            digest, size = await _guard(blobs.upload(resource, f.path, ctype, lease))
            a = Artifact(f.name, size, digest, ctype, resource)
            on_file(a)
            return a

    tasks = [asyncio.ensure_future(one(f)) for f in files]
    try:
        return tuple(await asyncio.gather(*tasks))
    finally:
        for t in tasks:  # one failed (or the run was stopped): the others stop too
            t.cancel()


async def _guard(step: Awaitable[T]) -> T:
    try:
        return await step
    except (asyncio.CancelledError, UploadFailed):
        raise
    except Exception as exc:  # the store's or the connection's: the retry uploads again
        raise UploadFailed(f"output upload failed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Media:
    """The worker's blob service client and input cache, shared by its runs."""

    access: BlobAccess
    cache: InputCache
    upload_outputs: bool = True  # store file and HLS outputs as the job's artifacts
    urls: s3input.InputUrls | None = None  # presigned GETs of s3:// inputs
    resumes: s3input.Resumes = field(default_factory=s3input.Resumes)

    async def store(self, output: Path, lease: Lease, *, scratch: bool) -> tuple[Artifact, ...]:
        """Upload an output; a scratch copy (an s3:// output's, under the job's own
        scratch directory) is removed afterwards, stored or not."""
        try:
            return await upload_output(self.access, output, lease)
        finally:
            if scratch:
                job_dir = next(p for p in output.parents if p.parent.name == S3_SCRATCH)
                await asyncio.to_thread(shutil.rmtree, job_dir, True)

    @asynccontextmanager
    async def input(self, spec_input: str, lease: Lease) -> AsyncIterator[str | None]:
        """The local path of the job's blob or s3:// input, pinned in the cache
        for the block; None when the input is neither."""
        if is_s3_input(spec_input) and self.urls is not None:
            urls = self.urls

            def resign() -> Awaitable[s3input.InputGet]:  # the master signs for this lease only
                return guard_read(urls.presign_input(lease.job_id, lease))

            got = await resign()

            async def get(_: str, dest: Path) -> None:  # not in the cache yet
                log.info("job %s: fetching %s (%d bytes) into the input cache",
                         lease.job_id, spec_input, got.size)
                await s3input.fetch(got, dest, spec_input, resign, self.resumes)

            key = s3input.cache_key(spec_input, got)
            async with self.cache.use(key, got.size, get, hashed=False) as path:
                yield str(path)
            return
        resource = assigned_resource(spec_input)
        if resource is None:
            yield None
            return
        digest = resource.rsplit("/", 1)[-1]
        size = await guard_read(self.access.size(resource, lease))

        async def fetch(_: str, dest: Path) -> None:
            await guard_read(self.access.download(resource, dest, lease))

        async with self.cache.use(digest, size, fetch) as path:
            yield str(path)


async def guard_read(step: Awaitable[T]) -> T:
    try:
        return await step
    except (asyncio.CancelledError, Refused):
        raise
    except FfrtmpError:
        raise  # NOT_FOUND, PERMISSION_DENIED: the job's input is not there for it
    except Exception as exc:  # the store's or the connection's: another attempt may do
        raise Refused(f"input download failed: {exc}") from exc
