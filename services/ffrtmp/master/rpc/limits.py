"""How many entries each repeated field of a request may hold, checked before
anything else reads the request.

A repeated field without a bound lets one call cost the master what it likes (a
million `ListJobs.states` became a million SQL variables; a heartbeat of 100,000
leases queued as many Aborts). Every repeated field reachable from a request —
the worker stream's messages included — is in LIMITS; a test walks the protos
so a new field cannot be added without one. The core's own checks name the same
numbers with more specific messages.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from functools import cache
from typing import Any

import grpc
from google.protobuf import descriptor as d
from google.protobuf.message import Message

from ffrtmp.core.artifacts import MAX_ARTIFACTS
from ffrtmp.core.cuts import MAX_CANDIDATES
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.graph import MAX_DEPENDENCIES
from ffrtmp.core.spec_run import MAX_RAW_ARGS, MAX_REQUIRED
from ffrtmp.core.spec_split import MAX_CONCAT
from ffrtmp.core.spec_video import MAX_RENDITIONS
from ffrtmp.master.rpc.handlers import CachingInterceptor, rebuild

MAX_SLOTS = 256  # a worker's slots, so its leases
LIMITS: dict[str, int] = {
    "ffrtmp.v1.ListJobsRequest.states": 16,
    "ffrtmp.v1.CompletePresignedWriteRequest.parts": 10_000,  # S3's own cap
    "ffrtmp.v1.SubmitJobRequest.depends_on": MAX_DEPENDENCIES,
    "ffrtmp.v1.JobSpec.renditions": MAX_RENDITIONS,
    "ffrtmp.v1.JobSpec.raw_args": MAX_RAW_ARGS,
    "ffrtmp.v1.JobSpec.concat": MAX_CONCAT,
    "ffrtmp.v1.JobSpec.split_cuts": MAX_CANDIDATES,
    "ffrtmp.v1.Requirements.encoders": MAX_REQUIRED,
    "ffrtmp.v1.Requirements.labels": MAX_REQUIRED,
    "ffrtmp.v1.Hello.running": MAX_SLOTS,
    "ffrtmp.v1.Hello.finished": MAX_SLOTS,
    "ffrtmp.v1.Heartbeat.running": MAX_SLOTS,
    "ffrtmp.v1.Capabilities.encoders": 1024,
    "ffrtmp.v1.Capabilities.hwaccels": 1024,
    "ffrtmp.v1.Capabilities.labels": 64,
    "ffrtmp.v1.OutputInfo.streams": 256,
    "ffrtmp.v1.OutputInfo.artifacts": MAX_ARTIFACTS,
}
DEFAULT = 16  # a field the table forgot (the test fails first)


@cache
def _rules(desc: d.Descriptor) -> dict[str, tuple[int | None, bool]]:
    """Field name -> (bound if repeated, else None; whether its values are
    messages to look into) for the fields of `desc` worth looking at: repeated
    ones, and messages that can hold repeated ones. Cached per message type."""
    out: dict[str, tuple[int | None, bool]] = {}
    for f in desc.fields:
        nested = f.message_type is not None and not f.message_type.GetOptions().map_entry
        if f.is_repeated:
            out[f.name] = (LIMITS.get(f.full_name, DEFAULT), nested)
        elif nested and _can_repeat(f.message_type):
            out[f.name] = (None, True)
    return out


@cache
def _can_repeat(desc: d.Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    if desc.full_name in seen:
        return False
    inner = seen | {desc.full_name}
    return any(
        f.is_repeated
        or (f.message_type is not None and _can_repeat(f.message_type, inner))
        for f in desc.fields
    )


def check(msg: Message, path: str = "") -> None:
    """InvalidArgument naming the first repeated field over its bound. Only the
    fields set are looked at (ListFields, in C): a worker's heartbeat, thousands
    a second from a large fleet, costs one call per level."""
    rules = _rules(msg.DESCRIPTOR)
    if not rules:
        return
    for f, value in msg.ListFields():
        rule = rules.get(f.name)
        if rule is None:
            continue
        limit, nested = rule
        if limit is None:
            check(value, f"{path}{f.name}.")
            continue
        if len(value) > limit:
            raise InvalidArgument(f"{path}{f.name}", f"at most {limit} entries")
        if nested:
            for i, item in enumerate(value):
                check(item, f"{path}{f.name}[{i}].")


def _bounded(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def unary(request: Any, context: Any) -> Any:
        check(request)
        return await fn(request, context)

    async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
        check(request)
        async for item in fn(request, context):
            yield item

    return stream if inspect.isasyncgenfunction(fn) else unary


class LimitsInterceptor(CachingInterceptor):
    """Unary requests are checked here; the worker stream checks each message."""

    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        if handler.request_streaming:
            return handler
        return rebuild(handler, _bounded)
