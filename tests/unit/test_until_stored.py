"""A step whose writes must land runs again while the store fails, and gives up
only when this master is no longer the leader."""

from __future__ import annotations

import pytest

from ffrtmp.master.scheduling import until_stored as u
from ffrtmp.master.storage.protocol import NotLeader, StoreError


async def test_a_failing_step_runs_again_until_it_lands(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(u, "FIRST_WAIT_S", 0.001)
    calls: list[int] = []

    async def step() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise StoreError("SQLite: database or disk is full")

    await u.until_stored(step, "dropped runs")
    assert len(calls) == 3
    assert caplog.text.count("dropped runs: the store failed") == 2


async def test_a_deposed_leader_gives_up_and_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    async def deposed() -> None:
        calls.append(1)
        raise NotLeader("term 3 is not the database's")

    with pytest.raises(NotLeader):
        await u.until_stored(deposed, "x")

    async def bug() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await u.until_stored(bug, "x")
    assert len(calls) == 2
