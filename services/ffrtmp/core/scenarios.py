"""Named presets. A job names one and may override any of its fields."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    width: int
    height: int
    fps: float
    codec: str  # a family (h264, h265, vp9, av1) or an exact encoder
    bitrate: str
    live: bool = False
    duration_s: float = 10.0  # of a synthetic source; a real input keeps its own length
    preset: str = "veryfast"
    description: str = ""
    gop_s: float = 2.0  # keyframe interval; 0 leaves it to the encoder
    maxrate: str = ""  # rate cap and its buffer; "" means none for file jobs
    bufsize: str = ""
    audio_codec: str = "aac"  # "aac", "opus" or "none"
    audio_bitrate: str = "128k"
    audio_sample_rate: int = 48000
    audio_channels: int = 2


def _live(name: str, w: int, h: int, bitrate: str, kbps: int, description: str) -> Scenario:
    # A link sized for the bitrate: cap at it, with two seconds' worth of buffer.
    return Scenario(
        name,
        w,
        h,
        30,
        "h264",
        bitrate,
        live=True,
        duration_s=60,
        description=description,
        maxrate=bitrate,
        bufsize=f"{2 * kbps}k",
    )


BUILTIN: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("720p30-h264", 1280, 720, 30, "h264", "2500k", description="HD file"),
        Scenario("1080p30-h264", 1920, 1080, 30, "h264", "5000k", description="Full HD file"),
        Scenario("1080p60-h264", 1920, 1080, 60, "h264", "8000k", description="Full HD, 60 fps"),
        Scenario("4K30-h264", 3840, 2160, 30, "h264", "20000k", description="UHD file"),
        Scenario("1080p30-h265", 1920, 1080, 30, "h265", "3000k", description="Full HD HEVC file"),
        Scenario("4K60-h265", 3840, 2160, 60, "h265", "25000k", description="UHD HEVC, 60 fps"),
        _live("live-1080p", 1920, 1080, "6000k", 6000, "Full HD live push over RTMP"),
        _live("live-4k", 3840, 2160, "15000k", 15000, "UHD live push over RTMP"),
        Scenario(
            "test",
            320,
            240,
            10,
            "h264",
            "200k",
            duration_s=2,
            preset="ultrafast",
            description="Tiny and fast, for smoke tests",
            audio_bitrate="64k",
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
    "gop_s": (int, float),
    "maxrate": str,
    "bufsize": str,
    "audio_codec": str,
    "audio_bitrate": str,
    "audio_sample_rate": int,
    "audio_channels": int,
}


def parse_catalog(text: str, base: dict[str, Scenario] | None = None) -> dict[str, Scenario]:
    """Scenarios from a TOML document, over `base` (the built-ins by default).

    Each `[scenarios.NAME]` table may set any Scenario field but the name (see
    _FIELDS); a name that is built in starts from the built-in values, a new one
    from the `test` scenario's. ValueError says what is wrong, naming the scenario
    and key. Values are checked like a job's own fields, so a scenario that no job
    could use is refused when the master starts, not at the first submit.
    """
    import tomllib

    from ffrtmp.core.errors import InvalidArgument
    from ffrtmp.core.spec import RawSpec, resolve

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
            if isinstance(kind, tuple) and isinstance(value, bool):
                raise ValueError(f"scenarios.{name}.{key}: wrong type bool")
        start = catalog.get(name, replace(BUILTIN["test"], description=""))
        catalog[name] = replace(start, name=name, **table)
        try:
            resolve(RawSpec(scenario=name), catalog)
        except InvalidArgument as exc:
            field = exc.field.removeprefix("spec.")
            problem = exc.message.removeprefix(f"{exc.field}: ")
            raise ValueError(f"scenarios.{name}.{field}: {problem}") from None
    return catalog
