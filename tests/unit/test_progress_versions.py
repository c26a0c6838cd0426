"""Progress as different ffmpeg releases print it: the ETA is measured, not copied
from ffmpeg's speed; percent never goes backwards; a success ends at 100 %."""

from __future__ import annotations

import pytest

from ffrtmp.core.model import ProgressInfo
from ffrtmp.core.progress import Pace, ProgressParser


def block(out_us: int, speed: str, frame: int, end: bool = False) -> str:
    """One block with the keys 5.1 prints, in its order."""
    return (
        f"frame={frame}\nfps=0.00\nstream_0_0_q=28.0\nbitrate= 181.8kbits/s\n"
        f"total_size=22528\nout_time_us={out_us}\nout_time_ms={out_us}\n"
        f"out_time=00:00:{out_us / 1e6:09.6f}\ndup_frames=0\ndrop_frames=0\n"
        f"speed={speed}\nprogress={'end' if end else 'continue'}\n"
    )


def run(parser: ProgressParser, timed: list[tuple[float, str]]) -> list[ProgressInfo]:
    out: list[ProgressInfo] = []
    for now, text in timed:
        for line in text.splitlines():
            info = parser.feed(line, now)
            if info is not None:
                out.append(info)
    return out


# A 2 s live push (-re) on Debian's 5.1, with the wall time each block arrived at:
# its first speed counts start-up as encoding time (0.155x: an ETA of 13 s).
LIVE_5_1 = [
    (0.00, block(1_000, "0.155x", 1)),
    (0.43, block(501_000, "0.989x", 6)),
    (0.93, block(1_001_000, "0.994x", 11)),
    (1.44, block(1_501_000, "0.99x", 16)),
    (1.95, block(1_973_000, "0.975x", 20)),
    (1.95, block(2_020_000, "0.997x", 20, end=True)),
]
# The same job on 9.0, which bursts the first second of a -re input.
LIVE_9_0 = [
    (0.05, block(1_000_000, "   2x", 10)),
    (0.55, block(1_500_000, " 1.5x", 15)),
    (1.05, block(1_950_476, " 1.3x", 20)),
    (1.15, block(2_000_000, "1.25x", 20, end=True)),
]


@pytest.mark.parametrize("timed", [LIVE_5_1, LIVE_9_0], ids=["5.1", "9.0"])
def test_live_eta_is_never_wild(timed: list[tuple[float, str]]) -> None:
    infos = run(ProgressParser(2.0), timed)
    etas = [i.eta_s for i in infos]
    # Nothing until the pace is measured, then never beyond what is left of 2 s at
    # real time (with a little slack), and 0 at the end.
    assert etas[0] is None
    assert all(e is None or 0 <= e <= 2.0 for e in etas)
    assert etas[-1] == 0.0


def test_5_1_first_block_alone_gave_13_seconds() -> None:
    # What the old rule (remaining / ffmpeg's speed) made of the first block.
    parser = ProgressParser(2.0)
    [first] = run(parser, LIVE_5_1[:1])
    assert first.speed == pytest.approx(0.155)
    assert (2.0 - first.out_time_s) / first.speed == pytest.approx(12.9, abs=0.1)
    assert first.eta_s is None


def test_eta_follows_the_measured_pace() -> None:
    parser = ProgressParser(10.0)
    # 1 media second per wall second, whatever ffmpeg's cumulative speed says.
    timed = [(float(t), block(t * 1_000_000, "0.2x", t * 10)) for t in range(5)]
    infos = run(parser, timed)
    assert infos[-1].eta_s == pytest.approx(6.0)
    assert [i.eta_s is None for i in infos] == [True, True, False, False, False]


def test_5_1_file_end_stops_short_until_finished() -> None:
    # 5.1's last block of a 2 s clip: out_time is the last packet's start.
    parser = ProgressParser(0.0)
    parser.learn_input_duration(2.0)
    [end] = run(parser, [(0.1, block(1_701_000, "46.2x", 20, end=True))])
    assert end.percent == pytest.approx(85.05) and end.eta_s == 0.0
    done = parser.finish()
    assert (done.percent, done.eta_s, done.frame) == (100.0, 0.0, 20)


@pytest.mark.parametrize(
    ("out_times", "percents"),
    [
        ([1.0, 3.0, 2.0, 4.0], [10.0, 30.0, 30.0, 40.0]),  # a late packet's older stamp
        ([5.0, -0.5, 0.0], [50.0, 50.0, 50.0]),  # a negative start after a reset
        ([2.0, 2.0, 2.0], [20.0, 20.0, 20.0]),
    ],
)
def test_percent_never_goes_backwards(out_times: list[float], percents: list[float]) -> None:
    parser = ProgressParser(10.0)
    timed = [(float(i), block(int(t * 1e6), "1x", i)) for i, t in enumerate(out_times)]
    assert [i.percent for i in run(parser, timed)] == pytest.approx(percents)


@pytest.mark.parametrize(
    ("samples", "rate"),
    [
        # (wall, media) pairs; the first only sets the mark.
        ([(0.0, 0.0), (1.0, 1.0)], None),  # one sample is not enough
        ([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)], 1.0),
        ([(0.0, 0.0), (1.0, 1.0), (2.0, 4.0)], 0.3 * 3.0 + 0.7 * 1.0),  # smoothed
        ([(0.0, 0.0), (0.1, 1.0), (0.15, 2.0), (1.0, 2.0), (2.0, 3.0)], 0.3 * 1.0 + 0.7 * 2.0),
        ([(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)], None),  # stalled: no pace, no ETA
    ],
)
def test_pace(samples: list[tuple[float, float]], rate: float | None) -> None:
    pace = Pace()
    for now, media in samples:
        pace.observe(now, media, speed=99.0)  # ffmpeg's speed is ignored with a clock
    assert pace.rate == (pytest.approx(rate) if rate is not None else None)


def test_a_pause_is_not_counted_as_slow_progress() -> None:
    def at(now: float, t: int) -> tuple[float, str]:
        return (now, block(t * 1_000_000, "1x", t * 10))

    paused, resumed = ProgressParser(10.0), ProgressParser(10.0)
    before = [at(0.0, 0), at(1.0, 1), at(2.0, 2)]
    run(paused, before)
    run(resumed, before)
    resumed.resumed()  # told of the resume: the next block starts a new span
    # 60 s stopped, then real time again.
    after = [at(62.0, 2), at(63.0, 3), at(64.0, 4)]
    assert run(paused, after)[-1].eta_s > 6.5  # still slowed by the pause
    assert run(resumed, after)[-1].eta_s == pytest.approx(6.0)
