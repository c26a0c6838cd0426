"""The batched compare-and-set of the PostgreSQL store against SQLite's one by
one: the same seeded stream of changes (concurrent apply calls sharing commits,
stale states and attempts, fields, the same job twice in a batch) must give the
same answers, rows and history on both."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from ffrtmp.core.model import JobState
from ffrtmp.master.storage.postgres import changes
from ffrtmp.master.storage.postgres.lease import lead
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.protocol import Change, JobStore
from ffrtmp.master.storage.sqlite.store import SqliteStore
from tests.helpers.store_rows import T0
from tests.helpers.store_rows import insert as _insert

S = JobState
FIELDS = [(), (("exit_code", 1), ("error", "boom")), (("progress", '{"frame": 5}'),),
          (("output_bytes", 2**40), ("not_before_ms", T0 + 9)), (("lost_attempts", 1),)]


def _changes(rng: random.Random, jobs: int) -> list[list[Change]]:
    """Batches of apply calls; each call a few changes of random kinds."""
    batches = []
    for round_ in range(30):
        calls = []
        for _ in range(rng.randint(1, 6)):
            call = []
            for _ in range(rng.randint(1, 3)):
                job = f"job{rng.randint(1, jobs)}"
                expect = frozenset(rng.sample(list(S), rng.randint(1, 4)))
                moves = rng.random() < 0.5  # few kinds, so that kinds share a statement
                call.append(Change(
                    job, expect, rng.choice(list(S)), f"r{round_}", T0 + round_,
                    expect_attempt=rng.choice([None, 0, 1]) if moves else None,
                    node_id=rng.choice(["a", "b"]) if moves else None,
                    attempt=rng.choice([1, 2]) if moves else None,
                    fields=rng.choice(FIELDS[:3]) if moves else rng.choice(FIELDS),
                ))
            calls.append(call)
        batches.append(calls)
    return batches


async def _run(store: JobStore, batches: list[list[Change]]) -> list[object]:
    answers: list[object] = []
    for calls in batches:  # the calls of a round are concurrent: they share a commit
        answers.append(await asyncio.gather(*(store.apply(c) for c in calls)))
    jobs = await store.list_jobs(limit=1000)
    history = [await store.events(j.id) for j in jobs]
    return [answers, [(j.id, j.state, j.attempt, j.node_id, j.exit_code, j.error,
                       j.output_bytes, j.not_before_ms, j.lost_attempts, j.updated_ms,
                       j.progress) for j in jobs], history]


async def test_batched_changes_match_sqlite(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched: list[int] = []
    statement = changes._statement
    monkeypatch.setattr(changes, "_statement", lambda shape: batched.append(1) or statement(shape))
    jobs = 60
    batches = _changes(random.Random(7), jobs)
    lite, pg = SqliteStore(tmp_path / "x.db"), PgStore(pg_dsn)
    await lite.open()
    await pg.open()
    await lead(pg, "m1")
    try:
        for store in (lite, pg):
            for n in range(1, jobs + 1):
                await _insert(store, n)
        want, got = await _run(lite, batches), await _run(pg, batches)
        assert got[0] == want[0]  # what each change found
        assert got[1] == want[1]  # the rows
        assert got[2] == want[2]  # every event, in order
        assert sum(b is not None for r in want[0] for c in r for b in c) > 10  # it did work
        assert pg.batches < sum(len(calls) for calls in batches)  # calls shared commits
        assert len(batched) >= 5  # kinds of change shared a statement
    finally:
        await lite.close()
        await pg.close()
