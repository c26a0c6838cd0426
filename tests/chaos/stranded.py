"""Jobs the master calls ASSIGNED or RUNNING while no encoder of theirs exists
anywhere: polled from the master, checked against the /proc watcher.

A lease is stranded once that has lasted longer than `after_s` (the heartbeat
timeout plus a margin for the launch of an encoder). The clock of a lease starts
at the latest of: the first poll that showed it, the last encoder of its job the
watcher saw, and the last start of the master (time with the master down does not
count: nothing could be resolved then)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ffrtmp.client import Client
from ffrtmp.v1 import common_pb2
from tests.chaos.seen import Seen

ACTIVE = (common_pb2.JOB_STATE_ASSIGNED, common_pb2.JOB_STATE_RUNNING)
POLL_S = 0.5


@dataclass
class Stranding:
    job: str
    attempt: int
    node: str
    state: str
    seconds: float  # the longest it was seen without an encoder
    since: float  # monotonic time that stretch began


@dataclass
class StrandedTracker:
    seen: Seen
    client: Callable[[], Client]
    master_up_since: Callable[[], float]
    after_s: float
    found: dict[tuple[str, int], Stranding] = field(default_factory=dict)
    polls: int = 0
    _since: dict[tuple[str, int], float] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        async with self.client() as c:
            while not stop.is_set():
                try:
                    jobs = await c.list_all(limit=100_000, states=ACTIVE)
                except Exception:  # the master is down or restarting
                    jobs = None
                if jobs is not None:
                    self.check(jobs, time.monotonic())
                    self.polls += 1
                await asyncio.sleep(POLL_S)

    def check(self, jobs: list[common_pb2.Job], now: float) -> None:
        live = set()
        for j in jobs:
            key = (j.id, j.attempt)
            live.add(key)
            first = self._since.setdefault(key, now)
            seen = self.seen.last_seen(j.id) or 0.0
            start = max(first, seen, self.master_up_since())
            idle = now - start
            if idle > self.after_s:
                prev = self.found.get(key)
                if prev is None or idle > prev.seconds:
                    state = common_pb2.JobState.Name(j.state).removeprefix("JOB_STATE_")
                    self.found[key] = Stranding(j.id, j.attempt, j.node_id, state, idle, start)
        for key in [k for k in self._since if k not in live]:
            del self._since[key]
