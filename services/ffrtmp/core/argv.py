"""Translate a resolved JobSpec into an ffmpeg argument vector.

Pure: the worker resolves paths and picks the encoder first, so this module only decides
flags and is tested with plain tables. The result is an argv list for exec, never a
shell string. Encoder-specific flags come from core.encoders, output kinds from
core.outputs.
"""

from __future__ import annotations

from ffrtmp.core import encoders
from ffrtmp.core.encoders import select_encoder
from ffrtmp.core.ffmpeg_build import STATS_PERIOD_S, FfmpegFeatures
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
from ffrtmp.core.sizes import bitrate_bps
from ffrtmp.core.split import AUDIO, PART, SEGMENT_ARGS
from ffrtmp.core.split_hls import media_segment_s, part_offset_args
from ffrtmp.core.tunes import tune_args

__all__ = ["build_argv", "output_muxer", "select_encoder"]

LAVFI_PREFIX = "lavfi:"
# A synthetic job carries a tone too, so audio paths are exercised like real content.
LAVFI_AUDIO = "sine=frequency=440:sample_rate=48000"
# A spec's audio codec and the ffmpeg encoder for it.
AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus"}
# Jobs stored before the GOP was a spec field ran live ones at this interval.
LIVE_GOP_S = 2.0
# Generators that take size= and rate=; a bare name gets the spec's geometry appended.
SIZED_SOURCES = frozenset(
    {
        "testsrc",
        "testsrc2",
        "smptebars",
        "smptehdbars",
        "rgbtestsrc",
        "yuvtestsrc",
        "color",
        "mandelbrot",
    }
)

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
        options.append(f"rate={num(spec.fps)}")
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
    features: FfmpegFeatures | None = None,
    rc_pass: int = 0,
    pass_log: str = "",
) -> list[str]:
    """The full argv. `input_url` is ignored for synthetic (lavfi:) inputs; for an HLS
    output `output_url` is the directory to write into; `has_audio` says whether a
    real input carries audio, which an HLS ladder must map explicitly. A spec whose
    audio codec is "none" gets no audio track (and a synthetic one no tone).
    `features` is what the worker's probe found in the binary (None: the supported
    baseline); the argv uses only what it has."""
    features = features or FfmpegFeatures()
    audio = spec.audio_codec != "none" and (has_audio or is_synthetic(spec)) and rc_pass != 1
    argv = head_args(ffmpeg, features) + encoders.hw_device_args(encoder)
    argv += _inputs(spec, input_url, audio)
    # A two-pass encode's first pass (`rc_pass` 1) writes only its log at `pass_log`.
    kind = OutputKind.NULL if rc_pass == 1 else output_kind(spec.output, spec.live)
    if kind is OutputKind.HLS:
        argv += _ladder(spec, encoder, audio)
    elif spec.split == AUDIO and audio:  # a split's audio part: the whole input's audio alone
        argv += ["-vn"]
    elif spec.split == AUDIO:
        # An input without audio: the part must still exist for the join, which
        # maps its audio only if there is one; one copied video packet will do.
        argv += ["-map", "0:v:0", "-frames:v", "1", "-c:v", "copy"]
    else:
        argv += _video(spec, encoder)
    if rc_pass:
        argv += ["-pass", str(rc_pass), "-passlogfile", pass_log]
    argv += audio_args(spec, output_url if kind is not OutputKind.HLS else "") if audio else ["-an"]
    threads = threads or spec.threads
    if threads > 0:
        argv += ["-threads", str(threads)]
    if spec.duration_s > 0:
        argv += ["-t", num(spec.duration_s)]
    if is_synthetic(spec) and audio:
        # Generators are endless; stop with the shorter of video and tone.
        argv.append("-shortest")
    # Raw options come last before the output, so they can override ours; only
    # workers started with --allow-raw-args run such jobs (execution.py checks).
    argv += spec.raw_args
    return argv + output_args(spec, kind, output_url, audio)


def head_args(ffmpeg: str, features: FfmpegFeatures) -> list[str]:
    # -nostats with -progress: machine-readable progress on stdout, a clean log on stderr.
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-nostats"]
    argv += ["-progress", "pipe:1", "-loglevel", "info"]
    if features.stats_period:
        # The cadence the ETA's pace is measured at, whatever the build's default.
        argv += ["-stats_period", num(STATS_PERIOD_S)]
    return argv


def _inputs(spec: JobSpec, input_url: str, audio: bool) -> list[str]:
    # A late start (a split's segment): frame-accurate, as ffmpeg decodes from the
    # keyframe before and drops what precedes it.
    seek = ["-ss", num(spec.seek_s)] if spec.seek_s > 0 else []
    if not is_synthetic(spec):
        network = input_url.lower().startswith(NETWORK_INPUTS)
        # -re paces a file like a camera would; a network source already arrives live.
        realtime = ["-re"] if spec.live and not network else []
        options = ["-rw_timeout", NETWORK_TIMEOUT_US] if network else []
        if input_url.lower().startswith(("http://", "https://")):
            # Ride out a dropped connection instead of failing a long transcode.
            options += ["-reconnect", "1", "-reconnect_delay_max", "5"]
        return [*realtime, *options, *seek, "-i", input_url]
    realtime = ["-re"] if spec.live else []
    video = [*realtime, *seek, "-f", "lavfi", "-i", lavfi_source(spec)]
    return [*video, *realtime, "-f", "lavfi", "-i", LAVFI_AUDIO] if audio else video


