"""Which blobs a worker may touch: exactly what its current lease needs.

The blob service asks `authorize_worker(node, job, attempt, name, write)` for
every worker call. The answer comes from the lease table the scheduler already
keeps (the same one that refuses a stale worker's reports): the node must hold
(job, attempt) now. It may then read the job's input blob, its own attempt's
uploads and, for a join, the blobs stored by the segments it waited for; it may
write only under `jobs/{job}/attempts/{attempt}/`; a job whose input is `s3://`
is read as `jobs/{job}/input` (a presigned GET the master signs) (the blob service checks that
name itself too). An attempt that is over — succeeded, failed,
reassigned after a lost node — holds nothing: a stale worker can neither fetch
the input again nor replace the winner's outputs.
"""

from __future__ import annotations

from ffrtmp.core.blobref import ASSIGNED_PREFIX, assigned_input, attempt_space
from ffrtmp.core.errors import Unavailable
from ffrtmp.core.join import part_resources
from ffrtmp.core.model import Lease
from ffrtmp.core.s3_input import is_s3_input, job_input_resource
from ffrtmp.master.scheduling.state import State


class BlobLeases:
    def __init__(self, state: State) -> None:
        self.st = state

    def holds(self, node: str, job_id: str, attempt: int) -> bool:
        s = self.st.nodes.get(node)
        if s is None or not s.holds(Lease(job_id, attempt)):
            return False
        if not s.connected:
            # The lease is the node's but its stream is not up: a master that has
            # just started (or a link that blinked) waits for the node to come back
            # and re-offer its runs. A transfer on the node's own channel can get
            # here first; refusing it would fail a finished run and send it to
            # another node, so the worker is told to try again instead.
            raise Unavailable(
                f"node {node} holds lease {job_id}/{attempt} but its stream is not "
                "connected yet; retry once it is"
            )
        return True

    async def authorize_worker(
        self, node: str, job_id: str, attempt: int, name: str, write: bool
    ) -> bool:
        if not self.holds(node, job_id, attempt):
            return False
        if name.startswith(attempt_space(job_id, attempt)):
            return True  # its own outputs: writing them, resuming, checking them
        if write:
            return False
        job = await self.st.store.get_job(job_id)
        if job is None or job.attempt != attempt:
            return False
        if job.spec.concat and job.depends_on:  # a join reads what its segments stored
            deps = await self.st.store.get_jobs(list(job.depends_on))
            if name in part_resources(list(deps.values())):
                return True
        if is_s3_input(job.spec.input):  # a presigned GET of its s3:// input
            return name == job_input_resource(job_id)
        return assigned_input(job.spec.input, job.owner) == ASSIGNED_PREFIX + name
