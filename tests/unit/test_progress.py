"""ProgressParser: ffmpeg `-progress` blocks in, ProgressInfo out."""

from __future__ import annotations

import pytest

from ffrtmp.core.model import ProgressInfo
from ffrtmp.core.progress import ProgressParser, parse_clock

# A real block from `ffmpeg -progress pipe:1` (9.0), 2 s of 320x240 at 10 fps.
END_BLOCK = """\
frame=20
fps=0.00
stream_0_0_q=-1.0
bitrate= 716.5kbits/s
total_size=179117
out_time_us=2000000
out_time_ms=2000000
out_time=00:00:02.000000
dup_frames=0
drop_frames=0
speed=59.7x
progress=end
"""


def feed_all(parser: ProgressParser, text: str) -> list[ProgressInfo]:
    infos = [parser.feed(line) for line in text.splitlines(keepends=True)]
    return [info for info in infos if info is not None]


def test_real_end_block() -> None:
    parser = ProgressParser(2.0)
    [info] = feed_all(parser, END_BLOCK)
    assert parser.done
    assert info == ProgressInfo(
        percent=100.0, frame=20, fps=0.0, speed=59.7, out_time_s=2.0, bitrate="716.5kbits/s"
    )


@pytest.mark.parametrize(
    ("duration", "block", "percent", "out_time", "speed", "frame"),
    [
        ("10", "out_time_us=5000000\nprogress=continue", 50.0, 5.0, 0.0, 0),
        ("10", "out_time_ms=2500000\nprogress=continue", 25.0, 2.5, 0.0, 0),
        ("10", "out_time=00:00:07.500000\nprogress=continue", 75.0, 7.5, 0.0, 0),
        ("4", "out_time_us=8000000\nprogress=continue", 100.0, 8.0, 0.0, 0),  # clamped
        ("10", "out_time_us=-23220\nprogress=continue", 0.0, 0.0, 0.0, 0),  # negative start
        ("0", "out_time_us=5000000\nprogress=continue", 0.0, 5.0, 0.0, 0),  # unknown length
        ("-1", "out_time_us=5000000\nprogress=continue", 0.0, 5.0, 0.0, 0),
        ("10", "out_time_us=N/A\nout_time=N/A\nspeed=N/A\nprogress=continue", 0.0, 0.0, 0.0, 0),
        ("10", "speed=1.02x\nframe=30\nprogress=continue", 0.0, 0.0, 1.02, 30),
        ("10", "speed= 0.5x \nframe=abc\nprogress=continue", 0.0, 0.0, 0.5, 0),
        ("10", "garbage\n=\nout_time_us=oops\nout_time=1:2\nprogress=continue", 0.0, 0.0, 0, 0),
        ("10", "out_time_us=N/A\nout_time=00:01:00.0\nprogress=continue", 100.0, 60.0, 0, 0),
        ("7200", "out_time=01:00:00.000000\nprogress=continue", 50.0, 3600.0, 0.0, 0),
        ("10", "fps=nan\nspeed=infx\nprogress=continue", 0.0, 0.0, 0.0, 0),
    ],
)
def test_blocks(
    duration: str, block: str, percent: float, out_time: float, speed: float, frame: int
) -> None:
    parser = ProgressParser(float(duration))
    [info] = feed_all(parser, block)
    assert info.percent == pytest.approx(percent)
    assert info.out_time_s == pytest.approx(out_time)
    assert info.speed == pytest.approx(speed)
    assert info.frame == frame
    assert not parser.done


def test_values_carry_over_and_na_keeps_previous() -> None:
    parser = ProgressParser(10.0)
    first = feed_all(parser, "frame=10\nspeed=2x\nout_time_us=1000000\nprogress=continue\n")
    second = feed_all(parser, "frame=20\nspeed=N/A\nout_time_us=2000000\nprogress=continue\n")
    assert [i.frame for i in first + second] == [10, 20]
    assert second[0].speed == 2.0
    assert second[0].percent == pytest.approx(20.0)


def test_only_progress_lines_emit() -> None:
    parser = ProgressParser(10.0)
    assert parser.feed("frame=1\n") is None
    assert parser.feed("") is None
    assert parser.feed("not a key value line") is None
    assert parser.feed("progress=continue\n") is not None
    assert not parser.done
    assert parser.feed("progress=end") is not None
    assert parser.done


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:02.000000", 2.0),
        ("01:02:03.5", 3723.5),
        ("-00:00:00.023220", -0.02322),
        ("N/A", None),
        ("1:2", None),
        ("aa:00:01", None),
        ("00:00:xx", None),
    ],
)
def test_parse_clock(text: str, seconds: float | None) -> None:
    assert parse_clock(text) == (pytest.approx(seconds) if seconds is not None else None)
