"""Outputs written straight to users' buckets (`--output s3://bucket/key`).

Each bucket the operator allows (--output-buckets) is an S3BlobStore whose prefix
is the hidden `.ffrtmp/`: a worker stores its attempt's files under
`.ffrtmp/jobs/{job}/attempts/{n}/` exactly as it would in the master's own store
(URLs presigned for its lease only, each upload checked on completion). Nothing
is at the user's keys until the master accepts that attempt's success: it then
copies every file inside the store to its final key, and only after the copies
marks the job SUCCEEDED (scheduling/output_commit.py). The bytes never pass
through the master, and a stale attempt, whose result is refused, copies nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ffrtmp.core.errors import FailedPrecondition
from ffrtmp.core.model import Artifact
from ffrtmp.core.s3_output import is_s3_output, parse_s3_output
from ffrtmp.master.storage.blobs.config import BlobConfig

if TYPE_CHECKING:
    from ffrtmp.master.storage.blobs.s3 import S3BlobStore

HIDDEN = ".ffrtmp/"  # attempts' uploads, inside each output bucket
log = logging.getLogger("ffrtmp.master")


class OutputBuckets:
    def __init__(self, config: BlobConfig) -> None:
        self.config = config
        self.stores: dict[str, S3BlobStore] = {}

    async def open(self) -> None:
        if not self.config.output_buckets:
            return
        try:
            from ffrtmp.master.storage.blobs.s3 import S3BlobStore
        except ImportError:  # aiobotocore comes with the s3 extra
            raise SystemExit("--output-buckets needs: pip install 'ffrtmp[s3]'") from None
        for bucket in self.config.output_buckets:
            store = S3BlobStore(replace(self.config, s3_bucket=bucket, s3_prefix=HIDDEN))
            await store.open()
            self.stores[bucket] = store

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()
        self.stores.clear()

    def store_for(self, output: str) -> S3BlobStore | None:
        """Where the attempts of a job with this output store their files."""
        if not is_s3_output(output):
            return None
        try:
            return self.stores.get(parse_s3_output(output).bucket)
        except ValueError:
            return None

    async def commit(self, output: str, artifacts: Sequence[Artifact]) -> tuple[Artifact, ...]:
        """Copy an accepted attempt's files to their final keys; the artifacts
        as the job lists them (s3:// URLs). A file over 5 GiB is copied in
        parts (s3_copy.py). Raises an FfrtmpError (Unavailable
        while the store is down) with nothing recorded: the attempt is retried."""
        target = parse_s3_output(output)
        store = self.stores.get(target.bucket)
        if store is None:
            raise FailedPrecondition(
                f"bucket {target.bucket!r} is no longer in this master's --output-buckets"
            )
        done = []
        for a in artifacts:
            info = await store.stat(a.resource)
            if info is None or (info.sha256, info.size) != (a.sha256, a.size_bytes):
                raise FailedPrecondition(f"{a.resource} is not stored as the worker reported")
            await store.copy_out(a.resource, target.key(a.name), info)
            done.append(replace(a, resource=target.url(a.name)))
        return tuple(done)

    async def forget(self, job_id: str) -> int:
        """Drop every attempt's upload of a job, in every output bucket."""
        return sum([await s.delete_job(job_id) for s in self.stores.values()])
