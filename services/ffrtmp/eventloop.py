"""Which asyncio event loop a process runs on: uvloop when it is installed (the
`fast` extra) and not turned off, the standard one otherwise.

uvloop moves the loop's own bookkeeping (ready queue, timers, epoll) into C; on
the master that is a large share of the per-call cost grpc.aio leaves in Python
(see docs/PERFORMANCE.md). `--event-loop asyncio` is the way back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHOICES = ("auto", "uvloop", "asyncio")


def factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for `choice`; None means asyncio's default loop.
    "uvloop" when uvloop is missing is an error, "auto" falls back quietly."""
    if choice not in CHOICES:
        raise ValueError(f"event loop must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ValueError(
                "--event-loop uvloop: uvloop is not installed (pip install 'ffrtmp[fast]')"
            ) from None
        return None
    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_loop


def name(choice: str = "auto") -> str:
    """What `choice` runs on here: "uvloop" or "asyncio"."""
    return "asyncio" if factory(choice) is None else "uvloop"


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """asyncio.run on the loop `choice` names."""
    try:
        loop_factory = factory(choice)
    except ValueError:
        main.close()  # never started: no "was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)
