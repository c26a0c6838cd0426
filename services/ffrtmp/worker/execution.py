"""One assigned job on this worker, from its lease to its report.

It resolves paths inside the worker's roots, picks the encoder, refuses to start
when the output disk is nearly full, runs ffmpeg under a watchdog (stall and time
limit), and stages local outputs (files and HLS directories) under a hidden
partial name that is renamed into place only on success (see staging.py). After
a success it probes what was written, for the job's record.

A stop (the user's cancel, the master's abort, a fence) wins at every point of
the run's life: before ffmpeg exists, during the HLS audio probe, while ffmpeg
is being spawned, and while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TypeVar

from ffrtmp.core.encoders import select_encoder
from ffrtmp.core.errors import FfrtmpError
from ffrtmp.core.model import AttemptResult, JobSpec, Lease, Outcome, OutputInfo, ProgressInfo
from ffrtmp.core.outputs import OutputKind
from ffrtmp.core.retry import LOST
from ffrtmp.core.split import is_part
from ffrtmp.core.tunes import with_tune
from ffrtmp.worker.blobcache import CacheFull
from ffrtmp.worker.blobio import Media
from ffrtmp.worker.commands import commands
from ffrtmp.worker.environment import (
    Environment,
    Refused,
    check_free_space,
    check_protocols,
    input_has_audio,
)
from ffrtmp.worker.joining import drop_parts, prepare_join
from ffrtmp.worker.output_probe import probe_output
from ffrtmp.worker.paths import JobIO, PathRefused, resolve_io
from ffrtmp.worker.probe import features_of
from ffrtmp.worker.runner import FfmpegRun
from ffrtmp.worker.staging import PARTIAL_GLOB, OutputExists, Staged, partial_path, sweep_partials

# The staging helpers are re-exported: the daemon sweeps partials at start.
__all__ = ["PARTIAL_GLOB", "Environment", "Execution", "Refused", "partial_path",
           "sweep_partials"]

log = logging.getLogger("ffrtmp.worker")
T = TypeVar("T")

WATCHDOG_PERIOD_S = 0.5


class Stop(Enum):
    CANCEL = "cancel"  # the user canceled: ffmpeg gets SIGTERM, the partial output goes
    ABORT = "abort"  # the lease is no longer current: killed, nothing reported
    FENCE = "fence"  # no fresh contact with the master: killed, reported as lost


class _Stopped(Exception):
    """The run was stopped before ffmpeg started."""


@dataclass(slots=True)
class Execution:
    lease: Lease
    spec: JobSpec
    ffmpeg: FfmpegRun | None = None
    task: asyncio.Task[None] | None = None
    stopped: Stop | None = None
    why: str = ""  # for a fence: what it found
    _stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)
    out_time_s: float = 0.0
    frame: int = 0
    paused_at: float | None = None  # while paused, neither stall nor time limit runs

    @property
    def aborted(self) -> bool:
        """Nothing more is reported for this run."""
        return self.stopped is Stop.ABORT

    async def stop(self, how: Stop, why: str = "", grace: float = 3.0) -> None:
        """Stop the run, whatever point it is at; the first stop decides the outcome,
        except that an abort silences any report."""
        if self.stopped is None or how is Stop.ABORT:
            self.stopped, self.why = how, why or self.why
        self._stop_event.set()
        ff = self.ffmpeg
        if ff is None:
            return  # _run checks before every step that could start ffmpeg
        if how is Stop.CANCEL:
            await ff.cancel(grace)
        else:
            await ff.kill()

    async def _unless_stopped(self, step: Awaitable[T]) -> T:
        task = asyncio.ensure_future(step)
        stop = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if self.stopped is not None:
            task.cancel()
            raise _Stopped
        return task.result()

    def stopped_report(self) -> AttemptResult:
        if self.stopped is Stop.FENCE:
            error = f"fenced: lease {self.lease.job_id}/{self.lease.attempt} dropped ({self.why})"
            return AttemptResult(Outcome.FAILED, error_class="lost", error=error)
        return AttemptResult(Outcome.CANCELED, error="canceled")

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
        media: Media | None = None,
    ) -> AttemptResult:
        try:
            if self.stopped is not None:
                raise _Stopped
            async with AsyncExitStack() as stack:
                # A stop wins over a long input download too (the cache forgets it).
                pinned = None if media is None else media.input(self.spec.input, self.lease)
                blob_input = None if pinned is None else await self._unless_stopped(
                    stack.enter_async_context(pinned))
                return await self._run(env, on_started, on_progress, media, blob_input)
        except _Stopped:
            return self.stopped_report()
        except (PathRefused, OutputExists, FfrtmpError) as exc:
            return AttemptResult(Outcome.FAILED, error_class="permanent", error=str(exc))
        except CacheFull as exc:
            # Not the job's fault: lost to the infrastructure (not charged to its
            # retries); the worker takes no new jobs until a run frees room.
            return AttemptResult(Outcome.FAILED, error_class=LOST, error=f"refused: {exc}")
        except Refused as exc:
            return AttemptResult(Outcome.FAILED, error_class="transient", error=str(exc))

    async def _run(
        self,
        env: Environment,
        on_started: Callable[[int], None],
        on_progress: Callable[[ProgressInfo], None],
        media: Media | None,
        blob_input: str | None,
    ) -> AttemptResult:
        spec, lease = self.spec, self.lease
        io = resolve_io(
            spec,
            lease.job_id,
            input_root=env.input_root,
            output_root=env.output_root,
            rtmp_base=env.rtmp_base,
            blob_input=blob_input,
        )
        encoder = select_encoder(spec.codec, with_tune(spec.tune, env.encoders))
        features = env.features or features_of(env.ffmpeg)
        check_protocols(features, io.input_url, io.output_url)
        staged = None
        if io.output_path is not None:
            check_free_space(env.output_root, env.min_free_bytes)
            make = Staged.tree if io.kind is OutputKind.HLS else Staged.file
            staged = make(io.output_path, lease)
        has_audio = await self._unless_stopped(input_has_audio(env.ffmpeg, spec, io))
        if spec.raw_args and not env.allow_raw_args:
            # The master only sends these to workers that offer them; a worker
            # still never trusts that alone.
            raise PathRefused(
                "raw ffmpeg arguments are not allowed on this worker "
                "(start it with --allow-raw-args)"
            )
        output_url = io.output_url if staged is None else str(staged.partial)
        join = None
        if spec.concat and staged is not None:
            join = await self._unless_stopped(prepare_join(
                spec, env, staged, media, lease, (io.input_url, output_url), has_audio, features))
        runs = commands(env.ffmpeg, spec, io, staged, lease, encoder=encoder, has_audio=has_audio,
                        features=features, join=None if join is None else join.argv)
        committed = False
        try:
            if staged is not None:
                staged.prepare(lease)
                if join is not None:  # a split HLS job's finish lays out its ladder
                    await asyncio.to_thread(join.fill, staged.partial)
            runs.prepare()
            for n, (args, out) in enumerate(runs.argvs):
                of = (n, len(runs.argvs))
                r, verdict = await self._launch(args, out, env, of, on_started, on_progress)
                if verdict is not None or r.outcome != Outcome.SUCCEEDED or self.stopped:
                    break
            if self.stopped in (Stop.FENCE, Stop.ABORT):
                # Another worker may own the job now: nothing is committed.
                return replace(self.stopped_report(), exit_code=r.exit_code, log_tail=r.log_tail)
            outcome, error_class, error = r.outcome, r.error_class, r.error
            if verdict is not None:
                outcome, error_class, error = Outcome.FAILED, verdict[0], verdict[1]
            size, info = r.output_bytes, None
            if staged is not None and outcome == Outcome.SUCCEEDED:
                staged.commit(lease)
                committed = True
                size = staged.size()
                # A split's file part is read by its join alone: no probe (a second each).
                probe = not is_part(spec) or io.kind is OutputKind.HLS
                info = await probe_output(env.ffmpeg, _probe_target(io), size) if probe else None
                if media is not None and (media.upload_outputs or io.remote):
                    # Before the Result: SUCCEEDED means the outputs are stored.
                    upload = media.store(staged.final, lease, scratch=io.remote)
                    stored = await self._unless_stopped(upload)
                    info = replace(info or OutputInfo("", 0.0, size), artifacts=stored)
        finally:
            # Failed, canceled, fenced, or broken on the way: no partial survives.
            if staged is not None and not committed:
                staged.discard()
            for scratch in filter(None, (join.work if join else None, runs.scratch)):
                drop_parts(scratch)
        return AttemptResult(outcome, r.exit_code, error_class, error, r.log_tail, io.output_url,
                             size, info)

    async def _launch(
        self, argv: list[str], out: Path | None, env: Environment, of: tuple[int, int],
        on_started: Callable[[int], None], on_progress: Callable[[ProgressInfo], None],
    ) -> tuple[AttemptResult, tuple[str, str] | None]:
        """Run `of[0]` of `of[1]` (two passes: 0 then 1 of 2) under the watchdog."""
        def progress(p: ProgressInfo) -> None:
            if not self.aborted:
                self.saw_progress(p)
                on_progress(replace(p, percent=(100 * of[0] + p.percent) / of[1]))

        ff = self.ffmpeg = FfmpegRun(
            argv, duration_s=self.spec.duration_s, output_path=out, on_progress=progress,
            nice=env.nice if self.spec.nice is None else self.spec.nice, deadline=env.deadline(),
        )
        self.out_time_s, self.frame = 0.0, 0  # a second pass counts from the start again
        if self.stopped is not None:  # no await between this and start()'s own check
            raise _Stopped
        pid = await ff.start()
        log.info("job %s attempt %d: ffmpeg pid %d", self.lease.job_id, self.lease.attempt, pid)
        on_started(pid)
        return await self._supervise(ff, env)

    async def _supervise(
        self, ff: FfmpegRun, env: Environment
    ) -> tuple[AttemptResult, tuple[str, str] | None]:
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
