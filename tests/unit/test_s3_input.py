"""`--input s3://bucket/key`: what a spec may name, the master's bucket policy,
the `jobs/{job}/input` name and who may read it, and where the worker reads it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ffrtmp.core import blobnames
from ffrtmp.core.authz import Actor
from ffrtmp.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from ffrtmp.core.model import JobSpec
from ffrtmp.core.s3_input import check_input_allowed, job_input_resource, parse_s3_input
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.master.rpc.blob_access import BlobAccess, Lease
from ffrtmp.worker.paths import PathRefused, resolve_io


def test_a_good_url_names_one_object() -> None:
    assert resolve(RawSpec(scenario="test", input="s3://media/films/raw.mov")).input
    obj = parse_s3_input("s3://media/films/a b.mov")
    assert (obj.bucket, obj.key, str(obj)) == ("media", "films/a b.mov", "s3://media/films/a b.mov")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("s3://Bad_Bucket/x.mp4", "bucket"),
        ("s3://media", "one object"),
        ("s3://media/", "one object"),
        ("s3://media/films/", "one object"),
        ("s3://media/.ffrtmp/jobs/j1/attempts/1/out.mp4", ".ffrtmp/"),
        ("s3://media/" + "k" * 1025, "1024"),
    ],
)
def test_a_bad_url_is_invalid_argument_on_spec_input(url: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(RawSpec(scenario="test", input=url))
    assert info.value.field == "spec.input" and says in info.value.message


def test_the_master_reads_only_its_listed_buckets() -> None:
    check_input_allowed("in/a.mp4", ())  # not an S3 input: no policy
    check_input_allowed("s3://media/a.mp4", ("media",))
    with pytest.raises(FailedPrecondition, match="--input-buckets"):
        check_input_allowed("s3://media/a.mp4", ())
    with pytest.raises(PermissionDenied, match="'other'"):
        check_input_allowed("s3://other/a.mp4", ("media",))


def test_input_buckets_are_checked_and_never_the_blob_stores_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ffrtmp.master.storage.blobs import config

    for k in ("FFRTMP_INPUT_BUCKETS", "FFRTMP_S3_BUCKET", "FFRTMP_BLOB_BACKEND"):
        monkeypatch.delenv(k, raising=False)
    p = argparse.ArgumentParser(exit_on_error=False)
    config.add_flags(p)
    assert config.from_args(p.parse_args(["--input-buckets", "media,lib"])).input_buckets == (
        "media", "lib")
    with pytest.raises(argparse.ArgumentError, match="not a valid S3 bucket"):
        p.parse_args(["--input-buckets", "Bad_Name"])
    own = p.parse_args(["--blob-backend", "s3", "--s3-bucket", "media", "--input-buckets", "media"])
    with pytest.raises(SystemExit, match="own --s3-bucket"):
        config.from_args(own)


def test_a_jobs_input_name_parses_and_nothing_else_like_it() -> None:
    assert blobnames.parse(job_input_resource("j1")) == blobnames.JobInput("j1")
    with pytest.raises(InvalidArgument):
        blobnames.parse("jobs/../input")
    with pytest.raises(InvalidArgument):  # not the input name: an attempt's path is expected
        blobnames.parse("jobs/j1/x/input")


async def test_no_client_reads_a_jobs_input_and_no_worker_writes_it() -> None:
    name = blobnames.JobInput("j1")
    for role in ("admin", "operator", "viewer", "submitter"):
        with pytest.raises(PermissionDenied, match="lease"):
            await BlobAccess().check(Actor("alice", role), name, None, write=False)
    allow_all = BlobAccess(authorize_worker=lambda *a: True)
    worker = Actor("w1", "worker", kind="worker")
    await allow_all.check(worker, name, Lease("j1", 1), write=False)
    with pytest.raises(PermissionDenied):
        await allow_all.check(worker, name, Lease("j1", 1), write=True)


def test_the_worker_reads_an_s3_input_only_from_its_cache(tmp_path: Path) -> None:
    roots = {"input_root": tmp_path / "in", "output_root": tmp_path / "out", "rtmp_base": ""}
    spec = JobSpec(input="s3://media/a.mp4", output="a.mp4")
    with pytest.raises(PathRefused, match="s3://"):
        resolve_io(spec, "j1", **roots)  # never a path under the input root
    got = resolve_io(spec, "j1", blob_input=str(tmp_path / "cache" / "k"), **roots)
    assert got.input_url == str(tmp_path / "cache" / "k")
