"""Which encoder runs a codec family on a worker, and how to drive it.

A family (h264, h265, vp9, av1) maps to the best encoder the worker's probe proved:
NVENC, then QSV, then VAAPI, then software. Other encoders of the family (AMF,
V4L2, VideoToolbox...) come last: the worker advertised the family because of
them, so the job still runs, but we do not know how to tune them. Presets are
written once, in x264's words, and translated per encoder; rate control becomes
CBR-like for live jobs, whose links were sized for the bitrate.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from ffrtmp.core.errors import InvalidArgument

# Names a job may use for a family, and the family they mean.
FAMILIES = {
    "h264": "h264",
    "avc": "h264",
    "h265": "h265",
    "hevc": "h265",
    "vp9": "vp9",
    "av1": "av1",
}
# Best first within each tier; the tiers are NVENC, QSV, VAAPI, software.
PREFERENCE: dict[str, tuple[str, ...]] = {
    "h264": ("h264_nvenc", "h264_qsv", "h264_vaapi", "libx264", "libopenh264"),
    "h265": ("hevc_nvenc", "hevc_qsv", "hevc_vaapi", "libx265", "libkvazaar"),
    "vp9": ("vp9_qsv", "vp9_vaapi", "libvpx-vp9"),  # NVENC has no VP9 encoder
    "av1": ("av1_nvenc", "av1_qsv", "av1_vaapi", "libsvtav1", "libaom-av1", "librav1e"),
}
_SOFTWARE = {
    "libx264": "h264",
    "libx264rgb": "h264",
    "libopenh264": "h264",
    "libx265": "h265",
    "libkvazaar": "h265",
    "libvpx-vp9": "vp9",
    "libsvtav1": "av1",
    "libaom-av1": "av1",
    "librav1e": "av1",
}
_HW_PREFIXES = (("h264_", "h264"), ("hevc_", "h265"), ("av1_", "av1"), ("vp9_", "vp9"))

# The shared speed scale: x264's preset names, fastest first. Rank = index.
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# NVENC p1..p7 on that scale, so "p4" means the same to every encoder.
_P_LEVEL_RANK = {1: 1, 2: 2, 3: 4, 4: 5, 5: 6, 6: 7, 7: 8}
# Per encoder: the option and its value for each rank (0 = ultrafast .. 9 = placebo).
_NVENC = ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7", "p7")
_QSV = ("veryfast",) * 3 + ("faster", "fast", "medium", "slow", "slower", "veryslow", "veryslow")
_SVT = ("13", "12", "10", "9", "8", "6", "4", "3", "2", "1")
_AOM = ("8", "8", "7", "6", "5", "4", "3", "2", "1", "0")
_RAV1E = ("10", "10", "9", "8", "7", "6", "5", "4", "2", "0")
_VPX_GOOD = ("5", "5", "4", "4", "3", "2", "1", "1", "0", "0")
_VPX_REALTIME = ("8", "8", "8", "7", "7", "6", "6", "5", "5", "5")
SVT_MAX = 13
_P_LEVEL = re.compile(r"p([1-7])")

# Hardware that takes frames from a device: set it up and upload frames to it.
# (device spec, filter device name, upload filter); the probe's test encode uses it too.
HW_DEVICES: dict[str, tuple[str, str, str]] = {
    "_vaapi": ("vaapi=va", "va", "format=nv12,hwupload"),
    "_qsv": ("qsv=hw", "hw", "format=nv12,hwupload=extra_hw_frames=16"),
    "_vulkan": ("vulkan=vk", "vk", "format=nv12,hwupload"),
}


# Hardware back ends an encoder name may end in (h264_nvenc, hevc_amf, av1_vaapi...).
HW_SUFFIXES = frozenset(
    {"nvenc", "qsv", "vaapi", "amf", "videotoolbox", "v4l2m2m", "mf", "vulkan", "omx",
     "mediacodec", "rkmpp", "d3d12va"}
)
AUDIO_ENCODERS = frozenset({"aac", "libfdk_aac", "libopus"})


def known_encoder(name: str, *, audio: bool = False) -> bool:
    """A video encoder of a family we drive (the tables above), or with `audio` an
    audio encoder a job may require; anything else is a typo no worker would offer."""
    if name in _SOFTWARE or (audio and name in AUDIO_ENCODERS):
        return True
    prefix, _, suffix = name.partition("_")
    return f"{prefix}_" in dict(_HW_PREFIXES) and suffix in HW_SUFFIXES


def check_codec(field: str, codec: str, *, required: bool = False) -> None:
    """InvalidArgument on `field` unless `codec` is a family or a known encoder; a
    `required` encoder (spec.requirements) may be an audio one but not a family."""
    if (codec in FAMILIES and not required) or known_encoder(codec, audio=required):
        return
    names = [*FAMILIES, *_SOFTWARE, *(f"{p}nvenc" for p, _ in _HW_PREFIXES)]
    # A swapped pair of letters (h246) first, then whatever difflib finds closest.
    close = [n for n in names if sorted(n) == sorted(codec.lower())] or (
        difflib.get_close_matches(codec.lower(), names, n=1)
    )
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InvalidArgument(
        field,
        f"unknown codec {codec[:64]!r}: {hint}use a family ({', '.join(FAMILIES)}) "
        "or an encoder such as libx264, libx265, libsvtav1, h264_nvenc or hevc_vaapi",
    )


def encoder_family(encoder: str) -> str | None:
    if encoder in _SOFTWARE:
        return _SOFTWARE[encoder]
    for prefix, family in _HW_PREFIXES:
        if encoder.startswith(prefix):
            return family
    return None


def select_encoder(codec: str, available: Iterable[str]) -> str:
    """The encoder for `codec` (a family, or an exact encoder a job pinned) among the
    worker's proven `available` ones; InvalidArgument on spec.codec when none fits."""
    offered = list(available)
    wanted = codec.strip()
    family = FAMILIES.get(wanted.lower())
    if family is None:
        if wanted in offered:
            return wanted
        raise InvalidArgument("spec.codec", f"encoder {wanted!r} is not on this worker")
    for encoder in PREFERENCE[family]:
        if encoder in offered:
            return encoder
    for encoder in offered:
        if encoder_family(encoder) == family:
            return encoder
    raise InvalidArgument(
        "spec.codec",
        f"no encoder for {codec!r} on this worker (wanted one of {', '.join(PREFERENCE[family])})",
    )


