"""The job state machine: which transitions are legal."""

from __future__ import annotations

from ffrtmp.core.errors import FailedPrecondition
from ffrtmp.core.model import JobState

Q, A, R, S, F, C, P, W = (
    JobState.QUEUED,
    JobState.ASSIGNED,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.CANCELED,
    JobState.PAUSED,
    JobState.RETRY_WAIT,
)

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    Q: frozenset({A, C}),
    # An assigned or running job may be re-queued when its worker is lost.
    A: frozenset({R, S, F, C, Q, W}),
    R: frozenset({S, F, C, P, Q, W}),
    P: frozenset({R, C, F, Q, W}),
    W: frozenset({Q, C}),
    # A finished job may be retried by hand.
    F: frozenset({Q}),
    C: frozenset({Q}),
    S: frozenset(),
}


def can_transition(src: JobState, dst: JobState) -> bool:
    return dst in TRANSITIONS[src]


def check_transition(src: JobState, dst: JobState) -> None:
    if not can_transition(src, dst):
        raise FailedPrecondition(f"a {src.name} job cannot become {dst.name}")


def check_cancelable(state: JobState) -> None:
    if state.terminal:
        raise FailedPrecondition(
            f"job is already {state.name}; only unfinished jobs can be canceled"
        )
