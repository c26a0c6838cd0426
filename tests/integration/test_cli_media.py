"""`ffrtmp jobs submit` with media, ladder and placement flags, and what `jobs get`
and `jobs watch` show of the result, through a real master, workers and ffmpeg."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.helpers.cluster import Cluster

# Real ffmpeg runs: repeated on the distribution's build (see tests/helpers/media.py).
pytestmark = pytest.mark.media


def cli_json(cluster: Cluster, *args: str) -> tuple[int, Any, str]:
    r = cluster.cli("-o", "json", *args)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr


def test_hls_ladder_from_the_cli_reports_its_output(cluster: Cluster) -> None:
    code, job, err = cli_json(
        cluster,
        *["jobs", "submit", "--scenario", "test", "--output", "hls/cli/", "--duration", "2"],
        *["--rendition", "320x180@300k", "--rendition", "160x90@100k"],
        *["--gop", "1", "--audio-bitrate", "48k", "--audio-channels", "1"],
        *["--threads", "2", "--nice", "5", "--encoder-preset", "superfast", "--wait"],
    )
    assert code == 0, err
    assert job["state"] == "SUCCEEDED" and job["output"].endswith("hls/cli/master.m3u8")
    code, got, err = cli_json(cluster, "jobs", "get", job["id"])
    assert code == 0, err
    assert (got["gop_s"], got["threads"], got["nice"], got["preset"]) == (1, 2, 5, "superfast")
    assert (got["audio_codec"], got["audio_bitrate"], got["audio_channels"]) == ("aac", "48k", 1)
    assert got["renditions"] == [
        {"width": 320, "height": 180, "bitrate": "300k"},
        {"width": 160, "height": 90, "bitrate": "100k"},
    ]
    info = got["output_info"]
    assert info["format"] == "hls" and info["size_bytes"] == got["output_bytes"] > 0
    assert info["duration_s"] > 1.5
    video = [(s["codec"], s["width"], s["height"]) for s in info["streams"] if s["kind"] == "video"]
    assert video == [("h264", 320, 180), ("h264", 160, 90)]
    audio = [s for s in info["streams"] if s["kind"] == "audio"]
    assert audio and all(
        (s["codec"], s["sample_rate"], s["channels"]) == ("aac", 48000, "mono") for s in audio
    )
    # The table shows the same: the container, then one line per stream.
    r = cluster.cli("jobs", "get", job["id"])
    assert r.returncode == 0, r.stderr
    assert "output info" in r.stdout and "hls" in r.stdout
    assert "video h264 320x180" in r.stdout and "video h264 160x90" in r.stdout
    assert "48000 Hz mono" in r.stdout
    assert "320x180@300k, 160x90@100k" in r.stdout


def test_a_file_job_without_audio_and_with_a_cap(cluster: Cluster) -> None:
    code, job, err = cli_json(
        cluster,
        *["jobs", "submit", "--scenario", "test", "--output", "cli/quiet.mp4"],
        *["--duration", "1", "--audio-codec", "none", "--maxrate", "400k", "--wait"],
    )
    assert code == 0, err
    assert (job["audio_codec"], job["maxrate"], job["bufsize"]) == ("none", "400k", "800k")
    kinds = [s["kind"] for s in job["output_info"]["streams"]]
    assert kinds == ["video"]


def test_a_job_no_worker_can_take_stays_queued_with_the_reason(cluster: Cluster) -> None:
    code, job, err = cli_json(
        cluster,
        *["jobs", "submit", "--scenario", "test", "--require-label", "zone=nowhere"],
        *["--require-encoder", "libx264"],
    )
    assert code == 0, err
    assert job["state"] == "QUEUED"
    assert job["requirements"] == {
        "encoders": ["libx264"],
        "gpu": False,
        "labels": {"zone": "nowhere"},
    }
    deadline = time.monotonic() + 10
    while True:
        code, got, err = cli_json(cluster, "jobs", "get", job["id"])
        assert code == 0, err
        if got["pending_reason"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(1.5)  # a dispatch round has come and gone: still nobody takes it
    code, got, err = cli_json(cluster, "jobs", "get", job["id"])
    assert got["state"] == "QUEUED" and got["node_id"] == ""
    assert "zone=nowhere" in got["pending_reason"]
    r = cluster.cli("jobs", "get", job["id"])
    assert r.returncode == 0 and "zone=nowhere" in r.stdout and "QUEUED" in r.stdout
    code, got, err = cli_json(cluster, "jobs", "cancel", job["id"])
    assert code == 0 and got["state"] == "CANCELED"


def test_watch_lines_show_eta_and_bitrate(cluster: Cluster) -> None:
    # Not a terminal: one plain line per change. A live job of known length has an ETA.
    r = cluster.cli(
        *["jobs", "submit", "--scenario", "test", "--live", "--output", "cli/live.mkv"],
        *["--duration", "3", "--wait"],
    )
    assert r.returncode == 0, r.stdout + r.stderr
    running = [line for line in r.stdout.splitlines() if " RUNNING " in line]
    assert any(" ETA " in line for line in running), r.stdout
    assert any("kbits/s" in line for line in running), r.stdout
    *_, last_status, done = r.stdout.splitlines()
    assert last_status.split()[1] == "SUCCEEDED" and " succeeded: " in done, r.stdout


def test_bad_flags_and_fields_exit_non_zero(cluster: Cluster) -> None:
    r = cluster.cli("jobs", "submit", "--rendition", "big@fast")
    assert r.returncode == 2 and "WIDTHxHEIGHT@BITRATE" in r.stderr
    r = cluster.cli("jobs", "submit", "--require-label", "zone")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr
    r = cluster.cli("jobs", "submit", "--audio-codec", "mp3")
    assert r.returncode == 2
    r = cluster.cli("jobs", "submit", "--scenario", "test", "--gop", "90")
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr and "spec.gop_s" in r.stderr
    r = cluster.cli("jobs", "submit", "--rendition", "320x180@300k", "--output", "a.mp4")
    assert r.returncode == 1 and "spec.renditions" in r.stderr
    r = cluster.cli("jobs", "submit", "--audio-codec", "opus", "--scenario", "live-1080p")
    assert r.returncode == 1 and "spec.audio_codec" in r.stderr


def test_scenarios_list_shows_gop_audio_and_caps(cluster: Cluster) -> None:
    code, rows, err = cli_json(cluster, "scenarios", "list")
    assert code == 0, err
    live = next(s for s in rows if s["name"] == "live-1080p")
    assert (live["gop_s"], live["maxrate"], live["bufsize"]) == (2, "6000k", "12000k")
    assert (live["audio_codec"], live["audio_sample_rate"], live["audio_channels"]) == (
        "aac",
        48000,
        2,
    )
    r = cluster.cli("scenarios", "list")
    assert r.returncode == 0 and "aac 128k 48kHz 2ch" in r.stdout
