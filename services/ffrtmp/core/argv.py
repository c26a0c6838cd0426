"""Translate a resolved JobSpec into an ffmpeg argument vector.

Pure: the worker resolves paths and picks the encoder first, so this module only decides
flags and is tested with plain tables. The result is an argv list for exec, never a
shell string. Encoder-specific flags come from core.encoders, output kinds from
core.outputs.
"""

from __future__ import annotations

import re

from ffrtmp.core import encoders
from ffrtmp.core.encoders import select_encoder
from ffrtmp.core.model import JobSpec, Rendition
from ffrtmp.core.outputs import (
    FASTSTART_MUXERS,
    HLS_SEGMENT_S,
    OutputKind,
    hls_layout,
    hls_muxer_args,
    output_kind,
    output_muxer,
)

__all__ = ["bitrate_bps", "build_argv", "encoder_for", "output_muxer"]

LAVFI_PREFIX = "lavfi:"
# A synthetic job carries a tone too, so audio paths are exercised like real content.
LAVFI_AUDIO = "sine=frequency=440:sample_rate=48000"
# Generators that take size= and rate=; a bare name gets the spec's geometry appended.
SIZED_SOURCES = frozenset(
    {"testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc", "yuvtestsrc", "color"}
)
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


# The name older callers and tests use.
encoder_for = select_encoder
NETWORK_INPUTS = ("http://", "https://", "rtmp://", "rtmps://", "srt://")
# A read that waits longer than this (µs) fails the run instead of hanging it.
NETWORK_TIMEOUT_US = "15000000"


def is_synthetic(spec: JobSpec) -> bool:
    return spec.input.startswith(LAVFI_PREFIX)


def lavfi_source(spec: JobSpec) -> str:
    """The lavfi graph of a synthetic input, sized from the spec when given bare (an
    HLS ladder's source takes its largest rendition, so no rung is upscaled)."""
    source = spec.input.removeprefix(LAVFI_PREFIX).strip()
    if source not in SIZED_SOURCES:
        return source
    width, height = spec.width, spec.height
    if spec.renditions:
        top = max(spec.renditions, key=lambda r: r.width * r.height)
        width, height = top.width, top.height
    options = []
    if width > 0 and height > 0:
        options.append(f"size={width}x{height}")
    if spec.fps > 0:
        options.append(f"rate={_num(spec.fps)}")
    return f"{source}={':'.join(options)}" if options else source


def build_argv(
    ffmpeg: str,
    spec: JobSpec,
    *,
    input_url: str,
    output_url: str,
    encoder: str,
    threads: int = 0,
    has_audio: bool = True,
) -> list[str]:
    """The full argv. `input_url` is ignored for synthetic (lavfi:) inputs; for an HLS
    output `output_url` is the directory to write into; `has_audio` says whether a
    real input carries audio, which an HLS ladder must map explicitly."""
    # -nostats with -progress: machine-readable progress on stdout, a clean log on stderr.
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-nostats"]
    argv += ["-progress", "pipe:1", "-loglevel", "info"]
    argv += encoders.hw_device_args(encoder)
    argv += _inputs(spec, input_url)
    kind = output_kind(spec.output, spec.live)
    if kind is OutputKind.HLS:
        argv += _ladder(spec, encoder, has_audio or is_synthetic(spec))
    else:
        argv += _video(spec, encoder)
    argv += _audio(output_url if kind is not OutputKind.HLS else "")
    threads = threads or spec.threads
    if threads > 0:
        argv += ["-threads", str(threads)]
    if spec.duration_s > 0:
        argv += ["-t", _num(spec.duration_s)]
    if is_synthetic(spec):
        # Generators are endless; stop with the shorter of video and tone.
        argv.append("-shortest")
    # Raw options come last before the output, so they can override ours; only
    # workers started with --allow-raw-args run such jobs (execution.py checks).
    argv += spec.raw_args
    return argv + _output(spec, kind, output_url, has_audio or is_synthetic(spec))


def _inputs(spec: JobSpec, input_url: str) -> list[str]:
    if not is_synthetic(spec):
        network = input_url.lower().startswith(NETWORK_INPUTS)
        # -re paces a file like a camera would; a network source already arrives live.
        realtime = ["-re"] if spec.live and not network else []
        options = ["-rw_timeout", NETWORK_TIMEOUT_US] if network else []
        if input_url.lower().startswith(("http://", "https://")):
            # Ride out a dropped connection instead of failing a long transcode.
            options += ["-reconnect", "1", "-reconnect_delay_max", "5"]
        return [*realtime, *options, "-i", input_url]
    realtime = ["-re"] if spec.live else []
    return [
        *realtime,
        *["-f", "lavfi", "-i", lavfi_source(spec)],
        *realtime,
        *["-f", "lavfi", "-i", LAVFI_AUDIO],
    ]


