"""Optional OpenTelemetry tracing (the `ffrtmp[otel]` extra).

Everything here works without OpenTelemetry installed: spans become no-ops and
trace contexts are empty. With only the API installed, spans are the API's
non-recording ones, unless an SDK tracer provider is set — by `setup()` from
the daemons' `--trace-exporter` flag, or by a test with an in-memory exporter.
The trace context travels as W3C `traceparent`/`tracestate` entries: in gRPC
metadata from clients, and in `Assign.trace_context` to workers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
except ImportError:  # the extra is not installed
    trace = None  # type: ignore[assignment]

INSTRUMENTATION = "ffrtmp"


def available() -> bool:
    return trace is not None


def enabled() -> bool:
    """An SDK tracer provider is installed: spans are recorded, so worth making.
    (Without one the API hands out non-recording spans, which still cost time.)"""
    if trace is None:
        return False
    return not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )


def setup(service_name: str, exporter: str) -> None:
    """Install an SDK tracer provider exporting to `exporter` (none|console|otlp)."""
    if exporter == "none":
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise SystemExit(
            "--trace-exporter needs OpenTelemetry: pip install 'ffrtmp[otel]'"
        ) from None
    span_exporter: Any
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        try:  # the OTLP exporter is heavy and optional even within the extra
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise SystemExit(
                "--trace-exporter otlp needs: pip install opentelemetry-exporter-otlp-proto-grpc"
            ) from None
        span_exporter = OTLPSpanExporter()  # endpoint from OTEL_EXPORTER_OTLP_ENDPOINT
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)


def inject() -> dict[str, str]:
    """The current trace context as W3C headers; empty without OpenTelemetry."""
    carrier: dict[str, str] = {}
    if trace is not None:
        propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> Any:
    """A context whose parent is the remote span in `carrier` (None without OTel)."""
    if trace is None or not carrier:
        return None
    return propagate.extract(dict(carrier))


@contextlib.contextmanager
def span(
    name: str,
    *,
    parent: Mapping[str, str] | None = None,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
    start_ns: int | None = None,
) -> Iterator[Any]:
    """A span made current for the block; `parent` is a carrier from `inject()`.
    Yields the span (None without OpenTelemetry)."""
    if trace is None:
        yield None
        return
    ctx = extract(parent) if parent else None
    tracer = trace.get_tracer(INSTRUMENTATION)
    with tracer.start_as_current_span(
        name,
        context=ctx,
        kind=getattr(trace.SpanKind, kind.upper()),
        attributes=dict(attributes or {}),
        start_time=start_ns,
    ) as s:
        yield s


def record_span(
    name: str,
    *,
    parent: Mapping[str, str] | None,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """A span for something already over (a wait in the queue), with its real times."""
    if not enabled():
        return
    tracer = trace.get_tracer(INSTRUMENTATION)
    s = tracer.start_span(
        name, context=extract(parent or {}), attributes=dict(attributes or {}), start_time=start_ns
    )
    s.end(end_time=end_ns)


def set_error(s: Any, message: str) -> None:
    if trace is not None and s is not None:
        s.set_status(trace.Status(trace.StatusCode.ERROR, message))


@contextlib.contextmanager
def attached(carrier: Mapping[str, str]) -> Iterator[None]:
    """Make the remote context in `carrier` current (no new span)."""
    ctx = extract(carrier)
    if ctx is None:
        yield
        return
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
