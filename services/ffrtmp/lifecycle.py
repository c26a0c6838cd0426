"""How a daemon stops, shared by the master and the worker.

The first SIGTERM (or SIGINT) starts a graceful stop; a second one exits at once.
Every step of a stop has its own deadline, and a watchdog armed by the first
signal ends the process when the whole stop overruns its bound, so no await on
a peer that has gone (a half-closed stream, a lease whose worker left) can keep
a process alive. Long-lived background work runs as named, supervised tasks:
one that fails stops the process instead of dying unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, Protocol, Self

log = logging.getLogger("ffrtmp.lifecycle")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Past the grace: what the last steps of a stop (closing the store, the
# endpoints) may take. The watchdog ends the process a little later still.
STOP_MARGIN_S = 1.0
WATCHDOG_MARGIN_S = 1.5


def exit_now(code: int) -> NoReturn:
    """End the process with `code` once the logs are out. A daemon whose stop
    is done exits this way too: the interpreter's own teardown (grpc's threads,
    module cleanup, joining threads) can take seconds, out of the watchdog's
    reach, since a daemon thread cannot run once finalization has begun."""
    logging.shutdown()  # flush what the handlers hold; os._exit skips it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def bounded(step: str, aw: Awaitable[Any], within: float) -> bool:
    """Await `aw` for at most `within` seconds. Past it, cancel it, log a warning
    naming the step and go on without waiting for the cancel to land. A failure
    is logged, not raised: one broken step must not skip the others."""
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(0.0, within))
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        log.warning("stop: %s cut short after %.1fs", step, within)
        return False
    if task.cancelled():  # by someone else: the step did not finish its work
        log.warning("stop: %s was canceled", step)
        return False
    if (exc := task.exception()) is not None:
        log.warning("stop: %s failed: %s", step, exc or type(exc).__name__)
        return False
    return True


async def in_thread(step: str, fn: Callable[[], object], within: float) -> bool:
    """A blocking call (an HTTP server's shutdown) in a daemon thread, bounded
    like any step. Not the loop's executor: asyncio.run joins that one at exit,
    and a stuck call there would hang the exit itself."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finished() -> None:
        if not done.done():
            done.set_result(None)

    def target() -> None:
        try:
            fn()
        finally:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(finished)

    threading.Thread(target=target, name=f"stop-{step}", daemon=True).start()
    return await bounded(step, done, within)


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """`event.wait()` for at most `seconds`; False when the time ran out. Not
    asyncio.wait_for: on Python 3.11 it swallows a cancel that lands just as the
    event is set, and the task runs on, so a stop that cancelled it and waits
    for it never ends."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


class Deadline:
    """The time left of a whole stop, shared out among its steps."""

    def __init__(self, seconds: float) -> None:
        self._end = asyncio.get_running_loop().time() + seconds

    def left(self, at_most: float = float("inf"), at_least: float = 0.0) -> float:
        left = self._end - asyncio.get_running_loop().time()
        return max(at_least, min(at_most, left))


class Supervisor:
    """Named background tasks; `failed()` returns when one of them ends with an
    error (a task that returns or is cancelled is not a failure), or when an
    `essential` one ends at all. A `fatal=False` task's error is only logged (a
    worker's run: one job's bug must not stop the others). `stop()` cancels the
    tasks it started or was given to own, not the ones it only watches (a
    store's writer, which its own close() must finish)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()  # owned and not done yet
        self._log = logger
        self._failed = asyncio.Event()

    def start(
        self,
        coro: Coroutine[Any, Any, Any],
        name: str,
        *,
        essential: bool = False,
        fatal: bool = True,
    ) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        return self.watch(task, essential=essential, fatal=fatal)

    def watch(
        self,
        task: asyncio.Task[Any],
        *,
        own: bool = True,
        essential: bool = False,
        fatal: bool = True,
    ) -> asyncio.Task[Any]:
        if own:
            self.tasks.add(task)  # a reference until it is done
        task.add_done_callback(lambda t: self._done(t, essential, fatal))
        return task

    def follow(self, child: Lifecycle) -> None:
        """A child's failure is this one's: `child` is a part with tasks of its own."""

        async def failure() -> None:
            await child.failed()
            raise RuntimeError(f"{child.name} failed")

        self.start(failure(), f"{child.name}-failed")

    def _done(self, task: asyncio.Task[Any], essential: bool, fatal: bool) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None and not essential:
            return
        if exc is not None and not (fatal or essential):
            self._log.error("task %s failed", task.get_name(), exc_info=exc)
            return
        what = "failed" if exc is not None else "ended"
        self._log.error("background task %s %s; stopping", task.get_name(), what, exc_info=exc)
        self._failed.set()

    @property
    def has_failed(self) -> bool:
        return self._failed.is_set()

    async def failed(self) -> None:
        await self._failed.wait()

    async def stop(self, within: float) -> None:
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            gathered = asyncio.gather(*tasks, return_exceptions=True)
            await bounded("background tasks", gathered, within)
        self.tasks.clear()


class Lifecycle(Protocol):
    """The shape of every long-lived part: start(), stop() (idempotent), and
    failed(), which returns when one of its background tasks failed."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def failed(self) -> None: ...


class Service:
    """A base giving a part the Lifecycle shape: its background work runs on
    `self.background`, `async with` is start() then stop(). A subclass adds its
    own start() and stop() (calling this stop() to end its tasks)."""

    STOP_TASKS_S = 1.0

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self.background = Supervisor(logger)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.background.stop(self.STOP_TASKS_S)

    async def failed(self) -> None:
        await self.background.failed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class StopSignals:
    """The two-stage stop: the first SIGTERM/SIGINT calls `first` (which starts a
    graceful stop) and arms a watchdog that exits if the process still runs
    `bound` seconds later; a second signal exits at once. A context manager
    around the daemon's run: the handlers are removed while the loop still runs
    (removing them inside loop.close() can wait forever on grpc's poller thread)."""

    def __init__(self, name: str, first: Callable[[], None], bound: float) -> None:
        self.name = name
        self.first = first
        self.bound = bound
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: threading.Timer | None = None

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        for sig in STOP_SIGNALS:
            self._loop.remove_signal_handler(sig)

    def arm(self) -> None:
        """Start the watchdog (once): the process ends `bound` seconds from now.
        A thread, not a loop timer, so a blocked loop or a hang in the
        interpreter's own exit cannot outlive it."""
        if self._watchdog is None:
            self._watchdog = threading.Timer(self.bound, self._overrun)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _on_signal(self) -> None:
        self.received += 1
        if self.received > 1:
            log.warning("%s: second signal: exiting now", self.name)
            exit_now(1)
        log.info(
            "%s: signal received: stopping within %.1fs (again to exit at once)",
            self.name,
            self.bound,
        )
        self.arm()
        self.first()

    def _overrun(self) -> None:
        log.error(
            "%s: stop overran its %.1fs bound: exiting now; where it was:", self.name, self.bound
        )
        faulthandler.dump_traceback(all_threads=True)
        if self._loop is not None:
            # Read from this thread while the loop may run: best effort, for the log.
            with contextlib.suppress(Exception):
                for task in list(asyncio.all_tasks(self._loop)):
                    task.print_stack(limit=8, file=sys.stderr)
        exit_now(1)
