"""What ffmpeg runs for one attempt: a join, one encode, or the two
runs of a two-pass encode. The analysis pass writes nothing but its log, kept
in a hidden partial directory beside the output: private to this attempt (a
segment's passes both run here, never sharing a log with another worker),
removed after the run and swept at start like any partial."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.argv import build_argv
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.model import JobSpec, Lease
from ffrtmp.worker.paths import JobIO
from ffrtmp.worker.staging import Staged, partial_dir


@dataclass(frozen=True, slots=True)
class Runs:
    argvs: list[tuple[list[str], Path | None]]  # in order: (argv, the partial it writes)
    scratch: Path | None = None  # the pass log's directory, made before and removed after

    def prepare(self) -> None:
        if self.scratch is not None:
            self.scratch.mkdir(parents=True, exist_ok=True)


def commands(
    ffmpeg: str, spec: JobSpec, io: JobIO, staged: Staged | None, lease: Lease, *,
    encoder: str, has_audio: bool, features: FfmpegFeatures, join: list[str] | None = None,
) -> Runs:
    """`join`: a join's argv (worker.joining), run as it is."""
    out = None if staged is None else staged.partial
    url = io.output_url if out is None else str(out)
    if join is not None:
        return Runs([(join, out)])

    def encode(output_url: str, rc_pass: int = 0, pass_log: str = "") -> list[str]:
        return build_argv(ffmpeg, spec, input_url=io.input_url, output_url=output_url,
                          encoder=encoder, has_audio=has_audio, features=features,
                          rc_pass=rc_pass, pass_log=pass_log)

    if spec.passes != 2 or staged is None:
        return Runs([(encode(url), out)])
    scratch = partial_dir(staged.final, lease, tag="passlog.partial")
    log = str(scratch / "x264")
    return Runs([(encode("", 1, log), None), (encode(url, 2, log), out)], scratch)
