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
