"""What this host can do: the capabilities a worker offers in its Hello.

The text parsers are pure functions (tested on sample output); only
`probe_capabilities` runs processes and reads /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
from dataclasses import dataclass, field

from ffrtmp.core.encoders import hw_device, hw_device_args
from ffrtmp.core.ffmpeg_build import (
    FfmpegFeatures,
    missing_features,
    parse_version,
    unsupported_reason,
)
from ffrtmp.worker.features import probe_features
from ffrtmp.worker.ffmpeg import FfmpegUnsupported

PROBE_TIMEOUT_S = 15.0

# " V....D libx264   libx264 H.264 / AVC ..." : six flag columns, then the name.
_ENCODER_LINE = re.compile(r"^\s*([VAS][A-Z.]{5})\s+(\S+)")


HW_TEST_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Capabilities:
    encoders: tuple[str, ...]
    hwaccels: tuple[str, ...]
    cpu_threads: int
    ram_bytes: int
    ffmpeg_version: str  # short: "5.1.6", "N-112345-gabc"
    gpus: int
    features: FfmpegFeatures = field(default_factory=FfmpegFeatures)


# What each probed binary offers, for the runs that use it (see features_of).
_PROBED: dict[str, FfmpegFeatures] = {}


def parse_encoders(text: str) -> tuple[str, ...]:
    """Video and audio encoder names from `ffmpeg -encoders`, in listed order."""
    lines = text.splitlines()
    # The flag legend ("V..... = Video") precedes a dashed rule; skip it when present.
    for index, line in enumerate(lines):
        if line.strip().startswith("---"):
            lines = lines[index + 1 :]
            break
    names: list[str] = []
    for line in lines:
        match = _ENCODER_LINE.match(line)
        if match is None or match.group(2) == "=":
            continue
        if match.group(1)[0] in "VA" and match.group(2) not in names:
            names.append(match.group(2))
    return tuple(names)


def parse_hwaccels(text: str) -> tuple[str, ...]:
    """Method names listed after the "Hardware acceleration methods:" header."""
    names: list[str] = []
    started = False
    for line in text.splitlines():
        word = line.strip()
        if not started:
            started = word.lower().startswith("hardware acceleration methods")
            continue
        if word and " " not in word:
            names.append(word)
    return tuple(names)


def parse_meminfo(text: str) -> int | None:
    """MemTotal of /proc/meminfo in bytes."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


async def probe_capabilities(ffmpeg: str) -> Capabilities:
    """What this host offers; FfmpegUnsupported when the binary is too old or
    lacks something every job needs (the worker must not start with it)."""
    version = parse_version(await _run(ffmpeg, "-version"))
    reason = unsupported_reason(version, ffmpeg)
    if reason is not None:
        raise FfmpegUnsupported(reason)
    encoders, hwaccels = await asyncio.gather(
        _run(ffmpeg, "-hide_banner", "-encoders"),
        _run(ffmpeg, "-hide_banner", "-hwaccels"),
    )
    listed = parse_encoders(encoders)
    features = await probe_features(lambda *a: _run(ffmpeg, *a), version, listed)
    missing = missing_features(features)
    if missing:
        raise FfmpegUnsupported(
            f"{ffmpeg} (ffmpeg {version.short}) lacks {', '.join(missing)}; "
            "point the worker at a complete build with --ffmpeg PATH (FFRTMP_FFMPEG)"
        )
    _PROBED[ffmpeg] = features
    return Capabilities(
        encoders=await verify_hardware(ffmpeg, listed),
        hwaccels=parse_hwaccels(hwaccels),
        cpu_threads=cpu_threads(),
        ram_bytes=ram_bytes(),
        ffmpeg_version=version.short,
        gpus=gpu_count(),
        features=features,
    )


def features_of(ffmpeg: str) -> FfmpegFeatures:
    """What the worker's probe found in this binary; the supported baseline for one
    it never probed (a tool or test running ffmpeg directly)."""
    return _PROBED.get(ffmpeg, FfmpegFeatures())


# Encoders that need a device. ffmpeg lists every one it was built with, whether or
# not this host has the hardware, so each is advertised only after a real encode.
HW_MARKERS = (
    "_nvenc",
    "_qsv",
    "_vaapi",
    "_amf",
    "_vulkan",
    "_v4l2m2m",
    "_videotoolbox",
    "_mf",
    "_mediacodec",
    "_d3d12va",
    "_vdpau",
)


def is_hardware(encoder: str) -> bool:
    return any(m in encoder for m in HW_MARKERS)


def test_encode_argv(ffmpeg: str, encoder: str) -> list[str]:
    # The same device set-up and upload a job with this encoder gets, so what the
    # test proves is what jobs will run.
    device = hw_device(encoder)
    setup = [*hw_device_args(encoder), "-vf", device[2]] if device is not None else []
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "color=size=256x144:rate=5",
        "-frames:v",
        "2",
        *setup,
        "-c:v",
        encoder,
        "-f",
        "null",
        "-",
    ]


# Device nodes an encoder family cannot work without on Linux: where none exists the
# test encode is not even tried (each may take seconds on a busy host).
DEVICE_NODES = {
    "_nvenc": "/dev/nvidia[0-9]*",
    "_vaapi": "/dev/dri/renderD*",
    "_qsv": "/dev/dri/renderD*",
    "_amf": "/dev/dri/renderD*",
    "_v4l2m2m": "/dev/video*",
}


def device_pattern(encoder: str) -> str | None:
    return next((g for k, g in DEVICE_NODES.items() if encoder.endswith(k)), None)


def device_missing(encoder: str) -> bool:
    pattern = device_pattern(encoder)
    return pattern is not None and not glob.glob(pattern)


async def verify_hardware(ffmpeg: str, encoders: tuple[str, ...]) -> tuple[str, ...]:
    """The encoders, less the hardware ones whose tiny test encode fails here."""
    hardware = [e for e in encoders if is_hardware(e)]
    results = await asyncio.gather(
        *(_absent() if device_missing(e) else _encodes(ffmpeg, e) for e in hardware)
    )
    failed = {e for e, ok in zip(hardware, results, strict=True) if not ok}
    return tuple(e for e in encoders if e not in failed)


async def _absent() -> bool:
    return False


async def _encodes(ffmpeg: str, encoder: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        *test_encode_argv(ffmpeg, encoder),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        return await asyncio.wait_for(proc.wait(), HW_TEST_TIMEOUT_S) == 0
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):  # it ended as the timeout fired
            proc.kill()
        await proc.wait()
        return False


def cpu_threads() -> int:
    # The affinity mask, not the machine: a container or taskset may give us fewer.
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ram_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as file:
            total = parse_meminfo(file.read())
        if total is not None:
            return total
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def gpu_count() -> int:
    """NVIDIA devices (/dev/nvidia0, ...); nvidiactl and friends are not GPUs."""
    return len(glob.glob("/dev/nvidia[0-9]*"))


async def _run(ffmpeg: str, *args: str) -> str:
    """stdout of one short ffmpeg query; a broken binary should fail the probe loudly."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_S)
    except TimeoutError:
        raise RuntimeError(f"{ffmpeg} {' '.join(args)} timed out") from None
    finally:
        if process.returncode is None:  # timed out or cancelled: leave no orphan behind
            process.kill()
            await process.wait()
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{ffmpeg} {' '.join(args)} exited {process.returncode}: {detail[0]}")
    return stdout.decode(errors="replace")
