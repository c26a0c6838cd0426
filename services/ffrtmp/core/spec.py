"""Validate a submitted spec and resolve it against its scenario.

Every problem is an InvalidArgument naming the field, raised before anything is
stored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ffrtmp.core.encoders import FAMILIES, preset_rank
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec, Rendition, Requirements
from ffrtmp.core.outputs import NULL_OUTPUT, OutputKind, hls_layout, output_kind
from ffrtmp.core.priority import PRIORITY_WEIGHTS, QUEUE_WEIGHTS
from ffrtmp.core.scenarios import BUILTIN, DEFAULT_SCENARIO, Scenario

MAX_URL = 2048
MAX_REQUEST_ID = 128
MAX_DURATION_S = 7 * 86400.0
MAX_RETRIES = 100
MAX_REQUIRED = 16
LIVE_TIMEOUT_MARGIN_S = 30.0
MAX_RENDITIONS = 8
MAX_THREADS = 128
MAX_NICE = 19  # only ever lower a transcode's priority: raising it needs privileges

CODEC_FAMILIES = frozenset(FAMILIES)
INPUT_SCHEMES = frozenset({"http", "https", "rtmp", "rtmps", "srt"})
OUTPUT_SCHEMES = frozenset({"rtmp", "rtmps", "srt"})
FILE_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".flv", ".ts"})
# Synthetic sources that read nothing from disk (movie= and friends do).
LAVFI_SOURCES = frozenset(
    {"testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc", "color", "mandelbrot"}
)

_BITRATE = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")
_ENCODER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_PRESET = re.compile(r"^[a-z0-9]{0,16}$")
_LAVFI = re.compile(r"^([a-z0-9]+)(?:=([A-Za-z0-9=:._#x-]{0,200}))?$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
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


def bitrate_bps(text: str) -> int:
    m = _BITRATE.match(text)
    if not m:
        raise ValueError(f"malformed bitrate {text!r}")
    mult = {"": 1, "k": 1000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def _scheme(url: str) -> str | None:
    m = _SCHEME.match(url)
    # A single letter before ':' would be a drive, not a scheme; we have none.
    return m.group(1).lower() if m else None


def _check_text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(field, f"longer than {limit} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidArgument(field, "contains control characters")


def _check_path(field: str, value: str) -> None:
    check_relative(field, value)
    parts = PurePosixPath(value).parts
    if ".." in parts:
        raise InvalidArgument(field, "may not contain '..'")


def _check_input(value: str) -> None:
    field = "spec.input"
    _check_text(field, value, MAX_URL)
    if value.startswith("lavfi:"):
        m = _LAVFI.match(value[len("lavfi:") :])
        if not m or m.group(1) not in LAVFI_SOURCES:
            known = ", ".join(sorted(LAVFI_SOURCES))
            raise InvalidArgument(field, f"lavfi source must be one of {known}, with options")
        return
    scheme = _scheme(value)
    if scheme is not None:
        if scheme not in INPUT_SCHEMES:
            allowed = ", ".join(sorted(INPUT_SCHEMES | {"lavfi"}))
            raise InvalidArgument(field, f"scheme {scheme!r} is not allowed (allowed: {allowed})")
        return
    _check_path(field, value)


def _check_output(value: str) -> None:
    field = "spec.output"
    _check_text(field, value, MAX_URL)
    if not value or value == NULL_OUTPUT:
        return
    scheme = _scheme(value)
    if scheme is not None:
        if scheme not in OUTPUT_SCHEMES:
            allowed = ", ".join([*sorted(OUTPUT_SCHEMES), NULL_OUTPUT])
            raise InvalidArgument(field, f"scheme {scheme!r} is not allowed (allowed: {allowed})")
        return
    _check_path(field, value)
    if output_kind(value, live=False) is OutputKind.HLS:
        try:
            hls_layout(value)
        except ValueError as exc:
            raise InvalidArgument(field, str(exc)) from None
    elif PurePosixPath(value).suffix.lower() not in FILE_EXTENSIONS:
        allowed = ", ".join(sorted(FILE_EXTENSIONS))
        raise InvalidArgument(
            field, f"file extension must be one of {allowed} (or .m3u8 or a trailing / for HLS)"
        )


def _check_size(field: str, width: int, height: int) -> None:
    for name, value, lo, hi in ((".width", width, 16, 7680), (".height", height, 16, 4320)):
        if value and not (lo <= value <= hi and value % 2 == 0):
            raise InvalidArgument(field + name, f"must be an even number from {lo} to {hi}")


def _check_bitrate(field: str, bitrate: str) -> None:
    try:
        bps = bitrate_bps(bitrate)
    except ValueError:
        raise InvalidArgument(
            field, f"malformed bitrate {bitrate[:64]!r} (use e.g. 2500k or 10M)"
        ) from None
    if not 1_000 <= bps <= 1_000_000_000:
        raise InvalidArgument(field, "must be between 1k and 1000M")


def _check_renditions(renditions: tuple[Rendition, ...], output: str, live: bool) -> None:
    if renditions and output_kind(output, live) is not OutputKind.HLS:
        raise InvalidArgument("spec.renditions", "only HLS outputs (.m3u8 or dir/) have renditions")
    if len(renditions) > MAX_RENDITIONS:
        raise InvalidArgument("spec.renditions", f"at most {MAX_RENDITIONS}")
    for i, r in enumerate(renditions):
        field = f"spec.renditions[{i}]"
        if not (r.width and r.height):
            raise InvalidArgument(field, "needs a width and a height")
        _check_size(field, r.width, r.height)
        _check_bitrate(field + ".bitrate", r.bitrate)


def _check_requirements(r: Requirements) -> None:
    if len(r.encoders) > MAX_REQUIRED:
        raise InvalidArgument("spec.requirements.encoders", f"at most {MAX_REQUIRED}")
    for e in r.encoders:
        if not _ENCODER.match(e):
            raise InvalidArgument("spec.requirements.encoders", f"bad encoder name {e[:64]!r}")
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


def resolve(raw: RawSpec, catalog: dict[str, Scenario] | None = None) -> JobSpec:
    """Check every field of `raw` and fill the gaps from its scenario."""
    sc = _scenario(raw.scenario, catalog or BUILTIN)
    queue = raw.queue or "default"
    if queue not in QUEUE_WEIGHTS:
        raise InvalidArgument(
            "spec.queue", f"unknown queue {queue[:64]!r}; use one of " + ", ".join(QUEUE_WEIGHTS)
        )
    priority = raw.priority or "medium"
    if priority not in PRIORITY_WEIGHTS:
        raise InvalidArgument(
            "spec.priority",
            f"unknown priority {priority[:64]!r}; use one of " + ", ".join(PRIORITY_WEIGHTS),
        )
    codec = raw.codec or sc.codec
    if codec not in CODEC_FAMILIES and not _ENCODER.match(codec):
        raise InvalidArgument("spec.codec", f"unknown codec {codec[:64]!r}")
    bitrate = raw.bitrate or sc.bitrate
    _check_bitrate("spec.bitrate", bitrate)
    _check_size("spec", raw.width, raw.height)
    if not math.isfinite(raw.fps) or raw.fps < 0 or raw.fps > 240:
        raise InvalidArgument("spec.fps", "must be between 1 and 240")
    if not math.isfinite(raw.duration_s) or raw.duration_s < 0:
        raise InvalidArgument("spec.duration_s", "must be a non-negative number of seconds")
    if raw.duration_s > MAX_DURATION_S:
        raise InvalidArgument("spec.duration_s", f"must be at most {MAX_DURATION_S:g} seconds")
    if not _PRESET.match(raw.preset):
        raise InvalidArgument("spec.preset", "must be a short lowercase word such as veryfast")
    if preset := raw.preset or sc.preset:
        preset_rank(preset)  # names the field when no encoder would understand it
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
    _check_requirements(raw.requirements)
    live = sc.live if raw.live is None else raw.live
    source = raw.input or "lavfi:testsrc2"
    _check_input(source)
    _check_output(raw.output)
    _check_renditions(raw.renditions, raw.output, live)
    duration = raw.duration_s or (sc.duration_s if source.startswith("lavfi:") else 0.0)
    return JobSpec(
        scenario=sc.name,
        queue=queue,
        priority=priority,
        input=source,
        output=raw.output,
        codec=codec,
        bitrate=bitrate,
        width=raw.width or sc.width,
        height=raw.height or sc.height,
        fps=raw.fps or sc.fps,
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


def check_relative(field: str, value: str) -> None:
    """Paths are relative to the worker's roots; an absolute one names no root."""
    if value.startswith("/") or value.startswith("~"):
        raise InvalidArgument(field, "must be relative to the worker's input or output root")
