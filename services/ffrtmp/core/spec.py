"""A submitted spec merged over its scenario, every field checked.

Every problem is an InvalidArgument naming the field, raised before anything is
stored. The checks live by concept: inputs and outputs in core.spec_paths, video
in core.spec_video, audio in core.spec_audio, where and how a job runs in
core.spec_run, codecs in core.encoders and encoder tunes in core.tunes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ffrtmp.core.encoders import check_codec
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec, Rendition, Requirements
from ffrtmp.core.priority import PRIORITY_WEIGHTS, QUEUE_WEIGHTS
from ffrtmp.core.scenarios import BUILTIN, DEFAULT_SCENARIO, Scenario
from ffrtmp.core.spec_audio import Audio, resolve_audio
from ffrtmp.core.spec_paths import check_input, check_output
from ffrtmp.core.spec_run import (
    check_duration,
    check_limits,
    check_raw_args,
    check_requirements,
    choice,
    default_timeout,
)
from ffrtmp.core.spec_split import check_split
from ffrtmp.core.spec_video import (
    check_bitrate,
    check_fps,
    check_gop,
    check_preset,
    check_renditions,
    check_size,
    rate_caps,
)
from ffrtmp.core.tunes import check_tune

__all__ = ["RawSpec", "check_request_id", "default_timeout", "resolve"]

MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True, slots=True)
class RawSpec:
    """A spec as a client sent it: empty strings and zeros mean "from the scenario",
    None "not set". Its fields are JobSpec's (ffrtmp.fieldmap maps both from the proto)."""

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
    tune: str = ""
    split: str = ""
    seek_s: float = 0.0
    concat: tuple[str, ...] = ()


def _scenario(name: str, catalog: dict[str, Scenario]) -> Scenario:
    name = name or DEFAULT_SCENARIO
    if len(name) > 64 or name not in catalog:
        known = ", ".join(sorted(catalog))
        raise InvalidArgument("spec.scenario", f"unknown scenario {name[:64]!r}; known: {known}")
    return catalog[name]


def resolve(raw: RawSpec, catalog: dict[str, Scenario] | None = None) -> JobSpec:
    """Check every field of `raw` and fill the gaps from its scenario. The merged
    values are what is checked, so a bad scenario from a file fails like a bad job."""
    sc = _scenario(raw.scenario, catalog or BUILTIN)
    queue = choice("spec.queue", raw.queue or "default", QUEUE_WEIGHTS)
    priority = choice("spec.priority", raw.priority or "medium", PRIORITY_WEIGHTS)
    codec = raw.codec or sc.codec
    check_codec("spec.codec", codec)
    bitrate = raw.bitrate or sc.bitrate
    check_bitrate("spec.bitrate", bitrate)
    width, height = raw.width or sc.width, raw.height or sc.height
    check_size("spec", width, height)
    fps = raw.fps or sc.fps
    check_fps(fps)
    preset = raw.preset or sc.preset
    check_preset(preset)
    tune = raw.tune or sc.tune
    check_tune(codec, tune)
    check_limits(raw.threads, raw.nice, raw.max_retries, raw.timeout_s)
    check_requirements(raw.requirements)
    live = sc.live if raw.live is None else raw.live
    source = raw.input or "lavfi:testsrc2"
    check_input(source)
    check_output(raw.output)
    check_renditions(raw.renditions, raw.output, live)
    duration = check_duration(
        raw.duration_s or (sc.duration_s if source.startswith("lavfi:") else 0.0)
    )
    gop_s = check_gop(raw.gop_s or sc.gop_s)
    maxrate, bufsize = rate_caps(raw.maxrate, raw.bufsize, bitrate, sc)
    own_audio = Audio(raw.audio_codec, raw.audio_bitrate, raw.audio_sample_rate, raw.audio_channels)
    audio = resolve_audio(own_audio, sc, raw.output, live)
    check_split(raw.split, raw.seek_s, raw.concat)
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
        raw_args=check_raw_args(raw.raw_args),
        gop_s=gop_s,
        maxrate=maxrate,
        bufsize=bufsize,
        audio_codec=audio.codec,
        audio_bitrate=audio.bitrate,
        audio_sample_rate=audio.sample_rate,
        audio_channels=audio.channels,
        tune=tune,
        split=raw.split,
        seek_s=raw.seek_s,
        concat=raw.concat,
    )


def check_request_id(request_id: str) -> None:
    if request_id and not _REQUEST_ID.fullmatch(request_id):
        raise InvalidArgument(
            "request_id", f"must be 1 to {MAX_REQUEST_ID} printable characters without spaces"
        )
