"""Fan-out of job changes to WatchJob streams. Coalescing: a slow watcher sees
the latest state, never a backlog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ffrtmp.core.errors import Unavailable


class _Changed(asyncio.Event):
    """Set on every change; raises once the feed closes, so a stopping master
    ends its WatchJob streams at once (UNAVAILABLE: watch again elsewhere)
    instead of holding them open until its grace runs out."""

    closed = False

    async def wait(self) -> bool:  # type: ignore[override]
        await super().wait()
        if self.closed:
            raise Unavailable("the master is stopping; watch the job again")
        return True


class ChangeFeed:
    def __init__(self) -> None:
        self._subs: dict[str, set[_Changed]] = {}
        self._closed = False

    def publish(self, job_id: str) -> None:
        for ev in self._subs.get(job_id, ()):
            ev.set()

    def close(self) -> None:
        self._closed = True
        for subs in self._subs.values():
            for ev in subs:
                ev.closed = True
                ev.set()

    @asynccontextmanager
    async def subscribe(self, *job_ids: str) -> AsyncIterator[asyncio.Event]:
        """One event set by a change of any of `job_ids` (a group and its children)."""
        if self._closed:
            raise Unavailable("the master is stopping; watch the job again")
        ev = _Changed()
        for job_id in job_ids:
            self._subs.setdefault(job_id, set()).add(ev)
        try:
            yield ev
        finally:
            for job_id in job_ids:
                subs = self._subs.get(job_id)
                if subs is not None:
                    subs.discard(ev)
                    if not subs:
                        del self._subs[job_id]

    def watchers(self) -> int:
        return sum(len(s) for s in self._subs.values())
