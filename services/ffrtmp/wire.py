"""Proto ⇄ domain translation: all of the master's, and the worker's Hello, Assign
and progress (its daemon still writes its small stream messages itself).

Field-for-field copies go through ffrtmp.fieldmap; what is left here is what a
mapping by name cannot say: renamed fields, enums, bounds on what a worker
reports, and the choice of a message. Master types are imported lazily, so a
worker that imports this module loads no master code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.memo import ByIdentity
from ffrtmp.core.model import (
    AttemptResult,
    Job,
    JobSpec,
    JobState,
    Lease,
    Outcome,
    OutputInfo,
    ProgressInfo,
    StreamInfo,
)
from ffrtmp.core.scenarios import Scenario
from ffrtmp.core.spec import RawSpec
from ffrtmp.fieldmap import from_pb, set_values, to_pb
from ffrtmp.v1 import common_pb2, jobs_pb2, nodes_pb2, worker_pb2

if TYPE_CHECKING:
    from ffrtmp.master.scheduling.sessions import Command, NodeSession
    from ffrtmp.master.scheduling.stats import QueueStats
    from ffrtmp.worker.probe import Capabilities as WorkerCapabilities

# -- the job spec and scenarios ---------------------------------------------


def spec_pb(s: JobSpec) -> common_pb2.JobSpec:
    return to_pb(s, common_pb2.JobSpec)


# Once per spec object (a resubmitted one is); only ever copied into a reply.
_spec_in_job: ByIdentity[JobSpec, common_pb2.JobSpec] = ByIdentity(spec_pb)


def spec(p: common_pb2.JobSpec) -> JobSpec:
    """A resolved spec, as the master sends it in Assign."""
    return from_pb(JobSpec, p)


def raw_spec(p: common_pb2.JobSpec) -> RawSpec:
    """A spec as a client submitted it: the fields it set (proto3 leaves out a
    zero, and an optional field the client did not set)."""
    # Deterministic: equal specs give equal bytes, whatever order a client wrote.
    return RawSpec.from_wire(p.SerializeToString(deterministic=True),
                             lambda: set_values(JobSpec, p))


def scenario_pb(s: Scenario) -> jobs_pb2.Scenario:
    return to_pb(s, jobs_pb2.Scenario)


# -- leases, progress and outputs -------------------------------------------


def lease(p: common_pb2.Lease) -> Lease:
    return Lease(p.job_id, p.attempt)


def lease_pb(lease: Lease) -> common_pb2.Lease:
    return common_pb2.Lease(job_id=lease.job_id, attempt=lease.attempt)


def progress_pb(p: ProgressInfo) -> common_pb2.Progress:
    return to_pb(p, common_pb2.Progress)


_NO_PROGRESS = ProgressInfo()  # a job not run yet (every submit's reply): converted once
_NO_PROGRESS_PB = progress_pb(_NO_PROGRESS)  # only ever copied into a reply


def progress(p: common_pb2.Progress) -> ProgressInfo:
    got = from_pb(ProgressInfo, p)
    return replace(got, bitrate=got.bitrate[:32])


def output_info_pb(o: OutputInfo) -> common_pb2.OutputInfo:
    return to_pb(o, common_pb2.OutputInfo)


# A worker's report is bounded before it is stored: no output has more streams.
MAX_STREAMS = 64


def _stream(s: StreamInfo) -> StreamInfo:
    return replace(s, kind=s.kind[:16], codec=s.codec[:32], channels=s.channels[:32])


def output_info(p: common_pb2.OutputInfo) -> OutputInfo:
    got = from_pb(OutputInfo, p)
    streams = tuple(_stream(s) for s in got.streams[:MAX_STREAMS])
    return replace(got, format=got.format[:64], streams=streams)


# -- jobs -------------------------------------------------------------------


def _state(value: int) -> common_pb2.JobState.ValueType:
    return cast("common_pb2.JobState.ValueType", value)


def job_pb(j: Job, pending_reason: str = "") -> common_pb2.Job:
    return common_pb2.Job(
        output_info=None if j.output_info is None else output_info_pb(j.output_info),
        id=j.id,
        spec=_spec_in_job(j.spec),
        state=_state(int(j.state)),
        node_id=j.node_id,
        attempt=j.attempt,
        lost_attempts=j.lost_attempts,
        created_unix_ms=j.created_ms,
        updated_unix_ms=j.updated_ms,
        progress=_NO_PROGRESS_PB if j.progress == _NO_PROGRESS else progress_pb(j.progress),
        exit_code=j.exit_code,
        error=j.error,
        failure_reason=j.failure_reason,
        log_tail=j.log_tail,
        output=j.output,
        output_bytes=j.output_bytes,
        request_id=j.request_id,
        pending_reason=pending_reason,
        owner=j.owner,
        parent_id=j.parent_id,
        depends_on=list(j.depends_on),
        group=j.group,
        children=[job_pb(c) for c in j.children],
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
    try:
        return [JobState(v) for v in values]
    except ValueError:
        raise InvalidArgument("states", "unknown job state") from None


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


# -- nodes and the worker stream ---------------------------------------------


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


def capabilities_pb(c: Mapping[str, object]) -> nodes_pb2.Capabilities:
    return nodes_pb2.Capabilities(**c)  # type: ignore[arg-type]


def hello_pb(
    caps: WorkerCapabilities,
    *,
    labels: Mapping[str, str],
    slots: int,
    allow_raw_args: bool,
    running: Iterable[Lease],
) -> worker_pb2.WorkerMessage:
    """The first message of a worker's stream: what its probe proved, what its
    operator set, and the leases it still holds. No node_id: the worker's
    certificate names the node."""
    # Written out: the probe's type also holds what stays on the worker (features).
    offered = nodes_pb2.Capabilities(
        encoders=list(caps.encoders),
        hwaccels=list(caps.hwaccels),
        cpu_threads=caps.cpu_threads,
        ram_bytes=caps.ram_bytes,
        labels=dict(labels),
        slots=slots,
        ffmpeg_version=caps.ffmpeg_version,
        gpus=caps.gpus,
        allow_raw_args=bool(allow_raw_args),  # the flag may leave it None
    )
    hello = worker_pb2.Hello(capabilities=offered, running=[lease_pb(x) for x in running])
    return worker_pb2.WorkerMessage(hello=hello)


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


def run_result(r: worker_pb2.Result) -> AttemptResult:
    try:
        outcome = Outcome(r.outcome)
    except ValueError:
        outcome = Outcome.FAILED
    return AttemptResult(
        outcome=outcome,
        exit_code=r.exit_code,
        error_class=r.error_class[:32],
        error=r.error,
        log_tail=r.log_tail,
        output=r.output,
        output_bytes=r.output_bytes,
        output_info=output_info(r.output_info) if r.HasField("output_info") else None,
    )


def command_pb(cmd: Command) -> worker_pb2.MasterMessage:
    """A scheduler's command to a worker as the message it travels in."""
    from ffrtmp.master.scheduling import sessions as c

    m = worker_pb2.MasterMessage
    if isinstance(cmd, c.HeartbeatAckCmd):
        return m(heartbeat_ack=worker_pb2.HeartbeatAck(seq=cmd.seq))
    if isinstance(cmd, c.DrainCmd):
        return m(drain=worker_pb2.Drain(drain=cmd.drain))
    held = lease_pb(cmd.lease)
    if isinstance(cmd, c.PauseCmd):
        if cmd.pause:
            return m(pause=worker_pb2.Pause(lease=held))
        return m(resume=worker_pb2.Resume(lease=held))
    if isinstance(cmd, c.ResultAckCmd):
        return m(result_ack=worker_pb2.ResultAck(lease=held))
    if isinstance(cmd, c.AssignCmd):
        base = cmd.spec if cmd.base is None else cmd.base
        msg = m(assign=worker_pb2.Assign(lease=held, spec=_spec_in_job(base),
                                         trace_context=cmd.trace_context, seq=cmd.seq))
        if base is not cmd.spec:  # placed for this run (dispatch._assigned_spec): msg's copy
            p, placed = msg.assign.spec, cmd.spec
            p.input, p.output, p.concat[:] = placed.input, placed.output, placed.concat
        return msg
    if isinstance(cmd, c.CancelCmd):
        return m(cancel=worker_pb2.Cancel(lease=held, reason=cmd.reason))
    return m(abort=worker_pb2.Abort(lease=held, reason=cmd.reason))
