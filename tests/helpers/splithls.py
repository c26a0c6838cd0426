"""What a split HLS ladder must show, measured with the ffmpeg under test: every
playlist and segment present, each rendition readable through its playlist
with the input's frame count, a keyframe at every media segment's start, no
timestamp gap or overlap anywhere (so none at a cut), audio without silence."""

from __future__ import annotations

import re
from fractions import Fraction
from itertools import accumulate
from pathlib import Path

from ffrtmp.core.hls_playlists import read_master, read_media
from tests.helpers.media import decode_errors
from tests.helpers.splitcheck import Packets, _run, frame_count, keyframe_times

_SILENCE_END = re.compile(r"silence_end: ([0-9.]+) \| silence_duration: ([0-9.]+)")
_STREAM = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (\w+)")


def raw_packets(playlist: Path, stream: str = "v") -> Packets:
    """The packets' own timestamps: ffmpeg smooths a jump in MPEG-TS timestamps
    away unless told to copy them (-copyts), which would hide a bad cut."""
    r = _run("-copyts", "-i", str(playlist), "-map", f"0:{stream}:0", "-c", "copy",
             "-f", "framecrc", "-")
    assert r.returncode == 0, r.stderr[-2000:]
    tb = re.search(r"^#tb 0: (\d+)/(\d+)$", r.stdout, re.MULTILINE)
    assert tb is not None, r.stdout[:500]
    unit = Fraction(int(tb[1]), int(tb[2]))
    rows = [[f.strip() for f in line.split(",")] for line in r.stdout.splitlines()
            if line.strip() and not line.startswith("#")]
    return Packets([int(f[2]) * unit for f in rows], [int(f[3]) * unit for f in rows])


def silent_spans(path: Path, *, noise_db: int = -50, min_s: float = 0.02) -> list[float]:
    """Where the audio is silent for at least `min_s` seconds. ffmpeg's detector
    also reports the single zero sample a sine starts with in MPEG-TS (a few µs,
    the same in an ordinary HLS encode): only spans of `min_s` or more count."""
    r = _run("-i", str(path), "-map", "0:a:0", "-af",
             f"silencedetect=n={noise_db}dB:d={min_s:g}", "-f", "null", "-")
    assert r.returncode == 0, r.stderr[-2000:]
    spans = [(float(end), float(length)) for end, length in _SILENCE_END.findall(r.stderr)]
    return [end - length for end, length in spans if length >= min_s]


def streams_of(master: Path) -> list[tuple[str, str]]:
    """(kind, codec) of every stream ffmpeg finds through the master playlist."""
    r = _run("-i", str(master))
    return [(m[1], m[2]) for m in _STREAM.finditer(r.stderr)]


def check_ladder(directory: Path, master: str, clip_s: float, fps: int,
                 sizes: list[str]) -> list[list[float]]:
    """Every check on a fetched ladder; each rendition's media segment starts."""
    text = (directory / master).read_text()
    variants = read_master(text)
    assert [v.resolution for v in variants] == sizes
    assert "#EXT-X-MEDIA:TYPE=AUDIO" in text and all("mp4a.40.2" in v.codecs for v in variants)
    audio = re.search(r'URI="([^"]+)"', text)
    assert audio is not None
    starts = []
    for v in variants:
        playlist = directory / v.uri
        segments = read_media(playlist.read_text())
        assert all((directory / s.uri).is_file() for s in segments)
        assert "#EXT-X-DISCONTINUITY" not in playlist.read_text()
        assert abs(sum(s.duration_s for s in segments) - clip_s) < 0.5 / fps
        assert decode_errors(playlist) == ""
        assert frame_count(playlist) == round(clip_s * fps)
        packets = raw_packets(playlist)
        assert packets.gaps(fps) == [], f"{v.uri}: timestamps skip or overlap"
        begin = [0.0, *accumulate(s.duration_s for s in segments)][:-1]
        keys = keyframe_times(playlist)
        missing = [b for b in begin if not any(abs(k - b) < 1e-3 for k in keys)]
        assert missing == [], f"{v.uri}: no keyframe at media segment starts {missing}"
        starts.append([round(b, 3) for b in begin])
    assert all(s == starts[0] for s in starts), "the renditions' segments do not align"
    sound = directory / audio.group(1)
    audio_segments = read_media(sound.read_text())
    assert all((directory / s.uri).is_file() for s in audio_segments)
    assert abs(sum(s.duration_s for s in audio_segments) - clip_s) < 0.1
    assert silent_spans(sound) == [], "the audio falls silent somewhere"
    found = streams_of(directory / master)
    assert found.count(("Video", "h264")) == len(variants) and ("Audio", "aac") in found, found
    # In step as in the input: the audio leads only by its encoder's priming (1024 samples).
    sound_at = min(raw_packets(sound, "a").pts)
    for v in variants:
        lead = min(raw_packets(directory / v.uri).pts) - sound_at
        assert 0 <= lead <= Fraction(1, 20), (v.uri, float(lead))
    return starts
