"""The shared stop machinery: bounded steps, a cancel-safe timed wait, supervised
tasks. (The two-stage signals run in real processes: tests/faults/test_stops.py.)"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ffrtmp.lifecycle import WATCHDOG_MARGIN_S, Service, Supervisor, bounded, wait_event
from ffrtmp.master import main as master_main
from ffrtmp.worker import main as worker_main


async def _timers_loop(ev: asyncio.Event) -> None:
    """The shape of the scheduler's timer loop: sleep until woken or a timeout."""
    while True:
        ev.clear()
        await wait_event(ev, 10)


async def test_a_cancel_that_lands_as_the_event_is_set_is_not_lost() -> None:
    # The master's hang: a worker's disconnect set the timers' event in the same
    # loop turn as the stop canceled the timers task; asyncio.wait_for (3.11)
    # returned the event's result instead of raising, and the task ran on.
    ev = asyncio.Event()
    task = asyncio.create_task(_timers_loop(ev))
    await asyncio.sleep(0.05)
    ev.set()
    await asyncio.sleep(0)  # the inner wait completes; the outer step is pending
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled()


async def test_wait_event_reports_a_timeout_and_a_wakeup() -> None:
    ev = asyncio.Event()
    assert await wait_event(ev, 0.01) is False
    asyncio.get_running_loop().call_soon(ev.set)
    assert await wait_event(ev, 5) is True


async def test_a_step_past_its_deadline_is_cut_short_and_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    forever = asyncio.Event()
    caplog.set_level(logging.WARNING, "ffrtmp.lifecycle")
    step = asyncio.ensure_future(forever.wait())
    assert await bounded("scheduler", step, 0.05) is False
    await asyncio.sleep(0)
    assert step.cancelled()
    assert "stop: scheduler cut short" in caplog.text


async def test_a_failed_or_canceled_step_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "ffrtmp.lifecycle")

    async def broken() -> None:
        raise RuntimeError("store is closed")

    assert await bounded("store", broken(), 1) is False
    canceled = asyncio.ensure_future(asyncio.sleep(10))
    canceled.cancel()
    assert await bounded("writer", canceled, 1) is False
    assert await bounded("quick", asyncio.sleep(0), 1) is True
    assert "stop: store failed: store is closed" in caplog.text
    assert "stop: writer was canceled" in caplog.text
    assert "quick" not in caplog.text


async def test_a_failed_task_stops_and_only_owned_tasks_are_canceled() -> None:
    sup = Supervisor(logging.getLogger("test"))
    gate = asyncio.Event()

    async def fails() -> None:
        await gate.wait()
        raise ValueError("boom")

    watched_only = asyncio.create_task(asyncio.sleep(10))
    sup.watch(watched_only, own=False)
    owned = sup.start(asyncio.sleep(10), "owned")
    sup.start(fails(), "fails")
    failed = asyncio.create_task(sup.failed())
    await asyncio.sleep(0.01)
    assert not failed.done()  # running tasks are no failure
    gate.set()
    await asyncio.wait_for(failed, 2)
    await sup.stop(1)
    assert owned.cancelled() and not watched_only.done()
    watched_only.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watched_only


async def test_a_canceled_task_is_no_failure() -> None:
    sup = Supervisor(logging.getLogger("test"))
    sup.start(asyncio.sleep(10), "sleeper").cancel()
    failed = asyncio.create_task(sup.failed())
    await asyncio.sleep(0.01)
    assert not failed.done()
    failed.cancel()


@pytest.mark.parametrize(
    ("unit", "parser"),
    [("ffrtmp-master.service", master_main.parser), ("ffrtmp-worker.service", worker_main.parser)],
)
def test_the_units_timeout_outlasts_the_stop_bound(
    unit: str, parser: Callable[[], argparse.ArgumentParser]
) -> None:
    """systemd must not SIGKILL a stop that keeps its promise."""
    text = (Path(__file__).parents[2] / "docs" / "deploy" / unit).read_text()
    m = re.search(r"^TimeoutStopSec=(\d+)$", text, re.MULTILINE)
    assert m, unit
    grace = parser().parse_args([]).stop_grace
    assert int(m.group(1)) > grace + WATCHDOG_MARGIN_S


async def test_an_essential_task_that_ends_at_all_is_a_failure() -> None:
    """The worker's fence: if it returns, the worker would run on unguarded."""
    sup = Supervisor(logging.getLogger("test"))
    sup.start(asyncio.sleep(0), "fence", essential=True)
    await asyncio.wait_for(sup.failed(), 2)
    assert sup.has_failed


async def test_a_contained_task_failure_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One run's bug must not stop the worker's other runs."""
    sup = Supervisor(logging.getLogger("test"))

    async def fails() -> None:
        raise ValueError("one job's bug")

    task = sup.start(fails(), "job-1", fatal=False)
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert not sup.has_failed and not sup.tasks  # done tasks are let go
    assert "task job-1 failed" in caplog.text


async def test_a_service_is_started_and_stopped_by_async_with_and_follows_its_parts() -> None:
    class Part(Service):
        def __init__(self) -> None:
            super().__init__("part", logging.getLogger("test"))
            self.gate = asyncio.Event()

        async def start(self) -> None:
            self.background.start(self._work(), "work")

        async def _work(self) -> None:
            await self.gate.wait()
            raise RuntimeError("part broke")

    part = Part()
    async with Service("whole", logging.getLogger("test")) as whole:
        await part.start()
        whole.background.follow(part)
        failed = asyncio.create_task(whole.failed())
        await asyncio.sleep(0.01)
        assert not failed.done()
        part.gate.set()
        await asyncio.wait_for(failed, 2)  # the part's failure is the whole's
    assert not whole.background.tasks  # stop() ended its tasks
    await part.stop()
    assert not part.background.tasks
