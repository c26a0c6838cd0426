"""Which ffmpeg a worker runs: its version and the features ffrtmp relies on.

Pure: the worker's probe (worker/features.py) runs the binary and hands the text
here. The version is read from the `ffmpeg -version` banner, which looks different
on every distribution ("5.1.6-0+deb12u1", "n6.1", "6.0-static", "N-112345-gabc" for
a build of the development branch); a development build is placed by its libavutil
version instead, which every release bumps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The oldest release ffrtmp supports (Ubuntu 22.04's): -stats_period, out_time_us
# in -progress, the NVENC p1..p7 presets and the options our argv uses all exist there.
MINIMUM = (4, 4)
# The -progress period the worker asks for where the build takes -stats_period.
STATS_PERIOD_S = 0.5

# "ffmpeg version 5.1.6-0+deb12u1 Copyright ..." -> "5.1.6-0+deb12u1"
_BANNER = re.compile(r"^\s*ffmpeg version (\S+)", re.MULTILINE)
# A release number at the start, after an optional "n" (git tags) or "release-".
_RELEASE = re.compile(r"^(?:n|release-)?(\d+)\.(\d+)(?:\.(\d+))?(?![\d.])")
# "libavutil      57. 28.100 / 57. 28.100"
_AVUTIL = re.compile(r"^\s*libavutil\s+(\d+)\.\s*(\d+)\.\s*(\d+)", re.MULTILINE)
# A development build: "N-112345-gabcdef0" (or a date-stamped "2024-01-01-git-...").
_DEV = re.compile(r"^(N-\d+-g[0-9a-f]+|\d{4}-\d{2}-\d{2}-git-[0-9a-f]+)")
# libavutil major of each release line, for builds that carry no release number.
_AVUTIL_MAJOR = {55: (3, 0), 56: (4, 0), 57: (5, 0), 58: (6, 0), 59: (7, 0), 60: (8, 0)}
# 4.4 shipped libavutil 56.70; earlier 4.x releases had lower minors.
_AVUTIL_4_4 = (56, 70)
SHORT_CHARS = 24


@dataclass(frozen=True, slots=True)
class FfmpegVersion:
    """`release` is (major, minor, patch) or None when nothing says which release
    the build is; `short` is what a person reads ("5.1.6", "N-112345-gabc")."""

    release: tuple[int, int, int] | None
    short: str

    def at_least(self, wanted: tuple[int, int]) -> bool:
        return self.release is not None and self.release[:2] >= wanted


def parse_version(text: str) -> FfmpegVersion:
    """The version of a `ffmpeg -version` output (its banner and library lines)."""
    banner = _BANNER.search(text)
    token = banner.group(1) if banner else ""
    if m := _RELEASE.match(token):
        release = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
        return FfmpegVersion(release, ".".join(g for g in m.groups() if g is not None))
    short = token[:SHORT_CHARS] or "unknown"
    if m := _DEV.match(token):
        short = m.group(1)[:SHORT_CHARS]
    return FfmpegVersion(_release_of_avutil(text), short)


def short_version(text: str) -> str:
    """What to show for a node's ffmpeg: already short from current workers, the
    whole banner from older ones."""
    if _BANNER.search(text):
        return parse_version(text).short
    return text.strip()[:SHORT_CHARS]


def _release_of_avutil(text: str) -> tuple[int, int, int] | None:
    m = _AVUTIL.search(text)
    if m is None:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major == 56 and (major, minor) >= _AVUTIL_4_4:
        return (4, 4, 0)
    if major in _AVUTIL_MAJOR:
        return (*_AVUTIL_MAJOR[major], 0)
    # Later majors: one ffmpeg major per libavutil major so far (60 -> 8, 61 -> 9).
    return (major - 52, 0, 0) if major > max(_AVUTIL_MAJOR) else None


def minimum_text() -> str:
    return ".".join(map(str, MINIMUM))


# What a binary nobody probed is taken to be: the oldest supported release.
BASELINE = FfmpegVersion((*MINIMUM, 0), minimum_text())


def unsupported_reason(version: FfmpegVersion, path: str) -> str | None:
    """Why the worker must not start with this build, or None when it may."""
    if version.at_least(MINIMUM):
        return None
    found = "an unknown version" if version.release is None else f"version {version.short}"
    return (
        f"{path} is ffmpeg {found}; ffrtmp needs ffmpeg {minimum_text()} or newer. "
        "Install a newer build, or point the worker at one with --ffmpeg PATH "
        "(FFRTMP_FFMPEG)."
    )


@dataclass(frozen=True, slots=True)
class FfmpegFeatures:
    """What the argv builder and the runner may rely on for one binary.

    The default is what every supported release has, so a caller that probed
    nothing (a unit test, a tool) builds the same argv as before.
    """

    version: FfmpegVersion = BASELINE
    stats_period: bool = True  # `-stats_period` sets the -progress cadence
    encoders: frozenset[str] = field(default_factory=frozenset)
    filters: frozenset[str] = field(default_factory=frozenset)
    protocols: frozenset[str] = field(default_factory=frozenset)  # input and output
    # Keys one -progress block printed, e.g. {"frame", "out_time_us", "speed", "progress"}.
    progress_keys: frozenset[str] = field(default_factory=frozenset)

    def missing_protocol(self, url: str) -> str | None:
        """The protocol of `url` this build lacks, None when it has it (or when the
        build was not probed, or the url is a plain path)."""
        scheme, sep, _ = url.partition("://")
        if not sep or not self.protocols:
            return None
        name = scheme.lower()
        return None if name in self.protocols else name


# Filters every job may use; a build without them cannot run ffrtmp at all.
REQUIRED_FILTERS = ("scale", "format", "split", "null")
# ffmpeg's own protocols for files and the progress pipe.
REQUIRED_PROTOCOLS = ("file", "pipe")
# A -progress block must say how far the output got, in one spelling or another.
TIME_KEYS = ("out_time_us", "out_time_ms", "out_time")


def missing_features(features: FfmpegFeatures) -> list[str]:
    """Features ffrtmp cannot work without that this build lacks, in words."""
    missing = [f"filter {f}" for f in REQUIRED_FILTERS if f not in features.filters]
    missing += [f"protocol {p}" for p in REQUIRED_PROTOCOLS if p not in features.protocols]
    keys = features.progress_keys
    if "progress" not in keys or not any(k in keys for k in TIME_KEYS):
        missing.append("-progress output with out_time")
    return missing
