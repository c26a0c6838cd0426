"""Background tasks kept, watched and stopped together.

A task that fails is logged; an essential one (the fence) that ends for any
reason sets `broken`, and the worker stops rather than run on unguarded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("ffrtmp.worker")


class Supervisor:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.broken = asyncio.Event()

    def spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, *, essential: bool = False
    ) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)  # a reference until it is done
        task.add_done_callback(lambda t: self._done(t, essential))
        return task

    def _done(self, task: asyncio.Task[Any], essential: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed", task.get_name(), exc_info=exc)
        if essential:
            log.error("essential task %s ended: stopping the worker", task.get_name())
            self.broken.set()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
