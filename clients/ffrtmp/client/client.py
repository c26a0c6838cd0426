"""A typed async client for the master's JobService, NodeService and AdminService:
mutual TLS, an optional API key, and retries of UNAVAILABLE calls with backoff."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ffrtmp.client.transfer import Transfer
from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    jobs_pb2,
    jobs_pb2_grpc,
    nodes_pb2,
    nodes_pb2_grpc,
)

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


class Client:
    def __init__(
        self,
        master: str,
        *,
        ca: Path,
        cert: Path,
        key: Path,
        timeout: float = 15.0,
        retries: int = 4,
        api_key: str = "",
    ) -> None:
        self.master = master
        self.timeout = timeout
        self.retries = retries
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self._channel = aio.secure_channel(master, channel_credentials(ca, cert, key))
        self.jobs = jobs_pb2_grpc.JobServiceStub(self._channel)
        self.nodes = nodes_pb2_grpc.NodeServiceStub(self._channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self._channel)

    def transfer(self, lease: tuple[str, int] | None = None) -> Transfer:
        """Uploads and downloads of blobs on this connection (see transfer.py)."""
        return Transfer(self._channel, self._metadata, lease=lease)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, fn: Callable[..., Awaitable[T]], request: Any) -> T:
        """Retries UNAVAILABLE with backoff; every call made through here is safe to
        repeat (submits carry a request_id)."""
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                return await fn(request, timeout=self.timeout, metadata=self._metadata)
            except aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or attempt == self.retries:
                    raise
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 3.0)
        raise AssertionError("unreachable")

    async def submit(
        self,
        spec: common_pb2.JobSpec,
        request_id: str | None = None,
        depends_on: Sequence[str] = (),
    ) -> jobs_pb2.SubmitJobResponse:
        req = jobs_pb2.SubmitJobRequest(
            spec=spec, request_id=request_id or uuid.uuid4().hex, depends_on=list(depends_on)
        )
        return await self._call(self.jobs.SubmitJob, req)

    async def get(self, job_id: str) -> common_pb2.Job:
        resp = await self._call(self.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id))
        return resp.job

    async def list_jobs(
        self,
        *,
        states: Sequence[common_pb2.JobState.ValueType] = (),
        queue: str = "",
        node_id: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> jobs_pb2.ListJobsResponse:
        req = jobs_pb2.ListJobsRequest(
            states=list(states),
            queue=queue,
            node_id=node_id,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._call(self.jobs.ListJobs, req)

    async def list_all(self, *, limit: int = 1000, **filters: Any) -> list[common_pb2.Job]:
        out: list[common_pb2.Job] = []
        token = ""
        while len(out) < limit:
            page = await self.list_jobs(
                page_size=min(1000, limit - len(out)), page_token=token, **filters
            )
            out.extend(page.jobs)
            token = page.next_page_token
            if not token:
                break
        return out

    async def cancel(self, job_id: str, reason: str = "") -> common_pb2.Job:
        resp = await self._call(
            self.jobs.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id, reason=reason)
        )
        return resp.job

    async def retry(self, job_id: str, reason: str = "") -> common_pb2.Job:
        resp = await self._call(
            self.jobs.RetryJob, jobs_pb2.RetryJobRequest(job_id=job_id, reason=reason)
        )
        return resp.job

    async def pause(self, job_id: str, pause: bool = True) -> common_pb2.Job:
        if pause:
            p = await self._call(self.jobs.PauseJob, jobs_pb2.PauseJobRequest(job_id=job_id))
            return p.job
        r = await self._call(self.jobs.ResumeJob, jobs_pb2.ResumeJobRequest(job_id=job_id))
        return r.job

    async def watch(self, job_id: str) -> AsyncIterator[common_pb2.Job]:
        call = self.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), metadata=self._metadata)
        async for resp in call:
            yield resp.job

    async def list_nodes(self) -> list[nodes_pb2.Node]:
        resp = await self._call(self.nodes.ListNodes, nodes_pb2.ListNodesRequest())
        return list(resp.nodes)

    async def drain_node(self, node_id: str, drain: bool = True) -> nodes_pb2.Node:
        if drain:
            resp = await self._call(
                self.nodes.DrainNode, nodes_pb2.DrainNodeRequest(node_id=node_id)
            )
            return resp.node
        undrained = await self._call(
            self.nodes.UndrainNode, nodes_pb2.UndrainNodeRequest(node_id=node_id)
        )
        return undrained.node

    async def scenarios(self) -> list[jobs_pb2.Scenario]:
        resp = await self._call(self.jobs.ListScenarios, jobs_pb2.ListScenariosRequest())
        return list(resp.scenarios)

    async def logs(self, job_id: str) -> jobs_pb2.GetJobLogsResponse:
        return await self._call(self.jobs.GetJobLogs, jobs_pb2.GetJobLogsRequest(job_id=job_id))

    async def queue_stats(self) -> jobs_pb2.GetQueueStatsResponse:
        return await self._call(self.jobs.GetQueueStats, jobs_pb2.GetQueueStatsRequest())

    async def health(self, service: str = "") -> str:
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING" or "SERVICE_UNKNOWN"."""
        stub: Any = health_pb2_grpc.HealthStub(self._channel)  # its stubs lack Check
        resp = await self._call(stub.Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    async def get_node(self, node_id: str) -> nodes_pb2.Node:
        resp = await self._call(self.nodes.GetNode, nodes_pb2.GetNodeRequest(node_id=node_id))
        return resp.node

    async def create_api_key(self, user: str, role: str) -> admin_pb2.CreateApiKeyResponse:
        return await self._call(
            self.admin.CreateApiKey, admin_pb2.CreateApiKeyRequest(user=user, role=role)
        )

    async def list_api_keys(self) -> list[admin_pb2.ApiKey]:
        resp = await self._call(self.admin.ListApiKeys, admin_pb2.ListApiKeysRequest())
        return list(resp.keys)

    async def revoke_api_key(self, key_id: str) -> admin_pb2.ApiKey:
        resp = await self._call(self.admin.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(id=key_id))
        return resp.key

    async def audit(self, limit: int = 100) -> list[admin_pb2.AuditEvent]:
        out: list[admin_pb2.AuditEvent] = []
        token = ""
        while len(out) < limit:
            page = await self._call(
                self.admin.ListAuditEvents,
                admin_pb2.ListAuditEventsRequest(
                    page_size=min(1000, limit - len(out)), page_token=token
                ),
            )
            out.extend(page.events)
            token = page.next_page_token
            if not token:
                break
        return out
