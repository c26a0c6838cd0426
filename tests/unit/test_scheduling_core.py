"""The pure core: priority order, the pending queue, the state machine, retries."""

from __future__ import annotations

import itertools

import pytest

from ffrtmp.core.durations import parse_duration
from ffrtmp.core.errors import FailedPrecondition
from ffrtmp.core.model import ACTIVE, JobState
from ffrtmp.core.priority import QUEUE_CLASSES, heap_key, score
from ffrtmp.core.queue import PendingJobs
from ffrtmp.core.retry import Backoff, decide
from ffrtmp.core.states import (
    can_transition,
    check_cancelable,
    check_changes,
    check_transition,
)

S = JobState


@pytest.mark.parametrize(
    ("queue", "priority", "expected"),
    [
        ("live", "high", 103),
        ("live", "medium", 102),
        ("live", "low", 101),
        ("default", "high", 53),
        ("default", "medium", 52),
        ("default", "low", 51),
        ("batch", "high", 13),
        ("batch", "medium", 12),
        ("batch", "low", 11),
    ],
)
def test_seed_scores(queue: str, priority: str, expected: int) -> None:
    assert score(queue, priority) == expected


CPU = frozenset({"codec:h264"})


def _queue(jobs: list[tuple[str, str, str]], needs: frozenset[str] = CPU) -> PendingJobs:
    q = PendingJobs()
    for seq, (job_id, queue, prio) in enumerate(jobs):
        q.push(job_id, needs, heap_key(queue, prio, seq), queue, prio, seq)
    return q


def _drain(q: PendingJobs, offer: frozenset[str] = CPU) -> list[str]:
    out = []
    while (popped := q.pop_for(offer)) is not None:
        out.append(popped[0])
    return out


def test_queue_pops_by_score_then_fifo() -> None:
    submitted = [
        ("a", "batch", "high"),
        ("b", "live", "low"),
        ("c", "default", "high"),
        ("d", "live", "low"),
        ("e", "live", "high"),
        ("f", "batch", "high"),
    ]
    q = _queue(submitted)
    assert _drain(q) == ["e", "b", "d", "c", "a", "f"]
    assert len(q) == 0


def test_any_live_job_outranks_any_default_job() -> None:
    lows = [heap_key("live", "low", seq) for seq in range(100, 110)]
    highs = [heap_key("default", "high", seq) for seq in range(10)]
    assert max(lows) < min(highs)


def test_queue_removal_is_lazy_and_exact() -> None:
    q = _queue([(j, "default", "medium") for j in "abcd"])
    assert q.remove("b") and not q.remove("b")
    assert "b" not in q and len(q) == 3
    q.push("a", CPU, heap_key("live", "high", 99), "live", "high", 99)  # queued: no duplicate
    assert _drain(q) == ["a", "c", "d"]


def test_removed_job_can_be_queued_again_with_a_new_key() -> None:
    q = _queue([("x", "batch", "low"), ("y", "batch", "low")])
    q.remove("x")
    q.push("x", CPU, heap_key("live", "high", 5), "live", "high", 5)
    assert _drain(q) == ["x", "y"]


def test_gpu_job_at_the_head_never_blocks_cpu_workers() -> None:
    gpu = frozenset({"codec:h264", "gpu"})
    q = PendingJobs()
    q.push("g", gpu, heap_key("live", "high", 0), "live", "high", 0)
    q.push("c1", CPU, heap_key("batch", "low", 1), "batch", "low", 1)
    q.push("c2", CPU, heap_key("batch", "low", 2), "batch", "low", 2)
    cpu_worker = frozenset({"codec:h264", "encoder:libx264"})
    assert _drain(q, cpu_worker) == ["c1", "c2"]
    gpu_worker = cpu_worker | {"gpu"}
    assert _drain(q, gpu_worker) == ["g"]


def test_a_worker_takes_the_best_head_among_heaps_it_satisfies() -> None:
    q = PendingJobs()
    eu = frozenset({"codec:h264", "label:zone=eu"})
    q.push("eu-low", eu, heap_key("batch", "low", 0), "batch", "low", 0)
    q.push("any-high", CPU, heap_key("default", "high", 1), "default", "high", 1)
    q.push("eu-live", eu, heap_key("live", "medium", 2), "live", "medium", 2)
    worker = frozenset({"codec:h264", "label:zone=eu"})
    assert _drain(q, worker) == ["eu-live", "any-high", "eu-low"]
    assert q.needs_sets() == {}