def _video(spec: JobSpec, encoder: str) -> list[str]:
    args = ["-c:v", encoder]
    args += encoders.preset_args(encoder, spec.preset, spec.live)
    if spec.bitrate:
        args += _rate(spec, encoder, spec.bitrate.strip())
    args += _gop(spec) + tune_args(encoder, spec.tune, spec.live)
    args += encoders.latency_args(encoder, spec.live)
    if spec.split == PART:
        args += SEGMENT_ARGS.get(encoder, ())
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
        args += ["-r", num(spec.fps)]
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
            args += _rate(spec, encoder, rung.bitrate.strip(), f":v:{i}")
    args += _gop(spec, by_time=False) + tune_args(encoder, spec.tune, spec.live)
    args += encoders.latency_args(encoder, spec.live)
    if spec.split == PART:
        args += SEGMENT_ARGS.get(encoder, ())
    # Every segment must start on a keyframe, whatever the encoder's own GOP: one
    # every GOP, so segments are whole GOPs and the rungs stay aligned for switching.
    every = num(_gop_s(spec) or HLS_SEGMENT_S)
    args += ["-force_key_frames", f"expr:gte(t,n_forced*{every})"]
    if spec.fps > 0:
        args += ["-r", num(spec.fps)]
    return args


def _rate(spec: JobSpec, encoder: str, bitrate: str, stream: str = "") -> list[str]:
    """Bitrate and rate control, with the spec's cap and buffer where it has them.
    A ladder rung's cap is the spec's in proportion to the rung's bitrate."""
    bps = bitrate_bps(bitrate)
    args = encoders.rate_args(encoder, bitrate, bps, spec.live, stream)
    # The encoder's live flags say which caps it takes at all (SVT-AV1 refuses a
    # maxrate outside CRF), so a file job's cap is only added where it is taken.
    takes = encoders.rate_args(encoder, bitrate, bps, True, stream)
    ratio = bps / bitrate_bps(spec.bitrate) if stream and spec.bitrate else 1.0
    for name, value in ((f"-maxrate{stream}", spec.maxrate), (f"-bufsize{stream}", spec.bufsize)):
        if not value or name not in takes:
            continue
        value = value if ratio == 1.0 else str(round(bitrate_bps(value) * ratio))
        if name in args:
            args[args.index(name) + 1] = value
        else:
            args += [name, value]
    return args


def _gop_s(spec: JobSpec) -> float:
    # A live job needs keyframes, so viewers can join and segmenters can cut.
    return spec.gop_s or (LIVE_GOP_S if spec.live else 0.0)


def _gop(spec: JobSpec, *, by_time: bool = True) -> list[str]:
    """A fixed keyframe interval: -g and -keyint_min in frames at the job's rate."""
    seconds = _gop_s(spec)
    if seconds <= 0:
        return []
    if spec.fps <= 0:
        # The input's rate is unknown here: force keyframes by time instead.
        every = f"expr:gte(t,n_forced*{num(seconds)})"
        return ["-force_key_frames", every] if by_time else []
    frames = str(max(1, round(seconds * spec.fps)))
    return ["-g", frames, "-keyint_min", frames]


def audio_args(spec: JobSpec, output_url: str) -> list[str]:
    # WebM only carries Opus/Vorbis; an unset codec (older jobs) gets AAC elsewhere.
    webm = output_muxer(output_url) == "webm"
    codec = "opus" if webm else spec.audio_codec or "aac"
    args = ["-c:a", AUDIO_ENCODERS[codec], "-b:a", spec.audio_bitrate or "128k"]
    args += ["-ar", str(spec.audio_sample_rate or 48000)]
    # No -ac by default: the input's layout is kept.
    return args + (["-ac", str(spec.audio_channels)] if spec.audio_channels else [])


def output_args(spec: JobSpec, kind: OutputKind, output_url: str, has_audio: bool) -> list[str]:
    if kind is OutputKind.NULL:
        return ["-f", "null", "-"]
    if kind is OutputKind.HLS:
        count = max(1, len(spec.renditions))
        variants = [f"v:{i},a:{i}" if has_audio else f"v:{i}" for i in range(count)]
        layout = hls_layout(spec.output)
        if spec.split == PART:  # one part of a split ladder (core.split_hls)
            return [*part_offset_args(spec), *hls_muxer_args(
                output_url, layout, variants, False, media_segment_s(spec))]
        return hls_muxer_args(output_url, layout, variants, spec.live)
    muxer = output_muxer(output_url)
    if muxer is None:
        return [output_url]
    # mp4/mov get +faststart so players can start before the end.
    faststart = ["-movflags", "+faststart"] if muxer in FASTSTART_MUXERS else []
    return ["-f", muxer, *faststart, output_url]


def num(value: float) -> str:
    """A float as ffmpeg reads it, without a trailing ".0"."""
    return f"{value:.6f}".rstrip("0").rstrip(".")
