"""The master process: store, scheduler, the gRPC server and the metrics endpoint."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from ffrtmp import tracing
from ffrtmp.core.ratelimit import RateLimiter
from ffrtmp.lifecycle import STOP_MARGIN_S, Deadline, Lifecycle, Service, bounded, in_thread
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.observe.cert_metrics import watch_certificates
from ffrtmp.master.observe.health import MasterHealth
from ffrtmp.master.observe.job_traces import JobTraces
from ffrtmp.master.observe.lifecycle import JobLifecycle
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.observe.queue_metrics import QueueCollector
from ffrtmp.master.observe.rpc_metrics import RpcMetricsInterceptor
from ffrtmp.master.observe.rpc_tracing import RpcTracingInterceptor
from ffrtmp.master.rpc import denylist
from ffrtmp.master.rpc.apikeys import ApiKeys
from ffrtmp.master.rpc.auth import AuthInterceptor, AuthPolicy
from ffrtmp.master.rpc.blob_access import BlobAccess
from ffrtmp.master.rpc.errors import ErrorInterceptor
from ffrtmp.master.rpc.limits import LimitsInterceptor
from ffrtmp.master.rpc.servicers.admin import AdminServicer
from ffrtmp.master.rpc.servicers.blobs import add_blob_service
from ffrtmp.master.rpc.servicers.jobs import JobServicer
from ffrtmp.master.rpc.servicers.nodes import NodeServicer
from ffrtmp.master.rpc.servicers.worker import WorkerServicer
from ffrtmp.master.scheduling.scheduler import Scheduler
from ffrtmp.master.scheduling.sources import Sources
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.blobs.factory import make_blob_store
from ffrtmp.master.storage.blobs.gc import BlobGC
from ffrtmp.master.storage.dblock import DatabaseLock
from ffrtmp.master.storage.factory import make_store
from ffrtmp.master.storage.retention import Retention
from ffrtmp.master.storage.sqlite import backup
from ffrtmp.master.storage.sqlite.store import SqliteStore
from ffrtmp.tls.credentials import ReloadableServerCredentials
from ffrtmp.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    blobs_pb2,
    jobs_pb2,
    jobs_pb2_grpc,
    nodes_pb2,
    nodes_pb2_grpc,
    worker_pb2,
    worker_pb2_grpc,
)

log = logging.getLogger("ffrtmp.master")

SERVICES = (
    jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    nodes_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name,
    worker_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    blobs_pb2.DESCRIPTOR.services_by_name["BlobService"].full_name,
)

# Keepalive pings find dead TCP peers even when a worker's stream is idle.
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    # A second master on the same port must fail to bind, not split the calls.
    ("grpc.so_reuseport", 0),
]
# What the steps after the grpc server (tasks, health port, store) may take.
TAIL_S = 0.75


class Master(Service):
    """The master's parts, each a Service, started and stopped in order; the
    failure of any part's background task is the master's (see wait())."""

    def __init__(self, config: MasterConfig) -> None:
        super().__init__("master", log)
        self.config = config
        self.metrics = MasterMetrics()
        self.store = make_store(config.db, synchronous=config.sqlite_synchronous)
        self.store.on_commit.append(self._observe_commit)
        self.traces = JobTraces()
        sources = Sources(trace_context=self.traces.carrier)
        self.scheduler = Scheduler(State(self.store, config, self.metrics, sources))
        self.metrics.registry.register(QueueCollector(self.scheduler))
        self.keys = ApiKeys(self.store)
        self.auth = AuthPolicy(
            self.keys,
            require_api_key=config.require_api_key,
            deny_serials=denylist.load(config.deny_list),
            limiter=RateLimiter(config.rate_limit, config.rate_burst),
            max_watches=config.max_watches,
        )
        self.keys.on_revoke.append(self.auth.revoke_key)  # a revoked key's streams end
        self.tls = ReloadableServerCredentials(config.ca, config.cert, config.key)
        self.store.inserted.append(self.traces.remember_current)
        self.store.observers.append(JobLifecycle(self.metrics, self.traces).transition)
        self.health = MasterHealth(self.store, SERVICES, self.metrics)
        watch_certificates(self.metrics, master=config.cert, ca=config.ca)
        self.retention = Retention(
            self.store,
            self.metrics,
            keep_s=config.retention_s,
            interval_s=config.retention_interval_s,
        )
        self.blobs = make_blob_store(config.blobs, config.db)
        self.blob_access = BlobAccess(self.store, self.scheduler.blob_leases.authorize_worker)
        self.blob_gc = BlobGC.configured(self.blobs, self.store, config.blobs)
        self.health_port = 0
        self.server: aio.Server | None = None
        self.port = 0
        self.metrics_port = 0
        self._metrics_server: Any = None
        self._stopped = asyncio.Event()
        self._stopping = False
        # One master per SQLite file (offline tools such as `apikey` take no lock).
        sqlite_path = self.store.path if isinstance(self.store, SqliteStore) else None
        self.lock = DatabaseLock(sqlite_path) if sqlite_path is not None else None

    async def start(self) -> None:
        """Open the store and every listener; if any of them fails, undo what
        was started and raise an OSError naming the address or the file."""
        if self.lock is not None:
            self.lock.acquire()
        try:
            await self._start()
        except BaseException:
            await self.stop(grace=0)
            raise

    async def _start(self) -> None:
        restored_ms = backup.take_restore_mark(self.lock.db) if self.lock is not None else None
        await self.store.open()
        await self.keys.load()
        await self.blobs.open()
        await self.scheduler.start(restored_ms)
        # Outermost first: tracing and metrics see the status ErrorInterceptor set.
        interceptors: list[aio.ServerInterceptor] = [
            RpcMetricsInterceptor(self.metrics),
            ErrorInterceptor(),
            AuthInterceptor(self.auth),
            LimitsInterceptor(),
        ]
        if tracing.enabled():  # ~15 µs a call even when nothing records: only when on
            interceptors.insert(0, RpcTracingInterceptor())
        server = aio.server(interceptors=interceptors, options=SERVER_OPTIONS)
        jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(self.scheduler), server)
        nodes_pb2_grpc.add_NodeServiceServicer_to_server(NodeServicer(self.scheduler), server)
        worker = WorkerServicer(
            self.scheduler.liveness, self.scheduler.attempts, self.scheduler.restore, self.config
        )
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(worker, server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(self.keys, self.store), server
        )
        add_blob_service(server, self.blobs, self.blob_access, self.config.blobs)
        self.health.add_to(server)
        reflection.enable_server_reflection(
            (
                *SERVICES,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        self.server = server
        try:
            self.port = server.add_secure_port(self.config.listen, self.tls.credentials())
        except RuntimeError:  # grpc's "Failed to bind": say which address
            self.port = 0
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.listen} (gRPC): address in use?")
        await server.start()
        await self.health.set_accepting(True)
        # A store with a writer task of its own (SQLite's group commit): if that
        # dies nothing is written any more. Watched, not owned: close() ends it.
        writer = getattr(self.store, "writer", None)
        if isinstance(writer, asyncio.Task):
            self.background.watch(writer, own=False)
        await self.health.start()
        await self.retention.start()
        self.background.start(self.blob_gc.run(), "blob-gc")
        parts: tuple[Lifecycle, ...] = (self.scheduler, self.health, self.retention)
        for part in parts:
            self.background.follow(part)
        if self.config.health_port > 0:
            where = f"{self.config.health_host}:{self.config.health_port}"
            try:
                self.health_port = await self.health.serve_plaintext(
                    self.config.health_host, self.config.health_port
                )
            except (OSError, RuntimeError) as exc:
                raise OSError(f"cannot listen on {where} (health): {exc}") from None
        if self.config.metrics_port >= 0:
            where = f"{self.config.metrics_host}:{self.config.metrics_port}"
            try:
                self._metrics_server, _ = start_http_server(
                    self.config.metrics_port,
                    addr=self.config.metrics_host,
                    registry=self.metrics.registry,
                )
            except OSError as exc:
                raise OSError(f"cannot listen on {where} (metrics): {exc.strerror}") from None
            self.metrics_port = self._metrics_server.server_port
        log.info(
            "master listening on %s (port %d), metrics on :%d, db %s",
            self.config.listen,
            self.port,
            self.metrics_port,
            self.config.db,
        )

    def _observe_commit(self, writes: int, seconds: float) -> None:
        self.metrics.store_commit_seconds.observe(seconds)
        self.metrics.store_batch_size.observe(writes)
        self.metrics.store_batches.inc()

    def reload(self) -> None:
        """SIGHUP: new certificate, key, CA bundle and deny list, no restart. The
        deny list applies to every next call, and every open stream of a denied
        certificate (a worker's, a watch) is closed at once."""
        try:
            self.tls.reload()
            denied = denylist.load(self.config.deny_list)
        except (OSError, ValueError) as exc:
            log.error("reload failed, keeping the current certificates: %s", exc)
            return
        if closed := self.auth.revoke(denied):
            log.warning("closed %d open streams of revoked certificates", closed)
        # Keys made offline; a failed load keeps the keys known so far.
        asyncio.create_task(self.keys.load(), name="reload-keys").add_done_callback(_log_failed)
        log.info("reloaded certificates from %s and the deny list", self.config.cert)

    async def wait(self) -> bool:
        """Until stop() is called or a background task dies; True for the latter."""
        stopped = asyncio.ensure_future(self._stopped.wait())
        failed = asyncio.ensure_future(self.failed())
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed.cancel()
        return failed.done() and not failed.cancelled()

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs, let calls finish for `grace` seconds, close the store.
        Idempotent, and bounded: each step has a deadline, the whole stop ends
        within grace + STOP_MARGIN_S, and a step cut short is logged by name.
        The job state stays in the store for the next start."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        grace = self.config.stop_grace_s if grace is None else grace
        left = Deadline(grace + STOP_MARGIN_S)
        self.scheduler.stop_intake()
        await bounded("health NOT_SERVING", self.health.set_accepting(False), 0.25)
        self.scheduler.st.feed.close()  # WatchJob streams end now, not at the grace's end
        await bounded("scheduler", self.scheduler.stop(), left.left(0.5))
        if self.server is not None:
            # Past its grace grpc cancels the calls still running; their unwinding
            # is bounded too, keeping time to close the store.
            budget = left.left() - TAIL_S
            grpc_grace = max(0.0, min(grace, budget - 0.25))
            await bounded("grpc server", self.server.stop(grpc_grace), max(0.1, budget))
            # Dropped while the loop runs: grpc's finalizer needs a live loop.
            self.server = None
        # Its shutdown waits out the serving thread's half-second poll: meanwhile, the rest.
        metrics = asyncio.ensure_future(
            in_thread("metrics endpoint", self._metrics_server.shutdown, 0.75)
            if self._metrics_server is not None
            else asyncio.sleep(0)
        )
        await self.background.stop(left.left(0.25, at_least=0.05))
        await bounded("retention", self.retention.stop(), left.left(0.25, at_least=0.05))
        await bounded("health port", self.health.stop(), left.left(0.25, at_least=0.05))
        await bounded("store", self.store.close(), left.left(at_least=0.25))
        await bounded("blobs", self.blobs.close(), left.left(at_least=0.1))
        await metrics
        if self.lock is not None:
            self.lock.release()
        self._stopped.set()


def _log_failed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("%s failed: %s", task.get_name(), exc)
