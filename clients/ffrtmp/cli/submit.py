"""`ffrtmp jobs submit`: a JobSpec from flags. Every flag left out takes the
scenario's value, so only what a user typed is sent."""

from __future__ import annotations

import argparse
import re
import uuid

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json
from ffrtmp.cli.watch import follow
from ffrtmp.core.durations import parse_duration
from ffrtmp.v1 import common_pb2

_RENDITION = re.compile(r"^(\d{1,5})x(\d{1,5})@(\S+)$")


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rendition(text: str) -> common_pb2.Rendition:
    """`1280x720@2500k`: one rung of an HLS ladder."""
    m = _RENDITION.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not WIDTHxHEIGHT@BITRATE, e.g. 1280x720@2500k"
        )
    return common_pb2.Rendition(width=int(m.group(1)), height=int(m.group(2)), bitrate=m.group(3))


def label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. zone=eu-west")
    return key, value


def spec_from(a: argparse.Namespace) -> common_pb2.JobSpec:
    spec = common_pb2.JobSpec(
        scenario=a.scenario or "",
        queue=a.queue or "",
        priority=a.priority or "",
        input=a.input or "",
        output=a.output_target or "",
        codec=a.codec or "",
        bitrate=a.bitrate or "",
        maxrate=a.maxrate or "",
        bufsize=a.bufsize or "",
        width=a.width or 0,
        height=a.height or 0,
        fps=a.fps or 0.0,
        duration_s=a.duration or 0.0,
        preset=a.preset or "",
        gop_s=a.gop or 0.0,
        audio_codec=a.audio_codec or "",
        audio_bitrate=a.audio_bitrate or "",
        audio_sample_rate=a.audio_sample_rate or 0,
        audio_channels=a.audio_channels or 0,
        renditions=a.renditions,
        threads=a.threads or 0,
        requirements=common_pb2.Requirements(
            encoders=a.require_encoders, gpu=a.require_gpu, labels=dict(a.require_labels)
        ),
    )
    if a.live is not None:
        spec.live = a.live
    if a.max_retries is not None:
        spec.max_retries = a.max_retries
    if a.job_timeout is not None:
        spec.timeout_s = a.job_timeout
    if a.nice is not None:
        spec.nice = a.nice
    return spec


async def submit(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        # One request_id per invocation: a retried call cannot create a second job.
        resp = await c.submit(spec_from(args), args.request_id or uuid.uuid4().hex)
        if args.wait:
            return await follow(c, resp.job.id, as_json=wants_json(args))
    if wants_json(args):
        output.print_json(output.job_dict(resp.job, events=True))
    else:
        output.job_detail(resp.job)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", help="named preset, e.g. 720p30-h264, live-4k, test")
    p.add_argument("--queue", help="live, default or batch")
    p.add_argument("--priority", help="high, medium or low")
    p.add_argument("--input", help="file under the worker's input root, URL, or lavfi:SOURCE")
    p.add_argument(
        "--output",
        dest="output_target",
        metavar="TARGET",
        help="a file under the worker's output root (out.mp4, .mkv, .mov, .flv, .ts); "
        "hls/NAME/ for an HLS directory (see --rendition); an rtmp(s):// or srt:// URL; "
        "or null: to encode and discard (benchmarks)",
    )
    p.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="real-time push to RTMP (default: from the scenario)",
    )
    p.add_argument("--duration", type=duration, help="seconds of output (3600, 90s, 2m)")

    v = p.add_argument_group("video (default: the scenario's)")
    v.add_argument("--codec", help="h264, h265, vp9, av1, or an exact encoder to pin")
    v.add_argument("--bitrate", help="e.g. 2500k or 10M")
    v.add_argument("--maxrate", help="rate cap, e.g. 3000k (live: the bitrate)")
    v.add_argument("--bufsize", help="rate-control buffer (default: twice the cap)")
    v.add_argument("--width", type=int)
    v.add_argument("--height", type=int)
    v.add_argument("--fps", type=float)
    v.add_argument(
        "--preset",
        "--encoder-preset",
        dest="preset",
        help="veryfast, medium, ... (x264 words), p1..p7 or 0..13; translated for the encoder",
    )
    v.add_argument(
        "--gop", type=duration, metavar="SECONDS", help="keyframe interval, e.g. 2 or 500ms"
    )
    v.add_argument(
        "--rendition",
        dest="renditions",
        type=rendition,
        action="append",
        default=[],
        metavar="WxH@BITRATE",
        help="one rung of an HLS ladder, e.g. 1280x720@2500k (repeatable; "
        "needs --output hls/NAME/)",
    )

    a = p.add_argument_group("audio (default: the scenario's)")
    a.add_argument(
        "--audio-codec", choices=["aac", "opus", "none"], help="none drops the audio track"
    )
    a.add_argument("--audio-bitrate", help="e.g. 128k")
    a.add_argument("--audio-sample-rate", type=int, metavar="HZ", help="e.g. 48000")
    a.add_argument("--audio-channels", type=int, metavar="N", help="1 mono, 2 stereo, up to 8")

    w = p.add_argument_group("where and how it runs")
    w.add_argument(
        "--require-encoder",
        dest="require_encoders",
        action="append",
        default=[],
        metavar="NAME",
        help="only on workers that proved this encoder (repeatable)",
    )
    w.add_argument("--require-gpu", action="store_true", help="only on workers with a GPU")
    w.add_argument(
        "--require-label",
        dest="require_labels",
        type=label,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only on workers with this label (repeatable)",
    )
    w.add_argument("--threads", type=int, metavar="N", help="ffmpeg -threads (0: ffmpeg decides)")
    w.add_argument(
        "--nice",
        type=int,
        metavar="N",
        help="nice level of the job's ffmpeg, 0 to 19 (default: the worker's)",
    )
    w.add_argument("--max-retries", type=int, help="override the master's --max-retries")
    w.add_argument(
        "--timeout",
        dest="job_timeout",
        type=duration,
        help="stop the job after this long (default: none; live: duration + margin)",
    )

    p.add_argument("--request-id", help="idempotency key (default: a fresh one)")
    p.add_argument(
        "--wait", action="store_true", help="watch the job to the end; exit status is its outcome"
    )
    p.set_defaults(func=submit)
