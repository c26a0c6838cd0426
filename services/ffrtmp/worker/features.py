"""Probe what one ffmpeg binary offers: its version, filters, protocols, options
and the keys of its `-progress` output.

The text parsers are pure (tested on sample output of several releases); only
`probe_features` runs the binary.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from ffrtmp.core.ffmpeg_build import FfmpegFeatures, FfmpegVersion

# " TS aap   AA->A  Apply ..." (two flag columns in 6.0+, three before), then the name.
_FILTER_LINE = re.compile(r"^\s*[A-Z.|]{2,3}\s+(\S+)\s+\S*->\S*")
# "-stats_period <time>  set the period ..." (5.1 prints "time" without brackets).
_OPTION_LINE = re.compile(r"^-([A-Za-z0-9_:-]+)\b")
# In "<name> AVOptions:" sections: "  -preset   <int>  E..V..." and its named values
# "     p4    15   E..V...." (indented deeper, no dash).
_SECTION = re.compile(r"^(\S.*?) AVOptions:\s*$")
_PRIVATE_OPTION = re.compile(r"^  -(\S+)\s+<\w+>")
_CONSTANT = re.compile(r"^ {4,}(\S+)\s+\S+\s+[A-Z.]{6,}")

Run = Callable[..., Awaitable[str]]


def parse_filters(text: str) -> frozenset[str]:
    """Filter names of `ffmpeg -filters`."""
    names = (_FILTER_LINE.match(line) for line in text.splitlines())
    return frozenset(m.group(1) for m in names if m is not None)


def parse_protocols(text: str) -> frozenset[str]:
    """Protocol names of `ffmpeg -protocols`, input and output together."""
    names: set[str] = set()
    started = False
    for line in text.splitlines():
        word = line.strip()
        if word in ("Input:", "Output:"):
            started = True
        elif started and word and " " not in word:
            names.add(word)
    return frozenset(names)


def parse_main_options(text: str) -> frozenset[str]:
    """ffmpeg's own option names (without the dash) of `ffmpeg -h long`."""
    names = (_OPTION_LINE.match(line) for line in text.splitlines())
    return frozenset(m.group(1) for m in names if m is not None)


def parse_progress_keys(text: str) -> frozenset[str]:
    """The keys of `-progress` output, e.g. {"frame", "out_time_us", "progress"}."""
    keys = (line.partition("=") for line in text.splitlines())
    return frozenset(k.strip() for k, sep, _ in keys if sep and k.strip())


def parse_av_options(text: str) -> dict[str, dict[str, frozenset[str]]]:
    """The "<section> AVOptions:" blocks of `ffmpeg -h encoder=X` or `-h full`:
    section -> option name -> its named values (empty when it takes any value)."""
    sections: dict[str, dict[str, set[str]]] = {}
    options: dict[str, set[str]] | None = None
    current: set[str] | None = None
    for line in text.splitlines():
        if m := _SECTION.match(line):
            options = sections.setdefault(m.group(1), {})
            current = None
        elif options is not None and (m := _PRIVATE_OPTION.match(line)):
            current = options.setdefault(m.group(1), set())
        elif current is not None and (m := _CONSTANT.match(line)):
            current.add(m.group(1))
        elif line and not line.startswith(" "):
            options, current = None, None
    return {s: {o: frozenset(v) for o, v in opts.items()} for s, opts in sections.items()}


# One frame of a tiny picture: enough for ffmpeg to print a whole -progress block.
PROGRESS_PROBE = (
    *("-nostdin", "-nostats", "-loglevel", "error"),
    *("-f", "lavfi", "-i", "color=size=16x16:rate=5", "-frames:v", "1"),
    *("-progress", "pipe:1", "-f", "null", "-"),
)


async def probe_features(
    run: Run, version: FfmpegVersion, encoders: tuple[str, ...]
) -> FfmpegFeatures:
    """The features of one binary; `run(*args)` returns the stdout of an ffmpeg call."""
    filters, protocols, options, progress = await asyncio.gather(
        run("-hide_banner", "-filters"),
        run("-hide_banner", "-protocols"),
        run("-hide_banner", "-h", "long"),
        _or_nothing(run("-hide_banner", *PROGRESS_PROBE)),
    )
    return FfmpegFeatures(
        version=version,
        stats_period="stats_period" in parse_main_options(options),
        encoders=frozenset(encoders),
        filters=parse_filters(filters),
        protocols=parse_protocols(protocols),
        progress_keys=parse_progress_keys(progress),
    )


async def _or_nothing(call: Awaitable[str]) -> str:
    # A build that cannot run the tiny encode (no lavfi, say) reports no -progress
    # keys, and the worker refuses it by name instead of failing with a traceback.
    try:
        return await call
    except RuntimeError:
        return ""
