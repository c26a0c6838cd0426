"""The one place a standby turns calls away: every method of the leader's
services answers UNAVAILABLE naming the leader (errors.NotLeading, mapped by the
error interceptor), so clients and workers go straight there. Health,
reflection and ClusterService are answered by every master."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from typing import Any

import grpc

from ffrtmp.core.errors import NotLeading
from ffrtmp.master.rpc.handlers import CachingInterceptor, Ctx, rebuild


class LeaderGate(CachingInterceptor):
    def __init__(
        self,
        services: Collection[str],
        leading: Callable[[], bool],
        leader_address: Callable[[], str],
    ) -> None:
        super().__init__()
        self.services = frozenset(services)
        self.leading = leading
        self.leader_address = leader_address

    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        if method.lstrip("/").rpartition("/")[0] not in self.services:
            return handler
        streaming = bool(handler.unary_stream or handler.stream_stream)
        return rebuild(handler, lambda fn: self._gated(fn, streaming))

    def _check(self) -> None:
        if not self.leading():
            raise NotLeading(self.leader_address())

    def _gated(self, fn: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
        if streaming and inspect.isasyncgenfunction(fn):

            async def gen(request: Any, context: Ctx) -> Any:
                self._check()
                async for item in fn(request, context):
                    yield item

            return gen

        # Not a coroutine of its own: it checks, then hands back the servicer's
        # coroutine for the outer layer to await, so a worker's stream does not
        # hold one more suspended frame for its whole life. Never the outermost
        # layer (grpc runs a plain function on its thread pool).
        def unary(request: Any, context: Ctx) -> Any:
            self._check()
            return fn(request, context)

        return unary
