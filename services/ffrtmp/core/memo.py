"""Values derived from immutable objects, kept for the hottest path: a submit.

A submit resolves its spec, derives its requirements (three times: the idle
worker check, the heap, the stored row), writes its JSON and converts it to the
reply's proto. `ByIdentity` keeps such a derived value by the object's identity
(the object itself is held, so its id cannot be reused while the entry lives);
`ByKey` keeps resolved specs by the bytes a client sent, so a spec submitted
again is not converted and checked again. Both are bounded: the oldest entries
go first. Plain dict operations only, so the store's writer thread may share one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByIdentity(Generic[K, V]):
    """`fn(obj)` for objects that never change, computed once per object."""

    __slots__ = ("_fn", "_max", "_seen")

    def __init__(self, fn: Callable[[K], V], size: int = 512) -> None:
        self._fn = fn
        self._max = size
        self._seen: dict[int, tuple[K, V]] = {}

    def __call__(self, obj: K) -> V:
        hit = self._seen.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = self._fn(obj)
        if len(self._seen) >= self._max:
            self._seen.clear()  # cheaper than an order kept per call; refilled at once
        self._seen[id(obj)] = (obj, value)
        return value


class ByKey(Generic[V]):
    """Values by a bytes key, the least recently used dropped first."""

    __slots__ = ("_items", "_max", "hits", "misses")

    def __init__(self, size: int = 256) -> None:
        self._max = size
        self._items: dict[bytes, V] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes, make: Callable[[], V]) -> V:
        items = self._items
        value = items.pop(key, None)  # re-inserted below: the dict's order is the LRU order
        if value is None:
            self.misses += 1
            value = make()  # raises for a bad spec: nothing is kept
            if len(items) >= self._max:
                del items[next(iter(items))]
        else:
            self.hits += 1
        items[key] = value
        return value
