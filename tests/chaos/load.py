"""The jobs of a chaos run: a steady stream of tiny lavfi transcodes and short
real-time encodes, and bursts for the master to die in. Every submit carries a
request id of its own and is repeated until acknowledged, so a crash of the master
can make it neither lost nor doubled."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ffrtmp.client import Client
from ffrtmp.v1 import common_pb2

LONGEST_LIVE_S = 12.0  # real-time jobs run 4 s to this long


@dataclass
class Load:
    seed: int
    client: Callable[[], Client]
    acked: dict[str, str] = field(default_factory=dict)  # request id -> job id
    ack_times: dict[str, float] = field(default_factory=dict)
    submitted: int = 0
    on_ack: Callable[[str, str], None] | None = None
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed * 7919 + 1)

    def spec(self, rid: str) -> common_pb2.JobSpec:
        """A third run in real time (a window for a double run); the rest are fast."""
        live = self._rng.random() < 1 / 3
        seconds = round(self._rng.uniform(4.0, LONGEST_LIVE_S) if live else
                        self._rng.uniform(0.5, 3.0), 1)  # fmt: skip
        return common_pb2.JobSpec(
            scenario="test", live=live, duration_s=seconds, output=f"chaos/{rid}.mp4",
            queue=self._rng.choice(["live", "default", "batch"]),
        )  # fmt: skip

    def rid(self) -> str:
        self.submitted += 1
        return f"c{self.seed}-{self.submitted:04d}"

    async def submit(self, rid: str, spec: common_pb2.JobSpec) -> str:
        """Until acknowledged: the master may be down, restarting or unreachable."""
        while True:
            try:
                async with self.client() as c:
                    job = (await c.submit(spec, request_id=rid)).job
            except Exception:  # UNAVAILABLE, DEADLINE_EXCEEDED, a reset: all retried
                await asyncio.sleep(0.2)
                continue
            self.acked[rid] = job.id
            self.ack_times[rid] = time.monotonic()
            if self.on_ack is not None:
                self.on_ack(rid, job.id)
            return job.id

    async def stream(self, jobs: int, seconds: float) -> None:
        """`jobs` submits spread evenly over `seconds`, each retried on its own."""
        tasks = []
        t0 = time.monotonic()
        for i in range(jobs):
            await asyncio.sleep(max(0.0, t0 + i * seconds / max(jobs, 1) - time.monotonic()))
            rid = self.rid()
            tasks.append(asyncio.create_task(self.submit(rid, self.spec(rid))))
        await asyncio.gather(*tasks)

    async def burst(self, n: int, kill_after: int, kill: Callable[[], None]) -> None:
        """`n` submits at once; `kill` runs the moment the `kill_after`-th is acked."""
        acks = 0
        killed = asyncio.Event()

        def counted(rid: str, job_id: str) -> None:
            nonlocal acks
            acks += 1
            if acks == kill_after and not killed.is_set():
                killed.set()
                kill()

        rids = [self.rid() for _ in range(n)]
        specs = [self.spec(r) for r in rids]

        async def one(rid: str, spec: common_pb2.JobSpec) -> None:
            await self.submit(rid, spec)
            counted(rid, self.acked[rid])

        await asyncio.gather(*(one(r, s) for r, s in zip(rids, specs, strict=True)))
