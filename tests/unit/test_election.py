"""The leader's decision (core/election.py) as tables: renew, stay, step down."""

from __future__ import annotations

import pytest

from ffrtmp.core.election import LeaseTiming, Verdict, decide, next_check, renew_budget

T = LeaseTiming(lease_s=10.0, renew_s=3.0)  # margin 1s


@pytest.mark.parametrize(
    ("now", "verdict"),
    [
        (100.0, Verdict.LEADER),  # just renewed
        (102.99, Verdict.LEADER),
        (103.0, Verdict.RENEW),  # a third of the lease on
        (108.99, Verdict.RENEW),  # renews failed so far: keep trying
        (109.0, Verdict.STEP_DOWN),  # renew_start + lease - margin
        (110.0, Verdict.STEP_DOWN),  # the row itself has expired
        (500.0, Verdict.STEP_DOWN),  # woke up long after (SIGSTOP, swap)
    ],
)
def test_decide(now: float, verdict: Verdict) -> None:
    assert decide(now, 100.0, T) is verdict


@pytest.mark.parametrize(
    ("now", "wait"),
    [(100.0, 3.0), (102.0, 1.0), (103.0, 0.0), (108.5, 0.0), (200.0, 0.0)],
)
def test_next_check(now: float, wait: float) -> None:
    assert next_check(now, 100.0, T) == pytest.approx(wait)


def test_a_wide_margin_ends_trust_sooner() -> None:
    t = LeaseTiming(lease_s=10.0, renew_s=2.5, margin_s=4.9)
    assert t.problem() is None
    assert decide(105.0, 100.0, t) is Verdict.RENEW
    assert decide(105.1, 100.0, t) is Verdict.STEP_DOWN


@pytest.mark.parametrize(
    ("now", "budget"), [(103.0, 6.0), (108.0, 1.0), (109.0, 0.0), (120.0, 0.0)]
)
def test_a_renew_may_not_outlast_trust(now: float, budget: float) -> None:
    assert renew_budget(now, 100.0, T) == pytest.approx(budget)


def test_default_margin_is_a_tenth_of_the_lease_at_most_a_second() -> None:
    assert LeaseTiming(lease_s=5.0, renew_s=1.0).margin == pytest.approx(0.5)
    assert LeaseTiming(lease_s=60.0, renew_s=20.0).margin == pytest.approx(1.0)
    assert LeaseTiming(lease_s=60.0, renew_s=20.0).trusted_until(0.0) == pytest.approx(59.0)


@pytest.mark.parametrize(
    ("timing", "problem"),
    [
        (LeaseTiming(10.0, 3.0), None),
        (LeaseTiming(2.0, 0.6), None),
        (LeaseTiming(0.5, 0.1), "--lease must be at least 1s"),
        (LeaseTiming(10.0, 0.0), "--lease-renew must be more than 0s"),
        (LeaseTiming(10.0, -1.0), "--lease-renew must be more than 0s"),
        (LeaseTiming(10.0, 5.0), "--lease-renew 5s is too long for --lease 10s: at most 4.5s"),
        (LeaseTiming(10.0, 3.0, margin_s=5.0), "the lease margin must be under half the lease"),
        (LeaseTiming(float("nan"), 3.0), "--lease must be at least 1s"),
    ],
)
def test_problem(timing: LeaseTiming, problem: str | None) -> None:
    found = timing.problem()
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)
