"""The seed's scheduling score: queue weight * 10 + priority weight, FIFO within a score."""

from __future__ import annotations

QUEUE_WEIGHTS: dict[str, int] = {"live": 10, "default": 5, "batch": 1}
PRIORITY_WEIGHTS: dict[str, int] = {"high": 3, "medium": 2, "low": 1}


def score(queue: str, priority: str) -> int:
    return QUEUE_WEIGHTS[queue] * 10 + PRIORITY_WEIGHTS[priority]


def heap_key(queue: str, priority: str, seq: int) -> tuple[int, int]:
    """Smallest first for heapq: the highest score, then the earliest submission."""
    return (-score(queue, priority), seq)
