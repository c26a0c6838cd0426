"""`make demo`: a local cluster doing real work, end to end.

Dev certificates, a master on the embedded SQLite, two workers, a handful of real
jobs (file transcodes in H.264 and H.265, and a live RTMP push to a local
receiver), each watched to completion and its output decoded and checked.
Everything runs under ./demo and on loopback; every process is stopped at the end.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ffrtmp.client import Client
from ffrtmp.tls import pki
from ffrtmp.v1 import common_pb2
from ffrtmp.worker.ffmpeg import find_ffmpeg

ROOT = Path("demo")
READY = re.compile(r"ffrtmp-master ready port=(\d+) metrics_port=(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args], stdout=subprocess.PIPE, stderr=open(log, "w"), text=True
    )


def probe(ffmpeg: str, target: Path) -> str:
    """'WxH codec duration' of a media file, after decoding every frame without error."""
    dec = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(target), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    if dec.returncode != 0 or dec.stderr.strip():
        raise SystemExit(f"{target} does not decode cleanly: {dec.stderr[:500]}")
    head = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(target)], capture_output=True, text=True, check=False
    ).stderr
    video = re.search(r"Video: (\w+).*?, (\d+x\d+)", head)
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", head)
    if not video or not dur:
        raise SystemExit(f"{target}: no video stream")
    secs = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3))
    return f"{video.group(2)} {video.group(1)} {secs:.1f}s"


async def demo() -> int:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    certs = ROOT / "certs"
    pki.init_ca(certs)
    pki.issue(certs, "client", "admin", role="admin")
    for name in ("worker-1", "worker-2"):
        pki.issue(certs, "worker", name)
    ffmpeg = find_ffmpeg()
    print(f"certificates in {certs}; ffmpeg: {ffmpeg}")

    procs: list[subprocess.Popen[str]] = []
    master = start(
        [
            "ffrtmp.master.main",
            "--listen",
            "127.0.0.1:0",
            "--metrics-port",
            "0",
            "--metrics-host",
            "127.0.0.1",
            "--db",
            str(ROOT / "ffrtmp.db"),
            "--ca",
            str(certs / "ca.crt"),
            "--cert",
            str(certs / "master.crt"),
            "--key",
            str(certs / "master.key"),
            "--heartbeat-interval",
            "2s",
            "--heartbeat-timeout",
            "10s",
        ],
        ROOT / "master.log",
    )
    procs.append(master)
    try:
        assert master.stdout is not None
        m = READY.search(master.stdout.readline())
        if not m:
            raise SystemExit(f"master did not start; see {ROOT / 'master.log'}")
        addr = f"127.0.0.1:{m.group(1)}"
        print(f"master on {addr}, metrics on http://127.0.0.1:{m.group(2)}/metrics")
        rtmp_port = free_port()
        for name in ("worker-1", "worker-2"):
            procs.append(
                start(
                    [
                        "ffrtmp.worker.main",
                        "--master",
                        addr,
                        "--ca",
                        str(certs / "ca.crt"),
                        "--cert",
                        str(certs / f"{name}.crt"),
                        "--key",
                        str(certs / f"{name}.key"),
                        "--slots",
                        "1",
                        "--metrics-port",
                        "0",
                        "--metrics-host",
                        "127.0.0.1",
                        "--output-root",
                        str(ROOT / "out" / name),
                        "--input-cache",
                        str(ROOT / "cache" / name),
                        "--rtmp-base",
                        f"rtmp://127.0.0.1:{rtmp_port}/live",
                    ],
                    ROOT / f"{name}.log",
                )
            )
        async with Client(
            addr, ca=certs / "ca.crt", cert=certs / "admin.crt", key=certs / "admin.key"
        ) as c:
            for _ in range(100):
                if len([n for n in await c.list_nodes() if n.state == 1]) == 2:
                    break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("workers did not connect; see demo/*.log")
            print("2 workers online")
            specs = [
                common_pb2.JobSpec(scenario="test", queue="batch", priority="low"),
                common_pb2.JobSpec(
                    scenario="720p30-h264", duration_s=2, queue="default", priority="high"
                ),
                common_pb2.JobSpec(
                    scenario="1080p30-h265",
                    width=640,
                    height=360,
                    duration_s=2,
                    bitrate="800k",
                    output="h265/clip.mkv",
                ),
            ]
            jobs = [(await c.submit(s)).job for s in specs]
            # A live push: start the receiver for its stream, then submit it.
            live = (
                await c.submit(
                    common_pb2.JobSpec(
                        scenario="live-1080p",
                        width=640,
                        height=360,
                        duration_s=3,
                        bitrate="1M",
                        queue="live",
                        priority="high",
                    )
                )
            ).job
            received = ROOT / "received-live.flv"
            receiver = subprocess.Popen(
                [
                    ffmpeg,
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-listen",
                    "1",
                    "-timeout",
                    "60",
                    "-i",
                    f"rtmp://127.0.0.1:{rtmp_port}/live/{live.id}",
                    "-c",
                    "copy",
                    "-f",
                    "flv",
                    "-y",
                    str(received),
                ],
                stderr=subprocess.DEVNULL,
            )
            jobs.append(live)
            print(f"submitted {len(jobs)} jobs; watching them:")
            t0 = time.monotonic()
            finals = await asyncio.gather(*(watch(c, j.id) for j in jobs))
            receiver.wait(30)
            print(f"all jobs ended in {time.monotonic() - t0:.1f}s")
            ok = True
            for job in finals:
                state = common_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")
                if job.state != common_pb2.JOB_STATE_SUCCEEDED:
                    ok = False
                    print(f"  {job.id} {job.spec.scenario:13} {state}: {job.error}")
                    continue
                target = received if job.spec.live else Path(job.output)
                print(
                    f"  {job.id} {job.spec.scenario:13} {state} on {job.node_id}: "
                    f"{target} -> {probe(ffmpeg, target)}"
                )
            # The workers also stored their file outputs in the master's blob store:
            # fetch one back as `ffrtmp jobs fetch` would, wherever it ran.
            stored = [a for j in finals for a in j.output_info.artifacts]
            if ok and stored:
                got = ROOT / "fetched" / stored[0].name
                got.parent.mkdir(parents=True, exist_ok=True)
                await c.transfer().download(stored[0].resource, got)
                print(f"fetched {stored[0].resource} -> {got} -> {probe(ffmpeg, got)}")
            return 0 if ok else 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


async def watch(c: Client, job_id: str) -> common_pb2.Job:
    last = None
    async for job in c.watch(job_id):
        if last is None or job.state != last.state:
            state = common_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")
            print(f"    {job.id} {state:9} {job.node_id or ''}", flush=True)
        last = job
    assert last is not None
    return last


if __name__ == "__main__":
    sys.exit(asyncio.run(demo()))
