"""The worker daemon: its life from start to stop, around the stream to the
master (session.py) and the table of its runs (jobs.py).

The worker keeps its runs going while it reconnects and re-offers their leases
in Hello. It fences itself by two guards: the fence task here stops runs when
the master may already have declared this worker lost, and each run's launcher
does the same by itself when this process cannot (see contact.py).

A Service, like its parts (the session, the HTTP endpoint): start() brings the
worker up, wait() returns once a stop was asked for (a drain ended, shutdown(),
or a background task failed), and stop() closes the stream and ends the rest
within one bound.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from grpc import aio

from ffrtmp import logsetup, wire
from ffrtmp.lifecycle import STOP_MARGIN_S, Deadline, Service, bounded
from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import worker_pb2
from ffrtmp.worker.blobcache import InputCache
from ffrtmp.worker.blobclient import WorkerBlobs
from ffrtmp.worker.blobio import Media
from ffrtmp.worker.config import WorkerConfig
from ffrtmp.worker.contact import Contact
from ffrtmp.worker.environment import Environment
from ffrtmp.worker.execution import sweep_partials
from ffrtmp.worker.ffmpeg import find_ffmpeg
from ffrtmp.worker.http import WorkerHttp
from ffrtmp.worker.jobs import JobTable
from ffrtmp.worker.metrics import WorkerMetrics
from ffrtmp.worker.probe import Capabilities, probe_capabilities
from ffrtmp.worker.session import CHANNEL_OPTIONS, Session

REMEMBERED_RESULTS = 256  # as many as a Hello may carry (the master's bound)

# A partial output written to this recently may be another worker's live run
# (workers sharing an output root): the start-up sweep leaves it alone.
SHARED_ROOT_QUIET_S = 30.0

# This process among others that may hold the same certificate (Hello.instance).
INSTANCE = secrets.token_hex(8)

log = logging.getLogger("ffrtmp.worker")

FENCE_CHECK_S = 0.25


class Worker(Service):
    def __init__(self, config: WorkerConfig) -> None:
        super().__init__("worker", log)
        self.config = config
        self.caps: Capabilities | None = None
        self.ffmpeg = ""
        self.metrics_port = 0
        self.contact = Contact()
        self.metrics = WorkerMetrics()
        self.registry = self.metrics.registry
        self.table = JobTable(
            self.contact,
            lambda msg: self.session.send(msg),
            self.metrics,
            self.background,
            cancel_grace_s=config.cancel_grace_s,
        )
        self.session = Session(config, self.table, self.contact, self.metrics, self._hello)
        self._stopped = False
        self._http: WorkerHttp | None = None
        self._blob_channel: aio.Channel | None = None
        self._blob_channels: list[aio.Channel] = []  # earlier masters' (transfers may be on them)
        self._blobs: WorkerBlobs | None = None
        self.session.on_welcome.append(self._follow_blobs)

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()  # what did start (the endpoint, channels) ends
            raise

    async def _start(self) -> None:
        self.ffmpeg = find_ffmpeg(self.config.ffmpeg)
        self.caps = await probe_capabilities(self.ffmpeg)
        self.table.env = self._environment(self.caps)
        self.table.media = self._media()
        self.config.output_root.mkdir(parents=True, exist_ok=True)
        # Only a worker whose outputs stay on disk may share its root (--no-store-outputs):
        # others sweep every partial, their own runs' of an earlier life.
        quiet = 0.0 if self.config.store_outputs else SHARED_ROOT_QUIET_S
        swept = sweep_partials(self.config.output_root, quiet_s=quiet)
        if swept:
            log.info("removed %d partial outputs of runs from before this start", swept)
        if self.config.metrics_port >= 0:
            self._http = WorkerHttp(
                self.config.metrics_host,
                self.config.metrics_port,
                self.registry,
                lambda: self.ready,
            )
            await self._http.start()
            self.metrics_port = self._http.port
        log.info(
            "worker using %s (%s), %d slots, metrics on :%d",
            self.ffmpeg,
            self.caps.ffmpeg_version,
            self.config.slots,
            self.metrics_port,
        )
        logsetup.ready(f"ffrtmp-worker ready metrics_port={self.metrics_port}")
        self.background.start(self._fence_loop(), "fence", essential=True)
        self.background.start(self._broken(), "broken")
        await self.session.start()
        self.background.follow(self.session)

    async def wait(self) -> None:
        """Until a stop was asked for: a drain ended, shutdown(), a task failed."""
        await self.session.stopping()

    async def stop(self) -> None:
        """Close the stream, kill the runs left (their leases go back to the
        master) and end the background tasks, all within STOP_MARGIN_S."""
        if self._stopped:
            return
        self._stopped = True
        deadline = Deadline(STOP_MARGIN_S)
        await self.session.stop(deadline.left())
        if self._http is not None:
            await self._http.stop(deadline.left(at_least=0.05))
        await bounded("runs", self.table.kill_all(), deadline.left(at_least=0.05))
        await self.background.stop(deadline.left(at_least=0.05))
        for channel in (*self._blob_channels, self._blob_channel):
            if channel is not None:
                await bounded("blob channel", channel.close(), deadline.left(at_least=0.05))

    async def drain(self) -> None:
        """Take no new jobs, let the running ones finish, then stop."""
        if self.session.draining:
            return
        self.session.draining = self.table.draining = True
        self.metrics.draining.set(1)
        log.info("draining: %d runs to finish", len(self.table.runs))
        self.session.heartbeat()
        while self.table.runs or self.table.unacked:
            await asyncio.sleep(0.2)
            if not self.table.runs and not self.session.connected:
                break  # results cannot be delivered without a master; they are re-offered
        self.shutdown()

    @property
    def ready(self) -> bool:
        """For /readyz: connected to the master and taking jobs."""
        s = self.session
        return s.connected and not s.draining and not s.drained

    def shutdown(self) -> None:
        """Ask for a stop: wait() returns, the stream starts to close."""
        self.session.shutdown()

    async def _broken(self) -> None:
        await self.background.failed()
        self.shutdown()

    async def _fence_loop(self) -> None:
        while True:
            await asyncio.sleep(min(FENCE_CHECK_S, self.contact.interval))
            self.table.fence_if_due(time.monotonic())

    # -- what the worker offers --------------------------------------------
    def _environment(self, caps: Capabilities) -> Environment:
        c = self.config
        return Environment(
            self.ffmpeg,
            caps.encoders,
            c.input_root,
            c.output_root,
            c.rtmp_base,
            lambda: self.session.stall_timeout,
            min_free_bytes=c.min_free_disk_bytes,
            nice=c.ffmpeg_nice,
            allow_raw_args=c.allow_raw_args,
            deadline=self.contact.fence_deadline,
        )

    def _media(self) -> Media:
        """Blob inputs and stored outputs: the input cache (emptied now) and the
        blob service on a channel of its own, so uploads never hold up heartbeats."""
        c = self.config
        cache = InputCache(c.input_cache, c.input_cache_bytes)
        cache.sweep()
        cache.on_change = self.session.heartbeat  # full or not: the master hears at once
        self._blob_channel = self._dial(self.session.masters.current)
        self._blobs = WorkerBlobs(self._blob_channel)
        return Media(self._blobs, cache, c.store_outputs, self._blobs)

    def _dial(self, address: str) -> aio.Channel:
        c = self.config
        creds = channel_credentials(c.ca, c.cert, c.key)
        self._blob_address = address
        return aio.secure_channel(address, creds, options=CHANNEL_OPTIONS)

    def _follow_blobs(self, address: str) -> None:
        """Welcomed by another master (the leader changed): blobs go there too."""
        if self._blobs is None or address == self._blob_address:
            return
        if self._blob_channel is not None:
            self._blob_channels.append(self._blob_channel)
        self._blob_channel = self._blobs.channel = self._dial(address)

    def _hello(self) -> worker_pb2.WorkerMessage:
        assert self.caps is not None
        cfg = self.config
        hello = wire.hello_pb(
            self.caps,
            labels=cfg.labels,
            slots=cfg.slots,
            allow_raw_args=cfg.allow_raw_args,
            running=self.table.held(),
        )
        # Acknowledged results too: a master restored from a backup learns from them.
        hello.hello.finished.extend(self.table.finished.values())
        hello.hello.instance = INSTANCE
        return hello