def test_stats_count_depth_and_oldest() -> None:
    q = PendingJobs()
    q.push("a", CPU, heap_key("live", "high", 0), "live", "high", 1000)
    q.push("b", CPU, heap_key("live", "high", 1), "live", "high", 2000)
    q.push("c", CPU, heap_key("batch", "low", 2), "batch", "low", 500)
    assert q.depth() == {("live", "high"): 2, ("batch", "low"): 1}
    assert q.oldest_ms() == {"live": 1000, "batch": 500}
    q.remove("a")
    assert q.depth()[("live", "high")] == 1 and q.oldest_ms()["live"] == 2000


def test_aging_lets_a_batch_job_through_a_stream_of_live_jobs() -> None:
    """With aging, the batch/low job runs although live/high jobs keep arriving
    faster than they are served; without it, it would wait forever."""
    interval = 1.0
    for aging, expect_served in ((interval, True), (0.0, False)):
        q = PendingJobs()
        q.push(
            "old",
            CPU,
            heap_key("batch", "low", 0, enqueued_ms=0, aging_interval_s=aging),
            "batch",
            "low",
            0,
        )
        served, seq = [], 1
        for t_ms in range(0, 200_000, 500):  # two live jobs arrive per job served
            for _ in range(2):
                q.push(
                    f"live{seq}",
                    CPU,
                    heap_key("live", "high", seq, enqueued_ms=t_ms, aging_interval_s=aging),
                    "live",
                    "high",
                    t_ms,
                )
                seq += 1
            popped = q.pop_for(CPU)
            assert popped is not None
            served.append(popped[0])
        assert ("old" in served) is expect_served
    # Waiting 92 intervals lifts batch/low (11) above a fresh live/high (103).
    assert served  # (from the last loop)


def test_aging_keeps_fifo_within_a_score() -> None:
    q = PendingJobs()
    for seq in range(5):
        q.push(
            f"j{seq}",
            CPU,
            heap_key("default", "medium", seq, enqueued_ms=seq * 10, aging_interval_s=2.0),
            "default",
            "medium",
            seq * 10,
        )
    assert _drain(q) == [f"j{i}" for i in range(5)]


def test_matching_tokens() -> None:
    from ffrtmp.core.matching import offers, requirements
    from ffrtmp.core.model import JobSpec, Requirements

    o = offers(["libx264", "hevc_nvenc", "aac"], 1, {"zone": "eu"})
    assert {"codec:h264", "codec:h265", "encoder:hevc_nvenc", "gpu", "label:zone=eu"} <= o
    spec = JobSpec(
        "s",
        "default",
        "medium",
        "lavfi:testsrc2",
        "",
        "h265",
        "1M",
        0,
        0,
        0,
        0,
        False,
        "",
        requirements=Requirements(("hevc_nvenc",), True, (("zone", "eu"),)),
    )
    assert requirements(spec) == {"codec:h265", "encoder:hevc_nvenc", "gpu", "label:zone=eu"}
    assert requirements(spec) <= o
    assert not requirements(spec) <= offers(["libx264", "libx265"], 0, {})


LEGAL = {
    (S.QUEUED, S.ASSIGNED),
    (S.QUEUED, S.CANCELED),
    (S.ASSIGNED, S.RUNNING),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELED),
    (S.RUNNING, S.PAUSED),
    (S.PAUSED, S.RUNNING),
    (S.PAUSED, S.SUCCEEDED),  # the run ended before the pause reached it
    (S.RUNNING, S.QUEUED),
    (S.RUNNING, S.RETRY_WAIT),
    (S.RETRY_WAIT, S.QUEUED),
    (S.FAILED, S.QUEUED),
    (S.CANCELED, S.QUEUED),
}
ILLEGAL = {
    (S.SUCCEEDED, S.QUEUED),
    (S.SUCCEEDED, S.RUNNING),
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.SUCCEEDED),
    (S.FAILED, S.RUNNING),
    (S.CANCELED, S.SUCCEEDED),
    (S.RETRY_WAIT, S.RUNNING),
    (S.QUEUED, S.PAUSED),
}


@pytest.mark.parametrize(("src", "dst"), sorted(LEGAL))
def test_legal_transitions(src: JobState, dst: JobState) -> None:
    assert can_transition(src, dst)
    check_transition(src, dst)


@pytest.mark.parametrize(("src", "dst"), sorted(ILLEGAL))
def test_illegal_transitions(src: JobState, dst: JobState) -> None:
    assert not can_transition(src, dst)
    with pytest.raises(FailedPrecondition):
        check_transition(src, dst)


