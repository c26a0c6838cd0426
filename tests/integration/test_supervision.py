"""Every long-lived part of the master is a Service whose background tasks are
supervised: a task of any part that fails ends Master.wait() with True, so the
process exits non-zero (main.run) instead of running on without it. The
store's own writer is tested in tests/faults/test_stops.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ffrtmp.master.config import MasterConfig
from ffrtmp.master.server import Master
from tests.helpers.certs import make_certs


async def _boom(*_: object) -> bool:
    await asyncio.sleep(0.05)
    raise RuntimeError("boom")


def _retention(m: Master) -> None:
    m.retention.sweep = _boom  # type: ignore[method-assign]


def _health(m: Master) -> None:
    m.health.probe = _boom  # type: ignore[method-assign]


def _dispatch(m: Master) -> None:
    m.scheduler.dispatcher.run = _boom  # type: ignore[assignment,method-assign]


def _timers(m: Master) -> None:
    m.scheduler.liveness.run_timers = _boom  # type: ignore[assignment,method-assign]


@pytest.mark.parametrize("breaks", [_retention, _health, _dispatch, _timers])
async def test_a_failing_task_of_any_part_stops_the_master(
    tmp_path: Path, breaks: Callable[[Master], None], caplog: pytest.LogCaptureFixture
) -> None:
    certs = make_certs(tmp_path / "certs")
    config = MasterConfig(
        listen="127.0.0.1:0",
        metrics_port=-1,
        db=tmp_path / "m.db",
        ca=certs.ca,
        cert=certs.dir / "master.crt",
        key=certs.dir / "master.key",
        retention_s=3600,
        retention_interval_s=0.01,
    )
    master = Master(config)
    breaks(master)
    async with master:
        assert await asyncio.wait_for(master.wait(), 10) is True
    assert "failed; stopping" in caplog.text


async def test_a_healthy_master_waits_until_stopped(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    config = MasterConfig(
        listen="127.0.0.1:0",
        metrics_port=-1,
        db=tmp_path / "m.db",
        ca=certs.ca,
        cert=certs.dir / "master.crt",
        key=certs.dir / "master.key",
        retention_s=3600,
        retention_interval_s=0.01,
    )
    async with Master(config) as master:
        waiting = asyncio.create_task(master.wait())
        await asyncio.sleep(0.3)  # retention sweeps, probes and dispatch rounds ran
        assert not waiting.done()
        await master.stop(grace=0)
        assert await asyncio.wait_for(waiting, 5) is False
