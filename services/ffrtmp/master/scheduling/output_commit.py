"""An attempt's success for a job writing to `s3://bucket/...`: its files, stored
under the bucket's hidden attempt space, are copied to their final keys before
the job is marked SUCCEEDED (storage/blobs/outputs.py has the layout).

Results of one job are applied one at a time (`lock`), and the copy happens only
while the reporting attempt is still the job's current one: of two attempts that
both finish, the one whose SUCCEEDED is recorded is the last to have copied, so
the keys hold the winner's bytes. A copy that fails (the store down or slow) is a
transient failure of the attempt: it is retried, never recorded as stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from ffrtmp.core.errors import FfrtmpError
from ffrtmp.core.model import ACTIVE, AttemptResult, Lease, Outcome
from ffrtmp.core.s3_output import is_s3_output
from ffrtmp.master.scheduling.state import State

log = logging.getLogger("ffrtmp.master")

# The copies run while the worker's stream waits for its Result to be applied:
# bounded well inside the time after which a silent worker is declared lost.
COMMIT_TIMEOUT_S = 15.0


class OutputCommit:
    def __init__(self, state: State) -> None:
        self.st = state
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # holders and waiters of each lock

    @asynccontextmanager
    async def lock(self, job_id: str) -> AsyncIterator[None]:
        if self.st.outputs is None or not self.st.outputs.stores:
            yield
            return
        lock = self._locks.setdefault(job_id, asyncio.Lock())
        self._users[job_id] = self._users.get(job_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[job_id] -= 1
            if not self._users[job_id]:  # no holder and nobody waiting: forget it
                del self._users[job_id], self._locks[job_id]

    async def commit(self, lease: Lease, r: AttemptResult) -> AttemptResult:
        """The result as it is recorded: artifacts at their final s3:// keys, or a
        transient failure when they could not be put there."""
        outputs = self.st.outputs
        if outputs is None or not outputs.stores or r.outcome != Outcome.SUCCEEDED:
            return r
        job = await self.st.store.get_job(lease.job_id)
        if job is None or not is_s3_output(job.spec.output):
            return r
        if job.attempt != lease.attempt or job.state not in ACTIVE:
            return r  # no longer its attempt: the compare-and-set refuses it, nothing copied
        info = r.output_info
        if info is None or not info.artifacts:
            return replace(r, outcome=Outcome.FAILED, error_class="transient",
                           error="the worker stored no output files for the S3 output")
        try:
            limit = min(COMMIT_TIMEOUT_S, self.st.config.heartbeat_timeout_s / 2)
            async with asyncio.timeout(limit):
                stored = await outputs.commit(job.spec.output, info.artifacts)
        except (FfrtmpError, TimeoutError) as exc:
            why = getattr(exc, "message", "") or "timed out"
            log.warning("job %s attempt %d: outputs not copied to %s: %s",
                        lease.job_id, lease.attempt, job.spec.output, why)
            return replace(r, outcome=Outcome.FAILED, error_class="transient",
                           error=f"storing the outputs in {job.spec.output} failed: {why}")
        return replace(r, output=job.spec.output, output_info=replace(info, artifacts=stored))

    async def forget_uploads(self, job_id: str) -> None:
        """After the success: the attempts' uploads are copies now; drop them (the
        blob collector would otherwise, with the job)."""
        if self.st.outputs is None or not self.st.outputs.stores:
            return
        try:
            await self.st.outputs.forget(job_id)
        except FfrtmpError as exc:
            log.warning("job %s: attempts' uploads not removed yet: %s", job_id, exc.message)
