"""The spec's one mapping: the fields are enumerated from the proto, and every
form (JobSpec, RawSpec and the merge, CLI flags, CLI JSON, scenario TOML) must
cover them, with no list of fields kept here. A field added to the proto but
missed anywhere on that path fails here."""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from ffrtmp import fieldmap, wire
from ffrtmp.cli.main import parser
from ffrtmp.cli.media_output import message_dict
from ffrtmp.cli.output import job_dict
from ffrtmp.cli.submit import SPEC, spec_from
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec
from ffrtmp.core.scenarios import BUILTIN, Scenario
from ffrtmp.core.spec import RawSpec, merged, resolve
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
    *["--split-cuts", "4.5", "--passes", "1"],
]


def _set(m: Message) -> set[str]:
    return {d.name for d, _ in m.ListFields()}


def _unset(msg: common_pb2.JobSpec) -> set[str]:
    """Fields left at their default, the requirements' own included."""
    r = msg.requirements
    inner = {f"requirements.{f.name}" for f in r.DESCRIPTOR.fields if f.name not in _set(r)}
    return {f.name for f in msg.DESCRIPTOR.fields} - _set(msg) | inner


def _paths(d: Descriptor, prefix: str = "") -> set[str]:
    """Every leaf field of message `d`, nested messages by dotted path (maps are
    leaves): what the proto says a spec is, with no list kept here."""
    out = set()
    for fd in d.fields:
        sub = fd.message_type
        if sub is not None and not sub.GetOptions().map_entry and not fd.is_repeated:
            out |= _paths(sub, f"{prefix}{fd.name}.")
        else:
            out.add(prefix + fd.name)
    return out


PROTO_FIELDS = {fd.name for fd in common_pb2.JobSpec.DESCRIPTOR.fields}


def test_jobspec_carries_every_proto_field() -> None:
    assert fieldmap.unmapped(JobSpec, common_pb2.JobSpec.DESCRIPTOR) == set()
    fieldmap.plan(JobSpec, common_pb2.JobSpec.DESCRIPTOR)  # and every field of its is one


@pytest.mark.parametrize("name", sorted(PROTO_FIELDS))
def test_rawspec_takes_every_proto_field_and_the_merge_fills_it(name: str) -> None:
    RawSpec(**{name: None})  # a name RawSpec does not know is a TypeError
    assert name in merged(RawSpec(), BUILTIN["test"])
    with pytest.raises(TypeError, match="not_a_field"):
        RawSpec(not_a_field=1)


def test_every_proto_field_has_a_cli_flag() -> None:
    sub = next(a for a in parser()._actions if a.dest == "command")
    jobs = sub.choices["jobs"]  # type: ignore[index]
    submit = next(a for a in jobs._actions if a.dest == "jobs_command").choices["submit"]
    dests = {a.dest.removeprefix(SPEC) for a in submit._actions if a.dest.startswith(SPEC)}
    assert _paths(common_pb2.JobSpec.DESCRIPTOR) - dests == set()


def test_every_scenario_field_is_a_toml_key_and_a_spec_field_it_presets() -> None:
    assert fieldmap.unmapped(Scenario, jobs_pb2.Scenario.DESCRIPTOR) == set()
    fieldmap.plan(Scenario, jobs_pb2.Scenario.DESCRIPTOR)
    presets = {fd.name for fd in jobs_pb2.Scenario.DESCRIPTOR.fields} - {"name", "description"}
    assert set(catalog.FIELDS) == presets | {"description"}
    assert presets <= PROTO_FIELDS  # merged by name into the job's spec
    toml = "[scenarios.t]\ntune = \"grain\"\nfps = 12\n"
    spec = resolve(RawSpec(scenario="t"), catalog.parse(toml))
    assert (spec.tune, spec.fps) == ("grain", 12)


def test_a_dataclass_field_missing_from_the_proto_is_an_error() -> None:
    @dataclasses.dataclass(frozen=True)
    class Extra:
        codec: str = ""
        not_in_proto: int = 0

    with pytest.raises(ValueError, match="not_in_proto"):
        wire.to_pb(Extra(), common_pb2.JobSpec)  # type: ignore[attr-defined]


def test_every_spec_field_round_trips_cli_proto_domain_proto() -> None:
    sent = spec_from(parser().parse_args(["jobs", "submit", *EVERY_FIELD]))
    assert _unset(sent) == set(), "EVERY_FIELD lacks a value for a JobSpec field"
    raw = wire.raw_spec(sent)
    assert set(raw) == PROTO_FIELDS
    resolved = resolve(raw)
    assert wire.spec_pb(resolved) == sent
    assert wire.spec(wire.spec_pb(resolved)) == resolved


def test_unset_fields_come_from_the_scenario_and_zeros_with_presence_are_values() -> None:
    sent = common_pb2.JobSpec(scenario="live-1080p", live=False, nice=0, max_retries=0)
    raw = wire.raw_spec(sent)
    assert dict(raw) == {"scenario": "live-1080p", "live": False, "nice": 0, "max_retries": 0}
    spec = resolve(raw)
    assert (spec.live, spec.nice, spec.max_retries, spec.codec) == (False, 0, 0, "h264")
    assert resolve(RawSpec(scenario="live-1080p", width=0, codec="")).width == 1920


def test_the_cli_json_shows_every_spec_field() -> None:
    spec = wire.spec_pb(resolve(RawSpec(scenario="test", tune="film", nice=0)))
    d = job_dict(common_pb2.Job(id="j", spec=spec))
    assert set(d) >= PROTO_FIELDS
    assert (d["tune"], d["nice"], d["max_retries"]) == ("film", 0, None)


def test_scenarios_round_trip_through_their_proto() -> None:
    for sc in BUILTIN.values():
        pb = wire.scenario_pb(sc)
        assert fieldmap.from_pb(Scenario, pb) == sc
        assert set(message_dict(pb)) == {f.name for f in dataclasses.fields(Scenario)}


def test_an_entry_check_runs_on_the_merged_spec() -> None:
    """tune's check is declared on its JobSpec entry, not in resolve."""
    checks = [f.metadata.get("check") for f in dataclasses.fields(JobSpec)]
    (check,) = [c for c in checks if c is not None]
    with pytest.raises(InvalidArgument, match=r"spec\.tune"):
        resolve(RawSpec(scenario="test", codec="libvpx-vp9", tune="film" + "x"))
    check(resolve(RawSpec(scenario="test", tune="film")))
