"""Validation matches the whole value in ASCII: a trailing newline or a
non-ASCII digit never slips through to an ffmpeg argument or an id."""

from __future__ import annotations

import pytest

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.spec import RawSpec, check_request_id, resolve

NEWLINE = "\n"
ARABIC_6 = "\u0666"  # a digit to str.isdigit and to \d, not to ffmpeg


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("spec.maxrate", RawSpec(scenario="test", maxrate="6000k" + NEWLINE)),
        ("spec.bufsize", RawSpec(scenario="test", bufsize="12000k" + NEWLINE)),
        ("spec.bitrate", RawSpec(scenario="test", bitrate="5000k" + NEWLINE)),
        ("spec.bitrate", RawSpec(scenario="test", bitrate=ARABIC_6 + "000k")),
        ("spec.codec", RawSpec(scenario="test", codec="libx264" + NEWLINE)),
        ("spec.preset", RawSpec(scenario="test", preset="fast" + NEWLINE)),
        ("spec.audio_bitrate", RawSpec(scenario="test", audio_bitrate="128k" + NEWLINE)),
    ],
)
def test_a_trailing_newline_or_foreign_digit_is_refused(field: str, raw: RawSpec) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(raw)
    assert str(info.value).startswith(field), info.value


def test_request_id_is_matched_whole() -> None:
    with pytest.raises(InvalidArgument):
        check_request_id("abc" + NEWLINE)


def test_api_key_tokens_are_matched_whole() -> None:
    import hashlib

    from ffrtmp.master.rpc.apikeys import ApiKey, ApiKeys

    keys = ApiKeys(None)  # type: ignore[arg-type] - verify() needs no store
    secret = "x" * 40
    keys._keys["0123456789ab"] = ApiKey(
        "0123456789ab", "alice", "admin", hashlib.sha256(secret.encode()).digest(), 1, "t"
    )
    good = f"ffk_0123456789ab_{secret}"
    assert keys.verify(good) is not None
    assert keys.verify(good + NEWLINE) is None


@pytest.mark.parametrize(
    "source",
    [
        "testsrc=size=8000x8000:rate=1000",
        "testsrc=size=8000x8000",
        "testsrc2=s=640x9999",
        "testsrc2=rate=1000",
        "testsrc2=r=100000/1",
        "testsrc2=r=1/0",
        "testsrc2=duration=999999999",
        "testsrc2=size=64x64:size=128x128",
        "testsrc2=decimals=3",
        "testsrc2=64x64",
        "color=c=red:size=hd1080",
        "color=c=red;movie",
        "testsrc2=size=64x64" + NEWLINE,
    ],
)
def test_lavfi_options_meet_the_spec_limits(source: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(RawSpec(scenario="test", input="lavfi:" + source))
    assert str(info.value).startswith("spec.input"), info.value


@pytest.mark.parametrize(
    "source",
    ["testsrc2", "testsrc2=size=640x360:rate=30", "testsrc=s=64x64:r=30000/1001:d=5",
     "color=c=#112233:size=160x120", "mandelbrot=rate=25"],
)
def test_lavfi_options_within_limits_pass(source: str) -> None:
    assert resolve(RawSpec(scenario="test", input="lavfi:" + source)).input == "lavfi:" + source
