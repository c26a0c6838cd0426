"""After a success, what the run really wrote: container, duration, size, streams.

There may be no ffprobe beside the worker's ffmpeg (the bundled build has none), so
this reads the header `ffmpeg -i FILE` prints. The parser is a pure function,
tested on sample headers; only `probe_output` runs a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path

from ffrtmp.core.model import OutputInfo, StreamInfo
from ffrtmp.core.progress import parse_clock

log = logging.getLogger("ffrtmp.worker")

PROBE_TIMEOUT_S = 30.0
HEADER_BYTES = 256 * 1024  # a header is a few kB; an HLS ladder's a few tens
REAP_S = 2.0  # after its header, how long the probe may take to exit by itself

_INPUT = re.compile(r"^Input #0, (.+?), from ")
_DURATION = re.compile(r"^\s*Duration: (\S+?),(?:.*bitrate: (\d+) kb/s)?")
_STREAM = re.compile(
    r"^\s*Stream #\d+:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data): (.*)$"
)
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})\b")
_FPS = re.compile(r"^(\d+(?:\.\d+)?)k? fps$")
_KBPS = re.compile(r"^(\d+) kb/s\b")
_HZ = re.compile(r"^(\d+) Hz$")
_VARIANT = re.compile(r"^\s*variant_bitrate\s*:\s*(\d+)")


def _fields(text: str) -> list[str]:
    """Split a stream description on commas outside parentheses and brackets:
    "yuv420p(tv, progressive)" is one field."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return [f for f in out if f]


def _stream(index: int, kind: str, description: str) -> StreamInfo:
    fields = _fields(description)
    codec = fields[0].split()[0] if fields else ""
    width = height = sample_rate = bitrate = 0
    fps = 0.0
    channels = ""
    for pos, field in enumerate(fields[1:], start=1):
        if kind == "Video" and not width and (m := _SIZE.match(field)):
            width, height = int(m.group(1)), int(m.group(2))
        elif kind == "Video" and (m := _FPS.match(field)):
            fps = float(m.group(1)) * (1000 if "k fps" in field else 1)
        elif kind == "Audio" and (m := _HZ.match(field)):
            sample_rate = int(m.group(1))
            channels = fields[pos + 1] if pos + 1 < len(fields) else ""
        elif m := _KBPS.match(field):
            bitrate = int(m.group(1)) * 1000
    return StreamInfo(
        index, kind.lower(), codec, width, height, fps, sample_rate, channels, bitrate
    )


def parse_header(text: str, size_bytes: int) -> OutputInfo | None:
    """The OutputInfo of an `ffmpeg -i` header (stderr); None when it names no input."""
    fmt = ""
    duration = 0.0
    bitrate = 0
    streams: list[StreamInfo] = []
    for line in text.splitlines():
        if not fmt and (m := _INPUT.match(line)):
            fmt = m.group(1)
        elif line.startswith("Input #") or line.startswith("Output #"):
            break  # only the first input describes our output
        elif fmt and not duration and (m := _DURATION.match(line)):
            duration = max(0.0, parse_clock(m.group(1)) or 0.0)
            bitrate = int(m.group(2)) * 1000 if m.group(2) else 0
        elif fmt and (m := _STREAM.match(line)):
            streams.append(_stream(int(m.group(1)), m.group(2), m.group(3)))
        elif streams and not streams[-1].bitrate_bps and (m := _VARIANT.match(line)):
            # An HLS rendition states its bandwidth in metadata, not in the stream line.
            last = streams[-1]
            streams[-1] = StreamInfo(
                last.index,
                last.kind,
                last.codec,
                last.width,
                last.height,
                last.fps,
                last.sample_rate,
                last.channels,
                int(m.group(1)),
            )
    if not fmt:
        return None
    # ffmpeg rates an HLS playlist by the playlist file's own size: use every segment's.
    if (not bitrate or fmt == "hls") and duration > 0:
        bitrate = round(size_bytes * 8 / duration)
    return OutputInfo(fmt, duration, size_bytes, bitrate, tuple(streams))


async def _read_bounded(stream: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < HEADER_BYTES and (chunk := await stream.read(64 * 1024)):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)[:HEADER_BYTES]


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Wait for the probe to exit, killing it only when it does not. Never signal a
    process that may have exited by itself: Popen.send_signal polls first, reaping
    it behind asyncio's child watcher, which then reports a made-up 255."""
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), REAP_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def probe_output(ffmpeg: str, path: Path | str, size_bytes: int) -> OutputInfo | None:
    """Probe a finished output (a file, or an HLS master playlist), or an input URL;
    None when it cannot be read. A probe never fails the job it describes."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-i",
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        # `ffmpeg -i` with no output exits 1 by design: the header is what we want.
        header = await asyncio.wait_for(_read_bounded(process.stderr), PROBE_TIMEOUT_S)
    except TimeoutError:
        log.warning("probing %s timed out after %gs", path, PROBE_TIMEOUT_S)
        return None
    except asyncio.CancelledError:  # the run was stopped: the probe goes at once
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise
    finally:
        await _reap(process)
    info = parse_header(header.decode(errors="replace"), size_bytes)
    if info is None:
        log.warning("could not probe %s", path)
    return info
