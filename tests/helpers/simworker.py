"""Simulated workers: real WorkerService.Connect streams under real worker
certificates, doing no work. Each Assign is answered at once with Started and
Result(SUCCEEDED); heartbeats follow the Welcome's interval; nothing else is answered.
`python -m bench.simworkers` runs a fleet of them as a process of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import common_pb2, nodes_pb2, worker_pb2, worker_pb2_grpc

# Plausible for a software-only host; the master matches jobs against these.
ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "aac")
# Its own connection per worker, as separate hosts would have: grpc must not
# share one subchannel between channels of this process.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [("grpc.use_local_subchannel_pool", 1)]

OnAssign = Callable[[str, float], None]


def worker_name(i: int) -> str:
    return f"sim-{i:04d}"


def worker_creds(certs: Path, name: str) -> grpc.ChannelCredentials:
    return channel_credentials(certs / "ca.crt", certs / f"{name}.crt", certs / f"{name}.key")


class SimWorker:
    def __init__(
        self,
        name: str,
        target: str,
        creds: grpc.ChannelCredentials,
        *,
        slots: int = 1,
        on_assign: OnAssign | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.creds = creds
        self.slots = slots
        self.on_assign = on_assign
        self.welcomed = asyncio.Event()
        self.assigns = 0
        self._out: asyncio.Queue[worker_pb2.WorkerMessage | None] = asyncio.Queue()
        self._running: set[tuple[str, int]] = set()
        self._seq = 0

    def _send(self, msg: worker_pb2.WorkerMessage) -> None:
        self._out.put_nowait(msg)

    async def _requests(self) -> AsyncIterator[worker_pb2.WorkerMessage]:
        # One writer (grpc's consumer of this iterator) for everything we send.
        while (msg := await self._out.get()) is not None:
            yield msg

    async def run(self) -> None:
        """Until the stream ends or the task is cancelled."""
        self._out = asyncio.Queue()  # a fresh stream: nothing of the last one's
        caps = nodes_pb2.Capabilities(
            encoders=list(ENCODERS), cpu_threads=2, ram_bytes=4 << 30, slots=self.slots
        )
        self._send(
            worker_pb2.WorkerMessage(hello=worker_pb2.Hello(node_id=self.name, capabilities=caps))
        )
        heartbeat: asyncio.Task[None] | None = None
        async with aio.secure_channel(self.target, self.creds, options=CHANNEL_OPTIONS) as ch:
            call = worker_pb2_grpc.WorkerServiceStub(ch).Connect(self._requests())
            try:
                async for msg in call:
                    kind = msg.WhichOneof("kind")
                    if kind == "assign":
                        self._on_assign(msg.assign)
                    elif kind == "welcome":
                        heartbeat = asyncio.create_task(
                            self._heartbeat(msg.welcome.heartbeat_interval_s)
                        )
                        self.welcomed.set()
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()
                self._out.put_nowait(None)

    def _on_assign(self, a: worker_pb2.Assign) -> None:
        at = time.perf_counter()
        self.assigns += 1
        if self.on_assign is not None:
            self.on_assign(a.lease.job_id, at)
        lease = common_pb2.Lease(job_id=a.lease.job_id, attempt=a.lease.attempt)
        self._running.add((lease.job_id, lease.attempt))
        self._send(worker_pb2.WorkerMessage(started=worker_pb2.Started(lease=lease, pid=1)))
        result = worker_pb2.Result(
            lease=lease, outcome=worker_pb2.OUTCOME_SUCCEEDED, output=a.spec.output
        )
        self._send(worker_pb2.WorkerMessage(result=result))
        self._running.discard((lease.job_id, lease.attempt))

    async def _heartbeat(self, interval: float) -> None:
        interval = max(interval, 0.1)
        while True:
            await asyncio.sleep(interval)
            self._seq += 1
            running = [common_pb2.Lease(job_id=j, attempt=a) for j, a in self._running]
            self._send(
                worker_pb2.WorkerMessage(
                    heartbeat=worker_pb2.Heartbeat(running=running, seq=self._seq)
                )
            )


# A stream cut before its Welcome is opened again, as a real worker reconnects:
# past 8,000 streams on a loaded machine a few are CANCELLED mid-handshake.
RETRIES = 3


async def start_fleet(
    workers: list[SimWorker], *, concurrency: int = 32, retried: list[str] | None = None
) -> list[asyncio.Task[None]]:
    """Start every worker, at most `concurrency` handshakes in flight (a burst of
    2,000 at once only measures the TLS backlog), and wait for every Welcome.
    `retried` gets the name of each worker whose stream had to be opened again."""
    tasks: dict[str, asyncio.Task[None]] = {}
    gate = asyncio.Semaphore(concurrency)

    async def admit(w: SimWorker) -> None:
        async with gate:
            for attempt in range(RETRIES + 1):
                task = tasks[w.name] = asyncio.create_task(w.run(), name=w.name)
                waiter = asyncio.ensure_future(w.welcomed.wait())
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if w.welcomed.is_set():
                    return
                exc = task.exception() if task.done() and not task.cancelled() else None
                if attempt == RETRIES or not isinstance(exc, aio.AioRpcError):
                    raise RuntimeError(f"{w.name} ended before its Welcome: {exc!r}")
                if retried is not None:
                    retried.append(w.name)

    await asyncio.gather(*(admit(w) for w in workers))
    return list(tasks.values())
