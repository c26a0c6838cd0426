"""A transient-looking failure that repeats on the same job is not retried for minutes."""

from __future__ import annotations

import pytest

from ffrtmp.core.failures import repeat_key
from ffrtmp.core.retry import Backoff, decide

REFUSED_A = "[out#0/flv @ 0x56] Error opening output rtmp://127.0.0.1:1/x: Connection refused"
REFUSED_B = "Error opening output files: Connection refused"
PREMATURE = "[http @ 0x55d0] Stream ends prematurely at 4096, should be 1048576"
HTTP_EOF = "[in#0 @ 0x55d0] Error opening input: End of file"


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (REFUSED_A, "connection refused"),
        (REFUSED_B, "connection refused"),
        (PREMATURE, "stream ends prematurely"),
        (HTTP_EOF, "end of file"),
        ("Failed to resolve hostname x.invalid: Name or service not known", "unknown host"),
        ("Server returned 503 Service Unavailable", "server error"),
        ("Error: Input/output error", "input/output error"),
        ("node lost", None),  # the infrastructure, not the input
        ("Connection reset by peer", None),  # a peer that was there
        ("Operation timed out", None),
        ("", None),
    ],
)
def test_repeat_keys(error: str, key: str | None) -> None:
    assert repeat_key(error) == key


def _decide(attempt: int, error: str, previous: str) -> bool:
    return decide(
        attempt=attempt,
        max_retries=5,
        error_class="transient",
        backoff=Backoff(),
        rand=0.5,
        error=error,
        previous_error=previous,
    ).retry


@pytest.mark.parametrize(
    ("attempt", "error", "previous", "retry"),
    [
        (1, REFUSED_A, "", True),  # the first failure is retried
        (2, REFUSED_A, REFUSED_A, False),  # the same refusal twice: nobody listens there
        (2, REFUSED_B, REFUSED_A, False),  # same cause, another line (addresses differ)
        (2, PREMATURE, PREMATURE, False),
        (2, HTTP_EOF, HTTP_EOF, False),
        (2, REFUSED_A, PREMATURE, True),  # a different cause: the source is changing
        (2, "node lost", "node lost", True),  # lost workers never make a job permanent
        (2, "Operation timed out", "Operation timed out", True),
    ],
)
def test_a_repeated_cause_ends_the_retries(
    attempt: int, error: str, previous: str, retry: bool
) -> None:
    assert _decide(attempt, error, previous) is retry


def test_the_reason_names_the_repeat() -> None:
    d = decide(attempt=2, max_retries=5, error_class="transient", backoff=Backoff(), rand=0.5,
               error=REFUSED_B, previous_error=REFUSED_A)
    assert not d.retry and "connection refused" in d.reason and "twice" in d.reason
