"""The worker's BlobAccess: the transfer library on a channel of its own to the
master (a large upload never delays the worker stream's heartbeats), one
Transfer per call, bound to the lease it acts for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
from grpc import aio

from ffrtmp.client.blobref import TransferError
from ffrtmp.client.transfer import Transfer
from ffrtmp.core.errors import FfrtmpError
from ffrtmp.core.model import Lease
from ffrtmp.core.s3_input import job_input_resource
from ffrtmp.v1 import blobs_pb2
from ffrtmp.worker.environment import Refused
from ffrtmp.worker.s3input import InputGet

T = TypeVar("T")


class BlobRefused(FfrtmpError):
    """The blob service refused for good (no such input, a malformed name): the
    job fails, since another attempt would get the same answer."""


# Anything else — the connection, the store, a lease the master no longer lets
# this worker use (its run is aborted anyway) — is transient.
RETRIES = 6
PERMANENT = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT})


# With several masters the channel is moved to the new leader when the worker is
# welcomed there (daemon.py); a transfer cut by the failover is tried again on it
# (transfers resume) for this long before the attempt fails as transient.
FAILOVER_S = 30.0


class WorkerBlobs:
    def __init__(self, channel: aio.Channel) -> None:
        self.channel = channel

    def _transfer(self, lease: Lease) -> Transfer:
        # Retries (about 6 s of backoff in all) ride out a blip or a master restart
        # (the upload resumes from what the master kept); past them the attempt
        # fails as transient and the master's backoff takes over.
        return Transfer(self.channel, lease=(lease.job_id, lease.attempt), retries=RETRIES)

    async def _again(self, step: Callable[[Transfer], Awaitable[T]], lease: Lease) -> T:
        deadline = time.monotonic() + FAILOVER_S
        while True:
            try:
                return await step(self._transfer(lease))
            except aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.5)

    async def size(self, resource: str, lease: Lease) -> int:
        blob = await _translated(self._again(lambda t: t.stat(resource), lease))
        if blob is None:
            raise BlobRefused(f"input blob {resource} not found")
        return int(blob.size_bytes)

    async def download(self, resource: str, dest: Path, lease: Lease) -> None:
        await _translated(self._again(lambda t: t.download(resource, dest), lease))

    async def presign_input(self, job_id: str, lease: Lease) -> InputGet:
        """A GET of the job's s3:// input, signed by the master for this lease."""
        req = blobs_pb2.PresignRequest(
            resource_name=job_input_resource(job_id),
            method=blobs_pb2.PRESIGN_METHOD_GET,
            lease=blobs_pb2.BlobLease(job_id=lease.job_id, attempt=lease.attempt),
        )

        async def once(t: Transfer) -> blobs_pb2.PresignResponse:
            plan: blobs_pb2.PresignResponse = await t.stub.Presign(req, timeout=t.timeout)
            return plan

        plan = await _translated(self._again(once, lease))
        if plan.stream_through_master or not plan.urls:
            raise Refused(f"the master signed no URL for {req.resource_name}")
        url = plan.urls[0]
        return InputGet(url.url, tuple(url.headers.items()), url.size_bytes)

    async def upload(self, resource: str, path: Path, ctype: str, lease: Lease) -> tuple[str, int]:
        ref = await _translated(
            self._again(lambda t: t.upload(path, resource, content_type=ctype), lease)
        )
        return ref.sha256, ref.size


async def _translated(step: Awaitable[T]) -> T:
    try:
        return await step
    except aio.AioRpcError as exc:
        if exc.code() in PERMANENT:
            raise BlobRefused(f"blob service: {exc.details()}") from None
        raise Refused(f"blob service: {exc.code().name}: {exc.details()}") from None
    except TransferError as exc:
        raise Refused(f"blob transfer: {exc}") from None
