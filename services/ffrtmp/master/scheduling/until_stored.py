"""Steps whose writes must land, run again while the store fails.

The end of an attempt whose lease this master already dropped (a worker that
reconnected without the run, a heartbeat that no longer lists it) is one: left
undone, the job would stay active in the store with no lease here, and nothing
would end it until a restart. A deposed leader gives up (NotLeader): the new
leader reads the job from the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ffrtmp.master.storage.protocol import NotLeader, StoreError

log = logging.getLogger(__name__)

FIRST_WAIT_S, MAX_WAIT_S = 0.2, 5.0


async def until_stored(step: Callable[[], Awaitable[None]], what: str) -> None:
    delay = FIRST_WAIT_S
    while True:
        try:
            return await step()
        except NotLeader:
            raise
        except StoreError as exc:
            log.warning("%s: the store failed (%s); again in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_WAIT_S)
