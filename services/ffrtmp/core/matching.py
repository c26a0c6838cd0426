"""Which worker takes a job: pure, over a snapshot of free slots."""

from __future__ import annotations

from collections.abc import Collection


def choose_node(free: dict[str, int], avoid: Collection[str] = ()) -> str | None:
    """The node with the most free slots, preferring nodes not in `avoid` (where
    this job already failed); ties go to the smallest node id, for stable tests."""
    best: str | None = None
    best_key: tuple[bool, int, str] | None = None
    for node_id, slots in free.items():
        if slots <= 0:
            continue
        # Smaller key wins: not avoided first, then more free slots, then the id.
        key = (node_id in avoid, -slots, node_id)
        if best_key is None or key < best_key:
            best, best_key = node_id, key
    return best
