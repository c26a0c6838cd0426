"""A scenario's GOP and audio settings, run through real ffmpeg without a cluster:
resolve a spec, build its argv as a worker would, encode, and read the result back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.spec import RawSpec, resolve
from tests.helpers.media import (
    AudioInfo,
    decode_errors,
    ffmpeg_under_test,
    keyframe_count,
    probe_audio,
    probe_media,
)

# Real ffmpeg runs: repeated on the distribution's build (see tests/helpers/media.py).
pytestmark = pytest.mark.media


def encode(tmp_path: Path, name: str, **fields: object) -> Path:
    spec = resolve(RawSpec(scenario="test", output=name, duration_s=4, **fields))  # type: ignore[arg-type]
    out = tmp_path / name
    ffmpeg = ffmpeg_under_test()
    argv = build_argv(ffmpeg, spec, input_url="", output_url=str(out), encoder="libx264")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert decode_errors(out) == ""
    return out


@pytest.mark.parametrize(
    ("name", "fields", "audio"),
    [
        # The scenario's own settings: AAC at 48 kHz, stereo (from a mono tone).
        ("default.mp4", {}, AudioInfo("aac", 48000, "stereo")),
        (
            "cd.mp4",
            {"audio_sample_rate": 44100, "audio_channels": 1, "audio_bitrate": "48k"},
            AudioInfo("aac", 44100, "mono"),
        ),
        # Opus always decodes at 48 kHz, whatever rate it was fed.
        (
            "talk.mkv",
            {"audio_codec": "opus", "audio_channels": 1},
            AudioInfo("opus", 48000, "mono"),
        ),
        ("quiet.ts", {"audio_codec": "none"}, None),
    ],
)
def test_audio_settings_reach_the_output(
    tmp_path: Path, name: str, fields: dict[str, object], audio: AudioInfo | None
) -> None:
    out = encode(tmp_path, name, **fields)
    assert probe_audio(out) == audio
    info = probe_media(out)
    assert (info.width, info.height) == (320, 240)
    assert info.duration_s == pytest.approx(4.0, abs=0.15)


@pytest.mark.parametrize(("gop_s", "keyframes"), [(2.0, 2), (1.0, 4), (0.5, 8)])
def test_gop_sets_the_keyframe_count(tmp_path: Path, gop_s: float, keyframes: int) -> None:
    # 4 s at the test scenario's 10 fps: one keyframe at the start of every GOP.
    out = encode(tmp_path, "gop.mp4", gop_s=gop_s)
    assert keyframe_count(out) == keyframes
