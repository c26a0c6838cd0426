"""The commands waiting for one worker's stream: a deque while any wait and,
only while the stream's writer waits on an empty one, a future.

A fleet holds one per connected worker, and an idle worker's is nearly always
empty, so it is kept small: an asyncio.Queue carries four deques (its items, its
getters, its putters, its Event's waiters: ≈ 2.5 KiB a stream by tracemalloc)
for a queue that one writer reads and nobody bounds by blocking."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Outbox(Generic[T]):
    """Unbounded FIFO with one reader; the calls of asyncio.Queue it needs."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[T] | None = None  # made by a put, dropped once empty
        self._waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return 0 if self._items is None else len(self._items)

    def empty(self) -> bool:
        return self._items is None

    def put_nowait(self, item: T) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def get_nowait(self) -> T:
        items = self._items
        if items is None:
            raise asyncio.QueueEmpty
        item = items.popleft()
        if not items:
            self._items = None
        return item

    async def get(self) -> T:
        while self._items is None:
            w = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await w
            finally:
                self._waiter = None
        return self.get_nowait()
