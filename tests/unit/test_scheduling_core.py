"""The pure core: priority order, the pending queue, the state machine, retries."""

from __future__ import annotations

import itertools

import pytest

from ffrtmp.core.durations import parse_duration
from ffrtmp.core.errors import FailedPrecondition
from ffrtmp.core.model import JobState
from ffrtmp.core.priority import heap_key, score
from ffrtmp.core.queue import JobQueue
from ffrtmp.core.retry import Backoff, decide
from ffrtmp.core.states import can_transition, check_cancelable, check_transition

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


def test_queue_pops_by_score_then_fifo() -> None:
    q = JobQueue()
    submitted = [
        ("a", "batch", "high"),
        ("b", "live", "low"),
        ("c", "default", "high"),
        ("d", "live", "low"),
        ("e", "live", "high"),
        ("f", "batch", "high"),
    ]
    for seq, (job_id, queue, prio) in enumerate(submitted):
        q.push(job_id, queue, prio, seq)
    popped = [q.pop() for _ in range(len(submitted))]
    assert popped == ["e", "b", "d", "c", "a", "f"]
    assert q.pop() is None and len(q) == 0


def test_any_live_job_outranks_any_default_job() -> None:
    lows = [heap_key("live", "low", seq) for seq in range(100, 110)]
    highs = [heap_key("default", "high", seq) for seq in range(10)]
    assert max(lows) < min(highs)


def test_queue_removal_is_lazy_and_exact() -> None:
    q = JobQueue()
    for i, job_id in enumerate("abcd"):
        q.push(job_id, "default", "medium", i)
    assert q.remove("b") and not q.remove("b")
    assert "b" not in q and len(q) == 3
    q.push("a", "live", "high", 99)  # already queued: no duplicate
    assert [q.pop(), q.pop(), q.pop(), q.pop()] == ["a", "c", "d", None]


def test_removed_job_can_be_queued_again() -> None:
    q = JobQueue()
    q.push("x", "batch", "low", 1)
    q.remove("x")
    q.push("x", "batch", "low", 1)
    assert q.pop() == "x"


LEGAL = {
    (S.QUEUED, S.ASSIGNED),
    (S.QUEUED, S.CANCELED),
    (S.ASSIGNED, S.RUNNING),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELED),
    (S.RUNNING, S.PAUSED),
    (S.PAUSED, S.RUNNING),
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
