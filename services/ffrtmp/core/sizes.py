"""Human byte sizes for flags: "512M", "1G", "1.5GiB", "100k" or plain bytes.

Binary units (1k = 1024), as disk tools report free space.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in `text`; ValueError (argparse shows it) when it is not a size."""
    m = _SIZE.fullmatch(text.strip().lower())
    if m is None:
        raise ValueError(f"invalid size {text!r} (use e.g. 512M, 1G or a number of bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])