def test_nothing_leaves_succeeded_and_terminal_states_are_exactly_three() -> None:
    assert {s for s in S if s.terminal} == {S.SUCCEEDED, S.FAILED, S.CANCELED}
    assert not any(can_transition(S.SUCCEEDED, d) for d in S)
    for src, dst in itertools.product(S, S):
        if src == dst:
            assert not can_transition(src, dst)


def test_changes_the_table_forbids_are_refused_before_the_store() -> None:
    check_changes(ACTIVE, S.SUCCEEDED)
    with pytest.raises(ValueError, match="SUCCEEDED from QUEUED"):
        check_changes({S.QUEUED, S.RUNNING}, S.SUCCEEDED)


@pytest.mark.parametrize("state", [S.SUCCEEDED, S.FAILED, S.CANCELED])
def test_finished_jobs_cannot_be_canceled(state: JobState) -> None:
    with pytest.raises(FailedPrecondition, match="already"):
        check_cancelable(state)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10),
        ("2m", 120),
        ("1h", 3600),
        ("7d", 604800),
        ("1m30s", 90),
        ("30", 30),
        ("0.25", 0.25),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten", "5x", "-3", "10s5", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("failures", "expected"), [(1, 5), (2, 10), (3, 20), (6, 160), (7, 300), (20, 300)]
)
def test_backoff_doubles_to_a_cap(failures: int, expected: float) -> None:
    assert Backoff(jitter=0).delay(failures, 0.5) == expected


def test_backoff_jitter_stays_in_band() -> None:
    b = Backoff()
    assert b.delay(1, 0.0) == pytest.approx(4.0)
    assert b.delay(1, 0.999999) == pytest.approx(6.0, abs=1e-4)


@pytest.mark.parametrize(
    ("attempt", "max_retries", "cls", "retry"),
    [
        (1, 3, "transient", True),
        (3, 3, "transient", True),
        (4, 3, "transient", False),
        (1, 3, "permanent", False),
        (1, 0, "transient", False),
    ],
)
def test_retry_decisions(attempt: int, max_retries: int, cls: str, retry: bool) -> None:
    d = decide(
        attempt=attempt, max_retries=max_retries, error_class=cls, backoff=Backoff(), rand=0.5
    )
    assert d.retry is retry
    if retry:
        assert d.delay_s == pytest.approx(Backoff().delay(attempt, 0.5))


def test_node_loss_retries_immediately() -> None:
    d = decide(
        attempt=1,
        max_retries=3,
        error_class="transient",
        backoff=Backoff(),
        rand=0.5,
        immediate=True,
    )
    assert d.retry and d.delay_s == 0


def test_bulk_load_orders_like_pushes() -> None:
    import random

    rng = random.Random(3)
    jobs = []
    for seq in range(500):
        queue = rng.choice(["live", "default", "batch"])
        prio = rng.choice(["high", "medium", "low"])
        needs = rng.choice([CPU, frozenset({"codec:h264", "gpu"})])
        jobs.append((f"j{seq}", needs, heap_key(queue, prio, seq), queue, prio, seq))
    pushed, loaded = PendingJobs(), PendingJobs()
    for j in rng.sample(jobs, len(jobs)):
        pushed.push(*j)
    loaded.load(rng.sample(jobs, len(jobs)))
    assert loaded.depth() == pushed.depth() and loaded.needs_sets() == pushed.needs_sets()
    gpu_worker = frozenset({"codec:h264", "gpu"})
    assert _drain(loaded, gpu_worker) == _drain(pushed, gpu_worker)


def test_bulk_load_keeps_jobs_already_queued_and_ids_given_twice_once() -> None:
    q = PendingJobs()
    q.push("a", CPU, heap_key("batch", "low", 1), "batch", "low", 1)
    q.load([
        ("a", CPU, heap_key("live", "high", 9), "live", "high", 9),  # already queued
        ("b", CPU, heap_key("default", "medium", 2), "default", "medium", 2),
    ])
    assert len(q) == 2 and q.depth() == {("batch", "low"): 1, ("default", "medium"): 1}
    q.load([
        ("c", CPU, heap_key("live", "high", 3), "live", "high", 3),
        ("c", CPU, heap_key("batch", "low", 4), "batch", "low", 4),
    ])
    assert len(q) == 3 and q.depth()[("live", "high")] == 1 and q.depth()[("batch", "low")] == 1
    assert _drain(q, CPU) == ["c", "b", "a"]


def test_class_ranks_follow_the_scores() -> None:
    """Without aging a heap key starts with the class's rank: rank order must be
    score order, best first."""
    scores = [score(q, p) for q, p in QUEUE_CLASSES]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert [heap_key(q, p, 0)[0] for q, p in QUEUE_CLASSES] == list(range(len(QUEUE_CLASSES)))
