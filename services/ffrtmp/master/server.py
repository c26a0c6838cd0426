"""The master process: store, scheduler, the gRPC server and the metrics endpoint."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from grpc import aio

from ffrtmp import tracing
from ffrtmp.core.ratelimit import RateLimiter
from ffrtmp.lifecycle import STOP_MARGIN_S, Deadline, Lifecycle, Service, bounded, in_thread
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.leadership.ha import (
    Leadership,
    Single,
    advertised,
    elect,
    elected,
    session_limits,
)
from ffrtmp.master.leadership.transitions import LeaderWork
from ffrtmp.master.observe.cert_metrics import watch_certificates
from ffrtmp.master.observe.endpoints import open_health_port, open_metrics
from ffrtmp.master.observe.health import MasterHealth
from ffrtmp.master.observe.job_traces import JobTraces
from ffrtmp.master.observe.leader_metrics import LeaderMetrics
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
from ffrtmp.master.rpc.leader_gate import LeaderGate
from ffrtmp.master.rpc.limits import LimitsInterceptor
from ffrtmp.master.rpc.servicers.admin import AdminServicer
from ffrtmp.master.rpc.servicers.blobs import add_blob_service
from ffrtmp.master.rpc.servicers.cluster import ClusterServicer
from ffrtmp.master.rpc.servicers.jobs import JobServicer
from ffrtmp.master.rpc.servicers.nodes import NodeServicer
from ffrtmp.master.rpc.servicers.worker import WorkerServicer
from ffrtmp.master.rpc.services import SERVER_OPTIONS, SERVICES, add_services
from ffrtmp.master.scheduling.scheduler import Scheduler
from ffrtmp.master.scheduling.sources import Sources
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.blobs.factory import make_blob_store
from ffrtmp.master.storage.blobs.gc import BlobGC
from ffrtmp.master.storage.blobs.inputs import InputBuckets
from ffrtmp.master.storage.blobs.outputs import OutputBuckets
from ffrtmp.master.storage.blobs.routed import RoutedBlobStore
from ffrtmp.master.storage.dblock import DatabaseLock
from ffrtmp.master.storage.factory import make_store
from ffrtmp.master.storage.retention import Retention
from ffrtmp.master.storage.sqlite import backup
from ffrtmp.master.storage.sqlite.store import SqliteStore
from ffrtmp.tls.credentials import ReloadableServerCredentials

log = logging.getLogger("ffrtmp.master")

# What the steps after the grpc server (tasks, health port, store) may take.
TAIL_S = 0.75


class Master(Service):
    """The master's parts, each a Service, started and stopped in order; the
    failure of any part's background task is the master's (see wait())."""

    def __init__(self, config: MasterConfig) -> None:
        super().__init__("master", log)
        self.config = config
        self.metrics = MasterMetrics()
        self.leader_metrics = LeaderMetrics(self.metrics.registry)
        # Several masters on PostgreSQL elect a leader; one on SQLite always leads.
        self.elected = elected(config.db)
        db = session_limits(str(config.db), config.lease_s) if self.elected else config.db
        self.store = make_store(db, synchronous=config.sqlite_synchronous)
        self.store.on_commit.append(self._observe_commit)
        self.traces = JobTraces()
        self.outputs = OutputBuckets(config.blobs)  # s3:// outputs' buckets
        self.work: LeaderWork | None = None  # elected masters: the leader's current work
        self._first = self._scheduler()
        self.queue_gauges = QueueCollector(self._first)
        self.metrics.registry.register(self.queue_gauges)
        self.role: Single | Leadership = Single(config.listen)
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
        self.health = MasterHealth(
            self.store, SERVICES, self.metrics, leading=lambda: self.role.leading()
        )
        watch_certificates(self.metrics, master=config.cert, ca=config.ca)
        self.retention = Retention(
            self.store,
            self.metrics,
            keep_s=config.retention_s,
            interval_s=config.retention_interval_s,
            leading=lambda: self.role.leading(),
        )
        self.blobs = make_blob_store(config.blobs, config.db)  # the backend
        # What the blob service uses: the backend, and the s3:// outputs' and inputs' buckets.
        self.media = RoutedBlobStore(self.blobs, self.outputs, self.store,
                                     InputBuckets(config.blobs))
        # The scheduler in use answers (an elected master makes a new one at each gain).
        self.blob_access = BlobAccess(
            self.store, lambda *a: self.scheduler.blob_leases.authorize_worker(*a)
        )
        self.blob_gc = BlobGC.configured(self.media, self.store, config.blobs)
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

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler in use (an elected master makes a new one at each gain)."""
        return self.work.scheduler if self.work is not None else self._first

    def _scheduler(self) -> Scheduler:
        sources = Sources(trace_context=self.traces.carrier)
        return Scheduler(State(self.store, self.config, self.metrics, sources, self.outputs))

    async def _start(self) -> None:
        restored_ms = backup.take_restore_mark(self.lock.db) if self.lock is not None else None
        await self.store.open()
        await self.keys.load()
        await self.media.open()
        if not self.elected:  # elected masters start one as they become leader
            await self.scheduler.start(restored_ms)
        # Outermost first: tracing and metrics see the status ErrorInterceptor set.
        interceptors: list[aio.ServerInterceptor] = [
            RpcMetricsInterceptor(self.metrics),
            ErrorInterceptor(),
            AuthInterceptor(self.auth),
            LeaderGate(SERVICES, lambda: self.role.leading(), lambda: self.role.leader_address()),
            LimitsInterceptor(),
        ]
        if tracing.enabled():  # ~15 µs a call even when nothing records: only when on
            interceptors.insert(0, RpcTracingInterceptor())
        server = aio.server(interceptors=interceptors, options=SERVER_OPTIONS)
        jobs, nodes = JobServicer(self.scheduler), NodeServicer(self.scheduler)
        worker = WorkerServicer(
            self.scheduler.liveness, self.scheduler.attempts, self.scheduler.restore, self.config
        )
        add_services(
            server, jobs=jobs, nodes=nodes, worker=worker,
            admin=AdminServicer(self.keys, self.store),
            cluster=ClusterServicer(lambda: self.role.status()), health=self.health,
        )
        add_blob_service(server, self.media, self.blob_access, self.config.blobs)
        self.server = server
        try:
            self.port = server.add_secure_port(self.config.listen, self.tls.credentials())
        except RuntimeError:  # grpc's "Failed to bind": say which address
            self.port = 0
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.listen} (gRPC): address in use?")
        await server.start()
        address = advertised(self.config, self.port)
        if self.elected:
            self.work = LeaderWork(
                self._first, self._scheduler, (jobs, nodes, worker, self.queue_gauges),
                self.health, refresh=self.keys.load,
            )
            self.role = elect(self.config, self.store, address, self.leader_metrics, self.work)
        else:
            self.role = Single(address)
            self.leader_metrics.is_leader.set(1)
        await self.health.set_accepting(True)
        # A store with a writer task of its own (SQLite's group commit): if that
        # dies nothing is written any more. Watched, not owned: close() ends it.
        writer = getattr(self.store, "writer", None)
        if isinstance(writer, asyncio.Task):
            self.background.watch(writer, own=False)
        await self.health.start()
        await self.retention.start()
        self.background.start(self.blob_gc.run(), "blob-gc")
        parts: tuple[Lifecycle, ...] = (self.health, self.retention)
        if isinstance(self.role, Leadership):  # its schedulers are watched by LeaderWork
            self.role.start(self.background)
        else:
            parts = (self.scheduler, *parts)
        for part in parts:
            self.background.follow(part)
        self.health_port = await open_health_port(self.config, self.health)
        self._metrics_server, self.metrics_port = open_metrics(self.config, self.metrics.registry)
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
        if isinstance(self.role, Leadership):  # hand the lease over at once
            await bounded("lease", self.role.stop(), left.left(0.5))
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
        await bounded("blobs", self.media.close(), left.left(at_least=0.1))
        await metrics
        if self.lock is not None:
            self.lock.release()
        self._stopped.set()


def _log_failed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("%s failed: %s", task.get_name(), exc)
