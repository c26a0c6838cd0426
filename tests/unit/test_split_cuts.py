"""Cut points moved to the input's keyframes or scene changes: the nearest
candidate within a quarter of a segment, else the GOP grid; then the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.core.cuts import MAX_CANDIDATES, check_candidates, move_cuts
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.core.split import cut_points, plan, segment_spec
from tests.helpers.sched import SchedHarness

GRID = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]


@pytest.mark.parametrize(
    ("candidates", "duration", "cuts"),
    [
        # A regular input GOP of 2 s: the grid's cuts are keyframes already.
        ([2.0 * i for i in range(30)], 60.0, GRID),
        # Irregular keyframes: each cut moves to the nearest one.
        ([0, 3.1, 9.2, 11.0, 19.0, 21.9, 28.4, 33.0, 41.2, 47.6, 52.6], 60.0,
         [0, 9.2, 19.0, 28.4, 41.2, 47.6]),
        # None near a boundary (within 2.5 s): the grid cut stays.
        ([0, 5.0, 15.0, 25.0, 30.4, 45.0, 55.0], 60.0, [0, 10, 20, 30.4, 40, 50]),
        # Equally near: the earlier one.
        ([9.0, 11.0], 60.0, [0, 9.0, 20, 30, 40, 50]),
        # Snapped to whole frames at 25 fps.
        ([10.013], 60.0, [0, 10.0, 20, 30, 40, 50]),
        # A last cut moved late leaves a short tail: it joins the segment before.
        ([52.5], 57.0, [0, 10, 20, 30, 40]),
        # Candidates at 0 or past the end are not cuts; none at all: the grid.
        ([0.0, 60.0, 70.0], 60.0, GRID),
        ([], 60.0, GRID),
    ],
)
def test_cuts_move_to_the_nearest_candidate_within_the_window(
    candidates: list[float], duration: float, cuts: list[float]
) -> None:
    grid = cut_points(duration, 10.0, 2.0, 25.0)
    assert move_cuts(grid, candidates, duration, 10.0, 25.0) == pytest.approx(cuts)


def test_cuts_stay_in_order_and_half_a_segment_apart() -> None:
    # 12.4 is the nearest to 10 and 17.6 the nearest to 20, 5.2 s apart: more
    # than half a segment, both taken; 17.4 after 12.44 would be closer: not.
    assert move_cuts([0, 10, 20], [12.4, 17.6], 30.0, 10.0, 25.0) == [0, 12.4, 17.6]
    assert move_cuts([0, 10, 20], [12.44, 17.4], 30.0, 10.0, 25.0) == [0, 12.44, 20]


def test_candidates_are_bounded_and_checked() -> None:
    check_candidates([0.0, 1.5])
    with pytest.raises(InvalidArgument, match=r"spec\.split_cuts"):
        check_candidates([0.0] * (MAX_CANDIDATES + 1))
    with pytest.raises(InvalidArgument, match=r"spec\.split_cuts"):
        check_candidates([-1.0])
    with pytest.raises(InvalidArgument, match=r"spec\.split_cuts"):
        resolve(RawSpec(scenario="test", split="10s", duration_s=60.0,
                        split_cuts=(float("nan"),)))


def test_the_plan_cuts_at_the_candidates_and_does_not_copy_them() -> None:
    spec = resolve(RawSpec(scenario="test", input="clips/in.mp4", duration_s=30.0, fps=25.0,
                           bitrate="300k", output="out/m.mp4", split="10s",
                           split_cuts=(0.0, 8.72, 21.0)))
    p = plan(spec, "g1", 10.0)
    assert [s.start_s for s in p.segments] == [0, 8.72, 21.0]
    assert [round(s.duration_s, 6) for s in p.segments] == [8.72, 12.28, 9.0]
    assert p.parent.split_cuts == () and p.join.split_cuts == ()
    assert all(segment_spec(p, s).split_cuts == () for s in p.segments)
    assert segment_spec(p, p.segments[1]).seek_s == 8.72


async def test_a_split_ladder_keeps_no_cut_candidates(tmp_path: Path) -> None:
    """HLS parts cut on the ladder's media-segment grid: the candidates a CLI
    sent are dropped, not stored with every part."""
    async with SchedHarness(tmp_path) as h:
        h.worker("a"), h.worker("b")
        group, _ = await h.scheduler.submit(RawSpec(
            scenario="test", input="clips/in.mp4", duration_s=30.0, fps=25.0, split="10s",
            output="hls/show/", split_cuts=(9.0, 21.0)))
        kids = await h.store.children(group.id)
        assert group.spec.split_cuts == () and all(k.spec.split_cuts == () for k in kids)
        assert [k.spec.seek_s for k in kids[:-1]] == [0.0, 10.0, 20.0]
