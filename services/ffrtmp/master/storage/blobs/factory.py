"""The configured BlobStore backend, and its upkeep."""

from __future__ import annotations

from pathlib import Path

from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.blobs.local import LocalBlobStore
from ffrtmp.master.storage.blobs.protocol import BlobStore


def local_dir(config: BlobConfig, db: str | Path) -> Path:
    if config.dir is not None:
        return config.dir
    if "://" in str(db):  # a database server (PostgreSQL): beside no file; the working directory
        return Path("blobs").resolve()
    return Path(str(db).removeprefix("sqlite:")).resolve().parent / "blobs"


def make_blob_store(config: BlobConfig, db: str | Path) -> BlobStore:
    if config.backend == "s3":
        try:
            from ffrtmp.master.storage.blobs.s3 import S3BlobStore
        except ImportError:  # aiobotocore comes with the s3 extra
            raise SystemExit("the S3 blob backend needs: pip install 'ffrtmp[s3]'") from None
        return S3BlobStore(config)
    return LocalBlobStore(local_dir(config, db))
