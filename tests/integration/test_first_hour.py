"""What a new user meets in the first hour: failures that end soon and say why,
typos refused at submit, reasons shown in every view, the output path at the end."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from ffrtmp.worker.ffmpeg import find_ffmpeg
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.rtmp import RtmpReceiver, free_port


@pytest.fixture(scope="module")
def hour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("hour")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master("--retry-backoff", "0.2s", "--max-retries", "5")
        c.start_worker("w1")
        yield c
    finally:
        c.stop()


def _json(r: object) -> object:
    assert r.returncode == 0, r.stdout + r.stderr  # type: ignore[attr-defined]
    return json.loads(r.stdout)  # type: ignore[attr-defined]


def test_a_live_job_without_an_rtmp_server_fails_after_one_retry(hour: Cluster) -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/nobody"
    r = hour.cli("jobs", "submit", "--scenario", "test", "--live", "--output", url, "--wait")
    assert r.returncode == 1, r.stdout + r.stderr
    # The end of --wait names the cause, not only the state.
    assert "connection refused" in r.stderr.lower(), r.stderr
    jobs = _json(hour.cli("-o", "json", "jobs", "list", "--state", "FAILED"))
    job = next(j for j in jobs if j["output"] == url)  # type: ignore[union-attr]
    # Was 6 attempts (5 retries) minutes apart; the same refusal twice ends it.
    assert job["attempt"] == 2 and "twice in a row" in job["failure_reason"], job
    # Both overviews show why, without `jobs get`.
    for cmd in (("jobs", "list"), ("jobs", "status")):
        r = hour.cli(*cmd)
        assert r.returncode == 0 and "Connection refused" in r.stdout, r.stdout


def _short_body(data: bytes) -> type[http.server.BaseHTTPRequestHandler]:
    class ShortBody(http.server.BaseHTTPRequestHandler):
        """Promises the whole file, sends its first kilobyte and hangs up: ffmpeg
        reports "Stream ends prematurely", then "End of file"."""

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:1000])
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return ShortBody


def test_an_unreadable_http_input_fails_after_one_retry(hour: Cluster) -> None:
    mp4 = hour.root / "whole.mp4"
    subprocess.run([find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x96:rate=10", "-t", "3", "-c:v", "libx264",
                    "-movflags", "+faststart", "-y", str(mp4)], check=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _short_body(mp4.read_bytes()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cut.mp4"
        r = hour.cli("-o", "json", "jobs", "submit", "--scenario", "test", "--input", url,
                     "--output", "cut.mp4", "--wait", timeout=120)
        job = json.loads(r.stdout)
        assert r.returncode == 1 and job["state"] == "FAILED", r.stdout + r.stderr
        assert job["attempt"] == 2 and "twice in a row" in job["failure_reason"], job
    finally:
        server.shutdown()
        server.server_close()


def test_a_codec_typo_is_refused_at_submit(hour: Cluster) -> None:
    r = hour.cli("jobs", "submit", "--scenario", "test", "--codec", "h246")
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr, r.stdout + r.stderr
    assert "spec.codec" in r.stderr and "'h264'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_every_view_says_why_a_job_waits(hour: Cluster) -> None:
    r = hour.cli("-o", "json", "jobs", "submit", "--scenario", "test",
                 "--require-label", "zone=nowhere")
    job_id = _json(r)["id"]  # type: ignore[index]
    try:
        listed = _json(hour.cli("-o", "json", "jobs", "list", "--state", "QUEUED"))
        job = next(j for j in listed if j["id"] == job_id)  # type: ignore[union-attr]
        assert "label:zone=nowhere" in job["pending_reason"], job
        for cmd in (("jobs", "list"), ("jobs", "status")):
            r = hour.cli(*cmd)
            assert "label:zone=nowhere" in r.stdout, r.stdout
    finally:
        hour.cli("jobs", "cancel", job_id)


def test_with_the_only_worker_drained_the_reason_says_draining(hour: Cluster) -> None:
    assert hour.cli("nodes", "drain", "w1").returncode == 0
    try:
        job = _json(hour.cli("-o", "json", "jobs", "submit", "--scenario", "test"))
        got = _json(hour.cli("-o", "json", "jobs", "get", job["id"]))  # type: ignore[index]
        assert got["pending_reason"] == "the workers that could run it are draining: w1", got
        stats = _json(hour.cli("-o", "json", "queue", "stats"))
        assert "draining: w1" in stats["blocked"][0]["reason"], stats  # type: ignore[index]
    finally:
        assert hour.cli("nodes", "undrain", "w1").returncode == 0
    r = hour.cli("jobs", "watch", job["id"])  # type: ignore[index]
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_job_canceled_halfway_keeps_its_progress(hour: Cluster) -> None:
    receiver = RtmpReceiver(free_port(), "live", "half", hour.root / "half.flv")
    try:
        job = _json(hour.cli("-o", "json", "jobs", "submit", "--scenario", "test", "--live",
                             "--duration", "60", "--output", receiver.url))
        job_id = job["id"]  # type: ignore[index]
        deadline = time.monotonic() + 60
        seen = 0.0
        while seen < 5 and time.monotonic() < deadline:  # -re: real time, 3 s of 60
            seen = _json(hour.cli("-o", "json", "jobs", "get", job_id))["progress"]  # type: ignore[index]
            time.sleep(0.3)
        assert seen >= 5, seen
        canceled = _json(hour.cli("-o", "json", "jobs", "cancel", job_id))
        assert canceled["state"] == "CANCELED" and canceled["progress"] >= seen, canceled  # type: ignore[index]
        time.sleep(1)  # the worker's CANCELED result arrives and is acknowledged
        after = _json(hour.cli("-o", "json", "jobs", "get", job_id))
        assert after["progress"] >= seen, after  # type: ignore[index]
    finally:
        receiver.stop()


def test_wait_ends_with_the_output_path_and_get_shows_the_log(hour: Cluster) -> None:
    r = hour.cli("jobs", "submit", "--scenario", "test", "--output", "first/hour.mp4", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert "succeeded" in last and last.endswith("first/hour.mp4"), r.stdout
    job_id = last.split()[0]
    r = hour.cli("jobs", "get", job_id)
    assert "log tail" in r.stdout and "frame=" in r.stdout, r.stdout


def test_ctrl_c_leaves_the_job_running_and_says_how_to_follow_it(hour: Cluster) -> None:
    receiver = RtmpReceiver(free_port(), "live", "ctrlc", hour.root / "ctrlc.flv")
    cert, key = hour.certs.pair("admin")
    env = {**os.environ, "FFRTMP_MASTER": hour.address, "FFRTMP_CA": str(hour.certs.ca),
           "FFRTMP_CERT": str(cert), "FFRTMP_KEY": str(key), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ffrtmp.cli.main", "jobs", "submit", "--scenario", "test",
         "--live", "--duration", "60", "--output", receiver.url, "--wait"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        job_id = proc.stdout.readline().split()[0]  # the first status line names the job
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, out + err
        assert f"job {job_id} goes on" in err and f"ffrtmp jobs cancel {job_id}" in err, err
        assert "Traceback" not in err, err
        state = _json(hour.cli("-o", "json", "jobs", "get", job_id))["state"]  # type: ignore[index]
        assert state in ("QUEUED", "ASSIGNED", "RUNNING"), state
        hour.cli("jobs", "cancel", job_id)
    finally:
        if proc.poll() is None:
            proc.kill()
        receiver.stop()


def test_nodes_list_shows_the_ffmpeg_version_on_the_node_row(hour: Cluster) -> None:
    version = _json(hour.cli("-o", "json", "nodes", "list"))[0]["ffmpeg_version"]  # type: ignore[index]
    r = hour.cli("nodes", "list")
    row = next(line for line in r.stdout.splitlines() if " w1 " in line)
    release = re.search(r"\d+\.\d+(\.\d+)?", version)
    assert release is not None and release.group(0) in row, r.stdout  # not wrapped away
    assert "Copyright" not in r.stdout, r.stdout
