"""Proto ⇄ domain translation for the master. Nothing here decides anything."""

from __future__ import annotations

from typing import cast

from ffrtmp import wire
from ffrtmp.core.model import Job, JobState, Outcome
from ffrtmp.core.scenarios import Scenario
from ffrtmp.core.spec import RawSpec
from ffrtmp.master.scheduling.attempts import RunResult
from ffrtmp.master.scheduling.scheduler import QueueStats
from ffrtmp.master.scheduling.sessions import NodeSession
from ffrtmp.v1 import common_pb2, jobs_pb2, nodes_pb2, worker_pb2
from ffrtmp.wire import lease, lease_pb, progress, progress_pb, spec_pb

__all__ = ["lease", "lease_pb", "progress", "progress_pb", "spec_pb"]


def _state(value: int) -> common_pb2.JobState.ValueType:
    return cast("common_pb2.JobState.ValueType", value)


def raw_spec(p: common_pb2.JobSpec) -> RawSpec:
    return RawSpec(**wire.spec_fields(p))


def job_pb(j: Job, pending_reason: str = "") -> common_pb2.Job:
    info = wire.output_info_pb(j.output_info) if j.output_info is not None else None
    return common_pb2.Job(
        output_info=info,
        id=j.id,
        spec=spec_pb(j.spec),
        state=_state(int(j.state)),
        node_id=j.node_id,
        attempt=j.attempt,
        created_unix_ms=j.created_ms,
        updated_unix_ms=j.updated_ms,
        progress=progress_pb(j.progress),
        exit_code=j.exit_code,
        error=j.error,
        failure_reason=j.failure_reason,
        log_tail=j.log_tail,
        output=j.output,
        output_bytes=j.output_bytes,
        request_id=j.request_id,
        pending_reason=pending_reason,
        owner=j.owner,
        events=[
            common_pb2.JobEvent(
                at_unix_ms=e.at_ms,
                from_state=_state(int(e.from_state or 0)),
                to_state=_state(int(e.to_state)),
                reason=e.reason,
                node_id=e.node_id,
                attempt=e.attempt,
            )
            for e in j.events
        ],
    )


def job_states(values: list[int]) -> list[JobState]:
    from ffrtmp.core.errors import InvalidArgument

    try:
        return [JobState(v) for v in values]
    except ValueError:
        raise InvalidArgument("states", "unknown job state") from None


def capabilities(p: nodes_pb2.Capabilities) -> dict[str, object]:
    return {
        "encoders": list(p.encoders),
        "hwaccels": list(p.hwaccels),
        "cpu_threads": p.cpu_threads,
        "ram_bytes": p.ram_bytes,
        "labels": dict(p.labels),
        "slots": p.slots,
        "ffmpeg_version": p.ffmpeg_version,
        "gpus": p.gpus,
        "allow_raw_args": p.allow_raw_args,
    }


def capabilities_pb(c: dict[str, object]) -> nodes_pb2.Capabilities:
    return nodes_pb2.Capabilities(**c)  # type: ignore[arg-type]


def node_pb(s: NodeSession) -> nodes_pb2.Node:
    if s.connected:
        draining = s.draining or s.drained
        state = nodes_pb2.NODE_STATE_DRAINING if draining else nodes_pb2.NODE_STATE_ONLINE
    else:
        state = nodes_pb2.NODE_STATE_OFFLINE
    return nodes_pb2.Node(
        id=s.node_id,
        state=state,
        capabilities=capabilities_pb(s.capabilities),
        running_job_ids=sorted(j for j, a in s.leases.items() if a > 0),
        connected_unix_ms=s.connected_ms,
        last_seen_unix_ms=s.last_seen_ms,
        address=s.address,
        drained=s.drained,
    )


def run_result(r: worker_pb2.Result) -> RunResult:
    try:
        outcome = Outcome(r.outcome)
    except ValueError:
        outcome = Outcome.FAILED
    return RunResult(
        outcome=outcome,
        exit_code=r.exit_code,
        error_class=r.error_class[:32],
        error=r.error,
        log_tail=r.log_tail,
        output=r.output,
        output_bytes=r.output_bytes,
        output_info=wire.output_info(r.output_info) if r.HasField("output_info") else None,
    )


def queue_stats_pb(st: QueueStats) -> jobs_pb2.GetQueueStatsResponse:
    return jobs_pb2.GetQueueStatsResponse(
        depths=[
            jobs_pb2.QueueDepth(queue=q, priority=p, depth=n)
            for (q, p), n in sorted(st.depth.items())
        ],
        waits=[
            jobs_pb2.QueueWait(queue=q, oldest_wait_s=w)
            for q, w in sorted(st.oldest_wait_s.items())
        ],
        queued=sum(st.depth.values()),
        retry_waiting=st.retry_waiting,
        running=st.running,
        nodes=[
            jobs_pb2.NodeLoad(
                node_id=n.node_id,
                running=sum(1 for a in n.leases.values() if a > 0),
                slots=n.slots,
                accepting=n.accepting,
            )
            for n in st.nodes
        ],
        blocked=[
            jobs_pb2.BlockedJobs(needs=sorted(needs), count=count, reason=reason)
            for needs, count, reason in st.blocked
        ],
    )


def scenario_pb(s: Scenario) -> jobs_pb2.Scenario:
    return jobs_pb2.Scenario(
        name=s.name,
        width=s.width,
        height=s.height,
        fps=s.fps,
        codec=s.codec,
        bitrate=s.bitrate,
        live=s.live,
        duration_s=s.duration_s,
        preset=s.preset,
        description=s.description,
        gop_s=s.gop_s,
        maxrate=s.maxrate,
        bufsize=s.bufsize,
        audio_codec=s.audio_codec,
        audio_bitrate=s.audio_bitrate,
        audio_sample_rate=s.audio_sample_rate,
        audio_channels=s.audio_channels,
    )
