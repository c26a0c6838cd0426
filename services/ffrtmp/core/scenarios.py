"""Named presets. A job names one and may override any of its fields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    width: int
    height: int
    fps: float
    codec: str
    bitrate: str
    live: bool
    duration_s: float
    preset: str
    description: str


def _s(
    name: str,
    w: int,
    h: int,
    fps: float,
    codec: str,
    bitrate: str,
    live: bool,
    duration_s: float,
    preset: str,
    description: str,
) -> Scenario:
    return Scenario(name, w, h, fps, codec, bitrate, live, duration_s, preset, description)


BUILTIN: dict[str, Scenario] = {
    s.name: s
    for s in (
        _s("720p30-h264", 1280, 720, 30, "h264", "2500k", False, 10, "veryfast", "HD file"),
        _s("1080p30-h264", 1920, 1080, 30, "h264", "5000k", False, 10, "veryfast", "Full HD file"),
        _s(
            "1080p60-h264",
            1920,
            1080,
            60,
            "h264",
            "8000k",
            False,
            10,
            "veryfast",
            "Full HD, 60 fps",
        ),
        _s("4K30-h264", 3840, 2160, 30, "h264", "20000k", False, 10, "veryfast", "UHD file"),
        _s(
            "1080p30-h265",
            1920,
            1080,
            30,
            "h265",
            "3000k",
            False,
            10,
            "veryfast",
            "Full HD HEVC file",
        ),
        _s(
            "4K60-h265", 3840, 2160, 60, "h265", "25000k", False, 10, "veryfast", "UHD HEVC, 60 fps"
        ),
        _s(
            "live-1080p",
            1920,
            1080,
            30,
            "h264",
            "6000k",
            True,
            60,
            "veryfast",
            "Full HD live push over RTMP",
        ),
        _s(
            "live-4k",
            3840,
            2160,
            30,
            "h264",
            "15000k",
            True,
            60,
            "veryfast",
            "UHD live push over RTMP",
        ),
        _s(
            "test",
            320,
            240,
            10,
            "h264",
            "200k",
            False,
            2,
            "ultrafast",
            "Tiny and fast, for smoke tests",
        ),
    )
}

DEFAULT_SCENARIO = "720p30-h264"


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "width": int,
    "height": int,
    "fps": (int, float),
    "codec": str,
    "bitrate": str,
    "live": bool,
    "duration_s": (int, float),
    "preset": str,
    "description": str,
}


def parse_catalog(text: str, base: dict[str, Scenario] | None = None) -> dict[str, Scenario]:
    """Scenarios from a TOML document, over `base` (the built-ins by default).

    Each `[scenarios.NAME]` table may set width, height, fps, codec, bitrate, live,
    duration_s, preset and description; a name that is built in starts from the
    built-in values, a new one from the `test` scenario's. ValueError says what is
    wrong, naming the scenario and key.
    """
    import tomllib
    from dataclasses import replace

    catalog = dict(BUILTIN if base is None else base)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    extra = set(doc) - {"scenarios"}
    if extra:
        raise ValueError(f"unknown top-level keys {sorted(extra)}; expected [scenarios.NAME]")
    for name, table in (doc.get("scenarios") or {}).items():
        if not isinstance(table, dict):
            raise ValueError(f"scenarios.{name} must be a table")
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"scenario name {name!r}: letters, digits, '-', '_' or '.'")
        for key, value in table.items():
            kind = _FIELDS.get(key)
            if kind is None:
                raise ValueError(
                    f"scenarios.{name}: unknown key {key!r} (known: {', '.join(_FIELDS)})"
                )
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"scenarios.{name}.{key}: wrong type {type(value).__name__}")
        start = catalog.get(name, replace(BUILTIN["test"], description=""))
        catalog[name] = replace(start, name=name, **table)
    return catalog
