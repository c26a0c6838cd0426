"""A submitted spec merged over its scenario, every field checked.

Every problem is an InvalidArgument naming the field, raised before anything is
stored. The checks live by concept: inputs and outputs in core.spec_paths, video
in core.spec_video, audio in core.spec_audio, where and how a job runs in
core.spec_run, codecs in core.encoders and encoder tunes in core.tunes.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any

from ffrtmp.core.cuts import check_candidates
from ffrtmp.core.encoders import check_codec
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.memo import ByIdentity
from ffrtmp.core.model import JobSpec
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
    check_passes,
    check_preset,
    check_renditions,
    check_size,
    rate_caps,
)

__all__ = ["RawSpec", "check_request_id", "default_timeout", "resolve"]

MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


class RawSpec(Mapping[str, Any]):
    """A spec as a client sent it: the JobSpec fields it set, by name. None is
    "not set", and so are an empty string, a zero and an empty list, except for
    fields that may be None in a JobSpec, and bools, whose zero is a value.

    `key`, when not empty, is the spec as the client's bytes: equal keys are
    equal specs, so a spec resolved once is looked up by it (see `from_wire`)."""

    __slots__ = ("_build", "_given", "key")

    def __init__(self, **given: Any) -> None:
        unknown = given.keys() - _FIELDS.keys()
        if unknown:
            raise TypeError(f"not JobSpec fields: {', '.join(sorted(unknown))}")
        self._given: dict[str, Any] | None = {k: v for k, v in given.items() if v is not None}
        self._build: Callable[[], dict[str, Any]] | None = None
        self.key = b""

    @classmethod
    def from_wire(cls, key: bytes, build: Callable[[], dict[str, Any]]) -> RawSpec:
        """A spec whose fields are read (`build`) only when asked for: a spec
        found resolved by its `key` is never converted field by field."""
        raw = cls.__new__(cls)
        raw._given, raw._build, raw.key = None, build, key
        return raw

    def _fields(self) -> dict[str, Any]:
        if self._given is None:
            assert self._build is not None
            self._given = RawSpec(**self._build())._given
        assert self._given is not None
        return self._given

    def __getitem__(self, name: str) -> Any:
        return self._fields()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())

    def __repr__(self) -> str:
        return f"RawSpec({', '.join(f'{k}={v!r}' for k, v in self._fields().items())})"

    def set(self, name: str) -> Any:
        """The value sent for `name`, or None when it is not set."""
        given = self._given if self._given is not None else self._fields()
        value = given.get(name)
        return value if value or name in _PRESENCE else None

    def sent(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of each field that is set, as `set` would give them."""
        given = self._given if self._given is not None else self._fields()
        return ((k, v) for k, v in given.items() if v or k in _PRESENCE)


_FIELDS = {f.name: f for f in fields(JobSpec)}
_HINTS = typing.get_type_hints(JobSpec)
# Fields whose zero is a value of its own: None-able ones (nice=0 is a nice level)
# and bools (live=False is a file job even under a live scenario).
_PRESENCE = frozenset(
    n for n, h in _HINTS.items() if h is bool or type(None) in typing.get_args(h)
)
_PRESETS = frozenset(f.name for f in fields(Scenario)) & _FIELDS.keys()
_CHECKS = tuple(c for f in fields(JobSpec) if (c := f.metadata.get("check")) is not None)


_DEFAULTS = JobSpec()


def _presets(sc: Scenario) -> dict[str, Any]:
    """Every JobSpec field as a job that sets none gets it from `sc`."""
    return {
        name: getattr(sc, name) if name in _PRESETS else getattr(_DEFAULTS, name)
        for name in _FIELDS
    }


_presets_of: ByIdentity[Scenario, dict[str, Any]] = ByIdentity(_presets, size=64)


def merged(raw: RawSpec, sc: Scenario) -> dict[str, Any]:
    """Every JobSpec field: what the client set, else the scenario's, else the
    JobSpec default. (A copy of the scenario's fields with the client's over them:
    a client sets a few of some fifty.)"""
    out = dict(_presets_of(sc))
    out.update(raw.sent())
    return out


def _scenario(name: str, catalog: dict[str, Scenario]) -> Scenario:
    name = name or DEFAULT_SCENARIO
    if len(name) > 64 or name not in catalog:
        known = ", ".join(sorted(catalog))
        raise InvalidArgument("spec.scenario", f"unknown scenario {name[:64]!r}; known: {known}")
    return catalog[name]


def resolve(raw: RawSpec, catalog: dict[str, Scenario] | None = None) -> JobSpec:
    """Check every field of `raw` and fill the gaps from its scenario. The merged
    values are what is checked, so a bad scenario from a file fails like a bad job.

    Below are the fields with a rule of their own; every other field is merged
    by name and checked by its JobSpec entry's `check`."""
    sc = _scenario(raw.set("scenario") or "", catalog or BUILTIN)
    v = merged(raw, sc)
    v["scenario"] = sc.name
    choice("spec.queue", v["queue"], QUEUE_WEIGHTS)
    choice("spec.priority", v["priority"], PRIORITY_WEIGHTS)
    check_codec("spec.codec", v["codec"])
    check_bitrate("spec.bitrate", v["bitrate"])
    check_size("spec", v["width"], v["height"])
    check_fps(v["fps"])
    check_preset(v["preset"])
    check_limits(v["threads"], v["nice"], v["max_retries"], v["timeout_s"])
    check_requirements(v["requirements"])
    check_input(v["input"])
    check_output(v["output"])
    check_renditions(v["renditions"], v["output"], v["live"])
    # A real input keeps its own length; the scenario's is a synthetic source's.
    synthetic = sc.duration_s if v["input"].startswith("lavfi:") else 0.0
    v["duration_s"] = check_duration(raw.set("duration_s") or synthetic)
    check_gop(v["gop_s"])
    v["maxrate"], v["bufsize"] = rate_caps(
        raw.set("maxrate") or "", raw.set("bufsize") or "", v["bitrate"], sc
    )
    own = Audio(
        raw.set("audio_codec") or "",
        raw.set("audio_bitrate") or "",
        raw.set("audio_sample_rate") or 0,
        raw.set("audio_channels") or 0,
    )
    a = resolve_audio(own, sc, v["output"], v["live"])
    v.update(
        audio_codec=a.codec,
        audio_bitrate=a.bitrate,
        audio_sample_rate=a.sample_rate,
        audio_channels=a.channels,
    )
    if v["timeout_s"] is None:
        v["timeout_s"] = default_timeout(v["live"], v["duration_s"])
    check_raw_args(v["raw_args"])
    check_split(v["split"], v["seek_s"], v["concat"])
    check_candidates(v["split_cuts"])
    check_passes(v["passes"], v["codec"], v["bitrate"], v["live"], v["output"])
    spec = JobSpec(**v)
    for check in _CHECKS:
        check(spec)
    return spec


def check_request_id(request_id: str) -> None:
    if request_id and not _REQUEST_ID.fullmatch(request_id):
        raise InvalidArgument(
            "request_id", f"must be 1 to {MAX_REQUEST_ID} printable characters without spaces"
        )
