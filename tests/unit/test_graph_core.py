"""The pure rules of job graphs: when a blocked job may run, a submit's
dependencies, a group's aggregate progress."""

from __future__ import annotations

import pytest

from ffrtmp.core.errors import FailedPrecondition, InvalidArgument
from ffrtmp.core.graph import aggregate, check_dependencies, start_state, verdict
from ffrtmp.core.model import Job, JobSpec, JobState, ProgressInfo

S, F, C, Q, R, B = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED, JobState.QUEUED,
                    JobState.RUNNING, JobState.BLOCKED)


@pytest.mark.parametrize(
    ("group", "deps", "to"),
    [
        (False, {"a": S, "b": S}, Q),
        (True, {"a": S, "b": S}, S),
        (False, {"a": S, "b": R}, None),
        (True, {"a": Q, "b": B}, None),
        (False, {"a": F, "b": R}, F),
        (True, {"a": S, "b": F}, F),
        (False, {"a": C, "b": S}, C),
        (True, {"a": R, "b": C}, C),
        (False, {"a": None}, F),  # deleted meanwhile (retention)
        (True, {}, S),  # a group with nothing to do is done
        (False, {"a": F, "b": C}, F),  # the first listed decides
        (False, {"b": C, "a": F}, C),
    ],
)
def test_verdict(group: bool, deps: dict[str, JobState | None], to: JobState | None) -> None:
    v = verdict(group, deps)
    assert (v.to if v else None) == to


def test_verdict_names_the_culprit() -> None:
    v = verdict(True, {"x2": S, "x1": F, "join": F})
    assert v is not None and v.reason == "child x1 failed"


def _job(job_id: str, owner: str = "ann", state: JobState = S, duration: float = 10.0,
         percent: float = 0.0, created_ms: int = 0) -> Job:
    spec = JobSpec("test", "default", "medium", "", "", "h264", "1M", 64, 36, 25.0, duration,
                   False, "veryfast")
    return Job(job_id, 1, spec, state, created_ms, created_ms, owner=owner,
               progress=ProgressInfo(percent=percent))


def test_dependencies_must_be_known_own_and_listed_once() -> None:
    found = {"a": _job("a"), "b": _job("b", owner="bob")}
    check_dependencies("ann", ["a"], found)
    with pytest.raises(InvalidArgument, match="no job 'b'"):
        check_dependencies("ann", ["b"], found)  # another owner's: reported unknown
    with pytest.raises(InvalidArgument, match="no job 'z'"):
        check_dependencies("ann", ["z"], found)
    with pytest.raises(InvalidArgument, match="listed twice"):
        check_dependencies("ann", ["a", "a"], found)
    with pytest.raises(InvalidArgument, match="at most"):
        check_dependencies("ann", [str(i) for i in range(1001)], found)


def test_start_state() -> None:
    assert start_state({}) == Q
    assert start_state({"a": S}) == Q
    assert start_state({"a": S, "b": R}) == B
    with pytest.raises(FailedPrecondition, match="dependency b"):
        start_state({"a": S, "b": F})


def test_aggregate_weights_by_length_and_projects_an_eta() -> None:
    kids = [
        _job("a", state=S, duration=30.0),
        _job("b", state=R, duration=10.0, percent=50.0),
        _job("c", state=Q, duration=10.0),
    ]
    agg = aggregate(kids, now_ms=70_000)
    # (30 + 5) of 50 seconds of media.
    assert agg.percent == 70.0 and (agg.done, agg.running, agg.total) == (1, 1, 3)
    assert agg.eta_s == pytest.approx(30.0)  # 70 s for 70 %: 30 s for the rest
    assert aggregate([_job("a", state=S)], 5).eta_s == 0.0
    assert aggregate([_job("a", state=Q)], 5).eta_s is None


def test_a_splits_audio_and_join_weigh_a_twentieth_of_their_length() -> None:
    from dataclasses import replace

    seg, audio, join = (_job("s", state=S, duration=60.0), _job("a", state=Q),
                         _job("j", state=B))
    audio.spec = replace(audio.spec, duration_s=60.0, split="audio")
    join.spec = replace(join.spec, duration_s=60.0, split="join", concat=("p.mp4",))
    # 60 of 66 seconds' worth: the segments are done, the audio and join are not.
    assert aggregate([seg, audio, join], 5).percent == pytest.approx(100 * 60 / 66, abs=0.01)
