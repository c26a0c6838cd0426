"""`ffrtmp jobs submit`: a JobSpec from flags. Every flag left out takes the
scenario's value, so only what a user typed is sent."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from google.protobuf import json_format

from ffrtmp.cli import output, transfers
from ffrtmp.cli.context import client_from, wants_json
from ffrtmp.cli.probe import input_length, keyframes, scene_changes
from ffrtmp.cli.spec_flags import SPEC, Labels, duration, field_flags, rendition
from ffrtmp.cli.watch import follow
from ffrtmp.v1 import common_pb2


def spec_from(a: argparse.Namespace) -> common_pb2.JobSpec:
    """The JobSpec of every flag given: each spec flag's dest is `spec.` and the
    proto field's path, so this needs no list of fields, and a flag naming no
    field fails here (json_format.ParseError) rather than being dropped."""
    given: dict[str, Any] = {}
    for dest, value in vars(a).items():
        if not dest.startswith(SPEC) or value is None or value in ([], {}):
            continue
        *path, name = dest.removeprefix(SPEC).split(".")
        node = given
        for part in path:
            node = node.setdefault(part, {})
        node[name] = value
    return json_format.ParseDict(given, common_pb2.JobSpec())


def _probe_split(spec: common_pb2.JobSpec, scenes: float | None) -> None:
    """A split is planned on the input's length and cut where the input allows
    (its keyframes, or its scene changes): probed here when we can read it."""
    if not spec.duration_s:
        length = input_length(spec.input)
        if length is not None:
            spec.duration_s = length
    if not spec.split_cuts:
        found = keyframes(spec.input) if scenes is None else scene_changes(spec.input, scenes)
        spec.split_cuts.extend(found)


async def submit(args: argparse.Namespace) -> int:
    try:
        spec = spec_from(args)
    except json_format.ParseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if spec.split and spec.input and ":" not in spec.input:
        _probe_split(spec, args.split_scenes)
    try:
        local = transfers.local_input(spec.input)
    except transfers.Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    async with client_from(args) as c:
        if local is not None:  # stored first; the job names the blob
            spec.input = await transfers.upload_input(c, local, quiet=wants_json(args))
        # One request_id per invocation: a retried call cannot create a second job.
        resp = await c.submit(spec, args.request_id or uuid.uuid4().hex, args.depends_on)
        if args.wait:
            return await follow(c, resp.job.id, as_json=wants_json(args))
    if wants_json(args):
        output.print_json(output.job_dict(resp.job, events=True))
    else:
        output.job_detail(resp.job)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenario", dest="spec.scenario", help="named preset, e.g. 720p30-h264, live-4k, test"
    )
    p.add_argument("--queue", dest="spec.queue", help="live, default or batch")
    p.add_argument("--priority", dest="spec.priority", help="high, medium or low")
    p.add_argument(
        "--input",
        dest="spec.input",
        help="a local file to upload (a path starting with ./, ../, / or ~), a file under"
        " the worker's input root (a plain relative path), an http(s) URL,"
        " s3://BUCKET/KEY (a bucket the master reads: --input-buckets),"
        " blob:sha256:DIGEST, or lavfi:SOURCE",
    )
    p.add_argument(
        "--output",
        dest="spec.output",
        metavar="TARGET",
        help="a file under the worker's output root (out.mp4, .mkv, .mov, .flv, .ts); "
        "hls/NAME/ for an HLS directory (see --rendition); s3://BUCKET/KEY.mp4 or "
        "s3://BUCKET/PREFIX/ (HLS) to write straight to a bucket the master allows "
        "(--output-buckets); an rtmp(s):// or srt:// URL; "
        "or null: to encode and discard (benchmarks)",
    )
    p.add_argument(
        "--live",
        dest="spec.live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="real-time push to RTMP (default: from the scenario)",
    )
    p.add_argument(
        "--duration",
        dest="spec.duration_s",
        type=duration,
        help="seconds of output (3600, 90s, 2m)",
    )

    v = p.add_argument_group("video (default: the scenario's)")
    v.add_argument(
        "--codec", dest="spec.codec", help="h264, h265, vp9, av1, or an exact encoder to pin"
    )
    v.add_argument("--bitrate", dest="spec.bitrate", help="e.g. 2500k or 10M")
    v.add_argument(
        "--maxrate", dest="spec.maxrate", help="rate cap, e.g. 3000k (live: the bitrate)"
    )
    v.add_argument(
        "--bufsize", dest="spec.bufsize", help="rate-control buffer (default: twice the cap)"
    )
    v.add_argument("--width", dest="spec.width", type=int)
    v.add_argument("--height", dest="spec.height", type=int)
    v.add_argument("--fps", dest="spec.fps", type=float)
    v.add_argument(
        "--preset",
        "--encoder-preset",
        dest="spec.preset",
        help="veryfast, medium, ... (x264 words), p1..p7 or 0..13; translated for the encoder",
    )
    v.add_argument(
        "--gop",
        dest="spec.gop_s",
        type=duration,
        metavar="SECONDS",
        help="keyframe interval, e.g. 2 or 500ms",
    )
    v.add_argument(
        "--rendition",
        dest="spec.renditions",
        type=rendition,
        action="append",
        default=[],
        metavar="WxH@BITRATE",
        help="one rung of an HLS ladder, e.g. 1280x720@2500k (repeatable; "
        "needs --output hls/NAME/)",
    )

    s = p.add_argument_group("split transcodes (docs/SPLIT.md)")
    s.add_argument(
        "--split",
        dest="spec.split",
        metavar="LENGTH|auto",
        help="encode in segments of LENGTH (e.g. 10s) on several workers and join them (an "
        "HLS output: its ladder stitched from the segments); "
        "auto: only when the input is long and several workers can run it",
    )
    s.add_argument(
        "--split-scenes", dest="split_scenes", type=float, nargs="?", const=10.0,
        default=None, metavar="THRESHOLD",
        help="cut at the scene changes of a local input nearest each segment boundary "
        "(ffmpeg's scdet, threshold 0-100, default 10; one extra decode of the input "
        "here) instead of at its keyframes",
    )
    s.add_argument(
        "--seek", dest="spec.seek_s", type=duration, metavar="TIME",
        help="start this far into the input (with --duration: encode only that stretch)",
    )
    s.add_argument(
        "--concat", dest="spec.concat", action="append", metavar="OUTPUT",
        help="join: the video of these earlier outputs by stream copy, with the audio of "
        "--input encoded once (repeatable, in order)",
    )

    a = p.add_argument_group("audio (default: the scenario's)")
    a.add_argument(
        "--audio-codec",
        dest="spec.audio_codec",
        choices=["aac", "opus", "none"],
        help="none drops the audio track",
    )
    a.add_argument("--audio-bitrate", dest="spec.audio_bitrate", help="e.g. 128k")
    a.add_argument(
        "--audio-sample-rate",
        dest="spec.audio_sample_rate",
        type=int,
        metavar="HZ",
        help="e.g. 48000",
    )
    a.add_argument(
        "--audio-channels",
        dest="spec.audio_channels",
        type=int,
        metavar="N",
        help="1 mono, 2 stereo, up to 8",
    )

    w = p.add_argument_group("where and how it runs")
    w.add_argument(
        "--require-encoder",
        dest="spec.requirements.encoders",
        action="append",
        default=[],
        metavar="NAME",
        help="only on workers that proved this encoder (repeatable)",
    )
    w.add_argument(
        "--require-gpu",
        dest="spec.requirements.gpu",
        action="store_true",
        default=None,
        help="only on workers with a GPU",
    )
    w.add_argument(
        "--require-label",
        dest="spec.requirements.labels",
        action=Labels,
        metavar="KEY=VALUE",
        help="only on workers with this label (repeatable)",
    )
    w.add_argument(
        "--threads",
        dest="spec.threads",
        type=int,
        metavar="N",
        help="ffmpeg -threads (0: ffmpeg decides)",
    )
    w.add_argument(
        "--nice",
        dest="spec.nice",
        type=int,
        metavar="N",
        help="nice level of the job's ffmpeg, 0 to 19 (default: the worker's)",
    )
    w.add_argument(
        "--max-retries",
        dest="spec.max_retries",
        type=int,
        help="override the master's --max-retries",
    )
    w.add_argument(
        "--timeout",
        dest="spec.timeout_s",
        type=duration,
        help="stop the job after this long (default: none; live: duration + margin)",
    )

    w.add_argument(
        "--raw-arg",
        dest="spec.raw_args",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra ffmpeg output option, passed as it is (repeatable; write --raw-arg=-x "
        "for one that starts with '-'); only workers started with --allow-raw-args take the job",
    )

    field_flags(p.add_argument_group("other spec fields"))
    p.add_argument("--request-id", help="idempotency key (default: a fresh one)")
    p.add_argument(
        "--depends-on",
        action="append",
        default=[],
        metavar="JOB_ID",
        help="run only after this job (yours) succeeded; fail or cancel with it (repeatable)",
    )
    p.add_argument(
        "--wait", action="store_true", help="watch the job to the end; exit status is its outcome"
    )
    for action in p._actions:
        # dest names the field; the help shows the flag's own name, as before.
        named = action.metavar is not None or action.choices is not None
        if action.dest.startswith(SPEC) and not named and action.nargs != 0:
            action.metavar = action.option_strings[0].lstrip("-").replace("-", "_").upper()
    p.set_defaults(func=submit)
