"""ProgressParser: ffmpeg `-progress` blocks in, ProgressInfo out."""

from __future__ import annotations

import pytest

from ffrtmp.core.model import ProgressInfo
from ffrtmp.core.progress import ProgressParser, parse_clock, parse_duration_line

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
        percent=100.0,
        frame=20,
        fps=0.0,
        speed=59.7,
        out_time_s=2.0,
        bitrate="716.5kbits/s",
        eta_s=0.0,
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


@pytest.mark.parametrize(
    ("duration", "block", "eta"),
    [
        ("10", "out_time_us=4000000\nspeed=2x\nprogress=continue", 3.0),
        ("10", "out_time_us=4000000\nspeed=0.5x\nprogress=continue", 12.0),
        ("10", "out_time_us=12000000\nspeed=1x\nprogress=continue", 0.0),  # past the end
        ("10", "out_time_us=4000000\nspeed=N/A\nprogress=continue", None),  # no pace yet
        ("10", "out_time_us=4000000\nspeed=0.00x\nprogress=continue", None),
        ("0", "out_time_us=4000000\nspeed=2x\nprogress=continue", None),  # no known end
        ("10", "out_time_us=4000000\nprogress=end", 0.0),
    ],
)
def test_eta(duration: str, block: str, eta: float | None) -> None:
    parser = ProgressParser(float(duration))
    # Without a clock the pace is ffmpeg's speed, trusted from its second report on.
    [first] = feed_all(parser, block)
    [info] = feed_all(parser, block)
    assert first.eta_s == (0.0 if parser.done else None)
    assert info.eta_s == (pytest.approx(eta) if eta is not None else None)


@pytest.mark.parametrize(
    ("line", "seconds"),
    [
        ("  Duration: 00:00:05.00, start: 0.000000, bitrate: 1205 kb/s", 5.0),
        ("  Duration: 01:00:00.50, start: 1.4, bitrate: N/A", 3600.5),
        ("  Duration: N/A, start: 0.000000, bitrate: N/A", None),
        ("  Duration: 00:00:00.00, start: 0", None),
        ("Stream #0:0: Video: h264", None),
        ("frame=  20 fps=0.0 q=-1.0 Lsize=     179kB time=00:00:02.00", None),
    ],
)
def test_parse_duration_line(line: str, seconds: float | None) -> None:
    assert parse_duration_line(line) == seconds


@pytest.mark.parametrize(
    ("job", "input_s", "percent", "eta"),
    [
        (0.0, 20.0, 25.0, 15.0),  # no duration set: the input's own length
        (10.0, 20.0, 50.0, 5.0),  # -t shorter than the input
        (10.0, 8.0, 62.5, 3.0),  # the input ends first
        (10.0, 0.0, 50.0, 5.0),  # unknown input length changes nothing
    ],
)
def test_input_duration_from_the_log(
    job: float, input_s: float, percent: float, eta: float
) -> None:
    parser = ProgressParser(job)
    parser.learn_input_duration(input_s)
    [info] = feed_all(parser, "out_time_us=5000000\nspeed=1x\nprogress=continue\n" * 2)[-1:]
    assert info.percent == pytest.approx(percent)
    assert info.eta_s == pytest.approx(eta)
