"""Pending jobs: one heap per distinct set of requirements.

Heaps hold ordering keys, job ids and enqueue times; specs stay in the store.
A worker takes the best head among the heaps whose requirements it satisfies,
so a job that needs a GPU never blocks the CPU workers behind it. Removal (cancel) is
O(1): the entry is forgotten here and skipped when it surfaces in its heap.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import itemgetter

from ffrtmp.core.matching import Tokens

Key = tuple[float, int]
# What a heap holds for a job: its key's two parts, its id and when it was
# enqueued. A store hands a restart its queued jobs as exactly these tuples
# (JobStore.queued_keys), so a million of them become heap items as they are.
Item = tuple[float, int, str, int]
_ID = itemgetter(2)


def _first_of_each(items: Iterable[Item]) -> list[Item]:
    seen: set[str] = set()
    out = []
    for it in items:
        if it[2] not in seen:
            seen.add(it[2])
            out.append(it)
    return out


class Kind:
    """What the queue knows of a job besides its heap item. The jobs of one
    class and needs loaded at a restart share one: no object per job. `rank`
    is the key's first part, which tells a job's current item from one left
    behind by an earlier push (its seq, the second part, never changes)."""

    __slots__ = ("needs", "priority", "queue", "rank")

    def __init__(self, rank: float, needs: Tokens, queue: str, priority: str) -> None:
        self.rank = rank
        self.needs = needs
        self.queue = queue
        self.priority = priority


class PendingJobs:
    def __init__(self) -> None:
        self._heaps: dict[Tokens, list[Item]] = {}
        self._entries: dict[str, Kind] = {}
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
        self._entries[job_id] = Kind(key[0], needs, queue, priority)
        self._depth[(queue, priority)] += 1
        self._by_needs[needs] += 1
        heapq.heappush(self._heap(needs), (key[0], key[1], job_id, enqueued_ms))

    def _heap(self, needs: Tokens) -> list[Item]:
        heap = self._heaps.get(needs)
        if heap is None:
            heap = self._heaps[needs] = []
            self._fits.clear()
        return heap

    def load(self, jobs: Iterable[tuple[str, Tokens, Key, str, str, int]]) -> None:
        """Bulk push of (id, needs, key, queue, priority, enqueued ms) in any
        order: one heapify per heap instead of a sift per job."""
        touched = set()
        for job_id, needs, key, queue, priority, enqueued_ms in jobs:
            if job_id in self._entries:
                continue
            self._entries[job_id] = Kind(key[0], needs, queue, priority)
            self._depth[(queue, priority)] += 1
            self._by_needs[needs] += 1
            self._heap(needs).append((key[0], key[1], job_id, enqueued_ms))
            touched.add(needs)
        for needs in touched:
            heapq.heapify(self._heaps[needs])

    def load_runs(self, runs: Iterable[tuple[Kind, Sequence[Item]]], *, in_order: bool) -> None:
        """Start-up: runs of jobs, each run of one kind. `in_order`: the runs come
        sorted by key, each within itself and the runs of one needs set one after
        another (the stores' queued_keys without aging); a sorted list is a heap,
        so such a heap that starts empty needs no heapify. The items become the
        heap's own; a job already queued stays as it is."""
        entries = self._entries
        queued_before = bool(entries)  # at a plain restart none: nothing to skip
        fresh = {n for n, heap in self._heaps.items() if not heap}
        touched: set[Tokens] = set()
        for kind, items in runs:
            if queued_before:
                items = [it for it in items if it[2] not in entries]
            if not items:
                continue
            if kind.needs not in self._heaps:
                fresh.add(kind.needs)
            before = len(entries)
            entries.update(zip(map(_ID, items), repeat(kind)))
            if len(entries) - before != len(items):
                # Never from a store: ids are its keys, a job is in one run.
                items = _first_of_each(items)
            self._depth[(kind.queue, kind.priority)] += len(items)
            self._by_needs[kind.needs] += len(items)
            self._heap(kind.needs).extend(items)
            touched.add(kind.needs)
        for needs in touched:
            if not (in_order and needs in fresh):
                heapq.heapify(self._heaps[needs])

    def remove(self, job_id: str) -> bool:
        entry = self._entries.pop(job_id, None)
        if entry is None:
            return False
        self._forget(entry)
        return True

    def _forget(self, entry: Kind) -> None:
        self._depth[(entry.queue, entry.priority)] -= 1
        if not self._depth[(entry.queue, entry.priority)]:
            del self._depth[(entry.queue, entry.priority)]
        self._by_needs[entry.needs] -= 1
        if not self._by_needs[entry.needs]:
            del self._by_needs[entry.needs]

    def _head(self, needs: Tokens) -> Item | None:
        heap, entries = self._heaps[needs], self._entries
        while heap:
            item = heap[0]
            kind = entries.get(item[2])
            if kind is not None and kind.rank == item[0] and kind.needs == needs:
                return item
            heapq.heappop(heap)  # removed, or pushed again with another key
        return None

    def _satisfied(self, offer: Tokens) -> list[Tokens]:
        fits = self._fits.get(offer)
        if fits is None:
            fits = self._fits[offer] = [n for n in self._heaps if n <= offer]
        return fits

    def peek_for(self, offer: Tokens) -> str | None:
        best: Item | None = None
        for needs in self._satisfied(offer):
            head = self._head(needs)
            if head is not None and (best is None or head < best):
                best = head
        return None if best is None else best[2]

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

    def entry(self, job_id: str) -> Kind | None:
        return self._entries.get(job_id)

    def depth(self) -> dict[tuple[str, str], int]:
        return dict(self._depth)

    def needs_sets(self) -> dict[Tokens, int]:
        """Distinct requirement sets waiting, with how many jobs have each."""
        return dict(self._by_needs)

    def oldest_ms(self) -> dict[str, int]:
        """Earliest enqueue time per queue (a scan: for stats, not the hot path)."""
        out: dict[str, int] = {}
        for needs in list(self._heaps):
            if self._head(needs) is None:
                continue
            for rank, _, job_id, enqueued_ms in self._heaps[needs]:
                kind = self._entries.get(job_id)
                if kind is None or kind.rank != rank or kind.needs != needs:
                    continue
                if kind.queue not in out or enqueued_ms < out[kind.queue]:
                    out[kind.queue] = enqueued_ms
        return out
