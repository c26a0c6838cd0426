"""The outgoing half of the worker's stream: a queue of messages, ended by None."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from ffrtmp.v1 import worker_pb2

log = logging.getLogger("ffrtmp.worker")

Out = asyncio.Queue[worker_pb2.WorkerMessage | None]


def ended(task: asyncio.Task[None], out: Out) -> None:
    """Heartbeats never end by themselves: if they fail, this stream is useless
    (the master would lose us), so end it and reconnect."""
    if not task.cancelled():
        log.error("heartbeats stopped", exc_info=task.exception())
        out.put_nowait(None)


async def outgoing(
    out: Out, hello: worker_pb2.WorkerMessage
) -> AsyncIterator[worker_pb2.WorkerMessage]:
    yield hello
    while (msg := await out.get()) is not None:
        yield msg
