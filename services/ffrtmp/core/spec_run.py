"""Checks of where and how a job runs: its queue and priority, retries and
timeout, threads and nice level, the worker it needs and raw ffmpeg arguments.

core.spec calls them; each problem is an InvalidArgument naming the field.
"""

from __future__ import annotations

import math
import re

from ffrtmp.core.encoders import check_codec
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import Requirements

MAX_DURATION_S = 7 * 86400.0
MAX_RETRIES = 100
MAX_REQUIRED = 16
MAX_THREADS = 128
MAX_NICE = 19  # only ever lower a transcode's priority: raising it needs privileges
MAX_RAW_ARGS = 64
LIVE_TIMEOUT_MARGIN_S = 30.0

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,62}")


def choice(field: str, value: str, allowed: dict[str, int]) -> str:
    if value not in allowed:
        raise InvalidArgument(
            field, f"unknown {field[5:]} {value[:64]!r}; use one of " + ", ".join(allowed)
        )
    return value


def check_limits(
    threads: int, nice: int | None, max_retries: int | None, timeout_s: float | None
) -> None:
    if not 0 <= threads <= MAX_THREADS:
        raise InvalidArgument("spec.threads", f"must be from 0 (ffmpeg decides) to {MAX_THREADS}")
    if nice is not None and not 0 <= nice <= MAX_NICE:
        raise InvalidArgument("spec.nice", f"must be from 0 to {MAX_NICE}")
    if max_retries is not None and not 0 <= max_retries <= MAX_RETRIES:
        raise InvalidArgument("spec.max_retries", f"must be from 0 to {MAX_RETRIES}")
    if timeout_s is not None and (
        not math.isfinite(timeout_s) or not 0 < timeout_s <= 2 * MAX_DURATION_S
    ):
        raise InvalidArgument("spec.timeout_s", "must be a positive number of seconds")


def check_duration(duration: float) -> float:
    if not math.isfinite(duration) or duration < 0:
        raise InvalidArgument("spec.duration_s", "must be a non-negative number of seconds")
    if duration > MAX_DURATION_S:
        raise InvalidArgument("spec.duration_s", f"must be at most {MAX_DURATION_S:g} seconds")
    return duration


def default_timeout(live: bool, duration_s: float) -> float | None:
    """A live job of known length may overrun a little (start-up, reconnects), never
    forever; a file job has no default limit."""
    if not live or duration_s <= 0:
        return None
    return duration_s + max(LIVE_TIMEOUT_MARGIN_S, duration_s * 0.1)


def check_requirements(r: Requirements) -> None:
    if len(r.encoders) > MAX_REQUIRED:
        raise InvalidArgument("spec.requirements.encoders", f"at most {MAX_REQUIRED}")
    for e in r.encoders:
        check_codec("spec.requirements.encoders", e, required=True)
    if len(r.labels) > MAX_REQUIRED:
        raise InvalidArgument("spec.requirements.labels", f"at most {MAX_REQUIRED}")
    for k, v in r.labels:
        if not _LABEL.fullmatch(k) or len(v) > 128 or not v.isprintable():
            raise InvalidArgument("spec.requirements.labels", f"bad label {k[:64]!r}")


def check_raw_args(args: tuple[str, ...]) -> tuple[str, ...]:
    """Bounded and printable. What they do is the opting-in worker's risk: only
    workers started with --allow-raw-args take such jobs."""
    if len(args) > MAX_RAW_ARGS:
        raise InvalidArgument("spec.raw_args", f"at most {MAX_RAW_ARGS} arguments")
    for a in args:
        if len(a) > 256 or not a.isprintable():
            raise InvalidArgument("spec.raw_args", "each at most 256 printable characters")
    return args
