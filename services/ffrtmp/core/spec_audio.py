"""Checks and defaults of a spec's audio: codec, bitrate, sample rate, channels,
each against the others and against what the output's container carries."""

from __future__ import annotations

from dataclasses import dataclass

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.scenarios import Scenario
from ffrtmp.core.spec_paths import carries_flv, is_mov
from ffrtmp.core.spec_video import check_bitrate

AUDIO_CODECS = ("aac", "opus", "none")
SAMPLE_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000})
OPUS_RATES = frozenset({8000, 12000, 16000, 24000, 48000})  # all that libopus takes
MAX_CHANNELS = 8  # 7.1, the most either encoder maps


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
