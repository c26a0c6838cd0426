"""Run one ffmpeg process: spawn it, stream its progress, keep its log tail, stop it.

ffmpeg runs under the launcher (fence_launcher.py) in a process group of its own; the
worker stops, pauses and kills that group, and renews the lease's deadline, through the
launcher's stdin. Progress comes from `-progress pipe:1` on stdout, the log from
stderr; both pipes are drained continuously so ffmpeg never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import shutil
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from ffrtmp.core.failures import classify
from ffrtmp.core.model import AttemptResult, Outcome, ProgressInfo
from ffrtmp.core.progress import ProgressParser, parse_duration_line
from ffrtmp.worker import launcher
from ffrtmp.worker.ffmpeg_log import error_line, lines, log_tail

log = logging.getLogger(__name__)

FFMPEG_NICE = 5  # the default; a job may ask for a lower priority still

ProgressCallback = Callable[[ProgressInfo], Awaitable[None] | None]

PROGRESS_INTERVAL_S = 0.25  # at most ~4 progress reports a second reach the master
LOG_LINES = 64
LINE_CHARS = 2048  # bounds memory even when ffmpeg prints a huge line
DRAIN_TIMEOUT_S = 5.0  # after exit, how long the pipes and the last callback may take


class FfmpegRun:
    def __init__(
        self,
        argv: list[str],
        *,
        duration_s: float,
        on_progress: ProgressCallback,
        output_path: Path | None,
        nice: int = FFMPEG_NICE,
        deadline: float | None = None,
    ) -> None:
        self.argv = list(argv)
        self.pid: int | None = None  # the launcher's; ffmpeg_pid once it says
        self.ffmpeg_pid: int | None = None
        self.fenced = False  # the launcher killed ffmpeg by itself (see fence_launcher.py)
        self._deadline = deadline
        self._nice = nice
        self._parser = ProgressParser(duration_s)
        self._saw_duration = False
        self._on_progress = on_progress
        self._output_path = output_path
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._stopped = False  # cancel() or kill() was called: the outcome is CANCELED
        self._result: AttemptResult | None = None
        self._wait_lock = asyncio.Lock()
        # Progress hand-off between the stdout reader and the notifier (latest wins).
        self._pending: ProgressInfo | None = None
        self._delivered: ProgressInfo | None = None  # the last report handed on
        self._wake = asyncio.Event()
        self._flush = asyncio.Event()
        self._pid_known = asyncio.Event()  # the launcher named ffmpeg's pid, or exited

    async def start(self) -> int:
        if self._process is not None:
            raise RuntimeError("ffmpeg run already started")
        if self._stopped:
            raise RuntimeError("ffmpeg run was canceled before it started")
        # Transcodes yield to the worker's own loop (heartbeats must not starve);
        # the launcher nices ffmpeg, not itself: it must keep its deadline.
        process = await asyncio.create_subprocess_exec(
            *launcher.launch_argv(self.argv, self._nice, self._deadline),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        self._process = process
        self.pid = process.pid
        if self._stopped:
            # Canceled or killed while it was being spawned: it never gets to run.
            self._signal(signal.SIGKILL)
        self._tasks = [
            asyncio.create_task(self._read_progress(process.stdout), name=f"ffmpeg-{self.pid}-out"),
            asyncio.create_task(self._read_log(process.stderr), name=f"ffmpeg-{self.pid}-err"),
            asyncio.create_task(self._notify(), name=f"ffmpeg-{self.pid}-progress"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pid_known.wait(), DRAIN_TIMEOUT_S)
        return self.ffmpeg_pid or process.pid

    async def wait(self) -> AttemptResult:
        """The result once ffmpeg has exited and its output is drained; safe to repeat."""
        process = self._started()
        async with self._wait_lock:
            if self._result is None:
                exit_code = await process.wait()
                # A grandchild holding the pipes or a stuck callback must not hang us.
                _, late = await asyncio.wait(self._tasks, timeout=DRAIN_TIMEOUT_S)
                for task in late:
                    task.cancel()
                self._result = self._summarize(exit_code)
                # A success ends at 100 %: 5.1's last block stops short (see progress.py).
                done = self._result.outcome is Outcome.SUCCEEDED
                if done and (final := self._parser.finish()) != self._delivered:
                    await self._deliver(final)
            return self._result

    async def cancel(self, grace: float = 3.0) -> None:
        """SIGTERM the group, SIGKILL after `grace`; the partial output is deleted."""
        if self._result is not None:
            return  # already finished: nothing to cancel, and its output stands
        already = self._stopped
        self._stopped = True
        if self._process is None:
            return
        if already:
            await self._process.wait()
            return
        if self._process.returncode is None:
            self._signal(signal.SIGTERM)
            # A paused ffmpeg only acts on SIGTERM once it runs again.
            self._signal(signal.SIGCONT)
            try:
                await asyncio.wait_for(self._process.wait(), grace)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await self._process.wait()
        self._remove_output()

    async def kill(self) -> None:
        """SIGKILL the group now (fencing); the output is left for whoever owns it next."""
        if self._result is not None:
            return
        self._stopped = True
        if self._process is None:
            return
        if self._process.returncode is None:
            self._signal(signal.SIGKILL)
        await self._process.wait()

    def renew(self, deadline: float | None) -> None:
        """Move the launcher's deadline (see contact.py for how it is computed)."""
        self._deadline = deadline
        self._command(launcher.deadline_line(deadline))

    async def pause(self) -> None:
        self._started()
        self._signal(signal.SIGSTOP)

    async def resume(self) -> None:
        self._started()
        self._parser.resumed()  # the paused time is no measure of the pace
        self._signal(signal.SIGCONT)

    def _started(self) -> asyncio.subprocess.Process:
        if self._process is None:
            raise RuntimeError("ffmpeg run not started")
        return self._process

    def _signal(self, sig: signal.Signals) -> None:
        self._command(launcher.COMMANDS[sig])

    def _command(self, line: bytes) -> None:
        p = self._process
        if p is None or p.returncode is not None or p.stdin is None or p.stdin.is_closing():
            return
        p.stdin.write(line)

    def _remove_output(self) -> None:
        if self._output_path is None:
            return
        try:
            if self._output_path.is_dir():
                shutil.rmtree(self._output_path)
            else:
                self._output_path.unlink(missing_ok=True)
        except OSError as exc:  # e.g. a directory or no permission: report, don't fail cancel
            log.warning("could not remove partial output %s: %s", self._output_path, exc)

    def _summarize(self, exit_code: int) -> AttemptResult:
        tail = log_tail(self._log)
        if self._stopped:
            return AttemptResult(Outcome.CANCELED, exit_code, error="canceled", log_tail=tail)
        if self.fenced:
            error = "fenced: no contact with the master; ffmpeg killed by its launcher"
            return AttemptResult(Outcome.FAILED, exit_code, "lost", error, tail)
        if exit_code == 0:
            return AttemptResult(
                Outcome.SUCCEEDED, 0, log_tail=tail, output_bytes=self._output_size()
            )
        error = error_line(self._log)
        if exit_code < 0:
            name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else "?"
            error = f"ffmpeg killed by {name}" + (f": {error}" if error else "")
        elif not error:
            error = f"ffmpeg exited with code {exit_code}"
        return AttemptResult(Outcome.FAILED, exit_code, classify(exit_code, tail), error, tail)

    def _output_size(self) -> int:
        if self._output_path is None:
            return 0
        try:
            return self._output_path.stat().st_size
        except OSError:
            return 0

    async def _read_progress(self, stream: asyncio.StreamReader) -> None:
        parser = self._parser
        clock = asyncio.get_running_loop().time
        try:
            async for line in lines(stream):
                info = parser.feed(line, clock())
                if info is not None:
                    self._pending = info
                    self._wake.set()
                    if parser.done:
                        self._flush.set()
        finally:
            self._flush.set()
            self._wake.set()

    async def _read_log(self, stream: asyncio.StreamReader) -> None:
        try:
            await self._log_lines(stream)
        finally:
            self._pid_known.set()

    async def _log_lines(self, stream: asyncio.StreamReader) -> None:
        async for line in lines(stream):
            if line.startswith(launcher.MARK):
                self._launcher_said(line[len(launcher.MARK) :].strip())
                continue
            # Progress-style lines end in \r; keep each piece as its own line.
            for piece in line.split("\r"):
                if piece.strip():
                    self._log.append(piece[:LINE_CHARS])
            if not self._saw_duration and line.lstrip().startswith("Duration:"):
                # The first input's length: percent and ETA for jobs that set none.
                self._saw_duration = True
                seconds = parse_duration_line(line)
                if seconds is not None:
                    self._parser.learn_input_duration(seconds)

    def _launcher_said(self, text: str) -> None:
        if text.startswith("ffmpeg pid "):
            self.ffmpeg_pid = int(text.rpartition(" ")[2])
            self._pid_known.set()
        elif text.startswith(launcher.FENCED):
            self.fenced = True
            self._log.append(text)
            log.error("ffmpeg pid %s %s", self.ffmpeg_pid, text)

    async def _notify(self) -> None:
        """Deliver the latest progress, spaced by PROGRESS_INTERVAL_S except the last.

        Running apart from the reader means a slow callback (a master that is away)
        drops intermediate reports instead of stalling ffmpeg on a full pipe.
        """
        loop = asyncio.get_running_loop()
        next_at = 0.0
        while True:
            await self._wake.wait()
            delay = next_at - loop.time()
            if delay > 0 and not self._flush.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush.wait(), delay)
            self._wake.clear()
            info, self._pending = self._pending, None
            if info is not None:
                await self._deliver(info)
                next_at = loop.time() + PROGRESS_INTERVAL_S
            if self._flush.is_set() and self._pending is None:
                return

    async def _deliver(self, info: ProgressInfo) -> None:
        self._delivered = info
        try:
            result = self._on_progress(info)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a reporting problem must not fail the transcode
            log.exception("progress callback failed for ffmpeg pid %s", self.pid)
