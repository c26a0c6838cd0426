"""The blob service's BlobStore: the master's own backend, except for the blobs
of jobs whose output is `s3://bucket/...`, which live in that bucket's hidden
`.ffrtmp/` space (outputs.py), and a job's `s3://` input, named `jobs/{job}/input`,
which is read in its own bucket (inputs.py). Which store a job's blobs use follows from its
spec, which never changes; the answer is remembered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from ffrtmp.core import blobnames
from ffrtmp.core.errors import FailedPrecondition, NotFound
from ffrtmp.core.s3_input import is_s3_input
from ffrtmp.master.storage.blobs.inputs import InputBuckets
from ffrtmp.master.storage.blobs.outputs import OutputBuckets
from ffrtmp.master.storage.blobs.protocol import (
    BlobInfo,
    BlobStore,
    Chunk,
    Declared,
    Presigned,
    WriteResult,
)
from ffrtmp.master.storage.protocol import JobStore

REMEMBERED = 4096  # jobs whose store is remembered


class RoutedBlobStore:
    def __init__(
        self, own: BlobStore, outputs: OutputBuckets, jobs: JobStore, inputs: InputBuckets
    ) -> None:
        self.own = own
        self.outputs = outputs
        self.inputs = inputs
        self.jobs = jobs
        self._where: dict[str, BlobStore] = {}

    async def _for(self, name: str) -> BlobStore:
        if not self.outputs.stores or not name.startswith("jobs/"):
            return self.own
        job_id = name.split("/", 2)[1]
        found = self._where.get(job_id)
        if found is None:
            job = await self.jobs.get_job(job_id)
            bucket = self.outputs.store_for(job.spec.output) if job is not None else None
            found = self.own if bucket is None else bucket
            if len(self._where) >= REMEMBERED:
                self._where.clear()
            self._where[job_id] = found
        return found

    async def open(self) -> None:
        await self.own.open()
        await self.outputs.open()
        await self.inputs.open()

    async def close(self) -> None:
        await self.inputs.close()
        await self.outputs.close()
        await self.own.close()

    async def _s3_input(self, name: str) -> str | None:
        """The `s3://` input a `jobs/{job}/input` name stands for; None for others."""
        if not (name.startswith("jobs/") and name.endswith("/input")):
            return None
        parsed = blobnames.parse(name)
        if not isinstance(parsed, blobnames.JobInput):
            return None
        job = await self.jobs.get_job(parsed.job_id)
        if job is None or not is_s3_input(job.spec.input):
            raise NotFound(f"job {parsed.job_id} has no s3:// input")
        return job.spec.input

    async def stat(self, name: str) -> BlobInfo | None:
        if (spec_input := await self._s3_input(name)) is not None:
            return await self.inputs.stat(name, spec_input)
        return await (await self._for(name)).stat(name)

    async def committed(self, declared: Declared) -> int:
        return await (await self._for(declared.name)).committed(declared)

    async def write(self, declared: Declared, chunks: AsyncIterator[Chunk]) -> WriteResult:
        return await (await self._for(declared.name)).write(declared, chunks)

    def read(self, name: str, offset: int, limit: int) -> AsyncIterator[bytes]:
        if not name.startswith("jobs/") or not (self.outputs.stores or name.endswith("/input")):
            return self.own.read(name, offset, limit)  # no extra step on the common path
        return self._read(name, offset, limit)

    async def _read(self, name: str, offset: int, limit: int) -> AsyncIterator[bytes]:
        if await self._s3_input(name) is not None:
            raise FailedPrecondition(f"{name} is read from its bucket: ask Presign for a GET")
        async for buf in (await self._for(name)).read(name, offset, limit):
            yield buf

    async def presign_get(self, name: str) -> Presigned | None:
        if (spec_input := await self._s3_input(name)) is not None:
            return await self.inputs.presign_get(spec_input)
        return await (await self._for(name)).presign_get(name)

    async def presign_put(self, declared: Declared) -> Presigned | None:
        return await (await self._for(declared.name)).presign_put(declared)

    async def complete_presigned(
        self, declared: Declared, upload_id: str, etags: Sequence[tuple[int, str]]
    ) -> BlobInfo:
        store = await self._for(declared.name)
        return await store.complete_presigned(declared, upload_id, etags)

    async def delete(self, name: str) -> bool:
        return await (await self._for(name)).delete(name)

    async def delete_job(self, job_id: str) -> int:
        self._where.pop(job_id, None)
        return await self.own.delete_job(job_id) + await self.outputs.forget(job_id)

    async def job_ids(self) -> list[str]:
        ids = set(await self.own.job_ids())
        for store in self.outputs.stores.values():
            ids.update(await store.job_ids())
        return sorted(ids)

    async def owner_blobs(self) -> list[tuple[str, int]]:
        return await self.own.owner_blobs()

    async def usage(self, owner: str) -> int:
        return await self.own.usage(owner)

    async def expire_partials(self, older_than_s: float) -> int:
        dropped = await self.own.expire_partials(older_than_s)
        for store in self.outputs.stores.values():
            dropped += await store.expire_partials(older_than_s)
        return dropped
