"""Checks and defaults of a spec's video settings: preset, size, frame rate,
bitrate and its caps, the keyframe interval and an HLS ladder (the codec is
core.encoders' to check, the tune core.tunes').

core.spec calls them while it merges a job over its scenario; each problem is an
InvalidArgument naming the field.
"""

from __future__ import annotations

import math
import re

from ffrtmp.core.encoders import preset_rank
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import Rendition
from ffrtmp.core.outputs import OutputKind, output_kind
from ffrtmp.core.scenarios import Scenario
from ffrtmp.core.sizes import bitrate_bps

MAX_RENDITIONS = 8
TWO_PASS = {"h264": "libx264", "avc": "libx264", "libx264": "libx264"}  # codec -> encoder
MAX_GOP_S = 60.0  # a longer interval leaves a joining viewer waiting that long
MAX_FPS = 240

_PRESET = re.compile(r"[a-z0-9]{0,16}")

def check_bitrate(field: str, bitrate: str, low: int = 1_000, high: int = 1_000_000_000) -> int:
    """Bits per second of a valid `bitrate`, else InvalidArgument on `field`."""
    try:
        bps = bitrate_bps(bitrate)
    except ValueError:
        raise InvalidArgument(
            field, f"malformed bitrate {bitrate[:64]!r} (use e.g. 2500k or 10M)"
        ) from None
    if not low <= bps <= high:
        raise InvalidArgument(field, f"must be between {_kbps(low)} and {_kbps(high)}")
    return bps


def _kbps(bps: int) -> str:
    return f"{bps // 1_000_000}M" if bps >= 1_000_000 else f"{bps // 1000}k"


def check_preset(preset: str) -> None:
    if not _PRESET.fullmatch(preset):
        raise InvalidArgument("spec.preset", "must be a short lowercase word such as veryfast")
    if preset:
        preset_rank(preset)  # names the field when no encoder would understand it


def check_fps(fps: float) -> None:
    # 0 (a scenario's) leaves the rate to the input; anything else is a real rate.
    if fps != 0 and not (math.isfinite(fps) and 1 <= fps <= MAX_FPS):
        raise InvalidArgument("spec.fps", f"must be between 1 and {MAX_FPS}")


def check_size(field: str, width: int, height: int) -> None:
    for name, value, lo, hi in ((".width", width, 16, 7680), (".height", height, 16, 4320)):
        if value and not (lo <= value <= hi and value % 2 == 0):
            raise InvalidArgument(field + name, f"must be an even number from {lo} to {hi}")


def check_renditions(renditions: tuple[Rendition, ...], output: str, live: bool) -> None:
    if renditions and output_kind(output, live) is not OutputKind.HLS:
        raise InvalidArgument("spec.renditions", "only HLS outputs (.m3u8 or dir/) have renditions")
    if len(renditions) > MAX_RENDITIONS:
        raise InvalidArgument("spec.renditions", f"at most {MAX_RENDITIONS}")
    for i, r in enumerate(renditions):
        field = f"spec.renditions[{i}]"
        if not (r.width and r.height):
            raise InvalidArgument(field, "needs a width and a height")
        check_size(field, r.width, r.height)
        check_bitrate(field + ".bitrate", r.bitrate)


def check_gop(gop_s: float) -> float:
    if not math.isfinite(gop_s) or not 0 <= gop_s <= MAX_GOP_S:
        raise InvalidArgument("spec.gop_s", f"must be from 0 to {MAX_GOP_S:g} seconds")
    return gop_s


def scale_rate(bitrate: str, ratio: float) -> str:
    """`bitrate` times `ratio`, in kilobits ("" stays "")."""
    if not bitrate:
        return ""
    return f"{max(1, round(bitrate_bps(bitrate) * ratio / 1000))}k"


def rate_caps(maxrate: str, bufsize: str, bitrate: str, sc: Scenario) -> tuple[str, str]:
    """The job's rate cap and buffer. A job that sets its own bitrate but no cap
    keeps the scenario's cap in proportion (live-4k at 10000k is capped at 10000k,
    not at the scenario's 15000k); a cap without a buffer gets twice the cap."""
    bps = check_bitrate("spec.bitrate", bitrate)
    try:
        ratio = bps / bitrate_bps(sc.bitrate)
    except (ValueError, ZeroDivisionError):
        ratio = 1.0
    cap = maxrate or scale_rate(sc.maxrate, ratio)
    buffer = bufsize or ("" if maxrate else scale_rate(sc.bufsize, ratio))
    if cap:
        if check_bitrate("spec.maxrate", cap) < bps:
            raise InvalidArgument("spec.maxrate", f"must be at least spec.bitrate ({bitrate})")
        buffer = buffer or scale_rate(cap, 2.0)
    if buffer:
        check_bitrate("spec.bufsize", buffer)
    return cap, buffer


def check_passes(passes: int, codec: str, bitrate: str, live: bool, output: str) -> None:
    """Two passes need an encoder that takes them (x264), a bitrate to aim at
    and a file written once (not a stream, not HLS)."""
    if passes not in (0, 1, 2):
        raise InvalidArgument("spec.passes", "0, 1 or 2")
    if passes < 2:
        return
    if codec.lower() not in TWO_PASS:
        raise InvalidArgument("spec.passes", f"two passes run with x264 only, not {codec[:32]!r}")
    if not bitrate:
        raise InvalidArgument("spec.passes", "two passes need a bitrate to aim at")
    if live or output_kind(output, live) is not OutputKind.FILE:
        raise InvalidArgument("spec.passes", "two passes need a file output")
