"""Where a job reads and writes on this worker: inside its roots, or a URL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.model import JobSpec

URL_SCHEMES = ("http://", "https://", "rtmp://", "rtmps://", "srt://")


class PathRefused(ValueError):
    """The job names a path this worker will not touch."""


@dataclass(frozen=True, slots=True)
class JobIO:
    input_url: str
    output_url: str
    output_path: Path | None  # a local file, when the output is one


def _inside(root: Path, relative: str, what: str) -> Path:
    base = root.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise PathRefused(f"{what} {relative!r} is outside the worker's {what} root")
    return path


def resolve_io(
    spec: JobSpec, job_id: str, *, input_root: Path, output_root: Path, rtmp_base: str
) -> JobIO:
    if spec.input.startswith("lavfi:") or spec.input.startswith(URL_SCHEMES):
        input_url = spec.input
    else:
        input_url = str(_inside(input_root, spec.input, "input"))
    if spec.output.startswith(URL_SCHEMES):
        return JobIO(input_url, spec.output, None)
    if spec.live and not spec.output:
        return JobIO(input_url, f"{rtmp_base.rstrip('/')}/{job_id}", None)
    out = _inside(output_root, spec.output or f"{job_id}.mp4", "output")
    return JobIO(input_url, str(out), out)
