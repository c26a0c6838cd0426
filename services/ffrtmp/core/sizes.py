"""Human sizes and rates: byte sizes for flags ("512M", "1G", "1.5GiB", "100k" or plain
bytes, binary units as disk tools report free space) and bitrates ("2500k", "10M", decimal
units as encoders count bits)."""

from __future__ import annotations

import re

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.ASCII)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in `text`; ValueError (argparse shows it) when it is not a size."""
    m = _SIZE.fullmatch(text.strip().lower())
    if m is None:
        raise ValueError(f"invalid size {text!r} (use e.g. 512M, 1G or a number of bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


# Matched whole and in ASCII: "6000k\n" must not reach an ffmpeg argument.
_BITRATE = re.compile(r"(\d+(?:\.\d+)?)([kKmMgG]?)", re.ASCII)
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def bitrate_bps(text: str) -> int:
    """Bits per second of "2500k", "10M", "1.5M" or "800000"; ValueError otherwise."""
    match = _BITRATE.fullmatch(text)
    if match is None:
        raise ValueError(f"malformed bitrate {text!r} (expected e.g. 2500k, 10M, 800000)")
    bps = round(float(match.group(1)) * _SCALE[match.group(2).lower()])
    if bps <= 0:
        raise ValueError(f"bitrate {text!r} must be positive")
    return bps
