"""An incremental parser for ffmpeg's `-progress` output.

ffmpeg writes blocks of `key=value` lines, each closed by `progress=continue` (or
`progress=end` for the last one). The parser remembers the latest values and yields a
ProgressInfo at every block end. It never raises: a progress line is a hint, and a
garbled one must not fail the transcode it describes.

Percent and ETA need the length of what is produced: the job's duration when it set
one, else the input's, which ffmpeg prints in its log header ("Duration: ...").

Releases differ in what they print. The last block of 5.1 stops short of the end
(out_time of the last packet's start, 1.7 s of a 2 s clip), so only the runner, once
ffmpeg exited 0, reports 100 % (`finish`). The first block of a live run on 5.1
carries a speed of 0.15x (start-up time counted as encoding time), which made a 2 s
job promise 13 s: the ETA comes from our own measure of the pace, the output's
advance per wall second between blocks, smoothed, and only once a few of those are
in. Percent never goes backwards, whatever a block says.
"""

from __future__ import annotations

import re

from ffrtmp.core.model import ProgressInfo

# The ETA waits for this many pace samples, each over at least PACE_MIN_S of wall
# time, and then follows an EWMA of them (weight of the newest: PACE_WEIGHT).
PACE_SAMPLES = 2
PACE_MIN_S = 0.2
PACE_WEIGHT = 0.3

# "  Duration: 00:01:02.50, start: 0.000000, bitrate: 1205 kb/s" ("N/A" for live sources).
_DURATION_LINE = re.compile(r"^\s*Duration:\s*(\d+:\d{2}:\d{2}(?:\.\d+)?)")


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    # "nan"/"inf" parse as floats but mean nothing here.
    return number if number == number and abs(number) != float("inf") else None


def parse_duration_line(line: str) -> float | None:
    """Seconds of an input's "Duration:" header line; None for any other line."""
    match = _DURATION_LINE.match(line)
    if match is None:
        return None
    seconds = parse_clock(match.group(1))
    return seconds if seconds is not None and seconds > 0 else None


def parse_clock(value: str) -> float | None:
    """Seconds of an `[-]HH:MM:SS.ffffff` timestamp, None when it is not one."""
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    parts = text.lstrip("-").split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    seconds = _float(parts[2])
    if seconds is None:
        return None
    return sign * (hours * 3600 + minutes * 60 + seconds)


class Pace:
    """Media seconds produced per wall second, smoothed; None until measured."""

    def __init__(self) -> None:
        self._mark: tuple[float, float] | None = None  # (wall, media) of the last sample
        self._rate = 0.0
        self._samples = 0

    def observe(self, now: float | None, media_s: float, speed: float) -> None:
        """One block: `now` is a monotonic clock reading (None: trust ffmpeg's speed)."""
        if now is None:
            sample: float | None = speed if speed > 0 else None
        elif self._mark is None:
            self._mark, sample = (now, media_s), None
        elif now - self._mark[0] < PACE_MIN_S:
            sample = None  # blocks read together: too short a span to measure
        else:
            sample = max(0.0, media_s - self._mark[1]) / (now - self._mark[0])
            self._mark = (now, media_s)
        if sample is None:
            return
        self._samples += 1
        w = PACE_WEIGHT if self._samples > 1 else 1.0
        self._rate = w * sample + (1 - w) * self._rate

    def restart(self) -> None:
        """Measure the next span from the next block (after a pause)."""
        self._mark = None

    @property
    def rate(self) -> float | None:
        if self._samples < PACE_SAMPLES or self._rate <= 0:
            return None
        return self._rate


class ProgressParser:
    """Feed it stdout lines of `ffmpeg -progress pipe:1`; `done` turns true at the end."""

    def __init__(self, duration_s: float) -> None:
        self._duration = duration_s if duration_s > 0 else 0.0
        self.done = False
        self._frame = 0
        self._fps = 0.0
        self._speed = 0.0
        self._bitrate = ""
        # Negative until a timestamp arrives, so out_time_us wins over its aliases.
        self._out_time_s = 0.0
        self._time_rank = -1
        self._percent = 0.0  # the highest reported: percent never goes backwards
        self._pace = Pace()

    def learn_input_duration(self, seconds: float) -> None:
        """The input's length, from the log header: the run ends at the shorter of
        it and the job's own duration."""
        if seconds > 0:
            self._duration = min(self._duration, seconds) if self._duration else seconds

    def feed(self, line: str, now: float | None = None) -> ProgressInfo | None:
        """One stdout line; `now` (a monotonic clock, seconds) times the block it
        closes, for the ETA. Without it the ETA follows ffmpeg's own speed."""
        key, sep, raw = line.strip().partition("=")
        if not sep:
            return None
        key, value = key.strip(), raw.strip()
        if key == "progress":
            self.done = value == "end"
            self._pace.observe(now, self._out_time_s, self._speed)
            info = self._snapshot()
            self._time_rank = -1
            return info
        self._absorb(key, value)
        return None

    def _absorb(self, key: str, value: str) -> None:
        # Unparseable values ("N/A", garbage) keep the previous value.
        if key == "frame":
            number = _float(value)
            if number is not None and number >= 0:
                self._frame = int(number)
        elif key == "fps":
            number = _float(value)
            if number is not None and number >= 0:
                self._fps = number
        elif key == "speed":
            number = _float(value.removesuffix("x").strip())
            if number is not None and number >= 0:
                self._speed = number
        elif key == "bitrate":
            if value and value != "N/A":
                self._bitrate = value
        elif key in ("out_time_us", "out_time_ms"):
            # Both are microseconds: out_time_ms is a long-standing misnomer in ffmpeg.
            number = _float(value)
            self._set_time(None if number is None else number / 1e6, rank=2)
        elif key == "out_time":
            self._set_time(parse_clock(value), rank=1)

    def _set_time(self, seconds: float | None, rank: int) -> None:
        if seconds is None or rank < self._time_rank:
            return
        self._time_rank = rank
        # The first packets may carry a negative timestamp; report them as zero.
        self._out_time_s = max(0.0, seconds)

    def resumed(self) -> None:
        """ffmpeg runs again after a pause: the pace keeps its value, but the next
        span is measured from the next block, not across the pause."""
        self._pace.restart()

    def finish(self) -> ProgressInfo:
        """The last report of a run that succeeded: all of it is done, whatever the
        last block said."""
        self.done = True
        self._percent = 100.0
        return self._snapshot()

    def _snapshot(self) -> ProgressInfo:
        if self._duration > 0:
            percent = min(100.0, max(0.0, 100.0 * self._out_time_s / self._duration))
            self._percent = max(self._percent, percent)
        return ProgressInfo(
            percent=self._percent,
            frame=self._frame,
            fps=self._fps,
            speed=self._speed,
            out_time_s=self._out_time_s,
            bitrate=self._bitrate,
            eta_s=self._eta(),
        )

    def _eta(self) -> float | None:
        if self.done:
            return 0.0
        rate = self._pace.rate
        if self._duration <= 0 or rate is None:
            return None  # no end known, or the pace not measured yet
        # The pace is media seconds per wall second, so the rest takes remaining / pace.
        return max(0.0, self._duration - self._out_time_s) / rate
