"""Wrapping a gRPC method handler in an async context manager, for interceptors
that observe calls (metrics, tracing) without changing what the call does.

The context manager is entered before the servicer runs and exited when the
call ends — for a streaming response, when the stream ends — with the
exception, if any, that ended it (AbortError for a status set by abort)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import grpc
from grpc import aio

Ctx = aio.ServicerContext[Any, Any]


Around = Callable[[str, Ctx], AbstractAsyncContextManager[None]]
if TYPE_CHECKING:  # grpc's classes are generic only in their stubs
    Continuation = Callable[
        [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
    ]


def _unary(fn: Callable[..., Any], method: str, around: Around) -> Callable[..., Any]:
    async def handler(request: Any, context: Ctx) -> Any:
        async with around(method, context):
            return await fn(request, context)

    return handler


def _stream(fn: Callable[..., Any], method: str, around: Around) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(fn):
        # A servicer that writes with context.write() and returns a coroutine.
        return _unary(fn, method, around)

    async def gen_handler(request: Any, context: Ctx) -> AsyncIterator[Any]:
        async with around(method, context):
            async for item in fn(request, context):
                yield item

    return gen_handler


_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def rebuild(
    handler: grpc.RpcMethodHandler[Any, Any], behaviour: Callable[[Callable[..., Any]], Any]
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler with its behaviour function replaced by `behaviour(fn)`:
    the one place that knows grpc's four handler kinds."""
    for kind in _KINDS:
        fn = getattr(handler, kind)
        if fn:
            make = getattr(grpc, f"{kind}_rpc_method_handler")
            rebuilt: grpc.RpcMethodHandler[Any, Any] = make(
                behaviour(fn),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            return rebuilt
    return handler


def wrap(
    handler: grpc.RpcMethodHandler[Any, Any], method: str, around: Around
) -> grpc.RpcMethodHandler[Any, Any]:
    # A streaming request is an iterator argument: _unary wraps it as well.
    streaming = bool(handler.unary_stream or handler.stream_stream)
    return rebuild(handler, lambda fn: (_stream if streaming else _unary)(fn, method, around))


class CachingInterceptor(aio.ServerInterceptor):
    """An interceptor whose wrapping depends only on the method: the wrapped
    handler is built once per method, not once per call. Per-call state lives in
    the wrapper (it gets the call's context), never in `intercept_service`."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any] | None] = {}

    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        raise NotImplementedError  # abstract

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = details.method
        if method in self._wrapped:
            return self._wrapped[method]
        handler = await continuation(details)
        wrapped = None if handler is None else self.wrap_handler(handler, method)
        if handler is not None:  # unknown methods are not remembered: a flood would grow this
            self._wrapped[method] = wrapped
        return wrapped


class ObservingInterceptor(CachingInterceptor):
    """Base for interceptors that only watch: subclasses implement `around`."""

    def around(self, method: str, context: Ctx) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError  # abstract

    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        return wrap(handler, method, self.around)
