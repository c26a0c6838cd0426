"""Where a job reads and writes on this worker: inside its roots, or a URL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.blobref import assigned_resource
from ffrtmp.core.model import JobSpec
from ffrtmp.core.outputs import NULL_OUTPUT, OutputKind, hls_layout, output_kind
from ffrtmp.core.s3_input import is_s3_input
from ffrtmp.core.s3_output import is_s3_output, output_path

URL_SCHEMES = ("http://", "https://", "rtmp://", "rtmps://", "srt://")
# An s3:// output is written here first, per job, then stored through the master
# (blobio.py) and removed: the bucket, not this disk, keeps it.
S3_SCRATCH = ".ffrtmp-s3"


class PathRefused(ValueError):
    """The job names a path this worker will not touch."""


@dataclass(frozen=True, slots=True)
class JobIO:
    input_url: str
    output_url: str  # what the job reports as its output
    output_path: Path | None  # the local file, or the HLS directory, when there is one
    kind: OutputKind = OutputKind.FILE
    playlist: str = ""  # HLS: the master playlist's name inside output_path
    remote: bool = False  # an s3:// output: output_path is a scratch copy to upload


def check_roots(roots: dict[str, Path], credentials: dict[str, Path]) -> None:
    """Refuse roots that hold this worker's credentials: a job's input or output
    path could then read its private key (or overwrite its CA)."""
    for flag, root in roots.items():
        base = root.resolve()
        for what, f in credentials.items():
            path = f.resolve()
            if base == path or base in path.parents:
                raise PathRefused(
                    f"{flag} {root} contains this worker's {what} ({f}), which jobs could"
                    f" then read: choose a {flag} without credentials in it"
                )


def inside(root: Path, relative: str, what: str) -> Path:
    base = root.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise PathRefused(f"{what} {relative!r} is outside the worker's {what} root")
    return path


def _check_lavfi(source: str) -> None:
    """The master checked this already; a worker does not rely on that alone, since a
    filter such as movie= would read any file ffmpeg can open."""
    from ffrtmp.core.errors import InvalidArgument
    from ffrtmp.core.spec import RawSpec, resolve

    try:
        resolve(RawSpec(scenario="test", input=source))
    except InvalidArgument as exc:
        raise PathRefused(f"input refused: {exc.message}") from None


def resolve_io(
    spec: JobSpec,
    job_id: str,
    *,
    input_root: Path,
    output_root: Path,
    rtmp_base: str,
    blob_input: str | None = None,
) -> JobIO:
    """`blob_input`: where the job's blob or s3:// input was fetched (the input cache)."""
    if assigned_resource(spec.input) is not None or is_s3_input(spec.input):
        if blob_input is None:
            raise PathRefused("the input is a blob or s3:// and this worker has no blob access")
        input_url = blob_input
    elif spec.input.startswith("lavfi:"):
        _check_lavfi(spec.input)
        input_url = spec.input
    elif spec.input.startswith(URL_SCHEMES):
        input_url = spec.input
    else:
        input_url = str(inside(input_root, spec.input, "input"))
    kind = output_kind(spec.output, spec.live)
    remote = is_s3_output(spec.output)
    local = f"{S3_SCRATCH}/{job_id}/{output_path(spec.output)}" if remote else spec.output
    if kind is OutputKind.NULL:
        return JobIO(input_url, NULL_OUTPUT, None, kind)
    if kind is OutputKind.STREAM:
        url = spec.output or f"{rtmp_base.rstrip('/')}/{job_id}"
        return JobIO(input_url, url, None, kind)
    if kind is OutputKind.HLS:
        layout = hls_layout(local)
        directory = inside(output_root, layout.directory, "output")
        if directory == output_root.resolve():
            raise PathRefused("an HLS output needs a directory of its own under the output root")
        master = str(directory / layout.master)
        return JobIO(input_url, master, directory, kind, layout.master, remote)
    out = inside(output_root, local or f"{job_id}.mp4", "output")
    return JobIO(input_url, str(out), out, kind, remote=remote)
