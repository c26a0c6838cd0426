"""RPC latency and final status code per method, from a server interceptor.

It sits outside the ErrorInterceptor, so it sees the status the client gets:
a domain error has already become its gRPC code by the time the call ends here."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from grpc import aio

from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.rpc.handlers import Ctx, ObservingInterceptor, rebuild


def final_code(context: Ctx, exc: BaseException | None) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    code: Any = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if exc is not None and not isinstance(exc, aio.AbortError):
        return grpc.StatusCode.UNKNOWN.name  # grpc's own answer to an escaped exception
    return grpc.StatusCode.OK.name


class RpcMetricsInterceptor(ObservingInterceptor):
    def __init__(self, metrics: MasterMetrics) -> None:
        super().__init__()
        self.metrics = metrics
        # Labelled children looked up once: .labels() costs more than the observation.
        self._seconds: dict[str, Any] = {}
        self._handled: dict[tuple[str, str], Any] = {}

    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        fn = handler.unary_stream or handler.stream_stream
        if fn and inspect.isasyncgenfunction(fn):
            return super().wrap_handler(handler, method)
        # A call that returns once (unary, or a stream written with
        # context.write): a try/finally of its own rather than a context manager,
        # whose object and generator every worker stream would hold for its life.
        return rebuild(handler, lambda fn: self._timed(fn, method))

    def _timed(self, fn: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Any]:
        async def timed(request: Any, context: Ctx) -> Any:
            start = time.perf_counter()
            exc: BaseException | None = None
            try:
                return await fn(request, context)
            except BaseException as e:
                exc = e
                raise
            finally:
                self._observe(method, context, start, exc)

        return timed

    @asynccontextmanager
    async def around(self, method: str, context: Ctx) -> AsyncIterator[None]:
        start = time.perf_counter()
        exc: BaseException | None = None
        try:
            yield
        except BaseException as e:
            exc = e
            raise
        finally:
            self._observe(method, context, start, exc)

    def _observe(self, method: str, context: Ctx, start: float, exc: BaseException | None) -> None:
        took = time.perf_counter() - start
        seconds = self._seconds.get(method)
        if seconds is None:
            seconds = self._seconds[method] = self.metrics.rpc_seconds.labels(method)
        seconds.observe(took)
        key = (method, final_code(context, exc))
        handled = self._handled.get(key)
        if handled is None:
            handled = self._handled[key] = self.metrics.rpc_handled.labels(*key)
        handled.inc()
