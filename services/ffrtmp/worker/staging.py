"""Outputs are written under a hidden partial name and renamed into place on success.

A reader never sees half a file or half an HLS directory under the final name, and
a run cut off by a crash leaves only a partial that the next start of the worker
sweeps away. An HLS output is staged as a whole directory, so its master playlist
never names a rendition that is not there yet.

An output never replaces what its job did not write: a file or directory already
under the final name (another job's, another user's, the operator's) makes the
job fail before ffmpeg starts, and again at commit if it appeared meanwhile. The
one exception is an output marked as this same job's (an earlier attempt of it
committed, then its result was lost): that one is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.model import Lease
from ffrtmp.worker.paths import S3_SCRATCH

log = logging.getLogger("ffrtmp.worker")

PARTIAL_GLOB = ".*.partial.*"
DIRECTORY_SUFFIX = ".hls"
MARKER = ".ffrtmp-job"  # the id of the job that wrote an output (see Staged.marker)


class OutputExists(ValueError):
    """The final name is taken by something this job did not write."""


def partial_path(final: Path, lease: Lease) -> Path:
    # Same extension, so ffmpeg picks the same container.
    return final.with_name(f".{final.stem}.{lease.job_id}-{lease.attempt}.partial{final.suffix}")


def partial_dir(final: Path, lease: Lease, tag: str = "partial") -> Path:
    return final.with_name(f".{final.name}.{lease.job_id}-{lease.attempt}.{tag}{DIRECTORY_SUFFIX}")


def remove(path: Path) -> None:
    """Delete a file or a directory tree; a path already gone is fine."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except FileNotFoundError:
        pass


def sweep_partials(root: Path, quiet_s: float = 0.0) -> int:
    """Delete partial outputs left by runs of an earlier life of this worker.
    Workers may share an output root (a split's segments meet there): a partial
    written to in the last `quiet_s` seconds may be another worker's live run,
    and is left alone (an own one that young goes at the next start)."""
    count = 0
    cutoff = time.time() - quiet_s
    # Shallowest first: a partial directory goes with everything inside it.
    for p in sorted(root.rglob(PARTIAL_GLOB), key=lambda p: len(p.parts)):
        if not p.exists() and not p.is_symlink():
            continue
        with contextlib.suppress(OSError):
            if quiet_s > 0 and p.lstat().st_mtime > cutoff:
                continue
        with contextlib.suppress(OSError):
            remove(p)
            count += 1
    scratch = root / S3_SCRATCH  # s3:// outputs not uploaded before a crash
    if quiet_s <= 0 and scratch.is_dir():  # a shared root's may be another's live run
        for job_dir in scratch.iterdir():
            with contextlib.suppress(OSError):
                remove(job_dir)
                count += 1
    return count


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def free_bytes(root: Path) -> int:
    return shutil.disk_usage(root).free


@dataclass(frozen=True, slots=True)
class Staged:
    """One local output: where ffmpeg writes it and where it lands on success."""

    final: Path
    partial: Path
    directory: bool

    @classmethod
    def file(cls, final: Path, lease: Lease) -> Staged:
        return cls(final, partial_path(final, lease), directory=False)

    @classmethod
    def tree(cls, final: Path, lease: Lease) -> Staged:
        return cls(final, partial_dir(final, lease), directory=True)

    def prepare(self, lease: Lease) -> None:
        self.check_free(lease)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        if self.directory:
            remove(self.partial)  # a leftover of this very attempt, e.g. a re-sent Assign
            self.partial.mkdir()
            (self.partial / MARKER).write_text(lease.job_id + "\n")

    @property
    def marker(self) -> Path:
        """Where the id of the job that wrote the final output is kept: inside an
        HLS directory, beside a file (hidden)."""
        if self.directory:
            return self.final / MARKER
        return self.final.with_name(f".{self.final.name}{MARKER}")

    def _ours(self, lease: Lease) -> bool:
        try:
            return self.marker.read_text().strip() == lease.job_id
        except OSError:
            return False

    def check_free(self, lease: Lease) -> None:
        if not (self.final.exists() or self.final.is_symlink()):
            return
        if self.final.is_dir() == self.directory and self._ours(lease):
            return  # an earlier attempt of this same job
        raise OutputExists(
            f"output {self.final.name!r} already exists and was not written by this job;"
            " ffrtmp never replaces it: choose another output name"
        )

    def commit(self, lease: Lease) -> None:
        """Move the finished output to its final name, never over something this
        job did not write (OutputExists)."""
        self.check_free(lease)
        if not self.directory:
            if self.final.exists():  # this job's own earlier attempt (check_free said so)
                self.partial.replace(self.final)
            else:
                try:
                    os.link(self.partial, self.final)  # fails if the name was taken meanwhile
                except FileExistsError:
                    self.check_free(lease)
                    raise
                self.partial.unlink()
            self.marker.write_text(lease.job_id + "\n")
            return
        old = None
        if self.final.exists():  # this job's own earlier attempt (check_free said so)
            old = partial_dir(self.final, lease, tag="old.partial")
            self.final.replace(old)
        try:
            # rename() onto a name that appeared meanwhile fails unless it is an
            # empty directory: nothing of anyone's is lost either way.
            self.partial.rename(self.final)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                self.check_free(lease)
            raise
        if old is not None:
            remove(old)

    def discard(self) -> None:
        try:
            remove(self.partial)
        except OSError as exc:  # e.g. no permission: report, don't fail the run's ending
            log.warning("could not remove partial output %s: %s", self.partial, exc)

    def size(self) -> int:
        try:
            return tree_size(self.final)
        except OSError:
            return 0
