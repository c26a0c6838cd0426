"""Proto ⇄ domain translation shared by the master and the worker."""

from __future__ import annotations

from typing import Any

from ffrtmp.core.model import (
    JobSpec,
    Lease,
    OutputInfo,
    ProgressInfo,
    Rendition,
    Requirements,
    StreamInfo,
)
from ffrtmp.v1 import common_pb2


def spec_pb(s: JobSpec) -> common_pb2.JobSpec:
    p = common_pb2.JobSpec(
        scenario=s.scenario,
        queue=s.queue,
        priority=s.priority,
        input=s.input,
        output=s.output,
        codec=s.codec,
        bitrate=s.bitrate,
        width=s.width,
        height=s.height,
        fps=s.fps,
        duration_s=s.duration_s,
        live=s.live,
        preset=s.preset,
        renditions=[renditions_pb(r) for r in s.renditions],
        threads=s.threads,
        raw_args=list(s.raw_args),
        gop_s=s.gop_s,
        maxrate=s.maxrate,
        bufsize=s.bufsize,
        audio_codec=s.audio_codec,
        audio_bitrate=s.audio_bitrate,
        audio_sample_rate=s.audio_sample_rate,
        audio_channels=s.audio_channels,
    )
    if s.nice is not None:
        p.nice = s.nice
    if s.max_retries is not None:
        p.max_retries = s.max_retries
    if s.timeout_s is not None:
        p.timeout_s = s.timeout_s
    r = s.requirements
    p.requirements.CopyFrom(
        common_pb2.Requirements(encoders=list(r.encoders), gpu=r.gpu, labels=dict(r.labels))
    )
    return p


def renditions_pb(r: Rendition) -> common_pb2.Rendition:
    return common_pb2.Rendition(width=r.width, height=r.height, bitrate=r.bitrate)


def renditions(ps: list[common_pb2.Rendition]) -> tuple[Rendition, ...]:
    return tuple(Rendition(p.width, p.height, p.bitrate) for p in ps)


def requirements(p: common_pb2.Requirements) -> Requirements:
    return Requirements(tuple(p.encoders), p.gpu, tuple(sorted(p.labels.items())))


def spec_fields(p: common_pb2.JobSpec) -> dict[str, Any]:
    """The spec's fields as keyword arguments, optional ones as None when unset:
    shared by the resolved spec (Assign) and the raw one (SubmitJob)."""
    return {
        "scenario": p.scenario,
        "queue": p.queue,
        "priority": p.priority,
        "input": p.input,
        "output": p.output,
        "codec": p.codec,
        "bitrate": p.bitrate,
        "width": p.width,
        "height": p.height,
        "fps": p.fps,
        "duration_s": p.duration_s,
        "live": p.live if p.HasField("live") else None,
        "preset": p.preset,
        "max_retries": p.max_retries if p.HasField("max_retries") else None,
        "timeout_s": p.timeout_s if p.HasField("timeout_s") else None,
        "requirements": requirements(p.requirements),
        "raw_args": tuple(p.raw_args),
        "renditions": renditions(list(p.renditions)),
        "threads": p.threads,
        "nice": p.nice if p.HasField("nice") else None,
        "gop_s": p.gop_s,
        "maxrate": p.maxrate,
        "bufsize": p.bufsize,
        "audio_codec": p.audio_codec,
        "audio_bitrate": p.audio_bitrate,
        "audio_sample_rate": p.audio_sample_rate,
        "audio_channels": p.audio_channels,
    }


def spec(p: common_pb2.JobSpec) -> JobSpec:
    """A resolved spec as the master sends it in Assign."""
    fields = spec_fields(p)
    fields["live"] = bool(fields["live"])
    return JobSpec(**fields)


def lease(p: common_pb2.Lease) -> Lease:
    return Lease(p.job_id, p.attempt)


def lease_pb(lease: Lease) -> common_pb2.Lease:
    return common_pb2.Lease(job_id=lease.job_id, attempt=lease.attempt)


def progress_pb(p: ProgressInfo) -> common_pb2.Progress:
    return common_pb2.Progress(
        percent=p.percent,
        frame=p.frame,
        fps=p.fps,
        speed=p.speed,
        out_time_s=p.out_time_s,
        bitrate=p.bitrate,
        eta_s=p.eta_s,
    )


def progress(p: common_pb2.Progress) -> ProgressInfo:
    eta = p.eta_s if p.HasField("eta_s") else None
    return ProgressInfo(p.percent, p.frame, p.fps, p.speed, p.out_time_s, p.bitrate[:32], eta)


def output_info_pb(o: OutputInfo) -> common_pb2.OutputInfo:
    return common_pb2.OutputInfo(
        format=o.format,
        duration_s=o.duration_s,
        size_bytes=o.size_bytes,
        bitrate_bps=o.bitrate_bps,
        streams=[
            common_pb2.StreamInfo(
                index=s.index,
                kind=s.kind,
                codec=s.codec,
                width=s.width,
                height=s.height,
                fps=s.fps,
                sample_rate=s.sample_rate,
                channels=s.channels,
                bitrate_bps=s.bitrate_bps,
            )
            for s in o.streams
        ],
    )


# A worker's report is bounded before it is stored: no output has more streams.
MAX_STREAMS = 64


def output_info(p: common_pb2.OutputInfo) -> OutputInfo:
    streams = tuple(
        StreamInfo(
            s.index,
            s.kind[:16],
            s.codec[:32],
            s.width,
            s.height,
            s.fps,
            s.sample_rate,
            s.channels[:32],
            s.bitrate_bps,
        )
        for s in list(p.streams)[:MAX_STREAMS]
    )
    return OutputInfo(p.format[:64], p.duration_s, p.size_bytes, p.bitrate_bps, streams)
