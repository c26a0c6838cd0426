"""Checks and defaults of a spec's media fields: sizes, bitrates and their caps,
the keyframe interval and the audio settings.

Split from core.spec, which calls them; each problem is an InvalidArgument naming
the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import Rendition
from ffrtmp.core.outputs import OutputKind, output_kind
from ffrtmp.core.scenarios import Scenario
from ffrtmp.core.sizes import bitrate_bps
from ffrtmp.core.spec_paths import carries_flv, is_mov

MAX_RENDITIONS = 8
MAX_GOP_S = 60.0  # a longer interval leaves a joining viewer waiting that long
AUDIO_CODECS = ("aac", "opus", "none")
SAMPLE_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000})
OPUS_RATES = frozenset({8000, 12000, 16000, 24000, 48000})  # all that libopus takes
MAX_CHANNELS = 8  # 7.1, the most either encoder maps



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


@dataclass(frozen=True, slots=True)
class Audio:
    codec: str
    bitrate: str
    sample_rate: int
    channels: int


NO_AUDIO = Audio("none", "", 0, 0)


def resolve_audio(raw: Audio, sc: Scenario, output: str, live: bool) -> Audio:
    """The job's audio: its own fields over the scenario's, checked against each
    other and against what the output's container carries."""
    codec = raw.codec or sc.audio_codec
    if codec not in ("", *AUDIO_CODECS):
        raise InvalidArgument("spec.audio_codec", f"must be one of {', '.join(AUDIO_CODECS)}")
    if codec == "none":
        # Nothing is encoded: settings left over from the scenario would only mislead.
        return NO_AUDIO
    if codec == "opus" and carries_flv(output, live):
        raise InvalidArgument("spec.audio_codec", "RTMP and FLV carry AAC audio, not Opus")
    if codec == "opus" and is_mov(output):
        raise InvalidArgument("spec.audio_codec", "Opus needs .mp4, .mkv or .ts, not .mov")
    bitrate = raw.bitrate or sc.audio_bitrate
    if bitrate:
        check_bitrate("spec.audio_bitrate", bitrate, 6_000, 1_000_000)
    rate = raw.sample_rate or sc.audio_sample_rate
    allowed = OPUS_RATES if codec == "opus" else SAMPLE_RATES
    if rate and rate not in allowed:
        rates = ", ".join(str(r) for r in sorted(allowed))
        raise InvalidArgument(
            "spec.audio_sample_rate", f"must be one of {rates} Hz for {codec or 'aac'}"
        )
    channels = raw.channels or sc.audio_channels
    if not 0 <= channels <= MAX_CHANNELS:
        raise InvalidArgument(
            "spec.audio_channels", f"must be from 1 to {MAX_CHANNELS} (0 keeps the input's)"
        )
    return Audio(codec, bitrate, rate, channels)
