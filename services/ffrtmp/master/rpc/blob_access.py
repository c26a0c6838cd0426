"""Who may touch which blob: the checks behind BlobService, by resource name.

Clients by role (protos/ffrtmp/v1/blobs.proto has the table): a submitter its
own owners/{self}/ name space and the artifacts of its own jobs; viewers read
anything; operators and admins everything. Workers only through
`authorize_worker(node, job, attempt, name, write)`, which the scheduler's lease
table answers; until one is installed every worker is refused. A job's blobs
are artifacts, readable by clients, only for the attempt that succeeded
(`job_reader`, replaceable in the same way).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ffrtmp.core.authz import ADMIN, CHANGERS, OPERATORS, SUBMITTER, VIEWER, Actor
from ffrtmp.core.blobnames import BlobName, JobBlob, JobInput, OwnerBlob
from ffrtmp.core.errors import InvalidArgument, NotFound, PermissionDenied
from ffrtmp.core.model import JobState
from ffrtmp.master.storage.protocol import JobStore

# (node, job id, attempt, resource name, write) -> allowed
WorkerCheck = Callable[[str, str, int, str, bool], "bool | Awaitable[bool]"]
# (actor, job blob) -> None or raise: may this client read that job blob
JobReader = Callable[[Actor, JobBlob], Awaitable[None]]


def refuse_workers(node: str, job_id: str, attempt: int, name: str, write: bool) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Lease:
    job_id: str
    attempt: int


class BlobAccess:
    def __init__(
        self, store: JobStore | None = None, authorize_worker: WorkerCheck = refuse_workers
    ) -> None:
        self.store = store
        self.authorize_worker: WorkerCheck = authorize_worker
        self.job_reader: JobReader = self.winner_only

    async def check(self, actor: Actor, name: BlobName, lease: Lease | None, write: bool) -> None:
        """Raise PermissionDenied/NotFound unless `actor` may read (or write) `name`."""
        if actor.kind == "worker":
            await self._worker(actor, name, lease, write)
        elif actor.kind == "master" and actor.role == ADMIN:
            return
        elif isinstance(name, OwnerBlob):
            self._owner_space(actor, name, write)
        elif write:
            raise PermissionDenied(
                "only the worker holding the lease writes jobs/{job}/attempts/{n}/ blobs"
            )
        elif isinstance(name, JobInput):
            raise PermissionDenied(f"only the worker holding job {name.job_id}'s lease reads it")
        else:
            await self.job_reader(actor, name)

    async def _worker(self, actor: Actor, name: BlobName, lease: Lease | None, write: bool) -> None:
        if lease is None or not lease.job_id:
            raise InvalidArgument("lease", "a worker names the lease (job, attempt) it acts for")
        if write and not (
            isinstance(name, JobBlob)
            and (name.job_id, name.attempt) == (lease.job_id, lease.attempt)
        ):
            raise PermissionDenied(
                f"a worker writes only jobs/{lease.job_id}/attempts/{lease.attempt}/ blobs"
            )
        allowed = self.authorize_worker(actor.name, lease.job_id, lease.attempt, str(name), write)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            raise PermissionDenied(
                f"node {actor.name} does not hold lease {lease.job_id}/{lease.attempt} "
                f"for {'writing' if write else 'reading'} {name}"
            )

    @staticmethod
    def _owner_space(actor: Actor, name: OwnerBlob, write: bool) -> None:
        if actor.role in OPERATORS:
            return
        if write:
            if actor.role in CHANGERS and actor.name == name.owner:
                return
            raise PermissionDenied(
                f"{actor.name} ({actor.role}) may write only owners/{actor.name}/ blobs"
                if actor.role == SUBMITTER
                else f"role {actor.role} may not upload blobs"
            )
        if actor.role == VIEWER or (actor.role == SUBMITTER and actor.name == name.owner):
            return
        raise PermissionDenied(f"{actor.name} ({actor.role}) may read only its own blobs")

    async def winner_only(self, actor: Actor, name: JobBlob) -> None:
        """The default job reader: the job's readers, the succeeded attempt's blobs."""
        if self.store is None:
            raise NotFound(f"blob {name} not found")
        job = await self.store.get_job(name.job_id)
        if job is None:
            raise NotFound(f"job {name.job_id} not found")
        if actor.role == SUBMITTER and job.owner != actor.name:
            raise PermissionDenied(
                f"job {name.job_id} belongs to {job.owner or 'nobody'}; "
                f"{actor.name} may read only its own jobs' artifacts"
            )
        if actor.role not in OPERATORS and not (
            job.state is JobState.SUCCEEDED and job.attempt == name.attempt
        ):
            raise NotFound(f"{name} is not an artifact of job {name.job_id}")
