"""Validate a submitted spec and resolve it against its scenario.

Every problem is an InvalidArgument naming the field, raised before anything is
stored. Input and output checks live in core.spec_paths, media fields (sizes,
rates, GOP, audio) in core.spec_media.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ffrtmp.core.encoders import check_codec, preset_rank
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec, Rendition, Requirements
from ffrtmp.core.priority import PRIORITY_WEIGHTS, QUEUE_WEIGHTS
from ffrtmp.core.scenarios import BUILTIN, DEFAULT_SCENARIO, Scenario
from ffrtmp.core.spec_media import (
    MAX_RENDITIONS,
    Audio,
    check_bitrate,
    check_gop,
    check_renditions,
    check_size,
    rate_caps,
    resolve_audio,
)
from ffrtmp.core.spec_paths import (
    FILE_EXTENSIONS,
    INPUT_SCHEMES,
    LAVFI_SOURCES,
    MAX_URL,
    OUTPUT_SCHEMES,
    check_input,
    check_output,
    check_relative,
)

__all__ = [
    "FILE_EXTENSIONS",
    "INPUT_SCHEMES",
    "LAVFI_SOURCES",
    "MAX_RENDITIONS",
    "MAX_URL",
    "OUTPUT_SCHEMES",
    "RawSpec",
    "check_relative",
    "check_request_id",
    "default_timeout",
    "resolve",
]

MAX_REQUEST_ID = 128
MAX_DURATION_S = 7 * 86400.0
MAX_RETRIES = 100
MAX_REQUIRED = 16
LIVE_TIMEOUT_MARGIN_S = 30.0
MAX_THREADS = 128
MAX_NICE = 19  # only ever lower a transcode's priority: raising it needs privileges

_PRESET = re.compile(r"^[a-z0-9]{0,16}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True, slots=True)
class RawSpec:
    """A spec as a client sent it: empty strings and zeros mean "from the scenario"."""

    scenario: str = ""
    queue: str = ""
    priority: str = ""
    input: str = ""
    output: str = ""
    codec: str = ""
    bitrate: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    duration_s: float = 0.0
    live: bool | None = None
    max_retries: int | None = None
    preset: str = ""
    timeout_s: float | None = None
    requirements: Requirements = field(default_factory=Requirements)
    renditions: tuple[Rendition, ...] = ()
    threads: int = 0
    nice: int | None = None
    raw_args: tuple[str, ...] = ()
    gop_s: float = 0.0
    maxrate: str = ""
    bufsize: str = ""
    audio_codec: str = ""
    audio_bitrate: str = ""
    audio_sample_rate: int = 0
    audio_channels: int = 0


def _check_requirements(r: Requirements) -> None:
    if len(r.encoders) > MAX_REQUIRED:
        raise InvalidArgument("spec.requirements.encoders", f"at most {MAX_REQUIRED}")
    for e in r.encoders:
        check_codec("spec.requirements.encoders", e, required=True)
    if len(r.labels) > MAX_REQUIRED:
        raise InvalidArgument("spec.requirements.labels", f"at most {MAX_REQUIRED}")
    for k, v in r.labels:
        if not _LABEL.match(k) or len(v) > 128 or not v.isprintable():
            raise InvalidArgument("spec.requirements.labels", f"bad label {k[:64]!r}")


def _scenario(name: str, catalog: dict[str, Scenario]) -> Scenario:
    name = name or DEFAULT_SCENARIO
    if len(name) > 64 or name not in catalog:
        known = ", ".join(sorted(catalog))
        raise InvalidArgument("spec.scenario", f"unknown scenario {name[:64]!r}; known: {known}")
    return catalog[name]


def _choice(field: str, value: str, allowed: dict[str, int]) -> str:
    if value not in allowed:
        raise InvalidArgument(
            field, f"unknown {field[5:]} {value[:64]!r}; use one of " + ", ".join(allowed)
        )
    return value


def _check_limits(raw: RawSpec) -> None:
    if not 0 <= raw.threads <= MAX_THREADS:
        raise InvalidArgument("spec.threads", f"must be from 0 (ffmpeg decides) to {MAX_THREADS}")
    if raw.nice is not None and not 0 <= raw.nice <= MAX_NICE:
        raise InvalidArgument("spec.nice", f"must be from 0 to {MAX_NICE}")
    if raw.max_retries is not None and not 0 <= raw.max_retries <= MAX_RETRIES:
        raise InvalidArgument("spec.max_retries", f"must be from 0 to {MAX_RETRIES}")
    if raw.timeout_s is not None and (
        not math.isfinite(raw.timeout_s) or not 0 < raw.timeout_s <= 2 * MAX_DURATION_S
    ):
        raise InvalidArgument("spec.timeout_s", "must be a positive number of seconds")


def resolve(raw: RawSpec, catalog: dict[str, Scenario] | None = None) -> JobSpec:
    """Check every field of `raw` and fill the gaps from its scenario. The merged
    values are what is checked, so a bad scenario from a file fails like a bad job."""
    sc = _scenario(raw.scenario, catalog or BUILTIN)
    queue = _choice("spec.queue", raw.queue or "default", QUEUE_WEIGHTS)
    priority = _choice("spec.priority", raw.priority or "medium", PRIORITY_WEIGHTS)
    codec = raw.codec or sc.codec
    check_codec("spec.codec", codec)
    bitrate = raw.bitrate or sc.bitrate
    check_bitrate("spec.bitrate", bitrate)
    width, height = raw.width or sc.width, raw.height or sc.height
    check_size("spec", width, height)
    fps = raw.fps or sc.fps
    # 0 (a scenario's) leaves the rate to the input; anything else is a real rate.
    if fps != 0 and not (math.isfinite(fps) and 1 <= fps <= 240):
        raise InvalidArgument("spec.fps", "must be between 1 and 240")
    preset = raw.preset or sc.preset
    if not _PRESET.match(preset):
        raise InvalidArgument("spec.preset", "must be a short lowercase word such as veryfast")
    if preset:
        preset_rank(preset)  # names the field when no encoder would understand it
    _check_limits(raw)
    _check_requirements(raw.requirements)
    live = sc.live if raw.live is None else raw.live
    source = raw.input or "lavfi:testsrc2"
    check_input(source)
    check_output(raw.output)
    check_renditions(raw.renditions, raw.output, live)
    duration = raw.duration_s or (sc.duration_s if source.startswith("lavfi:") else 0.0)
    if not math.isfinite(duration) or duration < 0:
        raise InvalidArgument("spec.duration_s", "must be a non-negative number of seconds")
    if duration > MAX_DURATION_S:
        raise InvalidArgument("spec.duration_s", f"must be at most {MAX_DURATION_S:g} seconds")
    gop_s = check_gop(raw.gop_s or sc.gop_s)
    maxrate, bufsize = rate_caps(raw.maxrate, raw.bufsize, bitrate, sc)
    own_audio = Audio(raw.audio_codec, raw.audio_bitrate, raw.audio_sample_rate, raw.audio_channels)
    audio = resolve_audio(own_audio, sc, raw.output, live)
    return JobSpec(
        scenario=sc.name,
        queue=queue,
        priority=priority,
        input=source,
        output=raw.output,
        codec=codec,
        bitrate=bitrate,
        width=width,
        height=height,
        fps=fps,
        duration_s=duration,
        live=live,
        preset=preset,
        max_retries=raw.max_retries,
        timeout_s=raw.timeout_s if raw.timeout_s is not None else default_timeout(live, duration),
        requirements=raw.requirements,
        renditions=raw.renditions,
        threads=raw.threads,
        nice=raw.nice,
        raw_args=_check_raw_args(raw.raw_args),
        gop_s=gop_s,
        maxrate=maxrate,
        bufsize=bufsize,
        audio_codec=audio.codec,
        audio_bitrate=audio.bitrate,
        audio_sample_rate=audio.sample_rate,
        audio_channels=audio.channels,
    )


def default_timeout(live: bool, duration_s: float) -> float | None:
    """A live job of known length may overrun a little (start-up, reconnects), never
    forever; a file job has no default limit."""
    if not live or duration_s <= 0:
        return None
    return duration_s + max(LIVE_TIMEOUT_MARGIN_S, duration_s * 0.1)


def check_request_id(request_id: str) -> None:
    if request_id and not _REQUEST_ID.match(request_id):
        raise InvalidArgument(
            "request_id", f"must be 1 to {MAX_REQUEST_ID} printable characters without spaces"
        )


MAX_RAW_ARGS = 64


def _check_raw_args(args: tuple[str, ...]) -> tuple[str, ...]:
    """Bounded and printable. What they do is the opting-in worker's risk: only
    workers started with --allow-raw-args take such jobs."""
    if len(args) > MAX_RAW_ARGS:
        raise InvalidArgument("spec.raw_args", f"at most {MAX_RAW_ARGS} arguments")
    for a in args:
        if len(a) > 256 or not a.isprintable():
            raise InvalidArgument("spec.raw_args", "each at most 256 printable characters")
    return args
