"""The blob service's settings and their flags (each with an FFRTMP_* twin)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ffrtmp import flags
from ffrtmp.core.sizes import parse_size

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class BlobConfig:
    backend: str = "local"  # "local" (a directory of the master's) or "s3"
    # Local backend: where blobs live; None: "blobs" next to the SQLite file.
    dir: Path | None = None
    max_bytes: int = 64 * GIB  # one blob
    quota_bytes: int = 0  # per owner name space; 0: none
    partial_ttl_s: float = 86400.0  # unfinished uploads untouched this long are dropped
    keep_inputs_s: float = 14 * 86400.0  # unreferenced inputs older than this go; 0: kept
    # S3 backend; credentials come from the usual AWS variables and files.
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint: str = ""  # MinIO, Ceph RGW, ...; empty: AWS
    s3_region: str = ""
    presign_ttl_s: float = 300.0
    part_bytes: int = 64 * 1024**2  # multipart part size above which uploads split
    # Buckets jobs may name in `--output s3://bucket/...` (reached with the s3_*
    # endpoint, region and the AWS credentials); empty: no S3 outputs.
    output_buckets: tuple[str, ...] = ()
    # Buckets jobs may read in `--input s3://bucket/key` (same endpoint, region
    # and credentials); empty: no S3 inputs.
    input_buckets: tuple[str, ...] = ()


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _buckets(text: str) -> tuple[str, ...]:
    from ffrtmp.core.s3_output import check_bucket

    names = tuple(b.strip() for b in text.split(",") if b.strip())
    for b in names:
        try:
            check_bucket(b)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def add_flags(p: argparse.ArgumentParser) -> None:
    f = flags.add
    f(
        p,
        "--blob-backend",
        default="local",
        choices=["local", "s3"],
        help="where uploaded inputs and job outputs are kept",
    )
    f(
        p,
        "--blob-dir",
        default=None,
        type=Path,
        help="local backend: the directory (default: 'blobs' next to the database)",
    )
    f(p, "--blob-max-size", default=64 * GIB, type=_size, help="largest blob (e.g. 64G)")
    f(
        p,
        "--blob-quota",
        default=0,
        type=_size,
        help="bytes each owner may keep in its uploads (e.g. 500G); 0 is no quota",
    )
    f(
        p,
        "--blob-partial-ttl",
        default=86400.0,
        type=flags.duration,
        help="unfinished uploads untouched this long are dropped (e.g. 24h)",
    )
    f(
        p,
        "--blob-keep-inputs",
        default=14 * 86400.0,
        type=flags.duration,
        help="uploaded inputs no job in the store refers to are removed this long after "
        "their upload (e.g. 14d); 0 keeps them",
    )
    f(p, "--s3-bucket", default="", help="S3 backend: the bucket")
    f(p, "--s3-prefix", default="", help="S3 backend: a key prefix inside the bucket")
    f(p, "--s3-endpoint", default="", help="S3 backend: endpoint URL (MinIO, Ceph); empty: AWS")
    f(p, "--s3-region", default="", help="S3 backend: region (default: the AWS configuration's)")
    f(
        p,
        "--output-buckets",
        default=(),
        type=_buckets,
        help="comma-separated buckets jobs may write outputs to (--output s3://bucket/...), "
        "with --s3-endpoint/--s3-region and the usual AWS credentials; empty: none",
    )
    f(
        p,
        "--input-buckets",
        default=(),
        type=_buckets,
        help="comma-separated buckets jobs may read inputs from (--input s3://bucket/key), "
        "with --s3-endpoint/--s3-region and the usual AWS credentials; empty: none",
    )
    f(
        p,
        "--presign-ttl",
        default=300.0,
        type=flags.duration,
        help="how long presigned S3 URLs stay valid (e.g. 5m)",
    )


def from_args(args: argparse.Namespace) -> BlobConfig:
    if args.blob_backend == "s3" and not args.s3_bucket:
        raise SystemExit("--blob-backend s3 needs --s3-bucket (or FFRTMP_S3_BUCKET)")
    if args.blob_backend == "s3" and args.s3_bucket in args.output_buckets:
        # Jobs' keys there could name the cluster's own blobs.
        raise SystemExit("--output-buckets may not list the blob store's own --s3-bucket")
    if args.blob_backend == "s3" and args.s3_bucket in args.input_buckets:
        # Its keys are every owner's blobs: a job could read another's.
        raise SystemExit("--input-buckets may not list the blob store's own --s3-bucket")
    return BlobConfig(
        backend=args.blob_backend,
        dir=args.blob_dir,
        max_bytes=args.blob_max_size,
        quota_bytes=args.blob_quota,
        partial_ttl_s=args.blob_partial_ttl,
        keep_inputs_s=args.blob_keep_inputs,
        s3_bucket=args.s3_bucket,
        s3_prefix=args.s3_prefix,
        s3_endpoint=args.s3_endpoint,
        s3_region=args.s3_region,
        presign_ttl_s=args.presign_ttl,
        output_buckets=tuple(args.output_buckets),
        input_buckets=tuple(args.input_buckets),
    )
