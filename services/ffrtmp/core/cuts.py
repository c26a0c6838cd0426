"""Where a split cuts when the input tells us more than its length: cut
candidates (the input's keyframes, or its scene changes) move each cut of the
GOP grid to the nearest candidate within a window. Pure.

A cut on an input keyframe costs no decoding before it (the segment's seek
lands on it) and, on a scene change, the IDR frame every segment starts with
falls where the picture changes anyway, so it costs no extra bits. A grid cut
with no candidate near it stays where it is: each segment is its own encode,
so it still starts with an IDR frame and its GOPs count from its own start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ffrtmp.core.errors import InvalidArgument

MAX_CANDIDATES = 20_000  # a two-hour input with a keyframe every 0.4 s
WINDOW_FRACTION = 0.25  # a cut moves by at most this share of a segment's length


def check_candidates(times: Sequence[float]) -> None:
    if len(times) > MAX_CANDIDATES:
        raise InvalidArgument("spec.split_cuts", f"at most {MAX_CANDIDATES} cut candidates")
    if any(not math.isfinite(t) or t < 0 for t in times):
        raise InvalidArgument("spec.split_cuts", "cut candidates are seconds from the start")


def snap(t: float, fps: float) -> float:
    """`t` on a whole frame when the rate is known."""
    return round(t * fps) / fps if fps > 0 else t


def move_cuts(
    grid: Sequence[float], candidates: Sequence[float], duration_s: float, length_s: float,
    fps: float,
) -> list[float]:
    """The grid's starts, each moved to the nearest candidate within the window
    (a quarter of a segment) when one lies there; the first stays at 0, cuts
    stay in order at least half a segment apart, and a tail shorter than half a
    segment joins the segment before it."""
    if len(grid) < 2 or not candidates:
        return list(grid)
    window = length_s * WINDOW_FRACTION
    near = sorted({snap(c, fps) for c in candidates if 0 < c < duration_s})
    cuts = [0.0]
    for target in grid[1:]:
        floor = cuts[-1] + length_s / 2
        best = min((c for c in near if abs(c - target) <= window and c >= floor),
                   key=lambda c: (abs(c - target), c), default=None)
        cut = best if best is not None else target
        if cut >= floor:
            cuts.append(cut)
    if len(cuts) > 1 and duration_s - cuts[-1] < length_s / 2:
        cuts.pop()
    return cuts
