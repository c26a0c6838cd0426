"""What every JobStore must do, run against each implementation in
tests/helpers/stores.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

import pytest

from ffrtmp.core.model import JobEvent, JobState, ProgressInfo
from ffrtmp.core.priority import QUEUE_CLASSES
from ffrtmp.master.storage.protocol import (
    ApiKey,
    Before,
    Change,
    JobStore,
    StoreClosed,
    decode_needs,
)
from tests.helpers.store_rows import T0
from tests.helpers.store_rows import assign as _assign
from tests.helpers.store_rows import insert as _insert
from tests.helpers.store_rows import job as _job
from tests.helpers.stores import STORES

S = JobState


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    s = STORES[request.param](tmp_path, request)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_submit_is_idempotent_per_owner(store: JobStore) -> None:
    first = await _insert(store, 1, request_id="r1")
    again, created = await store.insert_job(_job(2, request_id="r1"),
                                            JobEvent(T0, None, S.QUEUED, "submitted", "", 0))
    assert not created and again.id == first.id and again.seq == first.seq
    # Another owner's request_id is a new job (never an error telling them it is taken).
    theirs, created = await store.insert_job(_job(3, request_id="r1", owner="mallory"),
                                             JobEvent(T0, None, S.QUEUED, "submitted", "", 0))
    assert created and theirs.id == "job3" and theirs.request_id == "r1"
    again, created = await store.insert_job(_job(5, request_id="r1", owner="mallory"),
                                            JobEvent(T0, None, S.QUEUED, "submitted", "", 0))
    assert not created and again.id == "job3"
    assert (await store.get_job("job1")).request_id == "r1"  # type: ignore[union-attr]
    second = await _insert(store, 4)  # no request_id: never a repeat
    assert second.seq > first.seq
    assert [j.id for j in await store.list_jobs()] == ["job4", "job3", "job1"]


async def test_inserted_hook_sees_new_jobs_only(store: JobStore) -> None:
    seen: list[str] = []
    store.inserted.append(seen.append)
    await _insert(store, 1, request_id="r")
    await store.insert_job(_job(2, request_id="r"), JobEvent(T0, None, S.QUEUED, "", "", 0))
    assert seen == ["job1"]


async def test_concurrent_submits_of_one_request_id_make_one_job(store: JobStore) -> None:
    """Retries racing each other (they share one commit) still make exactly one job."""
    ev = JobEvent(T0, None, S.QUEUED, "submitted", "", 0)
    got = await asyncio.gather(
        *(store.insert_job(_job(n, request_id="same"), ev) for n in range(1, 9)),
        *(store.insert_job(_job(n), ev) for n in range(10, 14)),
    )
    same = got[:8]
    assert [created for _, created in same].count(True) == 1
    assert len({(j.id, j.seq) for j, _ in same}) == 1
    assert all(created for _, created in got[8:])
    assert len(await store.list_jobs()) == 5
    assert len({j.seq for j, _ in got}) == 5


async def test_compare_and_set_on_state_and_attempt(store: JobStore) -> None:
    seen: list[tuple[Before, JobState]] = []
    store.observers.append(lambda b, to, at, node, attempt: seen.append((b, to)))
    await _insert(store, 1)
    [before] = await store.apply([_assign("job1", 1)])
    assert before == Before("job1", "default", S.QUEUED, T0 + 1, "", 0)
    # A stale (state, attempt) changes nothing and writes no event.
    stale = [
        _assign("job1", 1),  # no longer QUEUED
        Change("job1", frozenset({S.ASSIGNED}), S.RUNNING, "started", T0 + 200,
               expect_attempt=0),  # an older attempt
        Change("nosuch", frozenset({S.QUEUED}), S.CANCELED, "x", T0 + 200),
    ]
    assert await store.apply(stale) == [None, None, None]
    job = await store.get_job("job1", with_events=True)
    assert job is not None
    assert (job.state, job.node_id, job.attempt, job.updated_ms) == (S.ASSIGNED, "a", 1, T0 + 100)
    assert [e.to_state for e in job.events] == [S.QUEUED, S.ASSIGNED]
    assert [to for _, to in seen] == [S.ASSIGNED]
    # Attempt None: only the state is compared.
    [b] = await store.apply([Change("job1", frozenset({S.ASSIGNED}), S.RUNNING, "started",
                                    T0 + 300)])
    assert b is not None and b.state == S.ASSIGNED and b.since_ms == T0 + 100


async def test_changes_set_fields_and_history(store: JobStore) -> None:
    await _insert(store, 1)
    await store.apply([_assign("job1", 1)])
    progress = ProgressInfo(percent=100.0, frame=50)
    fields = (("exit_code", 0), ("output", "o.mp4"), ("output_bytes", 123),
              ("progress", json.dumps(asdict(progress))), ("log_tail", "done"))
    await store.apply([Change("job1", frozenset({S.ASSIGNED}), S.SUCCEEDED, "succeeded on a",
                              T0 + 500, expect_attempt=1, fields=fields)])
    job = await store.get_job("job1")
    assert job is not None and job.events == []  # events only when asked
    assert (job.state, job.output, job.output_bytes, job.log_tail) == (
        S.SUCCEEDED, "o.mp4", 123, "done")
    assert job.progress == progress
    events = await store.events("job1")
    assert [(e.from_state, e.to_state, e.reason, e.node_id, e.attempt) for e in events] == [
        (None, S.QUEUED, "submitted", "", 0),
        (S.QUEUED, S.ASSIGNED, "assigned to a", "a", 1),
        (S.ASSIGNED, S.SUCCEEDED, "succeeded on a", "a", 1),
    ]
    with pytest.raises(ValueError, match="settable"):
        await store.apply([Change("job1", frozenset({S.SUCCEEDED}), S.QUEUED, "x", T0,
                                  fields=(("owner", "eve"),))])
    assert (await store.get_job("job1")).state == S.SUCCEEDED  # type: ignore[union-attr]


async def test_listing_filters_and_pages(store: JobStore) -> None:
    for n in range(1, 8):
        await _insert(store, n, queue="live" if n % 2 else "batch")
    await store.apply([_assign("job3", 1, node="a"), _assign("job4", 1, node="b")])
    page = await store.list_jobs(limit=3)
    assert [j.id for j in page] == ["job7", "job6", "job5"]
    rest = await store.list_jobs(before_seq=page[-1].seq, limit=10)
    assert [j.id for j in rest] == ["job4", "job3", "job2", "job1"]
    assert [j.id for j in await store.list_jobs(queue="live")] == ["job7", "job5", "job3", "job1"]
    assert [j.id for j in await store.list_jobs(node_id="b")] == ["job4"]
    assert [j.id for j in await store.list_jobs(states=[S.ASSIGNED])] == ["job4", "job3"]
    assert [j.id for j in await store.list_jobs(states=[S.ASSIGNED], queue="live")] == ["job3"]
    active = await store.jobs_in_states([S.ASSIGNED, S.RUNNING])
    assert [j.id for j in active] == ["job3", "job4"]  # oldest first
    assert set(await store.get_jobs(["job1", "job3", "nosuch"])) == {"job1", "job3"}
    # More ids than one SQLite statement may bind: every store answers them all.
    many = [f"nosuch{i}" for i in range(260_000)] + ["job2", "job7"]  # this build binds 250,000
    assert set(await store.get_jobs(many)) == {"job2", "job7"}


async def test_queued_keys(store: JobStore) -> None:
    job = await _insert(store, 1, queue="live", priority="high")
    await _insert(store, 2)
    await store.apply([_assign("job2", 1)])
    [(rank, needs, [(rank_again, seq, job_id, created_ms)])] = await store.queued_keys()
    assert (job_id, QUEUE_CLASSES[rank], rank_again, seq, created_ms) == (
        "job1", ("live", "high"), rank, job.seq, T0 + 1)
    assert "codec:h264" in decode_needs(needs)


async def test_queued_keys_come_in_runs_in_heap_order(store: JobStore) -> None:
    """Runs of one class and needs set, in rank order; within a needs set the
    items, run after run, are sorted (a restart heapifies nothing)."""
    plan = [(1, "batch", "low", "h264"), (2, "live", "high", "h264"), (3, "live", "high", "hevc"),
            (4, "default", "medium", "h264"), (5, "live", "high", "h264"),
            (6, "batch", "low", "h264"), (7, "batch", "low", "hevc"), (8, "live", "low", "h264")]
    jobs = {n: await _insert(store, n, queue=q, priority=p, codec=c) for n, q, p, c in plan}
    await store.apply([_assign("job6", 1)])
    runs = await store.queued_keys()
    assert [rank for rank, _, _ in runs] == sorted(rank for rank, _, _ in runs)
    assert len({(rank, needs) for rank, needs, _ in runs}) == len(runs)
    by_needs: dict[str, list[tuple[int, int, str, int]]] = {}
    for rank, needs, items in runs:
        assert items and {item[0] for item in items} == {rank}
        by_needs.setdefault(needs, []).extend(items)
    for items in by_needs.values():
        assert items == sorted(items)
    got = {item[2]: (QUEUE_CLASSES[item[0]], item[1], item[3]) for _, _, run in runs
           for item in run}
    assert got == {f"job{n}": ((q, p), jobs[n].seq, T0 + n) for n, q, p, _ in plan if n != 6}
    assert {frozenset(i[2] for i in items) for items in by_needs.values()} == {
        frozenset({"job1", "job2", "job4", "job5", "job8"}), frozenset({"job3", "job7"})}


async def test_retention_deletes_old_finished_jobs_only(store: JobStore) -> None:
    for n in range(1, 6):
        await _insert(store, n)
        await store.apply([Change(f"job{n}", frozenset({S.QUEUED}), S.CANCELED, "x",
                                  T0 + n * 1000)])
    await _insert(store, 9)  # queued, and old: never deleted
    assert await store.delete_finished(T0 + 4500, limit=3) == 3
    assert await store.delete_finished(T0 + 4500, limit=3) == 1
    assert await store.delete_finished(T0 + 4500, limit=3) == 0
    assert sorted(j.id for j in await store.list_jobs()) == ["job5", "job9"]
    assert await store.events("job1") == []
    assert await store.reclaim() >= 0


async def test_retention_keeps_the_finished_children_of_an_open_group(store: JobStore) -> None:
    parent = _job(1)
    parent.state, parent.group = S.BLOCKED, True
    kids = [_job(2), _job(3)]
    for k in kids:
        k.parent_id = parent.id
    ev = JobEvent(T0, None, S.QUEUED, "submitted", "", 0)
    await store.insert_job(parent, ev, [(k, ev) for k in kids])
    await store.apply([Change("job2", frozenset({S.QUEUED}), S.CANCELED, "x", T0 + 1000)])
    await _insert(store, 4)
    await store.apply([Change("job4", frozenset({S.QUEUED}), S.CANCELED, "x", T0 + 1000)])
    assert await store.delete_finished(T0 + 5000, limit=10) == 1  # job4 alone
    assert await store.get_job("job2") is not None
    await store.apply([Change("job3", frozenset({S.QUEUED}), S.CANCELED, "x", T0 + 2000),
                       Change("job1", frozenset({S.BLOCKED}), S.CANCELED, "x", T0 + 2000)])
    assert await store.delete_finished(T0 + 5000, limit=10) == 3  # the group closed
    assert await store.list_jobs() == []


async def test_nodes(store: JobStore) -> None:
    await store.set_drained("b", True, T0)  # drained before it was ever seen
    await store.upsert_node("a", {"encoders": ["libx264"], "slots": 2}, "10.0.0.1", T0)
    await store.upsert_node("b", {"slots": 1}, "10.0.0.2", T0 + 5)
    await store.set_drained("a", True, T0 + 6)
    await store.set_drained("a", False, T0 + 7)
    await store.upsert_node("a", {"encoders": ["libx265"]}, "10.0.0.3", T0 + 8)
    a, b = await store.known_nodes()
    assert (a.node_id, a.capabilities, a.address, a.last_seen_ms, a.drained) == (
        "a", {"encoders": ["libx265"]}, "10.0.0.3", T0 + 8, False)
    assert (b.node_id, b.drained, b.last_seen_ms) == ("b", True, T0 + 5)  # a reconnect keeps it


async def test_api_keys(store: JobStore) -> None:
    k1 = ApiKey("k1", "alice", "admin", b"\x01" * 32, T0, "root")
    k2 = ApiKey("k2", "bob", "viewer", b"\x02" * 32, T0 + 1, "alice")
    await store.add_api_key(k2)
    await store.add_api_key(k1)
    assert await store.api_keys() == [k1, k2]
    assert await store.revoke_api_key("k2", T0 + 9)
    assert not await store.revoke_api_key("k2", T0 + 10)  # already revoked
    assert not await store.revoke_api_key("nosuch", T0 + 10)
    assert (await store.api_keys())[1].revoked_ms == T0 + 9


async def test_audit_pages_newest_first(store: JobStore) -> None:
    for n in range(5):
        await store.audit(T0 + n, "alice", "admin", "job.cancel", f"job{n}", "x" * 2000)
    first = await store.audit_events(None, 2)
    assert [e.target for e in first] == ["job4", "job3"]
    assert len(first[0].detail) == 1024 and first[0].actor == "alice"
    rest = await store.audit_events(first[-1].id, 10)
    assert [e.target for e in rest] == ["job2", "job1", "job0"]


async def test_ping_and_closed(store: JobStore) -> None:
    assert await store.ping()
    await store.close()
    assert not await store.ping()
    with pytest.raises(StoreClosed):
        await _insert(store, 1)


async def test_a_group_is_stored_whole_with_its_graph(store: JobStore) -> None:
    parent = _job(1, request_id="g")
    parent.state, parent.group = S.BLOCKED, True
    kids = [_job(n) for n in (2, 3)]
    join = _job(4)
    for k in (*kids, join):
        k.parent_id = parent.id
    join.state, join.depends_on = S.BLOCKED, ("job2", "job3")
    parent.depends_on = ("job2", "job3", "job4")
    ev = JobEvent(T0, None, S.QUEUED, "submitted", "", 0)
    seen: list[str] = []
    store.inserted.append(seen.append)
    _, created = await store.insert_job(parent, ev, [(k, ev) for k in (*kids, join)])
    assert created and seen == ["job1", "job2", "job3", "job4"]
    got = await store.get_job("job1")
    assert got is not None and got.group and got.depends_on == ("job2", "job3", "job4")
    children = await store.children("job1")
    assert [c.id for c in children] == ["job2", "job3", "job4"]
    assert children[2].depends_on == ("job2", "job3") and children[2].parent_id == "job1"
    assert not children[0].group and children[0].depends_on == ()
    assert [j.id for j in await store.jobs_in_states({S.BLOCKED})] == ["job1", "job4"]
    assert await store.children("job2") == [] and await store.children("") == []
    # A repeat of the group's request_id stores none of the children again.
    again, created = await store.insert_job(_job(9, request_id="g"), ev, [(_job(8), ev)])
    assert not created and again.id == "job1" and await store.get_job("job8") is None


async def test_assign_on_submit_commits_the_job_and_its_assignment_together(
    store: JobStore,
) -> None:
    seen: list[tuple[str, JobState, JobState, str, int]] = []
    store.observers.append(lambda b, to, at, node, att: seen.append((b.job_id, b.state, to,
                                                                     node, att)))
    commits: list[int] = []
    store.on_commit.append(lambda writes, took: commits.append(writes))
    made = _job(1, request_id="r1")
    submitted = JobEvent(made.created_ms, None, S.QUEUED, "submitted", "", 0)
    stored, created = await store.insert_job(made, submitted, (), _assign("job1", 1, "w1"))
    assert created and (stored.state, stored.node_id, stored.attempt) == (S.ASSIGNED, "w1", 1)
    assert len(commits) == 1  # one transaction for the job and its assignment
    assert seen == [("job1", S.QUEUED, S.ASSIGNED, "w1", 1)]
    job = await store.get_job("job1", with_events=True)
    assert job is not None and (job.state, job.node_id, job.attempt) == (S.ASSIGNED, "w1", 1)
    assert [(e.from_state, e.to_state, e.node_id, e.attempt) for e in job.events] == [
        (None, S.QUEUED, "", 0), (S.QUEUED, S.ASSIGNED, "w1", 1)]
    assert await store.queued_keys() == []
    # A repeat of the request: the stored job comes back and no assignment is applied.
    again, created = await store.insert_job(_job(2, request_id="r1"), submitted, (),
                                            _assign("job2", 1, "w2"))
    assert not created and (again.id, again.node_id, again.attempt) == ("job1", "w1", 1)
    assert await store.get_job("job2") is None and len(seen) == 1
    job = await store.get_job("job1", with_events=True)
    assert job is not None and len(job.events) == 2