def _video(spec: JobSpec, encoder: str) -> list[str]:
    args = ["-c:v", encoder]
    args += encoders.preset_args(encoder, spec.preset, spec.live)
    if spec.bitrate:
        bitrate = spec.bitrate.strip()
        args += encoders.rate_args(encoder, bitrate, bitrate_bps(bitrate), spec.live)
    args += _gop(spec) + encoders.latency_args(encoder, spec.live)
    filters = []
    if spec.width > 0 and spec.height > 0 and not is_synthetic(spec):
        filters.append(f"scale={spec.width}:{spec.height}")
    upload = encoders.hw_device(encoder) is not None
    if upload:
        # Device encoders take device frames: convert and upload as the last step.
        filters.append(encoders.pixel_filter(encoder))
    if filters:
        args += ["-vf", ",".join(filters)]
    if spec.fps > 0:
        args += ["-r", _num(spec.fps)]
    # yuv420p: the one pixel format every player decodes (device frames carry their own).
    return args if upload else [*args, "-pix_fmt", "yuv420p"]


def _ladder(spec: JobSpec, encoder: str, has_audio: bool) -> list[str]:
    """One input split into every rendition, each scaled and encoded on its own."""
    rungs = list(spec.renditions) or [Rendition(spec.width, spec.height, spec.bitrate)]
    pixel = encoders.pixel_filter(encoder)
    labels = [f"[s{i}]" for i in range(len(rungs))]
    graph = [f"[0:v]split={len(rungs)}{''.join(labels)}"] if len(rungs) > 1 else []
    args: list[str] = []
    for i, rung in enumerate(rungs):
        source = labels[i] if len(rungs) > 1 else "[0:v]"
        scale = f"scale={rung.width}:{rung.height}," if rung.width and rung.height else ""
        graph.append(f"{source}{scale}{pixel}[v{i}]")
        args += ["-map", f"[v{i}]"]
    if has_audio:
        # var_stream_map wants an audio stream per variant: map the same audio once each.
        audio = "1:a" if is_synthetic(spec) else "0:a:0"
        args += [part for _ in rungs for part in ("-map", audio)]
    args = ["-filter_complex", ";".join(graph), *args, "-c:v", encoder]
    args += encoders.preset_args(encoder, spec.preset, spec.live)
    for i, rung in enumerate(rungs):
        if rung.bitrate:
            bitrate = rung.bitrate.strip()
            bps = bitrate_bps(bitrate)
            args += encoders.rate_args(encoder, bitrate, bps, spec.live, stream=f":v:{i}")
    args += _gop(spec) + encoders.latency_args(encoder, spec.live)
    # Every segment must start on a keyframe, whatever the encoder's own GOP.
    args += ["-force_key_frames", f"expr:gte(t,n_forced*{HLS_SEGMENT_S})"]
    if spec.fps > 0:
        args += ["-r", _num(spec.fps)]
    return args


def _gop(spec: JobSpec) -> list[str]:
    if spec.live and spec.fps > 0:
        # A keyframe every two seconds: viewers can join, segmenters can cut.
        return ["-g", str(max(1, round(2 * spec.fps)))]
    return []


def _audio(output_url: str) -> list[str]:
    # WebM only carries Opus/Vorbis; everything else gets AAC.
    codec = "libopus" if output_muxer(output_url) == "webm" else "aac"
    return ["-c:a", codec, "-b:a", "128k", "-ar", "48000"]


def _output(spec: JobSpec, kind: OutputKind, output_url: str, has_audio: bool) -> list[str]:
    if kind is OutputKind.NULL:
        return ["-f", "null", "-"]
    if kind is OutputKind.HLS:
        count = max(1, len(spec.renditions))
        variants = [f"v:{i},a:{i}" if has_audio else f"v:{i}" for i in range(count)]
        return hls_muxer_args(output_url, hls_layout(spec.output), variants, spec.live)
    muxer = output_muxer(output_url)
    if muxer is None:
        return [output_url]
    # mp4/mov get +faststart so players can start before the end.
    faststart = ["-movflags", "+faststart"] if muxer in FASTSTART_MUXERS else []
    return ["-f", muxer, *faststart, output_url]


def _num(value: float) -> str:
    """A float as ffmpeg reads it, without a trailing ".0"."""
    return f"{value:.6f}".rstrip("0").rstrip(".")
