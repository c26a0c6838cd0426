"""The spec's one mapping: every proto field is a field of the domain types, has
a CLI flag, and survives CLI → proto → domain → proto. A field added to the
proto but missed anywhere on that path fails here."""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf.message import Message

from ffrtmp import fieldmap, wire
from ffrtmp.cli.main import parser
from ffrtmp.cli.media_output import message_dict
from ffrtmp.cli.output import job_dict
from ffrtmp.cli.submit import spec_from
from ffrtmp.core.model import JobSpec
from ffrtmp.core.scenarios import BUILTIN, Scenario
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.master import catalog
from ffrtmp.v1 import common_pb2, jobs_pb2

# One value for every JobSpec field, each unlike its default, valid together.
EVERY_FIELD = [
    *["--scenario", "test", "--queue", "batch", "--priority", "low"],
    *["--input", "lavfi:testsrc2", "--output", "hls/all/", "--live", "--duration", "2"],
    *["--codec", "libx264", "--bitrate", "300k", "--maxrate", "600k", "--bufsize", "1200k"],
    *["--width", "320", "--height", "240", "--fps", "10", "--preset", "fast", "--gop", "1"],
    *["--tune", "film", "--rendition", "320x240@300k"],
    *["--audio-codec", "aac", "--audio-bitrate", "64k", "--audio-sample-rate", "44100"],
    *["--audio-channels", "1", "--require-encoder", "libx264", "--require-gpu"],
    *["--require-label", "zone=eu", "--threads", "2", "--nice", "3", "--max-retries", "4"],
    *["--timeout", "60", "--raw-arg=-x264opts", "--raw-arg", "keyint=20"],
    *["--split", "10s", "--seek", "1.5", "--concat", "parts/a.mp4", "--concat", "parts/b.mp4"],
]


def _set(m: Message) -> set[str]:
    return {d.name for d, _ in m.ListFields()}


def _unset(msg: common_pb2.JobSpec) -> set[str]:
    """Fields left at their default, the requirements' own included."""
    r = msg.requirements
    inner = {f"requirements.{f.name}" for f in r.DESCRIPTOR.fields if f.name not in _set(r)}
    return {f.name for f in msg.DESCRIPTOR.fields} - _set(msg) | inner


@pytest.mark.parametrize("cls", [JobSpec, RawSpec])
def test_spec_dataclasses_carry_every_proto_field(cls: type) -> None:
    assert fieldmap.unmapped(cls, common_pb2.JobSpec.DESCRIPTOR) == set()
    fieldmap.plan(cls, common_pb2.JobSpec.DESCRIPTOR)  # and every field of theirs is one


def test_scenarios_carry_every_proto_field_and_toml_key() -> None:
    assert fieldmap.unmapped(Scenario, jobs_pb2.Scenario.DESCRIPTOR) == set()
    fieldmap.plan(Scenario, jobs_pb2.Scenario.DESCRIPTOR)
    assert set(catalog.FIELDS) == {f.name for f in dataclasses.fields(Scenario)} - {"name"}


def test_a_dataclass_field_missing_from_the_proto_is_an_error() -> None:
    @dataclasses.dataclass(frozen=True)
    class Extra:
        codec: str = ""
        not_in_proto: int = 0

    with pytest.raises(ValueError, match="not_in_proto"):
        wire.to_pb(Extra(), common_pb2.JobSpec)  # type: ignore[attr-defined]


def test_every_spec_field_round_trips_cli_proto_domain_proto() -> None:
    sent = spec_from(parser().parse_args(["jobs", "submit", *EVERY_FIELD]))
    assert _unset(sent) == set(), "a JobSpec field without a CLI flag"
    raw = wire.raw_spec(sent)
    assert fieldmap.to_pb(raw, common_pb2.JobSpec) == sent
    resolved = resolve(raw)
    assert wire.spec_pb(resolved) == sent
    assert wire.spec(wire.spec_pb(resolved)) == resolved


def test_the_cli_json_shows_every_spec_field() -> None:
    spec = wire.spec_pb(resolve(RawSpec(scenario="test", tune="film", nice=0)))
    d = job_dict(common_pb2.Job(id="j", spec=spec))
    assert {f.name for f in spec.DESCRIPTOR.fields} <= set(d)
    assert (d["tune"], d["nice"], d["max_retries"]) == ("film", 0, None)


def test_scenarios_round_trip_through_their_proto() -> None:
    for sc in BUILTIN.values():
        pb = wire.scenario_pb(sc)
        assert fieldmap.from_pb(Scenario, pb) == sc
        assert set(message_dict(pb)) == {f.name for f in dataclasses.fields(Scenario)}
