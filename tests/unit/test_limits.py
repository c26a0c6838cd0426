"""Every repeated field a caller can send has a bound, and outboxes stay small."""

from __future__ import annotations

from google.protobuf import descriptor as d

from ffrtmp.core.model import Lease
from ffrtmp.master.rpc.limits import LIMITS
from ffrtmp.master.scheduling.sessions import MAX_OUTBOX, AbortCmd, NodeSession
from ffrtmp.v1 import admin_pb2, blobs_pb2, jobs_pb2, nodes_pb2, worker_pb2

SERVICES = [
    (jobs_pb2, "JobService"),
    (nodes_pb2, "NodeService"),
    (admin_pb2, "AdminService"),
    (worker_pb2, "WorkerService"),
    (blobs_pb2, "BlobService"),
]


def request_types() -> list[d.Descriptor]:
    out = [worker_pb2.WorkerMessage.DESCRIPTOR]  # what the worker stream carries
    for module, name in SERVICES:
        out += [m.input_type for m in module.DESCRIPTOR.services_by_name[name].methods]
    return out


def repeated_fields(desc: d.Descriptor, seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if desc.full_name in seen:
        return set()
    seen.add(desc.full_name)
    found = set()
    for f in desc.fields:
        if f.is_repeated:
            found.add(f.full_name)
        if f.message_type is not None and not f.message_type.GetOptions().map_entry:
            found |= repeated_fields(f.message_type, seen)
    return found


def test_every_repeated_request_field_has_a_bound() -> None:
    fields = set().union(*(repeated_fields(t) for t in request_types()))
    assert "ffrtmp.v1.Heartbeat.running" in fields and "ffrtmp.v1.ListJobsRequest.states" in fields
    missing = sorted(fields - LIMITS.keys())
    assert not missing, f"repeated request fields without a bound in rpc/limits.py: {missing}"


def test_an_outbox_nobody_reads_ends_the_stream_instead_of_growing() -> None:
    s = NodeSession("w1", {}, 1)
    for i in range(3 * MAX_OUTBOX):
        s.send(AbortCmd(Lease(f"job-{i}", 1), "lease is not current"))
    assert s.outbox.qsize() == MAX_OUTBOX + 1
    items = [s.outbox.get_nowait() for _ in range(MAX_OUTBOX + 1)]
    assert items[-1] is None and None not in items[:-1]  # the stream ends after the backlog
