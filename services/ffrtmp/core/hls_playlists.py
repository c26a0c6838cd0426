"""The playlists of a split HLS job: read what each segment's encode wrote (its
master playlist and one media playlist per rendition), and write the whole
ladder's playlists once, at the end. Pure text in, text out.

Every part's media segments are renamed into one sequence per rendition
(`<stem>_<rendition>_<n>.ts`), each keeping the duration its encode measured
(EXTINF). No discontinuity is marked: the segments' timestamps already continue
from one part to the next (each part is offset by its start in the input).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import PurePosixPath

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")  # a file beside the playlist, nothing else
AUDIO_GROUP = "audio"


@dataclass(frozen=True, slots=True)
class MediaSegment:
    uri: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class Variant:
    """One rendition as a master playlist lists it."""

    uri: str
    bandwidth: int
    resolution: str = ""
    codecs: str = ""


@dataclass(frozen=True, slots=True)
class Part:
    """One segment's encode: its renditions and, per rendition, its media segments."""

    variants: tuple[Variant, ...]
    media: tuple[tuple[MediaSegment, ...], ...]


@dataclass(frozen=True, slots=True)
class Audio:
    """The audio rendition, encoded once over the whole input."""

    uri: str
    bandwidth: int
    codec: str


@dataclass(frozen=True, slots=True)
class Ladder:
    """What the finish writes: each output file's source (part index, the name in
    that part), and the playlists' text by file name."""

    files: dict[str, tuple[int, str]]
    playlists: dict[str, str]


def _file_name(uri: str) -> str:
    if not _NAME.match(uri) or uri.startswith("."):
        raise ValueError(f"not a file beside the playlist: {uri[:64]!r}")
    return uri


def _lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an HLS playlist (no #EXTM3U)")
    return lines


def read_media(text: str) -> tuple[MediaSegment, ...]:
    """A finished media playlist's segments; ValueError when it is not one (no
    EXT-X-ENDLIST: a part still being written is never taken)."""
    lines = _lines(text)
    if "#EXT-X-ENDLIST" not in lines:
        raise ValueError("the media playlist is not finished (no #EXT-X-ENDLIST)")
    found, duration = [], None
    for line in lines[1:]:
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",", 1)[0])
            if not math.isfinite(duration) or duration <= 0:
                raise ValueError(f"bad segment duration: {line[:64]!r}")
        elif not line.startswith("#"):
            if duration is None:
                raise ValueError(f"a segment without #EXTINF: {line[:64]!r}")
            found.append(MediaSegment(_file_name(line), duration))
            duration = None
    if not found:
        raise ValueError("the media playlist lists no segment")
    return tuple(found)


def read_master(text: str) -> tuple[Variant, ...]:
    """A master playlist's renditions, in order."""
    lines = _lines(text)
    found = []
    for line, uri in pairwise(lines):
        if not line.startswith("#EXT-X-STREAM-INF:"):
            continue
        attrs = {k: v.strip('"') for k, v in _ATTRIBUTE.findall(line.split(":", 1)[1])}
        found.append(Variant(_file_name(uri), int(attrs.get("BANDWIDTH", "0")),
                             attrs.get("RESOLUTION", ""), attrs.get("CODECS", "")))
    if not found:
        raise ValueError("the master playlist lists no rendition")
    return tuple(found)


def write_media(segments: list[MediaSegment]) -> str:
    # Every EXTINF, rounded, must not exceed the target duration.
    target = max(1, max(round(s.duration_s) for s in segments))
    head = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}",
            "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]
    body = [f"#EXTINF:{s.duration_s:.6f},\n{s.uri}" for s in segments]
    return "\n".join([*head, *body, "#EXT-X-ENDLIST"]) + "\n"


def write_master(variants: list[Variant], audio: Audio | None) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="audio",'
                     f'DEFAULT=YES,AUTOSELECT=YES,URI="{audio.uri}"')
    for v in variants:
        bandwidth = v.bandwidth + (audio.bandwidth if audio else 0)
        attrs = [f"BANDWIDTH={bandwidth}"]
        if v.resolution:
            attrs.append(f"RESOLUTION={v.resolution}")
        codecs = [c for c in (v.codecs, audio.codec if audio else "") if c]
        if codecs:
            attrs.append(f'CODECS="{",".join(codecs)}"')
        if audio is not None:
            attrs.append(f'AUDIO="{AUDIO_GROUP}"')
        lines += [f"#EXT-X-STREAM-INF:{','.join(attrs)}", v.uri]
    return "\n".join(lines) + "\n"


def stitch(parts: list[Part], stem: str, master: str, audio: Audio | None) -> Ladder:
    """The whole ladder from its parts, in order: one media playlist per
    rendition over every part's segments, and the master playlist. A rendition's
    bandwidth is the highest any part measured (HLS's BANDWIDTH is a peak)."""
    if not parts:
        raise ValueError("no parts to stitch")
    count = len(parts[0].variants)
    if any(len(p.variants) != count or len(p.media) != count for p in parts):
        raise ValueError("the parts do not have the same renditions")
    files: dict[str, tuple[int, str]] = {}
    playlists: dict[str, str] = {}
    variants = []
    for r in range(count):
        segments: list[MediaSegment] = []
        for i, part in enumerate(parts):
            for seg in part.media[r]:
                suffix = PurePosixPath(seg.uri).suffix or ".ts"
                name = f"{stem}_{r}_{len(segments):05d}{suffix}"
                files[name] = (i, seg.uri)
                segments.append(MediaSegment(name, seg.duration_s))
        uri = f"{stem}_{r}.m3u8"
        playlists[uri] = write_media(segments)
        first = parts[0].variants[r]
        peak = max(p.variants[r].bandwidth for p in parts)
        variants.append(Variant(uri, peak, first.resolution, first.codecs))
    playlists[master] = write_master(variants, audio)
    return Ladder(files, playlists)
