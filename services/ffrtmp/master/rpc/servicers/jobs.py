"""JobService: proto in, scheduler call, proto out."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from ffrtmp import wire
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import Job
from ffrtmp.core.redact import for_reader
from ffrtmp.master.rpc.auth import current_actor
from ffrtmp.master.rpc.handlers import Ctx
from ffrtmp.master.scheduling.scheduler import Scheduler
from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

MAX_PAGE = 1000
DEFAULT_PAGE = 100


def _job_id(value: str) -> str:
    if not value:
        raise InvalidArgument("job_id", "is required")
    if len(value) > 64:
        raise InvalidArgument("job_id", "longer than 64 characters")
    return value


def _reason(value: str) -> str:
    """Reasons land in the history, the audit log and log lines: one printable line."""
    if len(value) > 512:
        raise InvalidArgument("reason", "longer than 512 characters")
    if not value.isprintable():
        raise InvalidArgument("reason", "control characters (newlines, escapes) are not allowed")
    return value


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def _decode_token(token: str) -> int | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith("seq:"):
            raise ValueError
        return int(text[4:])
    except (ValueError, UnicodeError):
        raise InvalidArgument("page_token", "not a token from a previous ListJobs") from None


def _shown(job: Job, pending_reason: str = "") -> common_pb2.Job:
    """A job as the caller may read it: the one place reads are redacted."""
    actor = current_actor()
    shown = for_reader(job, actor)
    shown.children = [for_reader(c, actor) for c in job.children]
    return wire.job_pb(shown, pending_reason)


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, scheduler: Scheduler) -> None:
        self.use(scheduler)

    def use(self, scheduler: Scheduler) -> None:
        """Serve from `scheduler` (a new one each time this master becomes leader)."""
        self.scheduler = scheduler
        self.pending_reason = scheduler.dispatcher.pending_reason  # why a job waits

    async def SubmitJob(
        self, request: jobs_pb2.SubmitJobRequest, context: Ctx
    ) -> jobs_pb2.SubmitJobResponse:
        job, created = await self.scheduler.submit(
            wire.raw_spec(request.spec),
            request.request_id,
            current_actor(),
            [_job_id(d) for d in request.depends_on],
        )
        return jobs_pb2.SubmitJobResponse(job=_shown(job), created=created)

    async def GetJob(
        self, request: jobs_pb2.GetJobRequest, context: Ctx
    ) -> jobs_pb2.GetJobResponse:
        job = await self.scheduler.get_tree(_job_id(request.job_id))
        return jobs_pb2.GetJobResponse(job=_shown(job, self.pending_reason(job)))

    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: Ctx
    ) -> jobs_pb2.ListJobsResponse:
        if request.page_size > MAX_PAGE:
            raise InvalidArgument("page_size", f"must be at most {MAX_PAGE}")
        if len(request.queue) > 64 or len(request.node_id) > 64:
            raise InvalidArgument(
                "queue" if len(request.queue) > 64 else "node_id", "longer than 64 characters"
            )
        size = request.page_size or DEFAULT_PAGE
        jobs = await self.scheduler.list_jobs(
            states=wire.job_states(list(request.states)),
            queue=request.queue,
            node_id=request.node_id,
            before_seq=_decode_token(request.page_token),
            limit=size + 1,
        )
        token = _encode_token(jobs[size - 1].seq) if len(jobs) > size else ""
        return jobs_pb2.ListJobsResponse(
            jobs=[_shown(j, self.pending_reason(j)) for j in jobs[:size]],
            next_page_token=token,
        )

    async def CancelJob(
        self, request: jobs_pb2.CancelJobRequest, context: Ctx
    ) -> jobs_pb2.CancelJobResponse:
        reason = _reason(request.reason)
        job = await self.scheduler.cancel(_job_id(request.job_id), reason, current_actor())
        return jobs_pb2.CancelJobResponse(job=_shown(job))

    async def RetryJob(
        self, request: jobs_pb2.RetryJobRequest, context: Ctx
    ) -> jobs_pb2.RetryJobResponse:
        reason = _reason(request.reason)
        job = await self.scheduler.retry(_job_id(request.job_id), reason, current_actor())
        return jobs_pb2.RetryJobResponse(job=_shown(job))

    async def PauseJob(
        self, request: jobs_pb2.PauseJobRequest, context: Ctx
    ) -> jobs_pb2.PauseJobResponse:
        job = await self.scheduler.pause(_job_id(request.job_id), True, current_actor())
        return jobs_pb2.PauseJobResponse(job=_shown(job))

    async def ResumeJob(
        self, request: jobs_pb2.ResumeJobRequest, context: Ctx
    ) -> jobs_pb2.ResumeJobResponse:
        job = await self.scheduler.pause(_job_id(request.job_id), False, current_actor())
        return jobs_pb2.ResumeJobResponse(job=_shown(job))

    async def ListScenarios(
        self, request: jobs_pb2.ListScenariosRequest, context: Ctx
    ) -> jobs_pb2.ListScenariosResponse:
        catalog = sorted(self.scheduler.config.scenarios.values(), key=lambda s: s.name)
        return jobs_pb2.ListScenariosResponse(scenarios=[wire.scenario_pb(s) for s in catalog])

    async def GetJobLogs(
        self, request: jobs_pb2.GetJobLogsRequest, context: Ctx
    ) -> jobs_pb2.GetJobLogsResponse:
        job = await self.scheduler.logs(_job_id(request.job_id), current_actor())
        return jobs_pb2.GetJobLogsResponse(
            job_id=job.id, attempt=job.attempt, node_id=job.node_id, log_tail=job.log_tail
        )

    async def GetQueueStats(
        self, request: jobs_pb2.GetQueueStatsRequest, context: Ctx
    ) -> jobs_pb2.GetQueueStatsResponse:
        return wire.queue_stats_pb(self.scheduler.stats())

    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Ctx
    ) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        async for job in self.scheduler.watch(_job_id(request.job_id)):
            yield jobs_pb2.WatchJobResponse(job=_shown(job, self.pending_reason(job)))
