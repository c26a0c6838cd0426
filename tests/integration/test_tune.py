"""spec.tune end to end: `ffrtmp jobs submit --tune` through a real master to a
worker whose ffmpeg records its argv; every software tune the table offers run by
the build under test, and every hardware one checked against its option lists."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.core.tunes import TUNES
from ffrtmp.worker.features import parse_av_options
from tests.helpers.cluster import Cluster, running_cluster
from tests.helpers.ffmpeg_options import generic_options, help_text, problems
from tests.helpers.media import encoders_under_test, ffmpeg_under_test, lacks

pytestmark = pytest.mark.media
FFMPEG = ffmpeg_under_test()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    """A master and one worker whose ffmpeg appends each argv to a file, one a line."""
    root = tmp_path_factory.mktemp("tune")
    calls = root / "argv.log"
    wrapper = root / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{calls}"\nexec "{FFMPEG}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    with running_cluster(root, 0) as cluster:
        cluster.start_worker("rec", "--ffmpeg", str(wrapper))
        yield cluster, calls


def _cli_json(cluster: Cluster, *args: str) -> dict[str, object]:
    r = cluster.cli("-o", "json", *args)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def test_submit_with_tune_reaches_getjob_and_the_argv(recorded: tuple[Cluster, Path]) -> None:
    cluster, calls = recorded
    job = _cli_json(
        cluster,
        *["jobs", "submit", "--scenario", "test", "--codec", "h264", "--tune", "film"],
        *["--output", "tuned.mp4", "--duration", "0.5", "--wait"],
    )
    assert job["state"] == "SUCCEEDED", job
    got = _cli_json(cluster, "jobs", "get", str(job["id"]))
    assert got["tune"] == "film"
    # The job's run, not the probes before it or of its output after.
    lines = calls.read_text().splitlines()
    runs = [line.split() for line in lines if "tuned" in line and "-progress" in line]
    assert len(runs) == 1
    argv = runs[0]
    assert argv[argv.index("-c:v") + 1] == "libx264"
    assert argv[argv.index("-tune") + 1] == "film"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--codec", "libx265", "--tune", "film"], "libx265 has no tune 'film'"),
        (["--codec", "libopenh264", "--tune", "film"], "takes no tune"),
        (["--tune", "cinema"], "no h264 encoder has tune 'cinema'"),
    ],
)
def test_a_tune_the_codec_lacks_is_invalid_argument(
    recorded: tuple[Cluster, Path], flags: list[str], words: str
) -> None:
    cluster, _ = recorded
    r = cluster.cli("jobs", "submit", "--scenario", "test", *flags)
    assert r.returncode == 1
    assert "INVALID_ARGUMENT: spec.tune:" in r.stderr and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


SOFTWARE = [e for e in TUNES if "nvenc" not in e]
FILE_CASES = [(e, t, False) for e in SOFTWARE for t in TUNES[e]]
# Live jobs add x264's zerolatency to the job's own tune: each pair must be valid.
LIVE_CASES = [("libx264", t, True) for t in TUNES["libx264"]]


@pytest.mark.parametrize(("encoder", "tune", "live"), FILE_CASES + LIVE_CASES)
def test_the_build_runs_every_software_tune_in_the_table(
    encoder: str, tune: str, live: bool
) -> None:
    if encoder not in encoders_under_test():
        pytest.skip(lacks(encoder))
    raw = RawSpec(scenario="test", codec=encoder, tune=tune, duration_s=0.2, output="null:")
    spec = replace(resolve(raw), live=live)
    argv = build_argv(FFMPEG, spec, input_url="", output_url="null:", encoder=encoder)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize("encoder", [e for e in TUNES if "nvenc" in e])
def test_every_hardware_tune_is_one_the_build_lists(encoder: str) -> None:
    # No GPU needed: the encoder's help lists -tune and its named values.
    if encoder not in encoders_under_test():
        pytest.skip(lacks(encoder))
    sections = parse_av_options(help_text("-h", f"encoder={encoder}")).values()
    private = {option: named for s in sections for option, named in s.items()}
    found: set[str] = set()
    for tune in TUNES[encoder]:
        for live in (False, True):
            spec = replace(resolve(RawSpec(scenario="test", codec=encoder, tune=tune)), live=live)
            argv = build_argv(
                "ffmpeg", spec, input_url="in.mov", output_url="o.mp4", encoder=encoder
            )
            found.update(problems(argv, private, generic_options()))
    assert not found, f"{encoder}: {sorted(found)}"
