"""Streams and credentials: watch slots always come back, a revoked certificate's
open streams are closed on reload, API keys need `Bearer ` and wrong ones are
slowed down, and odd certificates (a newline in the name, no client-auth usage)
are nobody."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.client import Client
from ffrtmp.tls import pki
from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from tests.helpers.certs_extra import odd_certificate
from tests.helpers.cluster import Cluster, make_certs

ROLES = ("admin", "operator", "submitter", "viewer")
LONG = common_pb2.JobSpec(scenario="test", live=True, duration_s=120, output="long.mp4")  # paced


def _client(c: Cluster, name: str, **kw: object) -> Client:
    cert, key = c.certs.pair(name)
    return Client(c.address, ca=c.certs.ca, cert=cert, key=key, retries=0, **kw)  # type: ignore[arg-type]


def _stub(c: Cluster, name: str) -> tuple[aio.Channel, jobs_pb2_grpc.JobServiceStub]:
    cert, key = c.certs.pair(name)
    creds = grpc.ssl_channel_credentials(c.certs.ca.read_bytes(), key.read_bytes(),
                                         cert.read_bytes())
    ch = aio.secure_channel(c.address, creds)
    return ch, jobs_pb2_grpc.JobServiceStub(ch)


async def _code(coro: object) -> grpc.StatusCode:
    try:
        await coro  # type: ignore[misc]
    except aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.fixture
def cluster_with_deny(tmp_path: Path) -> Iterator[tuple[Cluster, Path]]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    for role in ROLES:
        pki.issue(c.certs.dir, "client", f"{role}-1", role=role)
    deny = tmp_path / "deny.txt"
    deny.write_text("")
    try:
        c.start_master("--deny-list", str(deny), "--max-watches", "4")
        yield c, deny
    finally:
        c.stop()


async def test_cancelled_watches_give_their_slot_back(
    cluster_with_deny: tuple[Cluster, Path],
) -> None:
    c, _ = cluster_with_deny
    c.start_worker("w1")
    async with c.client() as admin:
        job = (await admin.submit(LONG)).job
    ch, stub = _stub(c, "admin")
    async with ch:
        # Cancelled in every phase: before the first message, after it, while
        # progress is being sent; four times the cap.
        for i in range(16):
            call = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id))
            if i % 2:
                await call.read()
            await asyncio.sleep(0.05 * (i % 3))
            call.cancel()
        await asyncio.sleep(0.5)
        for _ in range(4):  # the cap, all usable again
            call = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id))
            assert (await call.read()).job.id == job.id
    assert "different Context" not in c.master.log_path.read_text()  # type: ignore[union-attr]


class _Peer:
    """What the interceptor reads of a call: the peer's verified certificate."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self.pem]}

    def invocation_metadata(self) -> tuple[()]:
        return ()


async def test_watch_slot_comes_back_when_the_stream_is_finalized_elsewhere(
    tmp_path: Path,
) -> None:
    """grpc abandons a WatchJob cancelled while sending; asyncio then closes the
    generator from another task and context."""
    import contextvars

    from ffrtmp.master.rpc.auth import WATCH, AuthInterceptor, AuthPolicy

    certs = make_certs(tmp_path / "certs")
    policy = AuthPolicy(keys=None, max_watches=1)  # type: ignore[arg-type]
    interceptor = AuthInterceptor(policy)

    async def servicer(request: object, context: object) -> AsyncIterator[int]:
        for i in range(10):
            yield i

    stream = interceptor._wrap_stream(servicer, WATCH)
    gen = stream(None, _Peer(certs.pair("admin")[0].read_bytes()))
    first = contextvars.copy_context()
    assert await asyncio.get_running_loop().create_task(anext(gen), context=first) == 0
    assert policy.watches == {"client:admin": 1}
    other = contextvars.copy_context()
    await asyncio.get_running_loop().create_task(gen.aclose(), context=other)
    assert policy.watches == {}
    assert policy.streams == {}


