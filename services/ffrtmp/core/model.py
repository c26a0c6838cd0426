"""The job model: states, the resolved spec and the job record. Pure data."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ffrtmp.core.tunes import check_tune


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
    BLOCKED = 9  # waiting for its dependencies (a group: for its children)

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def active(self) -> bool:
        """Held by a worker under a lease."""
        return self in ACTIVE


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED})
ACTIVE = frozenset({JobState.ASSIGNED, JobState.RUNNING, JobState.PAUSED})


SpecCheck = Callable[["JobSpec"], None]


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
class Rendition:
    """One rung of an HLS ladder: its own size and video bitrate."""

    width: int
    height: int
    bitrate: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rendition:
        return cls(int(d["width"]), int(d["height"]), str(d["bitrate"]))


def entry(default: Any = None, *, help: str = "", check: SpecCheck | None = None) -> Any:
    """A JobSpec field with what else is known of it: `help` for its generated CLI
    flag (fields with a flag of their own need none) and `check`, called with the
    merged spec when a job is submitted (core.spec), raising InvalidArgument."""
    return field(default=default, metadata={"help": help, "check": check})


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A spec with every field resolved (scenario values filled in).

    The one list of a spec's fields: the proto mapping (ffrtmp.fieldmap), what a
    client sent (core.spec.RawSpec), the merge over a scenario, the stored JSON
    and the CLI's flags and JSON all follow it by name. A field of the same name
    on Scenario is its preset; otherwise an unset field takes the default here.
    """

    scenario: str = ""
    queue: str = "default"
    priority: str = "medium"
    input: str = "lavfi:testsrc2"
    output: str = ""
    codec: str = ""
    bitrate: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    duration_s: float = 0.0
    live: bool = False
    preset: str = ""
    max_retries: int | None = None
    timeout_s: float | None = None
    requirements: Requirements = field(default_factory=Requirements)
    renditions: tuple[Rendition, ...] = ()  # HLS outputs only; empty: one rendition
    threads: int = 0  # ffmpeg -threads; 0 lets ffmpeg choose
    nice: int | None = None  # None: the worker's default
    raw_args: tuple[str, ...] = ()  # extra ffmpeg output options; opt-in workers only
    # The defaults below are what jobs stored before these fields existed ran with.
    gop_s: float = 0.0  # keyframe interval; 0: the encoder's (2 s for live jobs)
    maxrate: str = ""  # rate cap; "": none for file jobs, the bitrate for live ones
    bufsize: str = ""  # its buffer; "": twice the cap
    audio_codec: str = ""  # "aac", "opus" or "none"; "": AAC (Opus in WebM)
    audio_bitrate: str = ""  # "": 128k
    audio_sample_rate: int = 0  # 0: 48000
    audio_channels: int = 0  # 0: as many as the input has
    tune: str = entry(
        "",
        help="the encoder's tune: film, animation, grain, stillimage, psnr, ssim, fastdecode, "
        "zerolatency (x264; x265 most of them), screen (VP9), hq, ll, ull, lossless (NVENC)",
        check=lambda s: check_tune(s.codec, s.tune),
    )
    split: str = ""  # "": one encode; a segment length or "auto" (core.split)
    seek_s: float = 0.0  # start this far into the input
    concat: tuple[str, ...] = ()  # a join: these outputs' video, then input's audio
    split_cuts: tuple[float, ...] = entry(
        (),
        help="a split's cut candidate, seconds into the input (repeatable; the CLI probes "
        "a local input's keyframes itself)",
    )
    passes: int = entry(0, help="2: two-pass rate control with x264 (file outputs with a "
                        "bitrate); 0 or 1: one pass")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        """The inverse of dataclasses.asdict, as stored in SQLite (older rows lack
        the newer fields and get their defaults)."""
        fields = dict(d)
        fields["requirements"] = Requirements.from_dict(fields.get("requirements") or {})
        fields["renditions"] = tuple(Rendition.from_dict(r) for r in d.get("renditions", ()))
        fields["raw_args"] = tuple(d.get("raw_args", ()))
        fields["concat"] = tuple(d.get("concat", ()))
        fields["split_cuts"] = tuple(d.get("split_cuts", ()))
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
    eta_s: float | None = None  # None while unknown (no duration or no speed yet)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream of a finished output, as the worker's probe saw it."""

    index: int
    kind: str  # "video", "audio", "subtitle" or "data"
    codec: str
    width: int = 0
    height: int = 0
    fps: float = 0.0
    sample_rate: int = 0
    channels: str = ""  # ffmpeg's layout name: "mono", "stereo", "5.1", ...
    bitrate_bps: int = 0


@dataclass(frozen=True, slots=True)
class Artifact:
    """One output file stored in the blob store (see core/artifacts.py)."""

    name: str  # relative to the job's output: "out.mp4", "v0/seg_001.ts"
    size_bytes: int
    sha256: str
    content_type: str
    resource: str  # the blob's resource name


@dataclass(frozen=True, slots=True)
class OutputInfo:
    """What a successful run produced: container, length, size and streams, and
    the files stored for download (empty when the output stays on the worker)."""

    format: str
    duration_s: float
    size_bytes: int
    bitrate_bps: int = 0
    streams: tuple[StreamInfo, ...] = ()
    artifacts: tuple[Artifact, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutputInfo:
        """The inverse of dataclasses.asdict, for a JSON column (rows written
        before artifacts existed have none)."""
        fields = dict(d)
        fields["streams"] = tuple(StreamInfo(**s) for s in d.get("streams", ()))
        fields["artifacts"] = tuple(Artifact(**a) for a in d.get("artifacts", ()))
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How one attempt ended: what ffmpeg's run gives, what the worker reports, what
    the master applies."""

    outcome: Outcome
    exit_code: int = -1  # ffmpeg's exact exit status, negative: killed by that signal
    error_class: str = ""  # on FAILED: "transient", "permanent" or "lost" (see retry.py)
    error: str = ""
    log_tail: str = ""
    output: str = ""
    output_bytes: int = 0
    output_info: OutputInfo | None = None


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
    output_info: OutputInfo | None = None  # probed after a success, when the output is local
    not_before_ms: int = 0  # RETRY_WAIT: not to be queued before this time
    retry_base: int = 0  # attempts not charged to max_retries (manual retry, lost ones)
    lost_attempts: int = 0  # attempts lost to the infrastructure (worker lost or fenced)
    owner: str = ""  # who submitted it: an API key's user or a certificate's name
    parent_id: str = ""  # the group this job belongs to
    depends_on: tuple[str, ...] = ()  # queued only once all of these SUCCEEDED
    group: bool = False  # never dispatched: ends when its children (depends_on) end
    events: list[JobEvent] = field(default_factory=list)
    children: list[Job] = field(default_factory=list)  # a group's, when read with them

    @property
    def lease(self) -> Lease:
        return Lease(self.id, self.attempt)
