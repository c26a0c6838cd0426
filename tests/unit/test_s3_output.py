"""`--output s3://bucket/key`: how the key is read, where each stored file lands,
what the master refuses, and where a worker writes before it uploads."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from ffrtmp.core.model import JobSpec
from ffrtmp.core.outputs import OutputKind, hls_layout, output_kind, owner_space
from ffrtmp.core.s3_output import check_allowed, parse_s3_output
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.worker.paths import S3_SCRATCH, resolve_io
from ffrtmp.worker.staging import sweep_partials


@pytest.mark.parametrize(
    ("url", "kind", "artifact", "key"),
    [
        ("s3://media/films/clip.mp4", OutputKind.FILE, "clip.mp4", "films/clip.mp4"),
        ("s3://media/clip.mkv", OutputKind.FILE, "clip.mkv", "clip.mkv"),
        ("s3://media/shows/ep1/", OutputKind.HLS, "ep1/master.m3u8", "shows/ep1/master.m3u8"),
        ("s3://media/a/b/ep1/index.m3u8", OutputKind.HLS, "ep1/v_0.ts", "a/b/ep1/v_0.ts"),
        ("s3://media/ep1/", OutputKind.HLS, "ep1/master.m3u8", "ep1/master.m3u8"),
    ],
)
def test_each_stored_file_lands_under_the_keys_directory(
    url: str, kind: OutputKind, artifact: str, key: str
) -> None:
    assert output_kind(url, live=False) is kind
    out = parse_s3_output(url)
    assert out.bucket == "media" and out.key(artifact) == key
    assert out.url(artifact) == f"s3://media/{key}"
    assert owner_space(url, False, "alice", "j1") == url  # the user's bucket: no owner prefix


def test_an_hls_key_has_the_same_layout_as_a_local_directory() -> None:
    assert hls_layout("s3://media/shows/ep1/") == hls_layout("shows/ep1/")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("s3://Media/x.mp4", "bucket"),
        ("s3://ab/x.mp4", "bucket"),
        ("s3://a..b/x.mp4", "bucket"),
        ("s3://10.0.0.1/x.mp4", "bucket"),
        ("s3://media", "key"),
        ("s3://media/", "key"),
        ("s3://media/x.avi", "extension"),
        ("s3://media/a/../x.mp4", "'.'"),
        ("s3://media//x.mp4", "relative"),
        ("s3://media/master.m3u8", "directory"),
        ("s3://media/.ffrtmp/jobs/j1/attempts/1/x.mp4", "'.'"),
        ("s3://media/a/.hidden/", "'.'"),
    ],
)
def test_a_bad_url_is_invalid_argument_on_spec_output(url: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(RawSpec(scenario="test", output=url))
    assert info.value.field == "spec.output" and says in info.value.message


def test_split_jobs_cannot_write_to_a_bucket() -> None:
    from ffrtmp.core.spec_split import check_together

    spec = resolve(RawSpec(scenario="test", output="s3://media/x.mp4", split="10s"))
    with pytest.raises(InvalidArgument, match="s3://"):
        check_together(spec)


def test_the_master_allows_only_its_listed_buckets() -> None:
    check_allowed("out.mp4", ())  # not an S3 output: no policy
    check_allowed("s3://media/x.mp4", ("media", "archive"))
    with pytest.raises(FailedPrecondition, match="--output-buckets"):
        check_allowed("s3://media/x.mp4", ())
    with pytest.raises(PermissionDenied, match="'other'"):
        check_allowed("s3://other/x.mp4", ("media",))


def test_the_worker_writes_a_scratch_copy_under_its_output_root(tmp_path: Path) -> None:
    roots = {"input_root": tmp_path / "in", "output_root": tmp_path / "out", "rtmp_base": ""}
    io = resolve_io(JobSpec(output="s3://media/films/clip.mp4"), "j1", **roots)
    assert io.remote and io.output_path == (tmp_path / "out" / S3_SCRATCH / "j1/films/clip.mp4")
    hls = resolve_io(JobSpec(output="s3://media/shows/ep1/"), "j1", **roots)
    assert hls.remote and hls.kind is OutputKind.HLS
    assert hls.output_path == tmp_path / "out" / S3_SCRATCH / "j1/shows/ep1"
    assert not resolve_io(JobSpec(output="clip.mp4"), "j1", **roots).remote


def test_a_start_sweeps_scratch_copies_only_from_a_root_of_its_own(tmp_path: Path) -> None:
    left = tmp_path / S3_SCRATCH / "j1" / "films" / "clip.mp4"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"x")
    sweep_partials(tmp_path, quiet_s=60.0)  # a shared root: may be another worker's run
    assert left.exists()
    assert sweep_partials(tmp_path) == 1
    assert not (tmp_path / S3_SCRATCH / "j1").exists()


def test_output_buckets_are_checked_and_never_the_blob_stores_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from ffrtmp.master.storage.blobs import config

    for k in ("FFRTMP_OUTPUT_BUCKETS", "FFRTMP_S3_BUCKET", "FFRTMP_BLOB_BACKEND"):
        monkeypatch.delenv(k, raising=False)
    p = argparse.ArgumentParser(exit_on_error=False)
    config.add_flags(p)
    args = p.parse_args(["--output-buckets", "media, archive"])
    assert config.from_args(args).output_buckets == ("media", "archive")
    with pytest.raises(argparse.ArgumentError, match="not a valid S3 bucket"):
        p.parse_args(["--output-buckets", "Bad_Name"])
    own = p.parse_args(
        ["--blob-backend", "s3", "--s3-bucket", "media", "--output-buckets", "media"]
    )
    with pytest.raises(SystemExit, match="own --s3-bucket"):
        config.from_args(own)
