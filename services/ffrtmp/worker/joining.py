"""A join on this worker: the segments it concatenates must be outputs under
its output root (a shared one between workers, for now); the concat demuxer's
list is written to a private temporary file, removed after the run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ffrtmp.core.join import concat_list
from ffrtmp.core.model import JobSpec
from ffrtmp.worker.environment import Refused
from ffrtmp.worker.paths import inside


def write_concat_list(spec: JobSpec, output_root: Path) -> Path:
    """Every part checked (inside the root, present), then the list written."""
    parts = [inside(output_root, part, "output") for part in spec.concat]
    missing = [name for name, p in zip(spec.concat, parts, strict=True) if not p.is_file()]
    if missing:
        # Transient: another worker (one that sees the parts) may run the join.
        raise Refused(
            f"{len(missing)} of {len(parts)} parts to join are not on this worker"
            f" (first: {missing[0]!r})"
        )
    fd, name = tempfile.mkstemp(prefix="ffrtmp-concat-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(concat_list(parts))
    return Path(name)

