"""Fan-out of job changes to WatchJob streams. Coalescing: a slow watcher sees
the latest state, never a backlog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ChangeFeed:
    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Event]] = {}

    def publish(self, job_id: str) -> None:
        for ev in self._subs.get(job_id, ()):
            ev.set()

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        ev = asyncio.Event()
        self._subs.setdefault(job_id, set()).add(ev)
        try:
            yield ev
        finally:
            subs = self._subs.get(job_id)
            if subs is not None:
                subs.discard(ev)
                if not subs:
                    del self._subs[job_id]

    def watchers(self) -> int:
        return sum(len(s) for s in self._subs.values())
