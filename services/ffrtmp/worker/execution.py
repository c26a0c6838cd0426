"""One assigned job on this worker, from its lease to its report.

It resolves paths inside the worker's roots, picks the encoder, runs ffmpeg
under a watchdog (stall and time limit), and writes file outputs under a
hidden partial name that is renamed into place only on success: a reader never
sees half a file under the final name, and a run cut off by a crash leaves only
a partial file that the next start of the worker sweeps away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.core.argv import build_argv, encoder_for
from ffrtmp.core.errors import FfrtmpError
from ffrtmp.core.model import JobSpec, Lease, Outcome, ProgressInfo
from ffrtmp.worker.paths import PathRefused, resolve_io
from ffrtmp.worker.runner import FfmpegRun, RunResult

log = logging.getLogger("ffrtmp.worker")

WATCHDOG_PERIOD_S = 0.5
PARTIAL_GLOB = ".*.partial.*"


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


@dataclass(frozen=True, slots=True)
class Environment:
    """What a run needs from its worker."""

    ffmpeg: str
    encoders: tuple[str, ...]
    input_root: Path
    output_root: Path
    rtmp_base: str
    stall_timeout: Callable[[], float]  # from the master's Welcome; may change


def partial_path(final: Path, lease: Lease) -> Path:
    # Same extension, so ffmpeg picks the same container.
    return final.with_name(f".{final.stem}.{lease.job_id}-{lease.attempt}.partial{final.suffix}")


def sweep_partials(root: Path) -> int:
    """Delete partial outputs left by runs of an earlier life of this worker."""
    count = 0
    for p in root.rglob(PARTIAL_GLOB):
        with contextlib.suppress(OSError):
            p.unlink()
            count += 1
    return count


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
        except (PathRefused, FfrtmpError) as exc:
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
        encoder = encoder_for(spec.codec, env.encoders)
        target, partial = io.output_url, None
        if io.output_path is not None:
            partial = partial_path(io.output_path, lease)
            partial.parent.mkdir(parents=True, exist_ok=True)
            target = str(partial)
        argv = build_argv(
            env.ffmpeg, spec, input_url=io.input_url, output_url=target, encoder=encoder
        )

        def progress(p: ProgressInfo) -> None:
            if not self.aborted:
                self.saw_progress(p)
                on_progress(p)

        ff = self.ffmpeg = FfmpegRun(
            argv, duration_s=spec.duration_s, output_path=partial, on_progress=progress
        )
        if self.aborted:
            raise Refused("aborted before it started")
        pid = await ff.start()
        log.info(
            "job %s attempt %d: ffmpeg pid %d -> %s",
            lease.job_id,
            lease.attempt,
            pid,
            io.output_url,
        )
        on_started(pid)
        try:
            r, verdict = await self._supervise(ff, env)
        finally:
            if partial is not None and (self.aborted or ff.pid is None):
                partial.unlink(missing_ok=True)
        report = Report(
            r.outcome,
            r.exit_code,
            r.error_class,
            r.error,
            r.log_tail,
            io.output_url,
            r.output_bytes,
        )
        if verdict is not None:
            report = Report(
                Outcome.FAILED,
                r.exit_code,
                verdict[0],
                verdict[1],
                r.log_tail,
                io.output_url,
                r.output_bytes,
            )
        if partial is not None:
            if report.outcome == Outcome.SUCCEEDED and not self.aborted:
                assert io.output_path is not None
                partial.replace(io.output_path)
            else:
                partial.unlink(missing_ok=True)
        return report

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
