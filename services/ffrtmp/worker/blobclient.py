"""The worker's BlobAccess: the transfer library on a channel of its own to the
master (a large upload never delays the worker stream's heartbeats), one
Transfer per call, bound to the lease it acts for."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import grpc
from grpc import aio

from ffrtmp.client.blobref import TransferError
from ffrtmp.client.transfer import Transfer
from ffrtmp.core.errors import FfrtmpError
from ffrtmp.core.model import Lease
from ffrtmp.worker.environment import Refused

T = TypeVar("T")


class BlobRefused(FfrtmpError):
    """The blob service refused for good (no such input, a malformed name): the
    job fails, since another attempt would get the same answer."""


# Anything else — the connection, the store, a lease the master no longer lets
# this worker use (its run is aborted anyway) — is transient.
RETRIES = 6
PERMANENT = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT})


class WorkerBlobs:
    def __init__(self, channel: aio.Channel) -> None:
        self.channel = channel

    def _transfer(self, lease: Lease) -> Transfer:
        # Retries (about 6 s of backoff in all) ride out a blip or a master restart
        # (the upload resumes from what the master kept); past them the attempt
        # fails as transient and the master's backoff takes over.
        return Transfer(self.channel, lease=(lease.job_id, lease.attempt), retries=RETRIES)

    async def size(self, resource: str, lease: Lease) -> int:
        blob = await _translated(self._transfer(lease).stat(resource))
        if blob is None:
            raise BlobRefused(f"input blob {resource} not found")
        return int(blob.size_bytes)

    async def download(self, resource: str, dest: Path, lease: Lease) -> None:
        await _translated(self._transfer(lease).download(resource, dest))

    async def upload(self, resource: str, path: Path, ctype: str, lease: Lease) -> tuple[str, int]:
        ref = await _translated(self._transfer(lease).upload(path, resource, content_type=ctype))
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
