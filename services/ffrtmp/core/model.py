"""The job model: states, the resolved spec and the job record. Pure data."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class JobState(enum.IntEnum):
    # Numbers match ffrtmp.v1.JobState so conversion is a cast.
    QUEUED = 1
    ASSIGNED = 2
    RUNNING = 3
    SUCCEEDED = 4
    FAILED = 5
    CANCELED = 6
    PAUSED = 7
    RETRY_WAIT = 8

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def active(self) -> bool:
        """Held by a worker under a lease."""
        return self in ACTIVE


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED})
ACTIVE = frozenset({JobState.ASSIGNED, JobState.RUNNING, JobState.PAUSED})


class Outcome(enum.IntEnum):
    SUCCEEDED = 1
    FAILED = 2
    CANCELED = 3


@dataclass(frozen=True, slots=True)
class Requirements:
    """What a worker must offer to run a job, beyond its codec."""

    encoders: tuple[str, ...] = ()
    gpu: bool = False
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Requirements:
        return cls(
            tuple(d.get("encoders", ())),
            bool(d.get("gpu", False)),
            tuple((str(k), str(v)) for k, v in d.get("labels", ())),
        )


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A spec with every field resolved (scenario values filled in)."""

    scenario: str
    queue: str
    priority: str
    input: str
    output: str
    codec: str
    bitrate: str
    width: int
    height: int
    fps: float
    duration_s: float
    live: bool
    preset: str
    max_retries: int | None = None
    timeout_s: float | None = None
    requirements: Requirements = field(default_factory=Requirements)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        """The inverse of dataclasses.asdict, as stored in SQLite."""
        fields = dict(d)
        fields["requirements"] = Requirements.from_dict(fields.get("requirements") or {})
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Lease:
    job_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ProgressInfo:
    percent: float = 0.0
    frame: int = 0
    fps: float = 0.0
    speed: float = 0.0
    out_time_s: float = 0.0
    bitrate: str = ""


@dataclass(frozen=True, slots=True)
class JobEvent:
    at_ms: int
    from_state: JobState | None
    to_state: JobState
    reason: str
    node_id: str
    attempt: int


@dataclass(slots=True)
class Job:
    id: str
    seq: int
    spec: JobSpec
    state: JobState
    created_ms: int
    updated_ms: int
    request_id: str = ""
    node_id: str = ""
    attempt: int = 0
    progress: ProgressInfo = field(default_factory=ProgressInfo)
    exit_code: int = 0
    error: str = ""
    failure_reason: str = ""
    log_tail: str = ""
    output: str = ""
    output_bytes: int = 0
    not_before_ms: int = 0  # RETRY_WAIT: not to be queued before this time
    retry_base: int = 0  # attempts made before the last manual retry
    events: list[JobEvent] = field(default_factory=list)

    @property
    def lease(self) -> Lease:
        return Lease(self.id, self.attempt)