def preset_rank(preset: str) -> int:
    """Where a preset sits on the x264 scale: an x264 name, an NVENC p-level, or an
    SVT-AV1 number (0 slowest .. 13 fastest); InvalidArgument on spec.preset otherwise."""
    name = preset.strip()
    if name in X26X_PRESETS:
        return X26X_PRESETS.index(name)
    if m := _P_LEVEL.fullmatch(name):
        return _P_LEVEL_RANK[int(m.group(1))]
    if name.isdigit() and int(name) <= SVT_MAX:
        return round((SVT_MAX - int(name)) * (len(X26X_PRESETS) - 1) / SVT_MAX)
    raise InvalidArgument(
        "spec.preset",
        f"{name[:32]!r} is not a preset: use one of {', '.join(X26X_PRESETS)}, "
        f"p1..p7 or 0..{SVT_MAX}",
    )


def preset_args(encoder: str, preset: str, live: bool) -> list[str]:
    """The encoder's own speed options for `preset` ("" = the encoder's default)."""
    name = preset.strip()
    if encoder.startswith("libvpx"):
        # VP9 has no preset but needs a deadline, and row threading to use the cores.
        deadline = "realtime" if live else "good"
        table = _VPX_REALTIME if live else _VPX_GOOD
        speed = ["-cpu-used", table[preset_rank(name)]] if name else []
        return ["-deadline", deadline, *speed, "-row-mt", "1"]
    if not name:
        return []
    rank = preset_rank(name)
    if encoder in ("libx264", "libx264rgb", "libx265", "libkvazaar"):
        return ["-preset", X26X_PRESETS[rank]]
    if encoder.endswith("_nvenc"):
        return ["-preset", name if _P_LEVEL.fullmatch(name) else _NVENC[rank]]
    if encoder.endswith("_qsv"):
        return ["-preset", _QSV[rank]]
    if encoder == "libsvtav1":
        return ["-preset", name if name.isdigit() else _SVT[rank]]
    if encoder == "libaom-av1":
        return ["-cpu-used", _AOM[rank]]
    if encoder == "librav1e":
        return ["-speed", _RAV1E[rank]]
    # VAAPI has no portable speed knob (compression_level is driver-specific), and
    # unknown encoders would reject a guess: leave their defaults.
    return []


def rate_args(encoder: str, bitrate: str, bps: int, live: bool, stream: str = "") -> list[str]:
    """Bitrate and rate control; `stream` (e.g. ":v:1") targets one output stream."""
    s = stream
    args = ["-b:v" + s.removeprefix(":v"), bitrate]
    cap = [f"-maxrate{s}", bitrate, f"-bufsize{s}", str(2 * bps)]
    if encoder.endswith("_nvenc"):
        return [f"-rc{s}", "cbr" if live else "vbr", *args, *(cap if live else [])]
    if encoder.endswith("_vaapi"):
        return [f"-rc_mode{s}", "CBR" if live else "VBR", *args, *(cap if live else [])]
    if not live:
        return args
    if encoder == "libsvtav1":
        # SVT-AV1 refuses maxrate outside CRF; its CBR needs the low-delay structure.
        return [*args, f"-bufsize{s}", str(2 * bps), f"-svtav1-params{s}", "rc=2:pred-struct=1"]
    if encoder in ("libvpx-vp9", "libaom-av1"):
        # libvpx and libaom switch to CBR when minrate = maxrate = bitrate.
        return [*args, f"-minrate{s}", bitrate, *cap]
    # x264/x265, QSV (CBR when maxrate equals the bitrate) and the rest.
    return [*args, *cap]


def latency_args(encoder: str, live: bool) -> list[str]:
    """Low-latency options beyond -tune (core.tunes adds the live tune)."""
    return ["-usage", "realtime"] if live and encoder == "libaom-av1" else []


def hw_device(encoder: str) -> tuple[str, str, str] | None:
    """(device spec, filter device, upload filter) for encoders fed from a device."""
    return next((v for k, v in HW_DEVICES.items() if encoder.endswith(k)), None)


def hw_device_args(encoder: str) -> list[str]:
    device = hw_device(encoder)
    if device is None:
        return []
    return ["-init_hw_device", device[0], "-filter_hw_device", device[1]]


def pixel_filter(encoder: str) -> str:
    """The last filter before the encoder: an upload for device encoders, else the
    one pixel format every player decodes."""
    device = hw_device(encoder)
    return device[2] if device is not None else "format=yuv420p"
