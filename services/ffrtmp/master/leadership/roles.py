"""Leader or standby, and the transitions between them, one at a time.

The elector reports gains and losses without waiting; this runs them in order.
A loss takes effect at once where it matters for safety — the gate closes and
the store's fence term is cleared before anything else runs — and then the slow
part (stopping dispatch, closing worker streams) follows. A gain sets the fence
term first (the heap is rebuilt from a database this master may now write), and
opens the gate only once the rebuild is done. A loss during a gain is run right
after it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("ffrtmp.master.leadership")


class Roles:
    def __init__(
        self,
        *,
        gain: Callable[[int], Awaitable[None]],
        lose: Callable[[str], Awaitable[None]],
        fence: Callable[[int | None], None],
    ) -> None:
        self._gain = gain
        self._lose = lose
        self._fence = fence
        self.serving = False  # leader, rebuilt: the leader's services answer
        self.term: int | None = None  # the term acted on now
        self._want: int | None = None
        self._reason = ""
        self._wake = asyncio.Event()
        self.changed = asyncio.Event()  # set after each completed transition (tests)

    def on_gain(self, term: int) -> None:
        self._want = term
        self._wake.set()

    def on_loss(self, reason: str) -> None:
        self.serving = False
        self._fence(None)  # from now on every write of this master is refused
        self._want, self._reason = None, reason
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            want = self._want
            if want == self.term:
                continue
            if self.term is not None:
                log.warning("standby now (term %d ended: %s)", self.term, self._reason)
                self.term = None
                await self._lose(self._reason)
            if want is not None:
                self._fence(want)
                self.term = want
                await self._gain(want)
                if self._want == want:
                    self.serving = True
                    log.warning("leading at term %d: taking calls and dispatching", want)
            self.changed.set()
