"""grpc.health.v1 for the master: SERVING only while it takes work *and* its
store answers. One HealthServicer serves the main mTLS port and, optionally, a
plaintext health-only port for probes that cannot do mTLS (kubelet, load
balancers); both report the same status, Watch included.

A probe that polls Check must see NOT_SERVING before the port goes away, or it
learns of a stop only from refused connections: the health-only port keeps
answering NOT_SERVING for `announce_s` after the master stops taking work.

With several masters, a standby is alive but does not serve the leader's
services: the overall status ("") says whether the process is well (liveness),
each service's whether it takes calls here (readiness), so a load balancer that
checks `ffrtmp.v1.JobService` sends clients to the leader only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ffrtmp.lifecycle import Service
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.storage.protocol import JobStore

log = logging.getLogger(__name__)


class MasterHealth(Service):
    """A Service: start() begins the store probe, stop() ends it and the
    health-only port."""

    def __init__(
        self,
        store: JobStore,
        services: Sequence[str],
        metrics: MasterMetrics,
        *,
        probe_interval_s: float = 5.0,
        probe_timeout_s: float = 5.0,
        announce_s: float = 2.0,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__("health", log)
        self.servicer = health.aio.HealthServicer()
        self.store = store
        self.services = ("", *services)
        self.metrics = metrics
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = probe_timeout_s
        self.announce_s = announce_s
        self.leading = leading
        self._refusing_since: float | None = None  # monotonic time of the stop's flip
        self.accepting = False
        self.store_ok = True
        self.port = 0
        self._server: aio.Server | None = None

    async def _publish(self) -> None:
        alive = self.accepting and self.store_ok
        serving, not_serving = (
            health_pb2.HealthCheckResponse.SERVING,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )
        for name in self.services:
            ok = alive and (name == "" or self.leading())
            await self.servicer.set(name, serving if ok else not_serving)

    async def role_changed(self) -> None:
        await self._publish()

    async def set_accepting(self, accepting: bool) -> None:
        self.accepting = accepting
        self._refusing_since = None if accepting else time.monotonic()
        await self._publish()

    async def probe(self) -> bool:
        """The store's own check (reads answer, a write commits), bounded in time: a
        hung database must turn the master NOT_SERVING, not hang the probe."""
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                return await self.store.ping()
        except Exception as exc:
            log.warning("store probe failed: %s", exc or type(exc).__name__)
            return False

    async def _probe_loop(self) -> None:
        while True:
            ok = await self.probe()
            self.metrics.store_up.set(1 if ok else 0)
            if ok != self.store_ok:
                log.log(
                    logging.INFO if ok else logging.ERROR,
                    "store %s",
                    "usable again" if ok else "unusable: reporting NOT_SERVING",
                )
                self.store_ok = ok
                await self._publish()
            await asyncio.sleep(self.probe_interval_s)

    async def start(self) -> None:
        self.metrics.store_up.set(1)
        self.background.start(self._probe_loop(), "health-probe")

    def add_to(self, server: aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def serve_plaintext(self, host: str, port: int) -> int:
        """The health-only port: no TLS and nothing but Health, not even reflection
        (probes know the Health API; `ffrtmp health --plaintext` asks it)."""
        server = aio.server(options=[("grpc.so_reuseport", 0)])  # a busy port fails
        self.add_to(server)
        self.port = server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen on {host}:{port} for health checks")
        await server.start()
        self._server = server
        return self.port

    async def stop(self) -> None:
        await super().stop()
        if self._server is not None:
            if self._refusing_since is not None:
                left = self._refusing_since + self.announce_s - time.monotonic()
                await asyncio.sleep(max(0.0, left))
            await self._server.stop(0.5)
            self._server = None
