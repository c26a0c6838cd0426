"""Closed-loop load: N callers, each sending its next call when the previous answers."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from grpc import aio


@dataclass(frozen=True, slots=True)
class LoadResult:
    calls: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0


async def closed_loop(
    call: Callable[[], Awaitable[object]],
    *,
    concurrency: int,
    seconds: float | None = None,
    total: int | None = None,
    warmup: float = 0.5,
) -> LoadResult:
    """Drive `call` from `concurrency` tasks for `seconds`, or until `total` calls
    have been made. A short unmeasured warm-up first, so that the connection, TLS
    and the server's first-call paths are not in the figure."""
    if warmup > 0:
        await _run(call, concurrency, time.perf_counter() + warmup, None)
    start = time.perf_counter()
    deadline = start + seconds if seconds is not None else math.inf
    calls, errors = await _run(call, concurrency, deadline, total)
    return LoadResult(calls, errors, time.perf_counter() - start)


async def _run(
    call: Callable[[], Awaitable[object]], concurrency: int, deadline: float, total: int | None
) -> tuple[int, int]:
    calls = errors = started = 0

    async def caller() -> None:
        nonlocal calls, errors, started
        while time.perf_counter() < deadline and (total is None or started < total):
            started += 1
            try:
                await call()
                calls += 1
            except aio.AioRpcError:
                # Counted, not fatal: a figure with errors is reported as such.
                errors += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return calls, errors


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; `p` in 0..100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
