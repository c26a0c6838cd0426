"""The one place where errors become gRPC statuses.

Servicers raise FfrtmpError subclasses; this interceptor turns them into the
status their class names (and a store's NotLeader, StoreError and StoreClosed
into UNAVAILABLE, which clients retry). Anything
else is logged here with its traceback and reaches the client only as INTERNAL
with a short message.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from ffrtmp.core.errors import FfrtmpError
from ffrtmp.master.rpc.handlers import CachingInterceptor, rebuild
from ffrtmp.master.storage.protocol import NotLeader, StoreClosed, StoreError

log = logging.getLogger(__name__)


def status_of(exc: FfrtmpError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL)


async def _abort(context: aio.ServicerContext[Any, Any], exc: Exception, method: str) -> None:
    if isinstance(exc, FfrtmpError):
        await context.abort(status_of(exc), exc.message, trailing_metadata=exc.metadata)
    if isinstance(exc, NotLeader):  # a deposed (or standby) master's write: try the leader
        await context.abort(grpc.StatusCode.UNAVAILABLE, "not the leader")
    if isinstance(exc, StoreError):  # disk full, database unreachable: worth trying again
        log.warning("%s: the store failed: %s", method, exc)
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            "the master's database failed this call; try again (a SubmitJob sent"
            " again with its request_id is never stored twice; the master's log"
            " names the cause)",
        )
    if isinstance(exc, StoreClosed):
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the master is stopping; try again")
    log.error("unexpected error in %s", method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the master's log")


def _wrap_unary(fn: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def handler(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await fn(request, context)
        except aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return handler


def _wrap_stream(fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def gen_handler(
        request: Any, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            async for item in fn(request, context):
                yield item
        except aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    async def coro_handler(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await fn(request, context)
        except aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return gen_handler if inspect.isasyncgenfunction(fn) else coro_handler


class ErrorInterceptor(CachingInterceptor):
    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        streaming = bool(handler.unary_stream or handler.stream_stream)
        return rebuild(handler, lambda fn: (_wrap_stream if streaming else _wrap_unary)(fn, method))
