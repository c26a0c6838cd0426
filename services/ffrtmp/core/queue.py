"""Pending jobs: one heap per distinct set of requirements.

Heaps hold only ordering keys and job ids; specs stay in the store. A worker
takes the best head among the heaps whose requirements it satisfies, so a job
that needs a GPU never blocks the CPU workers behind it. Removal (cancel) is
O(1): the entry is forgotten here and skipped when it surfaces in its heap.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TypeVar

from ffrtmp.core.matching import Tokens

Key = tuple[float, int]
T = TypeVar("T")


class Entry:
    """What the queue knows of a job. A plain slotted class: a restart builds a
    million of these, and a frozen dataclass costs twice as much to create."""

    __slots__ = ("enqueued_ms", "key", "needs", "priority", "queue")

    def __init__(
        self, key: Key, needs: Tokens, queue: str, priority: str, enqueued_ms: int
    ) -> None:
        self.key = key
        self.needs = needs
        self.queue = queue
        self.priority = priority
        self.enqueued_ms = enqueued_ms


def _pick(column: Sequence[T], rows: list[int]) -> list[T]:
    return [column[i] for i in rows]


class PendingJobs:
    def __init__(self) -> None:
        self._heaps: dict[Tokens, list[tuple[Key, str]]] = {}
        self._entries: dict[str, Entry] = {}
        self._depth: Counter[tuple[str, str]] = Counter()
        self._by_needs: Counter[Tokens] = Counter()
        # offer set -> the needs sets it satisfies; dropped when a new needs set appears
        self._fits: dict[Tokens, list[Tokens]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    def push(
        self, job_id: str, needs: Tokens, key: Key, queue: str, priority: str, enqueued_ms: int
    ) -> None:
        if job_id in self._entries:
            return
        self._entries[job_id] = Entry(key, needs, queue, priority, enqueued_ms)
        self._depth[(queue, priority)] += 1
        self._by_needs[needs] += 1
        heap = self._heaps.get(needs)
        if heap is None:
            heap = self._heaps[needs] = []
            self._fits.clear()
        heapq.heappush(heap, (key, job_id))

    def load(self, jobs: Iterable[tuple[str, Tokens, Key, str, str, int]]) -> None:
        """Bulk push of (id, needs, key, queue, priority, enqueued ms), for start-up:
        one heapify per heap instead of a sift per job."""
        rows = list(jobs)
        if rows:
            ids, needs, keys, queues, priorities, enqueued = zip(*rows, strict=True)
            self.load_columns(ids, needs, keys, queues, priorities, enqueued)

    def load_columns(
        self,
        ids: Sequence[str],
        needs: Sequence[Tokens],
        keys: Sequence[Key],
        queues: Sequence[str],
        priorities: Sequence[str],
        enqueued: Sequence[int],
    ) -> None:
        """`load` by columns: a restart's million jobs go through C loops (zip,
        map, Counter) rather than a Python statement per job."""
        entries, heaps = self._entries, self._heaps
        if entries:  # jobs already here stay as they are
            keep = [i for i, job_id in enumerate(ids) if job_id not in entries]
            ids, needs, keys = _pick(ids, keep), _pick(needs, keep), _pick(keys, keep)
            queues, priorities = _pick(queues, keep), _pick(priorities, keep)
            enqueued = _pick(enqueued, keep)
        before = len(entries)
        entries.update(zip(ids, map(Entry, keys, needs, queues, priorities, enqueued), strict=True))
        if len(entries) - before != len(ids):
            # An id given twice (never from a store: ids are its keys): job by job,
            # where the first one counts.
            for job_id in ids:
                entries.pop(job_id, None)
            for row in zip(ids, needs, keys, queues, priorities, enqueued, strict=True):
                self.push(*row)
            return
        self._depth.update(zip(queues, priorities, strict=True))
        self._by_needs.update(needs)
        distinct = set(needs)
        if len(distinct) == 1:  # the common case: one heap, built in C
            pairs = list(zip(keys, ids, strict=True))
            grouped = {next(iter(distinct)): pairs}
        else:
            grouped = {n: [] for n in distinct}
            for n, key, job_id in zip(needs, keys, ids, strict=True):
                grouped[n].append((key, job_id))
        for n, pairs in grouped.items():
            heap = heaps.get(n)
            if heap is None:
                heaps[n] = pairs
                self._fits.clear()
            else:
                heap.extend(pairs)
            heapq.heapify(heaps[n])

    def remove(self, job_id: str) -> bool:
        entry = self._entries.pop(job_id, None)
        if entry is None:
            return False
        self._forget(entry)
        return True

    def _forget(self, entry: Entry) -> None:
        self._depth[(entry.queue, entry.priority)] -= 1
        if not self._depth[(entry.queue, entry.priority)]:
            del self._depth[(entry.queue, entry.priority)]
        self._by_needs[entry.needs] -= 1
        if not self._by_needs[entry.needs]:
            del self._by_needs[entry.needs]

    def _head(self, needs: Tokens) -> tuple[Key, str] | None:
        heap = self._heaps[needs]
        while heap:
            key, job_id = heap[0]
            entry = self._entries.get(job_id)
            if entry is not None and entry.key == key and entry.needs == needs:
                return heap[0]
            heapq.heappop(heap)  # removed, or pushed again with another key
        return None

    def _satisfied(self, offer: Tokens) -> list[Tokens]:
        fits = self._fits.get(offer)
        if fits is None:
            fits = self._fits[offer] = [n for n in self._heaps if n <= offer]
        return fits

    def peek_for(self, offer: Tokens) -> str | None:
        best: tuple[Key, str] | None = None
        for needs in self._satisfied(offer):
            head = self._head(needs)
            if head is not None and (best is None or head < best):
                best = head
        return None if best is None else best[1]

    def pop_for(self, offer: Tokens) -> tuple[str, Tokens] | None:
        """The best job a worker offering `offer` can run, taken off the queue,
        with what it needs."""
        job_id = self.peek_for(offer)
        if job_id is None:
            return None
        entry = self._entries.pop(job_id)
        heapq.heappop(self._heaps[entry.needs])
        self._forget(entry)
        return job_id, entry.needs

    def entry(self, job_id: str) -> Entry | None:
        return self._entries.get(job_id)

    def depth(self) -> dict[tuple[str, str], int]:
        return dict(self._depth)

    def needs_sets(self) -> dict[Tokens, int]:
        """Distinct requirement sets waiting, with how many jobs have each."""
        return dict(self._by_needs)

    def oldest_ms(self) -> dict[str, int]:
        """Earliest enqueue time per queue (a scan: for stats, not the hot path)."""
        out: dict[str, int] = {}
        for e in self._entries.values():
            if e.queue not in out or e.enqueued_ms < out[e.queue]:
                out[e.queue] = e.enqueued_ms
        return out
