"""The job state machine: which transitions are legal. The scheduler checks
every change it asks the store for against this table."""

from __future__ import annotations

from collections.abc import Iterable

from ffrtmp.core.errors import FailedPrecondition
from ffrtmp.core.model import JobState

Q, A, R, S, F, C, P, W, B = (
    JobState.QUEUED,
    JobState.ASSIGNED,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.CANCELED,
    JobState.PAUSED,
    JobState.RETRY_WAIT,
    JobState.BLOCKED,
)

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    Q: frozenset({A, C}),
    # An assigned or running job may be re-queued when its worker is lost.
    A: frozenset({R, S, F, C, Q, W}),
    R: frozenset({S, F, C, P, Q, W}),
    # A run may end before the pause reaches its worker: its result still counts.
    P: frozenset({R, S, F, C, Q, W}),
    W: frozenset({Q, C}),
    # A finished job may be retried by hand (blocked again if a dependency is not done).
    F: frozenset({Q, B}),
    C: frozenset({Q, B}),
    S: frozenset(),
    # Its dependencies decide: all succeeded (a group succeeds), one failed or canceled.
    B: frozenset({Q, S, F, C}),
}


def can_transition(src: JobState, dst: JobState) -> bool:
    return dst in TRANSITIONS[src]


def check_transition(src: JobState, dst: JobState) -> None:
    if not can_transition(src, dst):
        raise FailedPrecondition(f"a {src.name} job cannot become {dst.name}")


def check_changes(sources: Iterable[JobState], dst: JobState) -> None:
    """A change expecting a job in `sources` to become `dst`: every one of those
    steps must be legal. Raises ValueError (a bug in the caller) otherwise."""
    bad = [src.name for src in sources if dst not in TRANSITIONS[src]]
    if bad:
        raise ValueError(f"illegal transition to {dst.name} from {', '.join(sorted(bad))}")


def check_cancelable(state: JobState) -> None:
    if state.terminal:
        raise FailedPrecondition(
            f"job is already {state.name}; only unfinished jobs can be canceled"
        )
