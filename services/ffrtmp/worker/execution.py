"""One assigned job on this worker, from its lease to its report.

It resolves paths inside the worker's roots, picks the encoder, refuses to start
when the output disk is nearly full, runs ffmpeg under a watchdog (stall and time
limit), and stages local outputs (files and HLS directories) under a hidden
partial name that is renamed into place only on success (see staging.py). After
a success it probes what was written, for the job's record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.core.argv import build_argv, is_synthetic
from ffrtmp.core.encoders import select_encoder
from ffrtmp.core.errors import FfrtmpError
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.model import JobSpec, Lease, Outcome, OutputInfo, ProgressInfo
from ffrtmp.core.outputs import OutputKind
from ffrtmp.core.tunes import with_tune
from ffrtmp.worker.output_probe import probe_output
from ffrtmp.worker.paths import JobIO, PathRefused, resolve_io
from ffrtmp.worker.probe import features_of
from ffrtmp.worker.runner import FFMPEG_NICE, FfmpegRun, RunResult
from ffrtmp.worker.staging import (
    PARTIAL_GLOB,
    OutputExists,
    Staged,
    free_bytes,
    partial_path,
    sweep_partials,
)

# The staging helpers are re-exported: the daemon sweeps partials at start.
__all__ = [
    "PARTIAL_GLOB",
    "Environment",
    "Execution",
    "Refused",
    "Report",
    "partial_path",
    "sweep_partials",
]

log = logging.getLogger("ffrtmp.worker")

WATCHDOG_PERIOD_S = 0.5
# Below this much free space under the output root a run is refused (transiently:
# another worker may have room), rather than failing half way with a full disk.
DEFAULT_MIN_FREE_BYTES = 1 << 30
MIB = 1 << 20


class Refused(Exception):
    """This worker will not start the run now; another may."""


@dataclass(frozen=True, slots=True)
class Report:
    outcome: Outcome
    exit_code: int = -1
    error_class: str = ""
    error: str = ""
    log_tail: str = ""
    output: str = ""
    output_bytes: int = 0
    output_info: OutputInfo | None = None


@dataclass(frozen=True, slots=True)
class Environment:
    """What a run needs from its worker."""

    ffmpeg: str
    encoders: tuple[str, ...]
    input_root: Path
    output_root: Path
    rtmp_base: str
    stall_timeout: Callable[[], float]  # from the master's Welcome; may change
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    nice: int = FFMPEG_NICE  # for jobs that do not set their own
    allow_raw_args: bool = False
    # What the worker's probe found in the binary; None: look it up by path.
    features: FfmpegFeatures | None = None


def check_protocols(features: FfmpegFeatures, *urls: str) -> None:
    """Refuse a run whose input or output needs a protocol this build lacks
    (transiently: another worker's build may have it)."""
    for url in urls:
        missing = features.missing_protocol(url)
        if missing is not None:
            short = features.version.short
            raise Refused(f"this worker's ffmpeg {short} has no {missing} protocol")


def check_free_space(root: Path, minimum: int) -> None:
    """Refuse a run whose output disk is nearly full (`root` may not exist yet)."""
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("/"))
    free = free_bytes(existing)
    if free < minimum:
        raise Refused(f"output disk nearly full: {free // MIB} MiB free")


async def input_has_audio(ffmpeg: str, spec: JobSpec, io: JobIO) -> bool:
    """Whether the input carries audio; only asked where it matters (an HLS ladder
    must map audio per rendition explicitly, and a missing stream fails it)."""
    if io.kind is not OutputKind.HLS or is_synthetic(spec):
        return True
    info = await probe_output(ffmpeg, io.input_url, 0)
    return info is not None and any(s.kind == "audio" for s in info.streams)


