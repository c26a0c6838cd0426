"""Limits whose error message and check must agree: a value the message calls
out of range is refused, and a value it does not mention is not accepted."""

from __future__ import annotations

import pytest

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.master.rpc.servicers.worker import _check_hello
from ffrtmp.v1 import nodes_pb2, worker_pb2


@pytest.mark.parametrize("fps", [0.5, 0.001, 240.5, -1.0])
def test_fps_outside_1_to_240_is_refused(fps: float) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(RawSpec(fps=fps))
    assert info.value.field == "spec.fps"
    assert "between 1 and 240" in str(info.value)


@pytest.mark.parametrize("fps", [1.0, 29.97, 240.0])
def test_fps_inside_1_to_240_is_taken(fps: float) -> None:
    assert resolve(RawSpec(fps=fps)).fps == fps


def test_audio_channels_message_says_what_is_taken() -> None:
    # A resolved 0 is taken (a scenario may keep the input's layout): the
    # message must not claim the range starts at 1 without saying so.
    with pytest.raises(InvalidArgument) as info:
        resolve(RawSpec(audio_channels=9))
    assert info.value.field == "spec.audio_channels"
    assert "0 keeps the input's" in str(info.value)


def _hello(slots: int) -> worker_pb2.Hello:
    return worker_pb2.Hello(capabilities=nodes_pb2.Capabilities(slots=slots))


@pytest.mark.parametrize("slots", [0, 257])
def test_worker_slots_outside_1_to_256_are_refused(slots: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        _check_hello(_hello(slots))
    assert info.value.field == "hello.capabilities.slots"
    assert "from 1 to 256" in str(info.value)


def test_worker_slots_from_1_are_taken() -> None:
    _check_hello(_hello(1))
    _check_hello(_hello(256))
