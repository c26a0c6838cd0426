"""A typed async client for the master's JobService, NodeService and AdminService:
mutual TLS, an optional API key, and retries of UNAVAILABLE calls with backoff.

Given several masters (a list, or "host:port,host:port"), it follows the leader:
a standby's UNAVAILABLE names the leader, and the call goes there at once;
without a name the next address is tried after the backoff."""

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
from ffrtmp.core.masters import MasterList, hint, parse
from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    common_pb2,
    jobs_pb2,
    jobs_pb2_grpc,
    nodes_pb2,
    nodes_pb2_grpc,
)

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
# With several masters, a master that does not answer in time may be frozen (its
# connection open, nothing served): the next one is tried. Safe, as every call
# made through _call may be repeated.
FOLLOW_ON = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class Client:
    def __init__(
        self,
        master: str | Sequence[str],
        *,
        ca: Path,
        cert: Path,
        key: Path,
        timeout: float = 15.0,
        retries: int | None = None,
        api_key: str = "",
    ) -> None:
        self.masters = MasterList(parse(master) if isinstance(master, str) else master)
        self.timeout = timeout
        # Several masters: enough retries (about 15 s of backoff) to outlast a failover.
        self.retries = retries if retries is not None else (4 if len(self.masters) == 1 else 8)
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self._creds = channel_credentials(ca, cert, key)
        self._old: list[aio.Channel] = []  # left for calls still on them; closed by close()
        self._connect()

    @property
    def master(self) -> str:
        """The address calls go to now."""
        return self._address

    def _connect(self) -> None:
        self._address = self.masters.current
        self._channel = aio.secure_channel(self._address, self._creds)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self._channel)
        self.nodes = nodes_pb2_grpc.NodeServiceStub(self._channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self._channel)

    def _follow(self, exc: aio.AioRpcError) -> bool:
        """After UNAVAILABLE: on to the leader a standby named (True: try at once),
        else to the next address (False: after the backoff)."""
        direct = self.masters.follow(hint(exc.trailing_metadata()))
        if self.masters.current != self._address:
            self._old.append(self._channel)
            self._connect()
        return direct

    def transfer(self, lease: tuple[str, int] | None = None, patience_s: float = 0.0) -> Transfer:
        """Uploads and downloads of blobs on this connection (see transfer.py)."""
        return Transfer(self._channel, self._metadata, lease=lease, patience_s=patience_s)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in (*self._old, self._channel):
            await channel.close()

    async def _call(self, pick: Callable[[], Callable[..., Awaitable[T]]], request: Any) -> T:
        """Calls `pick()` (a stub method, picked anew after a switch of master) and
        retries UNAVAILABLE with backoff; every call made through here is safe to
        repeat (submits carry a request_id)."""
        delay, attempt, hops = 0.2, 0, 0
        while True:
            try:
                return await pick()(request, timeout=self.timeout, metadata=self._metadata)
            except aio.AioRpcError as exc:
                several = len(self.masters) > 1
                if exc.code() not in (FOLLOW_ON if several else RETRYABLE):
                    raise
                if self._follow(exc) and hops < 2 * len(self.masters):
                    hops += 1  # bounded: two standbys naming each other cannot loop
                    continue
                if attempt == self.retries:
                    raise
                attempt += 1
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 3.0)

    async def submit(
        self,
        spec: common_pb2.JobSpec,
        request_id: str | None = None,
        depends_on: Sequence[str] = (),
    ) -> jobs_pb2.SubmitJobResponse:
        req = jobs_pb2.SubmitJobRequest(
            spec=spec, request_id=request_id or uuid.uuid4().hex, depends_on=list(depends_on)
        )
        return await self._call(lambda: self.jobs.SubmitJob, req)

    async def get(self, job_id: str) -> common_pb2.Job:
        resp = await self._call(lambda: self.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id))
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
        return await self._call(lambda: self.jobs.ListJobs, req)

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
            lambda: self.jobs.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id, reason=reason)
        )
        return resp.job

    async def retry(self, job_id: str, reason: str = "") -> common_pb2.Job:
        resp = await self._call(
            lambda: self.jobs.RetryJob, jobs_pb2.RetryJobRequest(job_id=job_id, reason=reason)
        )
        return resp.job

    async def pause(self, job_id: str, pause: bool = True) -> common_pb2.Job:
        if pause:
            p = await self._call(
                lambda: self.jobs.PauseJob, jobs_pb2.PauseJobRequest(job_id=job_id)
            )
            return p.job
        r = await self._call(lambda: self.jobs.ResumeJob, jobs_pb2.ResumeJobRequest(job_id=job_id))
        return r.job

    async def watch(self, job_id: str) -> AsyncIterator[common_pb2.Job]:
        req = jobs_pb2.WatchJobRequest(job_id=job_id)
        for _ in range(2 * len(self.masters)):
            got = False
            try:
                async for resp in self.jobs.WatchJob(req, metadata=self._metadata):
                    got = True
                    yield resp.job
                return
            except aio.AioRpcError as exc:
                # A standby's refusal names the leader: watch there instead.
                if got or exc.code() not in RETRYABLE or not self._follow(exc):
                    raise
        async for resp in self.jobs.WatchJob(req, metadata=self._metadata):
            yield resp.job

    async def list_nodes(self) -> list[nodes_pb2.Node]:
        resp = await self._call(lambda: self.nodes.ListNodes, nodes_pb2.ListNodesRequest())
        return list(resp.nodes)

    async def drain_node(self, node_id: str, drain: bool = True) -> nodes_pb2.Node:
        if drain:
            resp = await self._call(
                lambda: self.nodes.DrainNode, nodes_pb2.DrainNodeRequest(node_id=node_id)
            )
            return resp.node
        undrained = await self._call(
            lambda: self.nodes.UndrainNode, nodes_pb2.UndrainNodeRequest(node_id=node_id)
        )
        return undrained.node

    async def scenarios(self) -> list[jobs_pb2.Scenario]:
        resp = await self._call(lambda: self.jobs.ListScenarios, jobs_pb2.ListScenariosRequest())
        return list(resp.scenarios)

    async def logs(self, job_id: str) -> jobs_pb2.GetJobLogsResponse:
        return await self._call(
            lambda: self.jobs.GetJobLogs, jobs_pb2.GetJobLogsRequest(job_id=job_id)
        )

    async def queue_stats(self) -> jobs_pb2.GetQueueStatsResponse:
        return await self._call(lambda: self.jobs.GetQueueStats, jobs_pb2.GetQueueStatsRequest())

    async def health(self, service: str = "") -> str:
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING" or "SERVICE_UNKNOWN"."""
        stub: Any = health_pb2_grpc.HealthStub(self._channel)  # its stubs lack Check
        resp = await self._call(lambda: stub.Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    async def cluster_status(self) -> cluster_pb2.GetClusterStatusResponse:
        """The masters and which one leads, as the master called sees it (any
        master answers, a standby included)."""
        stub = cluster_pb2_grpc.ClusterServiceStub(self._channel)
        req = cluster_pb2.GetClusterStatusRequest()
        return await stub.GetClusterStatus(req, timeout=self.timeout, metadata=self._metadata)

    async def get_node(self, node_id: str) -> nodes_pb2.Node:
        resp = await self._call(
            lambda: self.nodes.GetNode, nodes_pb2.GetNodeRequest(node_id=node_id)
        )
        return resp.node

    async def create_api_key(self, user: str, role: str) -> admin_pb2.CreateApiKeyResponse:
        return await self._call(
            lambda: self.admin.CreateApiKey, admin_pb2.CreateApiKeyRequest(user=user, role=role)
        )

    async def list_api_keys(self) -> list[admin_pb2.ApiKey]:
        resp = await self._call(lambda: self.admin.ListApiKeys, admin_pb2.ListApiKeysRequest())
        return list(resp.keys)

    async def revoke_api_key(self, key_id: str) -> admin_pb2.ApiKey:
        resp = await self._call(
            lambda: self.admin.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(id=key_id)
        )
        return resp.key

    async def audit(self, limit: int = 100) -> list[admin_pb2.AuditEvent]:
        out: list[admin_pb2.AuditEvent] = []
        token = ""
        while len(out) < limit:
            page = await self._call(
                lambda: self.admin.ListAuditEvents,
                admin_pb2.ListAuditEventsRequest(
                    page_size=min(1000, limit - len(out)), page_token=token
                ),
            )
            out.extend(page.events)
            token = page.next_page_token
            if not token:
                break
        return out
