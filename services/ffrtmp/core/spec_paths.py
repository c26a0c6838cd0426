"""Checks of a spec's input and output: schemes, paths and output kinds.

Split from core.spec, which calls them; each problem is an InvalidArgument on
spec.input or spec.output.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ffrtmp.core.blobref import blob_digest, is_blob_ref
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.outputs import NULL_OUTPUT, OutputKind, hls_layout, output_kind
from ffrtmp.core.s3_input import is_s3_input, parse_s3_input
from ffrtmp.core.s3_output import is_s3_output, parse_s3_output

MAX_URL = 2048
INPUT_SCHEMES = frozenset({"http", "https", "rtmp", "rtmps", "srt"})
OUTPUT_SCHEMES = frozenset({"rtmp", "rtmps", "srt"})
FILE_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".flv", ".ts"})
# Synthetic sources that read nothing from disk (movie= and friends do).
LAVFI_SOURCES = frozenset(
    {"testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc", "color", "mandelbrot"}
)

_LAVFI = re.compile(r"([a-z0-9]+)(?:=([A-Za-z0-9=:._#/-]{0,200}))?", re.ASCII)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# A source's options meet the same limits as the spec's own fields (width,
# height, fps, duration): `testsrc=size=8000x8000:rate=1000` is refused like
# --width 8000. Only these options, each once.
LAVFI_OPTIONS = {"size": "size", "s": "size", "rate": "rate", "r": "rate",
                 "duration": "duration", "d": "duration", "color": "color", "c": "color"}
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})", re.ASCII)
_RATE = re.compile(r"(\d{1,6})(?:\.\d{1,6})?(?:/(\d{1,6}))?", re.ASCII)
_SECONDS = re.compile(r"\d{1,9}(?:\.\d{1,6})?", re.ASCII)
_COLOR = re.compile(r"[A-Za-z]{1,32}|(?:#|0x)[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?", re.ASCII)
MAX_LAVFI_WIDTH, MAX_LAVFI_HEIGHT, MAX_LAVFI_FPS = 7680, 4320, 240.0
MAX_LAVFI_DURATION_S = 7 * 86400.0  # as spec.duration_s


def scheme(url: str) -> str | None:
    m = _SCHEME.match(url)
    # A single letter before ':' would be a drive, not a scheme; we have none.
    return m.group(1).lower() if m else None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(field, f"longer than {limit} characters")
    if _CONTROL.search(value):
        raise InvalidArgument(field, "contains control characters")


def check_relative(field: str, value: str) -> None:
    """Paths are relative to the worker's roots; an absolute one names no root."""
    if value.startswith("/") or value.startswith("~"):
        raise InvalidArgument(field, "must be relative to the worker's input or output root")


def _check_path(field: str, value: str) -> None:
    check_relative(field, value)
    if ".." in value.split("/"):  # PurePosixPath's parts, without building one
        raise InvalidArgument(field, "may not contain '..'")


def check_input(value: str) -> None:
    field = "spec.input"
    check_text(field, value, MAX_URL)
    if value.startswith("lavfi:"):
        m = _LAVFI.fullmatch(value[len("lavfi:") :])
        if not m or m.group(1) not in LAVFI_SOURCES:
            known = ", ".join(sorted(LAVFI_SOURCES))
            raise InvalidArgument(field, f"lavfi source must be one of {known}, with options")
        if m.group(2):
            _check_lavfi_options(m.group(2))
        return
    if is_blob_ref(value):
        try:
            blob_digest(value)
        except ValueError as exc:
            raise InvalidArgument(field, str(exc)) from None
        return
    if is_s3_input(value):
        try:
            parse_s3_input(value)
        except ValueError as exc:
            raise InvalidArgument(field, str(exc)) from None
        return
    found = scheme(value)
    if found is not None:
        if found not in INPUT_SCHEMES:
            allowed = ", ".join(sorted(INPUT_SCHEMES | {"lavfi", "blob", "s3"}))
            raise InvalidArgument(field, f"scheme {found!r} is not allowed (allowed: {allowed})")
        return
    _check_path(field, value)


def _check_lavfi_options(options: str) -> None:
    field = "spec.input"
    seen: set[str] = set()
    for part in options.split(":"):
        key, eq, value = part.partition("=")
        name = LAVFI_OPTIONS.get(key)
        if name is None or not eq or name in seen:
            allowed = ", ".join(sorted(set(LAVFI_OPTIONS.values())))
            raise InvalidArgument(field, f"lavfi option {part[:32]!r}: use each of {allowed} once")
        seen.add(name)
        if name == "size":
            m = _SIZE.fullmatch(value)
            if not m or not (16 <= int(m.group(1)) <= MAX_LAVFI_WIDTH
                             and 16 <= int(m.group(2)) <= MAX_LAVFI_HEIGHT):
                raise InvalidArgument(
                    field, f"lavfi size must be WxH within {MAX_LAVFI_WIDTH}x{MAX_LAVFI_HEIGHT}"
                )
        elif name == "rate":
            m = _RATE.fullmatch(value)
            den = int(m.group(2) or 1) if m else 0
            whole = value.split("/")[0]
            if not m or den == 0 or not 1 <= float(whole) / den <= MAX_LAVFI_FPS:
                raise InvalidArgument(field, f"lavfi rate must be from 1 to {MAX_LAVFI_FPS:g}")
        elif name == "duration":
            if not _SECONDS.fullmatch(value) or not 0 < float(value) <= MAX_LAVFI_DURATION_S:
                raise InvalidArgument(
                    field, f"lavfi duration must be seconds, at most {MAX_LAVFI_DURATION_S:g}"
                )
        elif not _COLOR.fullmatch(value):
            raise InvalidArgument(field, "lavfi color must be a name or #RRGGBB[AA]")


def check_output(value: str) -> None:
    field = "spec.output"
    check_text(field, value, MAX_URL)
    if not value or value == NULL_OUTPUT:
        return
    if is_s3_output(value):  # the key is checked like a local output path
        try:
            value = parse_s3_output(value).path
        except ValueError as exc:
            raise InvalidArgument(field, str(exc)) from None
    found = scheme(value)
    if found is not None:
        if found not in OUTPUT_SCHEMES:
            allowed = ", ".join([*sorted(OUTPUT_SCHEMES), NULL_OUTPUT])
            raise InvalidArgument(field, f"scheme {found!r} is not allowed (allowed: {allowed})")
        return
    _check_path(field, value)
    if output_kind(value, live=False) is OutputKind.HLS:
        try:
            hls_layout(value)
        except ValueError as exc:
            raise InvalidArgument(field, str(exc)) from None
    elif PurePosixPath(value).suffix.lower() not in FILE_EXTENSIONS:
        allowed = ", ".join(sorted(FILE_EXTENSIONS))
        raise InvalidArgument(
            field, f"file extension must be one of {allowed} (or .m3u8 or a trailing / for HLS)"
        )


def carries_flv(output: str, live: bool) -> bool:
    """Whether the output is FLV (an RTMP push, the live default, or a .flv file),
    whose classic form carries AAC audio only."""
    if output_kind(output, live) is OutputKind.STREAM:
        return not output or output.lower().startswith(("rtmp://", "rtmps://"))
    return PurePosixPath(output).suffix.lower() == ".flv"


def is_mov(output: str) -> bool:
    """QuickTime .mov: ffmpeg writes Opus only into MP4, not into MOV."""
    return PurePosixPath(output).suffix.lower() == ".mov"
