"""The master's plain listeners beside gRPC: the health-only port and /metrics.
Each failure to bind names its address."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from ffrtmp.master.config import MasterConfig
from ffrtmp.master.observe.health import MasterHealth


async def open_health_port(config: MasterConfig, health: MasterHealth) -> int:
    """The plaintext health-only port (0: off)."""
    if config.health_port <= 0:
        return 0
    where = f"{config.health_host}:{config.health_port}"
    try:
        return await health.serve_plaintext(config.health_host, config.health_port)
    except (OSError, RuntimeError) as exc:
        raise OSError(f"cannot listen on {where} (health): {exc}") from None


def open_metrics(config: MasterConfig, registry: CollectorRegistry) -> tuple[Any, int]:
    """The /metrics endpoint and its port (None, 0 when disabled)."""
    if config.metrics_port < 0:
        return None, 0
    where = f"{config.metrics_host}:{config.metrics_port}"
    try:
        server, _ = start_http_server(
            config.metrics_port, addr=config.metrics_host, registry=registry
        )
    except OSError as exc:
        raise OSError(f"cannot listen on {where} (metrics): {exc.strerror}") from None
    return server, int(server.server_port)
