"""A server span per RPC (OpenTelemetry, optional), child of the caller's span
when its metadata carries a W3C `traceparent`, with the final status code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ffrtmp import tracing
from ffrtmp.master.observe.rpc_metrics import final_code
from ffrtmp.master.rpc.handlers import Ctx, ObservingInterceptor


def _metadata(context: Ctx) -> dict[str, str]:
    md: Any = context.invocation_metadata() or ()
    return {k: v for k, v in md if isinstance(v, str) and k in ("traceparent", "tracestate")}


class RpcTracingInterceptor(ObservingInterceptor):
    @asynccontextmanager
    async def around(self, method: str, context: Ctx) -> AsyncIterator[None]:
        service, _, name = method.lstrip("/").partition("/")
        attrs = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        with tracing.span(
            method.lstrip("/"), parent=_metadata(context), kind="server", attributes=attrs
        ) as span:
            exc: BaseException | None = None
            try:
                yield
            except BaseException as e:
                exc = e
                raise
            finally:
                if span is not None:
                    code = final_code(context, exc)
                    span.set_attribute("rpc.grpc.status_code", code)
                    if code != "OK":
                        tracing.set_error(span, code)
