"""Reading ffmpeg's output: lines from a pipe, the last of them, and the one that
names the error."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator

LOG_BYTES = 16 * 1024
ERROR_CHARS = 300
# Lines ffmpeg prints after every failure; they summarise nothing.
_GENERIC = ("conversion failed", "exiting normally", "frame=")
# Encoder statistics printed at every exit, e.g. "[aac @ 0x..] Qavg: nan".
_STATS = re.compile(r"^\[\w+ @ 0x[0-9a-f]+\] (Qavg|frame I:|mb I |kb/s:|SSIM|PSNR)")


def log_tail(lines: deque[str] | list[str]) -> str:
    """The last lines, newest kept, within LOG_BYTES of UTF-8."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line.encode()) + 1
        if size > LOG_BYTES:
            break
        kept.append(line)
    return "\n".join(reversed(kept))


def error_line(lines: deque[str] | list[str]) -> str:
    """The last stderr line that says something, trimmed to one short line."""
    for line in reversed(lines):
        text = line.strip()
        if text and not text.lower().startswith(_GENERIC) and not _STATS.match(text):
            return text[:ERROR_CHARS]
    return ""


async def lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line over the reader's limit; asyncio dropped it, go on
            continue
        if not raw:
            return
        yield raw.decode(errors="replace").rstrip("\r\n")
