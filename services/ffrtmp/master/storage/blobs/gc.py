"""Blob garbage collection: what no job needs any more goes.

A sweep removes (1) the blobs of jobs the job store no longer holds (retention
deleted them, or they never existed), (2) input blobs older than `keep_inputs_s`
that no job in the store refers to, and (3) unfinished uploads nobody resumed
within `partial_ttl_s`. `forget_job` removes one job's blobs at once, for
callers that delete a job themselves. Which jobs refer to an input is a hook
(`references`); the default reads the spec's input (`blob:sha256:<hex>`, in the
job owner's space) of every job in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from ffrtmp.core.blobref import ASSIGNED_PREFIX, assigned_input, is_blob_ref
from ffrtmp.core.errors import FailedPrecondition, Unavailable
from ffrtmp.core.model import JobState
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.blobs.protocol import BlobStore
from ffrtmp.master.storage.protocol import JobStore, StoreClosed, StoreError

log = logging.getLogger(__name__)

# The input blob names (of those given) that some job still refers to.
References = Callable[[Iterable[str]], Awaitable[set[str]]]


@dataclass(frozen=True, slots=True)
class Swept:
    jobs: int = 0  # job blob groups removed
    inputs: int = 0
    partials: int = 0


class BlobGC:
    def __init__(
        self,
        blobs: BlobStore,
        store: JobStore,
        *,
        keep_inputs_s: float,
        partial_ttl_s: float,
        interval_s: float = 3600.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.store = store
        self.keep_inputs_s = keep_inputs_s
        self.partial_ttl_s = partial_ttl_s
        self.interval_s = interval_s
        self.wall = wall
        self.references: References = self.spec_references

    @classmethod
    def configured(cls, blobs: BlobStore, store: JobStore, c: BlobConfig) -> BlobGC:
        return cls(
            blobs,
            store,
            keep_inputs_s=c.keep_inputs_s,
            partial_ttl_s=c.partial_ttl_s,
            interval_s=min(3600.0, max(1.0, c.partial_ttl_s / 4)),
        )

    async def forget_job(self, job_id: str) -> int:
        """Remove every blob of a job (all attempts); how many."""
        return await self.blobs.delete_job(job_id)

    async def spec_references(self, names: Iterable[str]) -> set[str]:
        """Inputs named by a job in the store (`blob:sha256:` in its owner's space)."""
        named = set()
        for job in await self.store.jobs_in_states(list(JobState)):
            if is_blob_ref(job.spec.input):
                with contextlib.suppress(ValueError):  # malformed: names nothing
                    named.add(assigned_input(job.spec.input, job.owner)[len(ASSIGNED_PREFIX) :])
        return named & set(names)

    async def sweep(self) -> Swept:
        ids = await self.blobs.job_ids()
        held = await self.store.get_jobs(ids) if ids else {}
        gone = [i for i in ids if i not in held]
        for job_id in gone:
            await self.blobs.delete_job(job_id)
        inputs = 0
        if self.keep_inputs_s > 0:
            cutoff_ms = (self.wall() - self.keep_inputs_s) * 1000
            old = [name for name, created in await self.blobs.owner_blobs() if created < cutoff_ms]
            used = await self.references(old) if old else set()
            for name in old:
                if name not in used and await self.blobs.delete(name):
                    inputs += 1
        partials = await self.blobs.expire_partials(self.partial_ttl_s)
        swept = Swept(len(gone), inputs, partials)
        if gone or inputs or partials:
            log.info(
                "blob gc: removed the blobs of %d deleted jobs, %d unused inputs, "
                "%d unfinished uploads",
                *(swept.jobs, swept.inputs, swept.partials),
            )
        return swept

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sweep()
            except StoreClosed:
                return
            except (StoreError, OSError, Unavailable, FailedPrecondition) as exc:
                log.error("blob gc failed, trying again later: %s", exc)
