"""ffmpeg versions as distributions print them, and the features ffrtmp needs."""

from __future__ import annotations

import pytest

from ffrtmp.core.ffmpeg_build import (
    MINIMUM,
    FfmpegFeatures,
    FfmpegVersion,
    missing_features,
    parse_version,
    short_version,
    unsupported_reason,
)

AVUTIL_57 = "libavutil      57. 28.100 / 57. 28.100\n"


def avutil(major: int, minor: int) -> str:
    return f"libavutil      {major}. {minor:2d}.100 / {major}. {minor:2d}.100\n"


def banner(token: str, libs: str = "") -> str:
    return f"ffmpeg version {token} Copyright (c) 2000-2026 the FFmpeg developers\n{libs}"


@pytest.mark.parametrize(
    ("text", "release", "short"),
    [
        (banner("5.1.6-0+deb12u1"), (5, 1, 6), "5.1.6"),  # Debian 12
        (banner("4.4.2-0ubuntu0.22.04.1"), (4, 4, 2), "4.4.2"),  # Ubuntu 22.04
        (banner("6.1.1-3ubuntu5"), (6, 1, 1), "6.1.1"),  # Ubuntu 24.04
        (banner("n6.1"), (6, 1, 0), "6.1"),  # a git tag build
        (banner("n9.0.2-17-g2a571b6068-20260930"), (9, 0, 2), "9.0.2"),  # imageio-ffmpeg
        (banner("9.0.2-static https://example.org/ffmpeg/"), (9, 0, 2), "9.0.2"),
        (banner("7.1-full_build-www.example.dev"), (7, 1, 0), "7.1"),
        (banner("release-4.4"), (4, 4, 0), "4.4"),
        # Development builds carry no release: libavutil says which line they follow.
        (banner("N-12345-gabc1234", AVUTIL_57), (5, 0, 0), "N-12345-gabc1234"),
        (banner("N-12345-gabc", avutil(56, 70)), (4, 4, 0), "N-12345-gabc"),
        (banner("N-1-gab", avutil(56, 31)), (4, 0, 0), "N-1-gab"),
        (banner("N-1-gab", avutil(61, 1)), (9, 0, 0), "N-1-gab"),
        (
            banner("2024-01-01-git-0123abc-full_build", AVUTIL_57),
            (5, 0, 0),
            "2024-01-01-git-0123abc",
        ),
        (banner("N-12345-gabc"), None, "N-12345-gabc"),  # no library lines at all
        (banner("custom-build", avutil(54, 1)), None, "custom-build"),
        ("", None, "unknown"),
        ("not ffmpeg at all", None, "unknown"),
    ],
)
def test_parse_version(text: str, release: tuple[int, int, int] | None, short: str) -> None:
    assert parse_version(text) == FfmpegVersion(release, short)


@pytest.mark.parametrize(
    ("release", "ok"),
    [((4, 4, 0), True), ((4, 4, 5), True), ((5, 1, 6), True), ((9, 0, 2), True),
     ((4, 3, 9), False), ((4, 2, 2), False), ((3, 4, 0), False), (None, False)],
)
def test_minimum(release: tuple[int, int, int] | None, ok: bool) -> None:
    reason = unsupported_reason(FfmpegVersion(release, "x.y"), "/opt/ff/ffmpeg")
    assert (reason is None) is ok
    if reason is not None:
        # The message names the binary, what it is, the minimum and the way out.
        assert "/opt/ff/ffmpeg" in reason and "--ffmpeg" in reason
        assert f"{MINIMUM[0]}.{MINIMUM[1]} or newer" in reason
        assert ("version x.y" if release else "unknown version") in reason


FULL = FfmpegFeatures(
    filters=frozenset({"scale", "format", "split", "null", "hwupload"}),
    protocols=frozenset({"file", "pipe", "rtmp", "http", "https"}),
    progress_keys=frozenset({"frame", "out_time_us", "out_time", "speed", "progress"}),
)


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({}, []),
        ({"filters": frozenset({"scale", "format", "null"})}, ["filter split"]),
        ({"protocols": frozenset({"file", "rtmp"})}, ["protocol pipe"]),
        ({"progress_keys": frozenset({"frame", "progress"})}, ["-progress output with out_time"]),
        ({"progress_keys": frozenset({"out_time_ms", "progress"})}, []),  # 4.x spelling
    ],
)
def test_missing_features(change: dict[str, frozenset[str]], missing: list[str]) -> None:
    from dataclasses import replace

    assert missing_features(replace(FULL, **change)) == missing  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "missing"),
    [
        ("rtmp://host/live/x", None),
        ("srt://host:9000", "srt"),
        ("SRT://host:9000", "srt"),
        ("/data/out.mp4", None),
        ("out.mkv", None),
    ],
)
def test_missing_protocol(url: str, missing: str | None) -> None:
    assert FULL.missing_protocol(url) == missing
    assert FfmpegFeatures().missing_protocol(url) is None  # nothing probed: no claim


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("5.1.6", "5.1.6"),  # what current workers send
        ("N-12345-gabc", "N-12345-gabc"),
        # Workers from before sent the whole first line of `ffmpeg -version`.
        ("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers", "5.1.6"),
        ("ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright (c) 2000-2026", "9.0.2"),
        ("", ""),
    ],
)
def test_short_version(field: str, shown: str) -> None:
    assert short_version(field) == shown