async def test_revocation_closes_every_open_stream(
    cluster_with_deny: tuple[Cluster, Path],
) -> None:
    c, deny = cluster_with_deny
    worker = c.start_worker("w1")
    await c.wait_nodes(1)
    async with c.client() as admin:
        job = (await admin.submit(LONG)).job
    channels, watches = [], {}
    for role in ROLES:
        ch, stub = _stub(c, f"{role}-1")
        channels.append(ch)
        watches[role] = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id))
        await watches[role].read()
    serials = [pki.describe(c.certs.dir / f"{n}.crt").serial
               for n in (*(f"{r}-1" for r in ROLES), "w1")]
    deny.write_text("".join(f"{s:x}\n" for s in serials))
    assert c.master is not None
    c.master.signal(signal.SIGHUP)
    c.master.wait_for("closed 5 open streams of revoked certificates")
    for role, call in watches.items():
        with pytest.raises(aio.AioRpcError) as info:
            async with asyncio.timeout(20):  # a bound on waiting: the close comes at once
                while True:
                    await call.read()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, (role, info.value)
    for ch in channels:
        await ch.close()
    # The worker's stream is closed too: it cannot come back, and gets no Assign.
    worker.wait_for("UNAUTHENTICATED|revoked")
    async with c.client() as admin:
        nodes = {n.id: n.state for n in await admin.list_nodes()}
        assert nodes["w1"] != 1
        fresh = (await admin.submit(common_pb2.JobSpec(scenario="test", duration_s=0.3))).job
        await asyncio.sleep(1.0)
        assert (await admin.get(fresh.id)).state == common_pb2.JOB_STATE_QUEUED


async def test_api_keys_need_bearer_and_wrong_ones_are_slowed(tmp_path: Path) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master()
        r = c.run_master_cli("apikey", "--db", str(tmp_path / "master.db"), "create", "bob",
                             "--role", "viewer")
        assert r.returncode == 0, r.stderr
        secret = r.stdout.strip().splitlines()[-1]
        assert c.master is not None
        c.master.signal(signal.SIGHUP)
        c.master.wait_for("reloaded certificates")
        await asyncio.sleep(0.3)
        ch, stub = _stub(c, "admin")
        async with ch:
            def ask(token: str) -> object:
                return stub.ListJobs(jobs_pb2.ListJobsRequest(),
                                     metadata=(("authorization", token),))

            assert await _code(ask(f"Bearer {secret}")) == grpc.StatusCode.OK
            assert await _code(ask(secret)) == grpc.StatusCode.UNAUTHENTICATED
            codes = [await _code(ask("Bearer ffk_000000000000_" + "y" * 40)) for _ in range(30)]
            assert codes[0] == grpc.StatusCode.UNAUTHENTICATED
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
            # While slowed down, even the right key is not looked at.
            assert await _code(ask(f"Bearer {secret}")) == grpc.StatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(1.5)
            assert await _code(ask(f"Bearer {secret}")) == grpc.StatusCode.OK
            # Revoking the key ends the streams opened with it, at once.
            async with c.client() as admin:
                job = (await admin.submit(LONG)).job
                watch = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id),
                                      metadata=(("authorization", f"Bearer {secret}"),))
                await watch.read()
                await admin.revoke_api_key(secret.split("_")[1])
            with pytest.raises(aio.AioRpcError) as info:
                async with asyncio.timeout(5):
                    while True:
                        await watch.read()
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        c.stop()


async def test_odd_certificates_are_nobody(tmp_path: Path) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master()
        cases = {
            "newline": odd_certificate(c.certs.dir, "newline", "eve\nINFO forged line"),
            "no-eku": odd_certificate(c.certs.dir, "no-eku", "plain", client_auth=False),
            "worker-no-eku": odd_certificate(c.certs.dir, "worker-no-eku", "w9",
                                             kind="worker", client_auth=False),
        }
        for name, (cert, key) in cases.items():
            async with Client(c.address, ca=c.certs.ca, cert=cert, key=key, retries=0) as cl:
                code = await _code(cl.list_jobs())
                assert code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE), \
                    (name, code)
                code = await _code(cl.submit(common_pb2.JobSpec(scenario="test")))
                assert code != grpc.StatusCode.OK, name
        async with c.client(retries=0) as admin:
            assert all(j.owner == "admin" for j in (await admin.list_jobs()).jobs)
            job = (await admin.submit(common_pb2.JobSpec(scenario="test", queue="batch"))).job
            for reason in ("done\nINFO forged line", "\x1b[2K", "a\x00b"):
                code = await _code(admin.cancel(job.id, reason))
                assert code == grpc.StatusCode.INVALID_ARGUMENT, reason
        assert "forged line" not in c.master.log_path.read_text()  # type: ignore[union-attr]
    finally:
        c.stop()
