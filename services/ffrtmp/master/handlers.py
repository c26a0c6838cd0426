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


def wrap(
    handler: grpc.RpcMethodHandler[Any, Any], method: str, around: Around
) -> grpc.RpcMethodHandler[Any, Any]:
    kw: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary, method, around), **kw
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _stream(handler.unary_stream, method, around), **kw
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _unary(handler.stream_unary, method, around), **kw
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            _stream(handler.stream_stream, method, around), **kw
        )
    return handler


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
