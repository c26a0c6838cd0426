"""Jobs with dependencies and groups on the in-process scheduler: a child is
queued only once what it waits for succeeded, failures and cancels cascade,
retries bring back only what did not succeed, and a restart resumes the graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.core.authz import SYSTEM
from ffrtmp.core.errors import FailedPrecondition, InvalidArgument
from ffrtmp.core.model import Job, JobState, Outcome
from ffrtmp.core.spec import RawSpec, resolve
from tests.helpers.sched import SchedHarness

Q, A, S, F, C, B = (JobState.QUEUED, JobState.ASSIGNED, JobState.SUCCEEDED, JobState.FAILED,
                    JobState.CANCELED, JobState.BLOCKED)


async def _group(h: SchedHarness, parts: int, *, priority: str = "high") -> tuple[Job, list[Job]]:
    """A group: `parts` children, then a join that waits for all of them."""
    intake = h.scheduler.intake
    spec = resolve(RawSpec(scenario="test", priority=priority, duration_s=10.0),
                   h.config.scenarios)
    parent = intake.new_job(spec, "ann", group=True)
    kids = [intake.new_job(spec, "ann", parent_id=parent.id) for _ in range(parts)]
    join = intake.new_job(spec, "ann", parent_id=parent.id,
                          depends_on=tuple(k.id for k in kids))
    parent.depends_on = tuple(j.id for j in (*kids, join))
    stored, created = await intake.submit_group(parent, [*kids, join])
    assert created
    await h.settle()
    return stored, [*kids, join]


def _assigned_ids(h: SchedHarness) -> list[str]:
    return [lease.job_id for w in h.workers.values() for lease in w.assigned()]


async def test_a_dependent_waits_then_runs(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=2)
        first = await h.submit()
        second, _ = await h.scheduler.submit(RawSpec(scenario="test"), depends_on=[first.id])
        await h.settle()
        assert second.state == B and _assigned_ids(h) == [first.id]
        await a.started(a.assigned()[0])
        await a.result(a.assigned()[0])
        assert (await h.state(second.id))[0] == A and _assigned_ids(h) == [first.id, second.id]


async def test_a_failed_dependency_fails_its_dependents_without_running_them(
    tmp_path: Path,
) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        first = await h.submit(max_retries=0)
        second, _ = await h.scheduler.submit(RawSpec(scenario="test"), depends_on=[first.id])
        third, _ = await h.scheduler.submit(RawSpec(scenario="test"), depends_on=[second.id])
        await h.settle()
        await a.result(a.assigned()[0], Outcome.FAILED, error_class="permanent", error="bad")
        s2, s3 = await h.job(second.id), await h.job(third.id)
        assert (s2.state, s3.state) == (F, F)
        assert s2.failure_reason == f"dependency {first.id} failed"
        assert _assigned_ids(h) == [first.id]
        # A dependency that already failed is refused at submit.
        with pytest.raises(FailedPrecondition, match=first.id):
            await h.scheduler.submit(RawSpec(scenario="test"), depends_on=[first.id])


async def test_unknown_dependencies_are_refused(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        with pytest.raises(InvalidArgument, match="depends_on"):
            await h.scheduler.submit(RawSpec(scenario="test"), depends_on=["nope"])
        assert await h.store.list_jobs() == []  # nothing half-written


async def test_a_group_runs_its_children_in_parallel_and_joins_last(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a, b = h.worker("a"), h.worker("b")
        parent, kids = await _group(h, 3)
        *segs, join = kids
        assert parent.state == B
        assert len(_assigned_ids(h)) == 2 and join.id not in _assigned_ids(h)
        for kid in await h.store.children(parent.id):  # inherited from the parent
            assert (kid.owner, kid.spec.priority) == ("ann", "high")
        a.progress(a.assigned()[0], 50.0)
        tree = await h.scheduler.get_tree(parent.id)
        assert [c.id for c in tree.children] == [k.id for k in kids]
        assert tree.progress.percent == pytest.approx(100 * 0.5 / 4)
        await a.result(a.assigned()[0])
        await b.result(b.assigned()[0])
        assert join.id not in _assigned_ids(h)
        w = a if len(a.assigned()) == 2 else b
        await w.result(w.assigned()[1])  # the third segment
        assert join.id in _assigned_ids(h)  # only now
        assert (await h.state(parent.id))[0] == B
        tree = await h.scheduler.get_tree(parent.id)
        assert tree.progress.percent == 75.0
        w = b if b.assigned()[-1].job_id == join.id else a
        await w.result(w.assigned()[-1])
        done = await h.scheduler.get_tree(parent.id)
        assert done.state == S and done.progress.percent == 100.0
        assert sorted(_assigned_ids(h)) == sorted(k.id for k in kids)  # each exactly once
        assert {k.id for k in segs} <= set(_assigned_ids(h))


async def test_a_child_that_fails_fails_its_group_and_stops_the_others(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path, max_retries=1) as h:
        a, b = h.worker("a", slots=2), h.worker("b", slots=2)
        parent, kids = await _group(h, 3)
        lease_a = a.assigned()[0]
        await a.result(lease_a, Outcome.FAILED, error_class="transient", error="reset")
        assert (await h.state(parent.id))[0] == B  # one retry left: the group waits
        await h.tick(60)
        retry = [x for x in a.assigned() + b.assigned() if x.job_id == lease_a.job_id][-1]
        w = a if retry in a.assigned() else b
        await w.result(retry, Outcome.FAILED, error_class="transient", error="reset")
        p = await h.job(parent.id)
        assert p.state == F and p.failure_reason == f"child {lease_a.job_id} failed"
        states = {k.id: (await h.job(k.id)).state for k in kids}
        assert states[lease_a.job_id] == F
        # The other segments are canceled; the join failed with its segment, or was canceled.
        assert [s for j, s in states.items() if j not in (lease_a.job_id, kids[-1].id)] == [C, C]
        assert states[kids[-1].id] in (F, C)
        # The sibling still running was told to stop.
        running = [x for x in a.assigned() + b.assigned() if states[x.job_id] == C]
        assert running and all(x in a.canceled() + b.canceled() for x in running)


async def test_cancel_a_group_cancels_every_unfinished_child_in_one_commit(
    tmp_path: Path,
) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        parent, kids = await _group(h, 2)
        await a.result(a.assigned()[0])  # one segment done
        commits = len(h.transitions)
        await h.scheduler.cancel(parent.id)
        states = [(await h.job(k.id)).state for k in kids]
        assert (await h.state(parent.id))[0] == C and states == [S, C, C]
        assert a.canceled() == [a.assigned()[1]]
        assert len(h.transitions) - commits == 3  # group, running segment, join
        await h.settle()
        assert len(_assigned_ids(h)) == 2  # the join never ran


async def test_retry_a_group_reruns_only_what_did_not_succeed(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=3)
        parent, kids = await _group(h, 3)
        first, second, third = a.assigned()
        await a.result(first)
        await a.result(second, Outcome.FAILED, error_class="permanent", error="bad")
        assert (await h.state(parent.id))[0] == F
        # Retrying a child retries its group.
        await h.scheduler.retry(second.job_id)
        await h.settle()
        assert (await h.state(parent.id))[0] == B
        again = a.assigned()[3:]
        assert {x.job_id for x in again} == {second.job_id, third.job_id}
        for lease in again:
            await a.result(lease)
        join = a.assigned()[-1]
        assert join.job_id == kids[-1].id
        await a.result(join)
        assert (await h.state(parent.id))[0] == S
        assert [x.job_id for x in a.assigned()].count(first.job_id) == 1  # never redone


async def test_two_children_ending_together_end_the_group_once(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=4)
        intake = h.scheduler.intake
        spec = resolve(RawSpec(scenario="test"), h.config.scenarios)
        parent = intake.new_job(spec, "", group=True)
        kids = [intake.new_job(spec, "", parent_id=parent.id) for _ in range(2)]
        parent.depends_on = tuple(k.id for k in kids)
        await intake.submit_group(parent, kids)
        await h.settle()
        x, y = a.assigned()
        # Both results land before either's graph step runs.
        for lease in (x, y):
            await h.scheduler.attempts.on_result(a.s, lease, _ok())
        await h.settle()
        ends = [t for t in h.transitions if t[0] == parent.id]
        assert ends == [(parent.id, B, S)]


def _ok():  # type: ignore[no-untyped-def]
    from ffrtmp.core.model import AttemptResult

    return AttemptResult(Outcome.SUCCEEDED, output="o.mp4", output_bytes=1)


async def test_a_restart_resumes_the_graph_and_redoes_nothing(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=2)
        parent, kids = await _group(h, 3)
        first, second = a.assigned()
        await a.started(first)
        await a.result(first)
        await a.started(second)
    # The master restarts: one segment done, one running, one queued, the join blocked.
    async with SchedHarness(tmp_path) as h2:
        assert h2.scheduler.graph.blocked == 2  # the group and the join
        w = h2.worker("a", slots=2, running=[second])
        await h2.settle()
        third = [x for x in w.assigned() if x.job_id not in (first.job_id, second.job_id)]
        assert len(third) == 1 and first.job_id not in _assigned_ids(h2)
        await w.result(second)
        await w.result(third[0])
        assert _assigned_ids(h2)[-1] == kids[-1].id
        await w.result(w.assigned()[-1])
        assert (await h2.state(parent.id))[0] == S


async def test_a_crash_between_a_success_and_the_release_loses_nothing(
    tmp_path: Path,
) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        first = await h.submit()
        second, _ = await h.scheduler.submit(RawSpec(scenario="test"), depends_on=[first.id])
        await h.settle()
        h.scheduler.graph.untrack(second.id)  # the step that would release it never runs
        await a.result(a.assigned()[0])
        assert (await h.state(second.id))[0] == B
    async with SchedHarness(tmp_path) as h2:
        b = h2.worker("b")
        await h2.settle()
        assert (await h2.state(second.id))[0] == A and b.assigned()[0].job_id == second.id


async def test_a_join_gets_and_may_read_exactly_what_its_segments_stored(
    tmp_path: Path,
) -> None:
    from ffrtmp.core.model import Artifact, AttemptResult, OutputInfo
    from ffrtmp.master.scheduling.sessions import AssignCmd

    def stored(lease: object) -> AttemptResult:
        job_id, n = lease.job_id, lease.attempt  # type: ignore[attr-defined]
        art = Artifact("p.mp4", 10, "cd" * 32, "video/mp4", f"jobs/{job_id}/attempts/{n}/p.mp4")
        return AttemptResult(Outcome.SUCCEEDED, output="p.mp4", output_bytes=10,
                             output_info=OutputInfo("mp4", 1.0, 10, artifacts=(art,)))

    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=4)  # three segments and the audio at once
        group, _ = await h.scheduler.intake.submit(
            RawSpec(scenario="test", input="clips/in.mp4", duration_s=30.0, fps=25.0,
                    split="10s"), "", SYSTEM, ())
        assert group.group
        await h.settle()
        for lease in a.assigned():
            await h.scheduler.attempts.on_result(a.s, lease, stored(lease))
        await h.settle()
        join = a.of(AssignCmd)[-1]
        first = a.assigned()[:4]  # the audio, then the segments; joined the other way
        parts = [f"jobs/{x.job_id}/attempts/1/p.mp4" for x in [*first[1:], first[0]]]
        assert join.spec.concat == tuple("blob:" + p for p in parts)
        check = h.scheduler.blob_leases.authorize_worker
        lease = join.lease
        for p in parts:
            assert await check("a", lease.job_id, lease.attempt, p, False)
            assert not await check("a", lease.job_id, lease.attempt, p, True)
        other = await h.submit()
        assert not await check("a", lease.job_id, lease.attempt,
                               f"jobs/{other.id}/attempts/1/p.mp4", False)
        await h.scheduler.attempts.on_result(a.s, lease, stored(lease))
        await h.settle()
        done = await h.job(group.id)  # the group's result is its join's
        assert done.state == S and done.output_info is not None
        assert done.output_info.artifacts[0].resource.startswith(f"jobs/{lease.job_id}/")


async def test_after_a_restore_a_blocked_job_a_worker_finished_is_not_run_again(
    tmp_path: Path,
) -> None:
    """The backup holds B blocked on A (A done); B was released and ran after the
    backup, then C waits for B. Restored, B's worker reports B's success: B ends
    SUCCEEDED without running, and only then is C released."""
    from ffrtmp.core.model import AttemptResult, Lease

    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        first = await h.submit()
        second, _ = await h.scheduler.submit(RawSpec(scenario="test"), depends_on=[first.id])
        third, _ = await h.scheduler.submit(RawSpec(scenario="test"), depends_on=[second.id])
        await h.settle()
        h.scheduler.graph.untrack(second.id)  # the backup was taken before B's release
        await a.result(a.assigned()[0])
    async with SchedHarness(tmp_path, hold_queue=True) as h2:
        assert (await h2.state(second.id))[0] == B  # held: not judged yet
        w = h2.worker("a")
        done = AttemptResult(Outcome.SUCCEEDED, output="b.mp4", output_bytes=5)
        await h2.scheduler.restore.reported("a", [(Lease(second.id, 1), done)])
        await h2.scheduler.restore.hold(0, h2.scheduler._load_waiting, 0.0)
        await h2.settle()
        assert (await h2.state(second.id))[0] == S
        assert [x.job_id for x in w.assigned()] == [third.id]  # B never ran again
