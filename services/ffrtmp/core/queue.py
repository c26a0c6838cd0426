"""The pending-job queue: a heap of keys and ids, with lazy removal.

Only ids and ordering keys live here; specs stay in the store. Removal (cancel)
marks an id gone and the heap skips it when it surfaces, so removal is O(1).
"""

from __future__ import annotations

import heapq

from ffrtmp.core.priority import heap_key


class JobQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[tuple[int, int], str]] = []
        self._live: set[str] = set()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._live

    def push(self, job_id: str, queue: str, priority: str, seq: int) -> None:
        if job_id in self._live:
            return
        self._live.add(job_id)
        heapq.heappush(self._heap, (heap_key(queue, priority, seq), job_id))

    def remove(self, job_id: str) -> bool:
        if job_id not in self._live:
            return False
        self._live.discard(job_id)
        if not self._live:
            self._heap.clear()
        return True

    def _skip_removed(self) -> None:
        while self._heap and self._heap[0][1] not in self._live:
            heapq.heappop(self._heap)

    def peek(self) -> str | None:
        self._skip_removed()
        return self._heap[0][1] if self._heap else None

    def pop(self) -> str | None:
        self._skip_removed()
        if not self._heap:
            return None
        _, job_id = heapq.heappop(self._heap)
        self._live.discard(job_id)
        return job_id
