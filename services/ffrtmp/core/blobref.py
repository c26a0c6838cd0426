"""How a job names media the cluster stores for it (see the master's blob service).

A spec's input may be `blob:sha256:<64 hex>`: the submitter's own blob with that
digest, uploaded before the submit (`ffrtmp jobs submit --input ./file` does it).
The worker reads it through its lease, never from a shared disk.
"""

from __future__ import annotations

import re

BLOB_PREFIX = "blob:sha256:"
_BLOB = re.compile(r"blob:sha256:([0-9a-f]{64})", re.ASCII)


def is_blob_ref(value: str) -> bool:
    """Whether the input names a blob (well formed or not): `blob:` is ours."""
    return value[:5].lower() == "blob:"


def blob_digest(value: str) -> str:
    """The hex SHA-256 of a `blob:sha256:<hex>` reference; ValueError otherwise."""
    m = _BLOB.fullmatch(value)
    if m is None:
        raise ValueError("a blob input is blob:sha256: and 64 lowercase hex digits")
    return m.group(1)


def blob_ref(digest: str) -> str:
    blob_digest(BLOB_PREFIX + digest)  # the same check both ways
    return BLOB_PREFIX + digest


# The worker's Assign carries the blob's full resource name, since the worker
# does not know the job's owner: `blob:owners/{owner}/blobs/{hex}`.
ASSIGNED_PREFIX = "blob:"


def assigned_input(value: str, owner: str) -> str:
    """The input as the worker gets it (unchanged unless it names a blob)."""
    if not is_blob_ref(value):
        return value
    return f"{ASSIGNED_PREFIX}owners/{owner}/blobs/{blob_digest(value)}"


def assigned_resource(value: str) -> str | None:
    """On the worker: the blob resource an assigned input names, if it names one."""
    return value[len(ASSIGNED_PREFIX) :] if value.startswith(ASSIGNED_PREFIX) else None


def attempt_space(job_id: str, attempt: int) -> str:
    """The prefix of every resource an attempt may write: its outputs."""
    return f"jobs/{job_id}/attempts/{attempt}/"
