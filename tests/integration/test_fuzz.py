"""Hypothesis throws random and malformed messages at every RPC, the worker stream
included: only expected status codes come back, nothing crashes, and the master
still serves afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffrtmp.v1 import admin_pb2, common_pb2, jobs_pb2, nodes_pb2, worker_pb2
from tests.helpers.cluster import Cluster, make_certs

EXPECTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
# Which services are fuzzed and through which certificate.
SERVICES = [(jobs_pb2, "JobService"), (nodes_pb2, "NodeService"), (admin_pb2, "AdminService")]
EXAMPLES = 40
TERMINAL_STATES = {
    common_pb2.JOB_STATE_SUCCEEDED,
    common_pb2.JOB_STATE_FAILED,
    common_pb2.JOB_STATE_CANCELED,
}

TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "test",
            "live",
            "high",
            "../../etc/passwd",
            "/etc/passwd",
            "file:///etc/passwd",
            "concat:a|b",
            "lavfi:movie=/etc/passwd",
            "rtmp://127.0.0.1:1/x",
            "h264",
            "10000k",
            "\x00",
            "é" * 3,
        ]
    ),
    st.text(min_size=5000, max_size=100_000).map(lambda s: s[:100_000]),
)


def _scalar(f: d.FieldDescriptor) -> st.SearchStrategy[Any]:
    t = f.type
    if t == d.FieldDescriptor.TYPE_STRING:
        return TEXT
    if t == d.FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == d.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t in (d.FieldDescriptor.TYPE_DOUBLE, d.FieldDescriptor.TYPE_FLOAT):
        return st.one_of(
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.sampled_from([0.0, -1.0, 1e300, math.inf, -math.inf]),
        )
    if t == d.FieldDescriptor.TYPE_ENUM:
        return st.integers(min_value=-5, max_value=50)  # unknown numbers too
    if t in (d.FieldDescriptor.TYPE_UINT32, d.FieldDescriptor.TYPE_FIXED32):
        return st.integers(min_value=0, max_value=2**32 - 1)
    if t in (d.FieldDescriptor.TYPE_UINT64, d.FieldDescriptor.TYPE_FIXED64):
        return st.integers(min_value=0, max_value=2**64 - 1)
    if t in (d.FieldDescriptor.TYPE_INT64, d.FieldDescriptor.TYPE_SINT64):
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    return st.integers(min_value=-(2**31), max_value=2**31 - 1)


@st.composite
def messages(draw: st.DrawFn, desc: d.Descriptor, depth: int = 0) -> Message:
    from google.protobuf import message_factory

    msg = message_factory.GetMessageClass(desc)()
    for f in desc.fields:
        if not draw(st.booleans()):
            continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_f, val_f = (
                f.message_type.fields_by_name["key"],
                f.message_type.fields_by_name["value"],
            )
            for _ in range(draw(st.integers(0, 3 if depth else 80))):
                getattr(msg, f.name)[draw(_scalar(key_f))] = draw(_scalar(val_f))
            continue
        if f.message_type is not None:
            if depth >= 3:
                continue
            if f.is_repeated:
                for _ in range(draw(st.integers(0, 3))):
                    getattr(msg, f.name).add().CopyFrom(draw(messages(f.message_type, depth + 1)))
            else:
                getattr(msg, f.name).CopyFrom(draw(messages(f.message_type, depth + 1)))
            continue
        values = (
            st.lists(_scalar(f), max_size=5) if f.is_repeated else _scalar(f).map(lambda v: [v])
        )
        for v in draw(values):
            try:
                if f.is_repeated:
                    getattr(msg, f.name).append(v)
                else:
                    setattr(msg, f.name, v)
            except (ValueError, TypeError):
                pass  # e.g. a lone surrogate the runtime refuses to hold
    return msg


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master()
        c.start_worker("w1")
        yield c
    finally:
        c.stop()


def _channel(c: Cluster, name: str) -> grpc.Channel:
    cert, key = c.certs.pair(name) if name == "admin" else c.certs.worker(name)
    creds = grpc.ssl_channel_credentials(
        c.certs.ca.read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    return grpc.secure_channel(c.address, creds)


def _methods() -> list[tuple[str, d.MethodDescriptor]]:
    out = []
    for module, name in SERVICES:
        service = module.DESCRIPTOR.services_by_name[name]
        for m in service.methods:
            out.append((f"/{service.full_name}/{m.name}", m))
    return out


def _check(exc: grpc.RpcError) -> None:
    assert exc.code() in EXPECTED, (exc.code(), exc.details())
    assert "Traceback" not in (exc.details() or "")


async def _cancel_backlog(c: Cluster) -> None:
    async with c.client() as client:
        for job in await client.list_all():
            if job.state not in TERMINAL_STATES:
                with contextlib.suppress(grpc.RpcError):
                    await client.cancel(job.id, "fuzz backlog")


def _assert_still_serves(c: Cluster) -> None:
    """Each test checks the master after its own fuzzing, so no test relies on another
    having run first."""
    assert c.master is not None and c.master.popen.poll() is None
    channel = _channel(c, "admin")
    try:
        channel.unary_unary(
            "/ffrtmp.v1.JobService/GetQueueStats",
            request_serializer=lambda m: m.SerializeToString(),
        )(jobs_pb2.GetQueueStatsRequest(), timeout=5)
    finally:
        channel.close()
    # Nothing reached the catch-all: every bad input met a check that names it.
    log = c.master.log_path.read_text()
    assert "unexpected error" not in log and "worker stream of" not in log, log[-3000:]


@pytest.mark.parametrize(("path", "method"), _methods(), ids=[p for p, _ in _methods()])
def test_random_requests_get_only_expected_codes(
    fuzzed: Cluster, path: str, method: d.MethodDescriptor
) -> None:
    channel = _channel(fuzzed, "admin")
    try:

        def ser(m: Message) -> bytes:
            return m.SerializeToString()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )
        @given(messages(method.input_type))
        def call(request: Message) -> None:
            try:
                if method.server_streaming:
                    stream = channel.unary_stream(path, request_serializer=ser)(request, timeout=2)
                    for _ in stream:
                        pass
                else:
                    channel.unary_unary(path, request_serializer=ser)(request, timeout=5)
            except grpc.RpcError as exc:
                _check(exc)

        call()
        # Undecodable bytes: grpc itself answers, and no traceback leaves the server.
        for junk in (b"\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f"):
            try:
                channel.unary_unary(path)(junk, timeout=5)
            except grpc.RpcError as exc:
                assert "Traceback" not in (exc.details() or "")
    finally:
        channel.close()
    _assert_still_serves(fuzzed)


def test_worker_stream_survives_random_and_out_of_order_messages(fuzzed: Cluster) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(
        st.lists(messages(worker_pb2.WorkerMessage.DESCRIPTOR), min_size=1, max_size=6),
        st.booleans(),
    )
    def connect(msgs: list[Message], hello_first: bool) -> None:
        if hello_first:
            hello = worker_pb2.Hello(capabilities={"slots": 1})  # bare, valid
            msgs.insert(0, worker_pb2.WorkerMessage(hello=hello))
        channel = _channel(fuzzed, "w-fuzz")
        try:
            call = channel.stream_stream(
                "/ffrtmp.v1.WorkerService/Connect",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=worker_pb2.MasterMessage.FromString,
            )
            try:
                for _ in call(iter(msgs), timeout=3):
                    pass
            except grpc.RpcError as exc:
                _check(exc)
        finally:
            channel.close()

    connect()
    _assert_still_serves(fuzzed)
    # The real worker still takes and finishes a job after the hostile stream (the jobs
    # the fuzzed SubmitJob calls queued are canceled first, so none is waited behind).
    asyncio.run(_cancel_backlog(fuzzed))
    r = fuzzed.cli(
        "-o", "json", "jobs", "submit", "--scenario", "test", "--duration", "0.3", "--wait"
    )
    assert r.returncode == 0, r.stderr


def _filler(f: d.FieldDescriptor, i: int) -> Any:
    if f.type == d.FieldDescriptor.TYPE_ENUM:
        return 1 + i % max(1, len(f.enum_type.values) - 1)
    if f.type == d.FieldDescriptor.TYPE_STRING:
        return f"x{i}"
    return i


def _oversized(desc: d.Descriptor, prefix: str = "") -> Iterator[tuple[str, str, Message]]:
    """For every repeated field reachable through singular fields: (its path, its
    full name, a message holding one entry more than its bound)."""
    from google.protobuf import message_factory

    from ffrtmp.master.rpc.limits import LIMITS

    cls = message_factory.GetMessageClass(desc)
    for f in desc.fields:
        path = f"{prefix}{f.name}"
        if f.is_repeated:
            msg = cls()
            n = LIMITS[f.full_name] + 1
            box = getattr(msg, f.name)
            for i in range(n):
                if f.message_type is not None and f.message_type.GetOptions().map_entry:
                    box[f"k{i}"] = "v"
                elif f.message_type is not None:
                    box.add()
                else:
                    box.append(_filler(f, i))
            yield path, f.full_name, msg
        elif f.message_type is not None and (
            f.containing_oneof is None or desc.full_name == "ffrtmp.v1.WorkerMessage"
        ):
            for inner_path, name, inner in _oversized(f.message_type, f"{path}."):
                msg = cls()
                getattr(msg, f.name).CopyFrom(inner)
                yield inner_path, name, msg


def test_every_repeated_request_field_is_bounded(fuzzed: Cluster) -> None:
    """One entry over the bound: INVALID_ARGUMENT naming the field, in every
    request of every service and on the worker stream."""
    checked = set()
    channel = _channel(fuzzed, "admin")
    try:
        for path, method in _methods():
            for field, name, request in _oversized(method.input_type):
                call = channel.unary_stream if method.server_streaming else channel.unary_unary
                with pytest.raises(grpc.RpcError) as info:
                    out = call(path, request_serializer=lambda m: m.SerializeToString())(
                        request, timeout=5
                    )
                    if method.server_streaming:
                        list(out)
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (path, field)
                assert (info.value.details() or "").startswith(field), info.value.details()
                checked.add(name)
    finally:
        channel.close()
    worker = _channel(fuzzed, "w-bounds")
    try:
        hello = worker_pb2.WorkerMessage(
            hello=worker_pb2.Hello(capabilities=nodes_pb2.Capabilities(slots=1))
        )
        for field, name, msg in _oversized(worker_pb2.WorkerMessage.DESCRIPTOR):
            msgs = [msg] if field.startswith("hello.") else [hello, msg]
            stream = worker.stream_stream(
                "/ffrtmp.v1.WorkerService/Connect",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=worker_pb2.MasterMessage.FromString,
            )(iter(msgs), timeout=5)
            with pytest.raises(grpc.RpcError) as info:
                list(stream)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, info.value)
            assert (info.value.details() or "").startswith(field), info.value.details()
            checked.add(name)
    finally:
        worker.close()
    assert "ffrtmp.v1.ListJobsRequest.states" in checked
    assert "ffrtmp.v1.Heartbeat.running" in checked
    assert "ffrtmp.v1.Requirements.labels" in checked
    _assert_still_serves(fuzzed)
