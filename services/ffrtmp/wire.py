"""Proto ⇄ domain translation shared by the master and the worker."""

from __future__ import annotations

from ffrtmp.core.model import JobSpec, Lease, ProgressInfo, Requirements
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
    )
    if s.max_retries is not None:
        p.max_retries = s.max_retries
    if s.timeout_s is not None:
        p.timeout_s = s.timeout_s
    r = s.requirements
    p.requirements.CopyFrom(
        common_pb2.Requirements(encoders=list(r.encoders), gpu=r.gpu, labels=dict(r.labels))
    )
    return p


def requirements(p: common_pb2.Requirements) -> Requirements:
    return Requirements(tuple(p.encoders), p.gpu, tuple(sorted(p.labels.items())))


def spec(p: common_pb2.JobSpec) -> JobSpec:
    """A resolved spec as the master sends it in Assign."""
    return JobSpec(
        scenario=p.scenario,
        queue=p.queue,
        priority=p.priority,
        input=p.input,
        output=p.output,
        codec=p.codec,
        bitrate=p.bitrate,
        width=p.width,
        height=p.height,
        fps=p.fps,
        duration_s=p.duration_s,
        live=p.live,
        preset=p.preset,
        max_retries=p.max_retries if p.HasField("max_retries") else None,
        timeout_s=p.timeout_s if p.HasField("timeout_s") else None,
        requirements=requirements(p.requirements),
    )


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
    )


def progress(p: common_pb2.Progress) -> ProgressInfo:
    return ProgressInfo(p.percent, p.frame, p.fps, p.speed, p.out_time_s, p.bitrate[:32])
