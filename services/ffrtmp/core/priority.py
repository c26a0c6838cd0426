"""The seed's scheduling score: queue weight * 10 + priority weight, FIFO within a score."""

from __future__ import annotations

QUEUE_WEIGHTS: dict[str, int] = {"live": 10, "default": 5, "batch": 1}
PRIORITY_WEIGHTS: dict[str, int] = {"high": 3, "medium": 2, "low": 1}
# Every (queue, priority) pair, numbered: a store hands queued jobs to a restart
# as these small numbers rather than as strings.
QUEUE_CLASSES: list[tuple[str, str]] = [(q, p) for q in QUEUE_WEIGHTS for p in PRIORITY_WEIGHTS]
# Listed best first (each weight table is in descending order), so a class's
# number is its rank: without aging it is the heap key's first part.
RANK: dict[tuple[str, str], int] = {c: i for i, c in enumerate(QUEUE_CLASSES)}


def score(queue: str, priority: str) -> int:
    return QUEUE_WEIGHTS[queue] * 10 + PRIORITY_WEIGHTS[priority]


def heap_key(
    queue: str, priority: str, seq: int, *, enqueued_ms: int = 0, aging_interval_s: float = 0.0
) -> tuple[float, int]:
    """Smallest first for heapq: the highest score, then the earliest submission.

    Without aging the first part is the class's rank (0 = live/high), a small
    int: a store can hand a restart its queued jobs with the rank already in
    place (see JobStore.queued_keys), and small ints cost nothing to make.

    With aging, a job gains a point per interval waited: its effective score at
    time t is score + (t - enqueued)/interval. Every waiting job gains at the same
    rate, so ordering by score - enqueued/interval is the same at every t and the
    key never has to change while the job waits.
    """
    if aging_interval_s > 0:
        return (enqueued_ms / 1000 / aging_interval_s - score(queue, priority), seq)
    return (RANK[(queue, priority)], seq)
