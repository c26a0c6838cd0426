"""A submit's derived values, computed once: the resolved spec by the bytes the
client sent, and the requirements, JSON and reply proto once per spec object.
Each memo must give exactly what the uncached code gives, keep nothing for a
spec that fails, and stay bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp import wire
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.matching import _requirements, requirements
from ffrtmp.core.memo import ByIdentity, ByKey
from ffrtmp.core.model import Job, JobSpec, JobState
from ffrtmp.core.spec import resolve
from ffrtmp.fieldmap import set_values, to_pb, values
from ffrtmp.master.storage.sqlite.rows import _spec_json, spec_json
from ffrtmp.v1 import common_pb2
from tests.helpers.sched import SchedHarness

SPECS = [
    common_pb2.JobSpec(scenario="test"),
    common_pb2.JobSpec(scenario="test", codec="h265", bitrate="900k", nice=0),
    common_pb2.JobSpec(scenario="test", live=False, fps=25, output="out/x.mp4"),
    common_pb2.JobSpec(scenario="test", requirements=common_pb2.Requirements(gpu=True)),
    common_pb2.JobSpec(
        scenario="test", output="out/ladder/", split_cuts=[2.0, 4.0],
        requirements=common_pb2.Requirements(encoders=["libx264"], labels={"zone": "eu"}),
        renditions=[common_pb2.Rendition(width=640, height=360, bitrate="800k")],
    ),
]


def test_only_the_fields_a_message_sets_are_converted() -> None:
    for pb in SPECS:
        given = {d.name for d, _ in pb.ListFields()}
        every = {k: v for k, v in values(JobSpec, pb).items() if k in given}
        assert set_values(JobSpec, pb) == every
        assert dict(wire.raw_spec(pb)) == every


def test_a_spec_from_the_wire_resolves_as_one_built_field_by_field() -> None:
    for pb in SPECS:
        raw = wire.raw_spec(pb)
        assert raw.key == pb.SerializeToString(deterministic=True)
        given = {d.name for d, _ in pb.ListFields()}
        assert set(raw) == given
        assert resolve(raw) == resolve(wire.raw_spec(common_pb2.JobSpec.FromString(raw.key)))


async def test_a_spec_sent_again_is_resolved_once(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        intake = h.scheduler.intake
        a, _ = await h.scheduler.submit(wire.raw_spec(SPECS[1]), "r1")
        b, _ = await h.scheduler.submit(wire.raw_spec(SPECS[1]), "r2")
        assert a.id != b.id and a.spec is b.spec  # one resolved object, two jobs
        assert (intake.resolved.misses, intake.resolved.hits) == (1, 1)
        assert a.spec == resolve(wire.raw_spec(SPECS[1]), h.scheduler.st.config.scenarios)
        stored = await h.job(b.id)
        assert stored.spec == a.spec and stored.state == JobState.QUEUED


async def test_a_bad_spec_fails_every_time_and_is_not_kept(tmp_path: Path) -> None:
    bad = common_pb2.JobSpec(scenario="test", codec="no-such-codec")
    async with SchedHarness(tmp_path) as h:
        for _ in range(2):
            with pytest.raises(InvalidArgument, match="codec"):
                await h.scheduler.submit(wire.raw_spec(bad), "")
        assert h.scheduler.intake.resolved.misses == 2 and h.scheduler.intake.resolved.hits == 0


def test_by_key_drops_the_least_recently_used() -> None:
    memo: ByKey[int] = ByKey(size=2)
    assert memo.get(b"a", lambda: 1) == 1
    assert memo.get(b"b", lambda: 2) == 2
    assert memo.get(b"a", lambda: 9) == 1  # a is now the most recent
    assert memo.get(b"c", lambda: 3) == 3  # drops b
    assert memo.get(b"a", lambda: 9) == 1
    assert memo.get(b"b", lambda: 4) == 4


def test_by_identity_is_per_object_and_bounded() -> None:
    calls: list[object] = []
    memo: ByIdentity[object, int] = ByIdentity(lambda o: calls.append(o) or len(calls), size=3)
    one, two = object(), object()
    assert memo(one) == 1 and memo(one) == 1 and memo(two) == 2
    assert len(calls) == 2
    for _ in range(5):
        memo(object())
    assert len(memo._seen) <= 3  # cleared when full, not grown


def test_memoized_conversions_equal_the_plain_ones() -> None:
    for pb in SPECS:
        spec = resolve(wire.raw_spec(pb))
        assert requirements(spec) == _requirements(spec) == requirements(spec)
        assert spec_json(spec) == _spec_json(spec) == spec_json(spec)
        job = Job(id="j", seq=1, spec=spec, state=JobState.QUEUED, created_ms=1, updated_ms=1)
        first = wire.job_pb(job)
        assert first.spec == to_pb(spec, common_pb2.JobSpec)
        first.spec.codec = "changed"  # a reply is the caller's to change: the memo is not
        assert wire.job_pb(job).spec == to_pb(spec, common_pb2.JobSpec)


def test_an_assign_carries_the_placed_spec_exactly() -> None:
    """The Assign's spec is the job's memoized proto with the run's output,
    input and parts laid over it: equal to converting the placed spec."""
    from dataclasses import replace

    from ffrtmp.core.model import Lease
    from ffrtmp.master.scheduling.dispatch import _assigned_spec
    from ffrtmp.master.scheduling.sessions import AssignCmd

    base = resolve(wire.raw_spec(common_pb2.JobSpec(scenario="test", output="x.mp4")))
    variants = [
        base,
        replace(base, input="blob:sha256:" + "ab" * 32),
        replace(base, output="", concat=("a.ts", "b.ts")),
        replace(base, output="null:"),
    ]
    for spec in variants:
        job = Job(id="j1", seq=1, spec=spec, state=JobState.QUEUED, created_ms=1,
                  updated_ms=1, owner="alice")
        placed = _assigned_spec(job, {})
        for _ in range(2):  # the second from the memo
            cmd = AssignCmd(Lease("j1", 1), placed, {}, 1, base=spec)
            got = wire.command_pb(cmd).assign.spec
            assert got == to_pb(placed, common_pb2.JobSpec), spec
            got.output = "changed"  # the message's own copy: the memo is untouched
        plain = wire.command_pb(AssignCmd(Lease("j1", 1), placed, {}, 1))
        assert plain.assign.spec == to_pb(placed, common_pb2.JobSpec)


def test_a_reply_without_progress_equals_the_plain_conversion() -> None:
    from ffrtmp.core.model import ProgressInfo

    spec = resolve(wire.raw_spec(SPECS[0]))
    for progress in (ProgressInfo(), ProgressInfo(percent=12.5, frame=3, eta_s=4.0)):
        job = Job(id="j", seq=1, spec=spec, state=JobState.QUEUED, created_ms=1,
                  updated_ms=1, progress=progress)
        reply = wire.job_pb(job)
        assert reply.progress == to_pb(progress, common_pb2.Progress)
        assert reply.HasField("progress")  # present, as before: grpcurl shows it
        reply.progress.percent = 99.0  # the caller's copy, not the shared one
        assert wire.job_pb(job).progress == to_pb(progress, common_pb2.Progress)


def test_a_finished_jobs_progress_json_is_what_asdict_gives() -> None:
    import json
    from dataclasses import asdict

    from ffrtmp.core.model import ProgressInfo
    from ffrtmp.master.scheduling.attempts import _progress_json

    for p in (ProgressInfo(), ProgressInfo(percent=100.0, eta_s=0.0, bitrate="1k", frame=9)):
        assert _progress_json(p) == json.dumps(asdict(p))
