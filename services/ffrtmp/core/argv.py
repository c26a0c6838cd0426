"""Translate a resolved JobSpec into an ffmpeg argument vector.

Pure: the worker resolves paths and picks the encoder first, so this module only decides
flags and is tested with plain tables. The result is an argv list for exec, never a
shell string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec

LAVFI_PREFIX = "lavfi:"
# A synthetic job carries a tone too, so audio paths are exercised like real content.
LAVFI_AUDIO = "sine=frequency=440:sample_rate=48000"
# Generators that take size= and rate=; a bare name gets the spec's geometry appended.
SIZED_SOURCES = frozenset(
    {"testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc", "yuvtestsrc", "color"}
)
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# Preferred encoders per codec, best first.
CODEC_ENCODERS: dict[str, tuple[str, ...]] = {
    "h264": ("libx264",),
    "avc": ("libx264",),
    "h265": ("libx265",),
    "hevc": ("libx265",),
    "vp9": ("libvpx-vp9",),
    "av1": ("libsvtav1", "libaom-av1"),
}
# Muxer per file extension; mp4/mov get +faststart so players can start before the end.
MUXERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".ts": "mpegts",
    ".flv": "flv",
    ".m3u8": "hls",
}
FASTSTART_MUXERS = frozenset({"mp4", "mov"})
# Network outputs and the muxer they carry; RTMP only speaks FLV.
STREAM_MUXERS = {
    "rtmp://": "flv",
    "rtmps://": "flv",
    "srt://": "mpegts",
    "udp://": "mpegts",
    "rtp://": "rtp_mpegts",
}

_BITRATE = re.compile(r"(\d+(?:\.\d+)?)([kKmMgG]?)")
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def bitrate_bps(text: str) -> int:
    """Bits per second of "2500k", "10M", "1.5M" or "800000"; ValueError otherwise."""
    match = _BITRATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"malformed bitrate {text!r} (expected e.g. 2500k, 10M, 800000)")
    bps = round(float(match.group(1)) * _SCALE[match.group(2).lower()])
    if bps <= 0:
        raise ValueError(f"bitrate {text!r} must be positive")
    return bps


def encoder_for(codec: str, available: Iterable[str]) -> str:
    """The ffmpeg encoder for `codec` among `available`; InvalidArgument when none fits."""
    offered = frozenset(available)
    wanted = codec.strip()
    candidates = CODEC_ENCODERS.get(wanted.lower(), (wanted,))
    for encoder in candidates:
        if encoder in offered:
            return encoder
    raise InvalidArgument(
        "spec.codec",
        f"no encoder for {codec!r} on this worker (wanted one of {', '.join(candidates)})",
    )


def is_synthetic(spec: JobSpec) -> bool:
    return spec.input.startswith(LAVFI_PREFIX)


def lavfi_source(spec: JobSpec) -> str:
    """The lavfi graph of a synthetic input, sized from the spec when given bare."""
    source = spec.input.removeprefix(LAVFI_PREFIX).strip()
    if source not in SIZED_SOURCES:
        return source
    options = []
    if spec.width > 0 and spec.height > 0:
        options.append(f"size={spec.width}x{spec.height}")
    if spec.fps > 0:
        options.append(f"rate={_num(spec.fps)}")
    return f"{source}={':'.join(options)}" if options else source


def output_muxer(output_url: str) -> str | None:
    """The muxer for an output: by URL scheme for streams, by extension for files."""
    lowered = output_url.lower()
    for scheme, muxer in STREAM_MUXERS.items():
        if lowered.startswith(scheme):
            return muxer
    for extension, muxer in MUXERS.items():
        if lowered.endswith(extension):
            return muxer
    return None  # let ffmpeg guess, and fail loudly if it cannot


def build_argv(
    ffmpeg: str,
    spec: JobSpec,
    *,
    input_url: str,
    output_url: str,
    encoder: str,
    threads: int = 0,
) -> list[str]:
    """The full argv; `input_url` is ignored for synthetic (lavfi:) inputs."""
    # -nostats with -progress: machine-readable progress on stdout, a clean log on stderr.
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-nostats"]
    argv += ["-progress", "pipe:1", "-loglevel", "info"]
    argv += _inputs(spec, input_url)
    argv += _video(spec, encoder)
    argv += _audio(output_url)
    if threads > 0:
        argv += ["-threads", str(threads)]
    if spec.duration_s > 0:
        argv += ["-t", _num(spec.duration_s)]
    if is_synthetic(spec):
        # Generators are endless; stop with the shorter of video and tone.
        argv.append("-shortest")
    muxer = output_muxer(output_url)
    if muxer is not None:
        argv += ["-f", muxer]
        if muxer in FASTSTART_MUXERS:
            argv += ["-movflags", "+faststart"]
    argv.append(output_url)
    return argv


def _inputs(spec: JobSpec, input_url: str) -> list[str]:
    # -re reads at native rate, so a live job paces itself like a camera would.
    realtime = ["-re"] if spec.live else []
    if not is_synthetic(spec):
        return [*realtime, "-i", input_url]
    return [
        *realtime,
        *["-f", "lavfi", "-i", lavfi_source(spec)],
        *realtime,
        *["-f", "lavfi", "-i", LAVFI_AUDIO],
    ]


def _video(spec: JobSpec, encoder: str) -> list[str]:
    args = ["-c:v", encoder]
    args += _preset(spec.preset, encoder)
    if spec.bitrate:
        bps = bitrate_bps(spec.bitrate)
        args += ["-b:v", spec.bitrate.strip()]
        if spec.live:
            # Constrained rate so a stream never bursts past what the link was sized for.
            args += ["-maxrate", spec.bitrate.strip(), "-bufsize", str(2 * bps)]
    if spec.live:
        if spec.fps > 0:
            # A keyframe every two seconds: viewers can join, segmenters can cut.
            args += ["-g", str(max(1, round(2 * spec.fps)))]
        if encoder in ("libx264", "libx265"):
            args += ["-tune", "zerolatency"]
    if spec.width > 0 and spec.height > 0 and not is_synthetic(spec):
        args += ["-vf", f"scale={spec.width}:{spec.height}"]
    if spec.fps > 0:
        args += ["-r", _num(spec.fps)]
    # yuv420p: the one pixel format every player decodes.
    args += ["-pix_fmt", "yuv420p"]
    return args


def _preset(preset: str, encoder: str) -> list[str]:
    name = preset.strip()
    if not name:
        return []
    if encoder in ("libx264", "libx265"):
        if name not in X26X_PRESETS:
            raise InvalidArgument(
                "spec.preset", f"{name!r} is not one of {', '.join(X26X_PRESETS)}"
            )
        return ["-preset", name]
    if encoder == "libsvtav1" and name.isdigit():
        return ["-preset", name]
    # Other encoders name speed differently; a preset is a hint, so drop what they lack.
    return []


def _audio(output_url: str) -> list[str]:
    # WebM only carries Opus/Vorbis; everything else gets AAC.
    codec = "libopus" if output_muxer(output_url) == "webm" else "aac"
    return ["-c:a", codec, "-b:a", "128k", "-ar", "48000"]


def _num(value: float) -> str:
    """A float as ffmpeg reads it, without a trailing ".0"."""
    return f"{value:.6f}".rstrip("0").rstrip(".")