@dataclass(slots=True)
class Execution:
    lease: Lease
    spec: JobSpec
    ffmpeg: FfmpegRun | None = None
    task: asyncio.Task[None] | None = None
    aborted: bool = False  # the master took the lease back, or we fenced: report nothing
    started: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)
    out_time_s: float = 0.0
    frame: int = 0
    paused_at: float | None = None  # while paused, neither stall nor time limit runs

    async def pause(self) -> None:
        if self.ffmpeg is not None and self.paused_at is None:
            await self.ffmpeg.pause()
            self.paused_at = time.monotonic()

    async def resume(self) -> None:
        if self.ffmpeg is not None and self.paused_at is not None:
            await self.ffmpeg.resume()
            # The clocks restart where they stopped: paused time is not running time.
            now = time.monotonic()
            self.started += now - self.paused_at
            self.last_progress = now
            self.paused_at = None

    def saw_progress(self, p: ProgressInfo) -> None:
        if p.out_time_s > self.out_time_s or p.frame > self.frame:
            self.out_time_s, self.frame = p.out_time_s, p.frame
            self.last_progress = time.monotonic()

    async def run(
        self,
        env: Environment,
        *,
        on_started: Callable[[int], None],
        on_progress: Callable[[ProgressInfo], None],
    ) -> Report:
        try:
            return await self._run(env, on_started, on_progress)
        except (PathRefused, OutputExists, FfrtmpError) as exc:
            return Report(Outcome.FAILED, error_class="permanent", error=str(exc))
        except Refused as exc:
            return Report(Outcome.FAILED, error_class="transient", error=str(exc))

    async def _run(
        self,
        env: Environment,
        on_started: Callable[[int], None],
        on_progress: Callable[[ProgressInfo], None],
    ) -> Report:
        spec, lease = self.spec, self.lease
        io = resolve_io(
            spec,
            lease.job_id,
            input_root=env.input_root,
            output_root=env.output_root,
            rtmp_base=env.rtmp_base,
        )
        encoder = select_encoder(spec.codec, with_tune(spec.tune, env.encoders))
        features = env.features or features_of(env.ffmpeg)
        check_protocols(features, io.input_url, io.output_url)
        staged = None
        if io.output_path is not None:
            check_free_space(env.output_root, env.min_free_bytes)
            make = Staged.tree if io.kind is OutputKind.HLS else Staged.file
            staged = make(io.output_path, lease)
        has_audio = await input_has_audio(env.ffmpeg, spec, io)
        if spec.raw_args and not env.allow_raw_args:
            # The master only sends these to workers that offer them; a worker
            # still never trusts that alone.
            raise PathRefused(
                "raw ffmpeg arguments are not allowed on this worker "
                "(start it with --allow-raw-args)"
            )
        argv = build_argv(
            env.ffmpeg,
            spec,
            input_url=io.input_url,
            output_url=io.output_url if staged is None else str(staged.partial),
            encoder=encoder,
            has_audio=has_audio,
            features=features,
        )

        def progress(p: ProgressInfo) -> None:
            if not self.aborted:
                self.saw_progress(p)
                on_progress(p)

        ff = self.ffmpeg = FfmpegRun(
            argv,
            duration_s=spec.duration_s,
            output_path=None if staged is None else staged.partial,
            on_progress=progress,
            nice=env.nice if spec.nice is None else spec.nice,
        )
        if self.aborted:
            raise Refused("aborted before it started")
        committed = False
        try:
            if staged is not None:
                staged.prepare(lease)
            pid = await ff.start()
            log.info(
                "job %s attempt %d: ffmpeg pid %d (%s) -> %s",
                lease.job_id,
                lease.attempt,
                pid,
                encoder,
                io.output_url,
            )
            on_started(pid)
            r, verdict = await self._supervise(ff, env)
            outcome, error_class, error = r.outcome, r.error_class, r.error
            if verdict is not None:
                outcome, error_class, error = Outcome.FAILED, verdict[0], verdict[1]
            size, info = r.output_bytes, None
            if staged is not None and outcome == Outcome.SUCCEEDED and not self.aborted:
                staged.commit(lease)
                committed = True
                size = staged.size()
                info = await probe_output(env.ffmpeg, _probe_target(io), size)
        finally:
            # Failed, canceled, fenced, or broken on the way: no partial survives.
            if staged is not None and not committed:
                staged.discard()
        tail = r.log_tail
        return Report(outcome, r.exit_code, error_class, error, tail, io.output_url, size, info)

    async def _supervise(
        self, ff: FfmpegRun, env: Environment
    ) -> tuple[RunResult, tuple[str, str] | None]:
        """Wait for ffmpeg, stopping it when it stalls or overruns its time limit.
        Returns its result and, when we stopped it, (error class, reason)."""
        waiting = asyncio.ensure_future(ff.wait())
        limit = self.spec.timeout_s
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=WATCHDOG_PERIOD_S)
            if done:
                return waiting.result(), None
            if self.paused_at is not None:
                continue
            now, stall = time.monotonic(), env.stall_timeout()
            verdict: tuple[str, str] | None = None
            if limit and now - self.started > limit:
                # A runaway job would run away again: not retried.
                verdict = ("permanent", f"timed out: still running after {limit:g}s")
            elif stall and now - self.last_progress > stall:
                verdict = ("transient", f"stalled: no progress for {stall:g}s")
            if verdict is not None:
                log.warning("job %s: %s; stopping ffmpeg", self.lease.job_id, verdict[1])
                await ff.kill()
                return await waiting, verdict


def _probe_target(io: JobIO) -> str:
    assert io.output_path is not None
    # An HLS directory is probed through its master playlist: every rendition shows.
    return str(io.output_path / io.playlist if io.playlist else io.output_path)
