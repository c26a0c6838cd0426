"""Encoder tunes: which encoders take a `tune`, which values, and as what flags.

The values are each encoder's own (`ffmpeg -h encoder=NAME`): x264's content
and speed tunes, x265's, libaom's and libvpx's metrics (libvpx also its content
types), NVENC's latency levels. A job that pins an encoder may use only that
encoder's values; a job that names a family may use any value one of the
family's encoders takes, and then runs only on a worker that proved such an
encoder, which it uses. Everything else is refused at submit, naming spec.tune.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ffrtmp.core.encoders import FAMILIES, PREFERENCE, encoder_family
from ffrtmp.core.errors import InvalidArgument

_X264 = ("film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency")
_X265 = ("animation", "grain", "psnr", "ssim", "fastdecode", "zerolatency")
_NVENC = ("hq", "ll", "ull", "lossless")
_METRICS = ("psnr", "ssim")
_VPX_CONTENT = ("screen", "film")  # -tune-content; "default" is what no tune means
TUNES: dict[str, tuple[str, ...]] = {
    "libx264": _X264,
    "libx264rgb": _X264,
    "libx265": _X265,
    "libaom-av1": _METRICS,
    "libvpx-vp9": _METRICS + _VPX_CONTENT,
    "h264_nvenc": _NVENC,
    "hevc_nvenc": _NVENC,
    "av1_nvenc": _NVENC,
}
_TUNE = re.compile(r"[a-z]{1,16}")


def takes(encoder: str, tune: str) -> bool:
    return tune in TUNES.get(encoder, ())


def family_encoders(family: str, tune: str) -> tuple[str, ...]:
    """The encoders of `family` that take `tune`, best first."""
    known = PREFERENCE[family] + tuple(e for e in TUNES if e not in PREFERENCE[family])
    return tuple(e for e in known if encoder_family(e) == family and takes(e, tune))


def with_tune(tune: str, encoders: Iterable[str]) -> list[str]:
    """The encoders that can run a job with `tune`: all of them without one."""
    return [e for e in encoders if not tune or takes(e, tune)]


def tune_tokens(encoders: Iterable[str]) -> set[str]:
    """What a worker offers for tunes: `tune:FAMILY:VALUE` per proven encoder."""
    out: set[str] = set()
    for e in encoders:
        family = encoder_family(e)
        if family is not None:
            out.update(f"tune:{family}:{t}" for t in TUNES.get(e, ()))
    return out


def tune_token(codec: str, tune: str) -> str | None:
    """What a job that names a family and a tune needs: a worker with an encoder
    of the family that has the tune. A pinned encoder needs only itself."""
    family = FAMILIES.get(codec.lower())
    return f"tune:{family}:{tune}" if tune and family else None


def check_tune(codec: str, tune: str) -> None:
    """InvalidArgument on spec.tune unless the job's codec can take `tune`."""
    if not tune:
        return
    if not _TUNE.fullmatch(tune):
        raise InvalidArgument("spec.tune", "must be a short lowercase word such as film")
    family = FAMILIES.get(codec.lower())
    if family is None:
        if not TUNES.get(codec):
            raise InvalidArgument("spec.tune", f"encoder {codec[:32]!r} takes no tune")
        if not takes(codec, tune):
            raise InvalidArgument(
                "spec.tune", f"{codec} has no tune {tune!r}; use one of {', '.join(TUNES[codec])}"
            )
        return
    if not family_encoders(family, tune):
        offered = sorted({t for e in TUNES if encoder_family(e) == family for t in TUNES[e]})
        have = ", ".join(offered) if offered else "none"
        raise InvalidArgument(
            "spec.tune", f"no {family} encoder has tune {tune!r}; {family} tunes: {have}"
        )


def tune_args(encoder: str, tune: str, live: bool) -> list[str]:
    """The encoder's flags for `tune`, and for a live job its low-latency tune
    ("" for none). A job's own tune replaces the live default, except on x264,
    which takes several, comma-separated."""
    live_tune = {"libx264": "zerolatency", "libx265": "zerolatency"}.get(encoder, "")
    if encoder.endswith("_nvenc"):
        live_tune = "ll"
    if not tune:
        return ["-tune", live_tune] if live and live_tune else []
    if encoder == "libvpx-vp9" and tune in _VPX_CONTENT:
        return ["-tune-content", tune]
    if live and encoder == "libx264" and tune != "zerolatency":
        return ["-tune", f"{tune},zerolatency"]
    return ["-tune", tune]
