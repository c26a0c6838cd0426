"""Identities, roles, API keys, deny lists, reloads, limits and the audit log."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.client import Client
from ffrtmp.tls import pki
from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from tests.helpers.certs_extra import expired_client
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import TERMINAL, wait_job

ROLES = ("admin", "operator", "submitter", "viewer")
DENIED = grpc.StatusCode.PERMISSION_DENIED


def _client(c: Cluster, name: str, **kw: object) -> Client:
    cert, key = c.certs.pair(name)
    return Client(c.address, ca=c.certs.ca, cert=cert, key=key, retries=0, **kw)  # type: ignore[arg-type]


def _certs(c: Cluster) -> None:
    for role in ROLES:
        if not (c.certs.dir / f"{role}-1.crt").exists():
            pki.issue(c.certs.dir, "client", f"{role}-1", role=role)
    if not (c.certs.dir / "submitter-2.crt").exists():
        pki.issue(c.certs.dir, "client", "submitter-2", role="submitter")


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("secure")
    c = Cluster(root, make_certs(root / "certs"))
    _certs(c)
    try:
        c.start_master()
        c.start_worker("w1")
        yield c
    finally:
        c.stop()


async def _code(coro: object) -> grpc.StatusCode:
    try:
        await coro  # type: ignore[misc]
    except aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


SPEC = common_pb2.JobSpec(scenario="test", duration_s=0.3)


@pytest.mark.parametrize("role", ROLES)
async def test_role_boundaries(secure: Cluster, role: str) -> None:
    """Every row of the table in docs/SECURITY.md, for each role."""
    may_change = role != "viewer"
    may_operate = role in ("admin", "operator")
    async with _client(secure, f"{role}-1") as c, _client(secure, "admin-1") as admin:
        code = await _code(c.submit(SPEC))
        assert (code == grpc.StatusCode.OK) is may_change
        assert await _code(c.list_jobs()) == grpc.StatusCode.OK
        assert await _code(c.list_nodes()) == grpc.StatusCode.OK
        assert await _code(c.queue_stats()) == grpc.StatusCode.OK
        assert await _code(c.scenarios()) == grpc.StatusCode.OK
        code = await _code(c.drain_node("w1", False))
        assert (code == grpc.StatusCode.OK) is may_operate, code
        # Someone else's job: only admins and operators may touch it or read its log.
        other = (await admin.submit(common_pb2.JobSpec(scenario="test", input="missing.mp4")))
        await wait_job(secure, other.job.id, lambda j: j.state in TERMINAL)
        assert (await _code(c.logs(other.job.id)) == grpc.StatusCode.OK) is may_operate
        assert (await _code(c.retry(other.job.id)) == grpc.StatusCode.OK) is may_operate
        code = await _code(c.cancel(other.job.id))
        assert (code != DENIED) is may_operate
        code = await _code(c.list_api_keys())
        assert (code == grpc.StatusCode.OK) is (role == "admin")
        code = await _code(c.audit())
        assert (code == grpc.StatusCode.OK) is (role == "admin")


async def test_submitter_owns_its_jobs(secure: Cluster) -> None:
    async with _client(secure, "submitter-1") as mine, _client(secure, "submitter-2") as theirs:
        job = (await mine.submit(common_pb2.JobSpec(scenario="test", input="missing.mp4"))).job
        assert job.owner == "submitter-1"
        await wait_job(secure, job.id, lambda j: j.state in TERMINAL)
        assert "no such file" in (await mine.logs(job.id)).log_tail.lower()
        assert await _code(theirs.logs(job.id)) == DENIED
        assert await _code(theirs.retry(job.id)) == DENIED
        assert await _code(theirs.cancel(job.id)) == DENIED
        with pytest.raises(aio.AioRpcError) as info:
            await theirs.retry(job.id)
        assert "belongs to submitter-1" in info.value.details()
        assert (await mine.retry(job.id)).state == common_pb2.JOB_STATE_QUEUED
        # A request_id is per user: another user's is a new job, not this one and
        # not an error (which would tell them the id is taken).
        first = await mine.submit(SPEC, request_id="shared-id")
        again = await mine.submit(SPEC, request_id="shared-id")
        other = await theirs.submit(SPEC, request_id="shared-id")
        assert first.created and not again.created and again.job.id == first.job.id
        assert other.created and other.job.id != first.job.id
        assert other.job.request_id == first.job.request_id == "shared-id"
        assert (await theirs.submit(SPEC, request_id="shared-id")).job.id == other.job.id


async def test_worker_certificate_cannot_use_the_job_api(secure: Cluster) -> None:
    cert, key = secure.certs.worker("w-rogue")
    async with Client(secure.address, ca=secure.certs.ca, cert=cert, key=key, retries=0) as c:
        assert await _code(c.list_jobs()) == DENIED
        assert await _code(c.submit(SPEC)) == DENIED


async def test_expired_certificate_is_refused(secure: Cluster) -> None:
    cert, key = expired_client(secure.certs.dir, "old-admin")
    async with Client(secure.address, ca=secure.certs.ca, cert=cert, key=key, retries=0) as c:
        assert await _code(c.list_jobs()) == grpc.StatusCode.UNAVAILABLE


async def test_audit_log_records_who_did_what(secure: Cluster) -> None:
    async with _client(secure, "operator-1") as op:
        job = (await op.submit(common_pb2.JobSpec(scenario="test", duration_s=3600,
                                                  queue="batch"))).job
        await op.cancel(job.id, "not needed")
        await op.drain_node("w1", True)
        await op.drain_node("w1", False)
    r = secure.cli("-o", "json", "audit", "list")
    assert r.returncode == 0, r.stderr
    events = json.loads(r.stdout)
    mine = [(e["actor"], e["role"], e["action"], e["target"]) for e in events
            if e["actor"] == "operator-1"]
    assert ("operator-1", "operator", "job.cancel", job.id) in mine
    assert ("operator-1", "operator", "node.drain", "w1") in mine
    assert ("operator-1", "operator", "node.undrain", "w1") in mine
    assert all(e["at"] for e in events)


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master("--require-api-key", "--rate-limit", "20", "--rate-burst", "20",
                       "--max-watches", "2")
        yield c
    finally:
        c.stop()


async def test_api_keys_name_users_and_can_be_revoked(keyed: Cluster) -> None:
    async with keyed.client(retries=0) as anon:
        assert await _code(anon.list_jobs()) == grpc.StatusCode.UNAUTHENTICATED
    # Bootstrap: the admin certificate's holder makes keys (through the CLI).
    boot = keyed.client(retries=0, api_key="ffk_000000000000_" + "x" * 40)
    async with boot:
        assert await _code(boot.list_jobs()) == grpc.StatusCode.UNAUTHENTICATED
    r = keyed.cli("apikeys", "create", "alice", "--role", "admin")
    assert r.returncode == 1 and "UNAUTHENTICATED" in r.stderr  # even admin needs a key
    # The first key comes from the master's own database (documented bootstrap).
    secret = await _bootstrap_key(keyed, "root", "admin")
    r = keyed.cli("--api-key", secret, "-o", "json", "apikeys", "create", "alice", "--role",
                  "submitter")
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    alice = created["secret"]
    async with keyed.client(retries=0, api_key=alice) as c:
        job = (await c.submit(SPEC)).job
        assert job.owner == "alice"
        assert await _code(c.drain_node("x", True)) == DENIED  # role from the key
    con = sqlite3.connect(keyed.root / "master.db")
    stored = b"".join(r[0] for r in con.execute("SELECT secret_sha256 FROM api_keys"))
    con.close()
    # ffk_{id}_{secret}: the secret is base64url and may itself hold "_"
    assert alice.encode() not in stored and alice.split("_", 2)[2].encode() not in stored
    r = keyed.cli("--api-key", secret, "apikeys", "revoke", created["id"])
    assert r.returncode == 0, r.stderr
    async with keyed.client(retries=0, api_key=alice) as c:
        assert await _code(c.list_jobs()) == grpc.StatusCode.UNAUTHENTICATED
    r = keyed.cli("--api-key", secret, "-o", "json", "apikeys", "list")
    rows = {k["user"]: k for k in json.loads(r.stdout)}
    assert rows["alice"]["revoked_at"] and not rows["root"]["revoked_at"]


async def _bootstrap_key(c: Cluster, user: str, role: str) -> str:
    r = c.run_master_cli("apikey", "--db", str(c.root / "master.db"), "create", user,
                         "--role", role)
    assert r.returncode == 0, r.stderr
    assert c.master is not None
    seen = len(c.master.lines)
    c.master.signal(signal.SIGHUP)  # the running master learns keys made offline
    c.master.wait_for("reloaded certificates")
    assert len(c.master.lines) > seen
    await asyncio.sleep(0.3)
    return r.stdout.strip().splitlines()[-1]


async def test_rate_limit_and_watch_cap(keyed: Cluster) -> None:
    secret = await _bootstrap_key(keyed, "busy", "admin")
    cert, key = keyed.certs.pair("admin")
    creds = grpc.ssl_channel_credentials(keyed.certs.ca.read_bytes(), key.read_bytes(),
                                         cert.read_bytes())
    md = (("authorization", f"Bearer {secret}"),)
    async with aio.secure_channel(keyed.address, creds) as ch:
        stub = jobs_pb2_grpc.JobServiceStub(ch)
        codes, retry_after = [], []
        for _ in range(60):
            call = stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=md)
            try:
                await call
                codes.append(grpc.StatusCode.OK)
            except aio.AioRpcError as exc:
                codes.append(exc.code())
                retry_after += [v for k, v in (exc.trailing_metadata() or ())
                                if k == "retry-after-ms"]
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
        assert codes.count(grpc.StatusCode.OK) >= 20
        assert retry_after and all(int(v) > 0 for v in retry_after)
        await asyncio.sleep(1.5)  # the bucket refills
        job = (await stub.SubmitJob(jobs_pb2.SubmitJobRequest(
            spec=common_pb2.JobSpec(scenario="test", duration_s=1)), metadata=md)).job
        watches = [stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id), metadata=md)
                   for _ in range(3)]
        got = []
        for w in watches:
            try:
                await w.read()
                got.append(grpc.StatusCode.OK)
            except aio.AioRpcError as exc:
                got.append(exc.code())
        assert got.count(grpc.StatusCode.OK) == 2
        assert got.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 1
        for w in watches:
            w.cancel()


async def test_deny_list_and_sighup_reload(tmp_path: Path) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    _certs(c)
    deny = tmp_path / "deny.txt"
    deny.write_text("# revoked certificates\n")
    other_ca = tmp_path / "other-ca"
    pki.init_ca(other_ca)
    pki.issue(other_ca, "client", "newcomer", role="viewer")
    try:
        master = c.start_master("--deny-list", str(deny))
        worker = c.start_worker("w1")
        await c.wait_nodes(1)
        victim = pki.describe(c.certs.dir / "viewer-1.crt").serial
        async with _client(c, "viewer-1") as v:
            assert await _code(v.list_jobs()) == grpc.StatusCode.OK
            deny.write_text(f"{victim:x}  # lost laptop\n")
            master.signal(signal.SIGHUP)
            master.wait_for("reloaded certificates")
            code = await _code(v.list_jobs())
        assert code == grpc.StatusCode.UNAUTHENTICATED
        async with _client(c, "operator-1") as ok:
            assert await _code(ok.list_jobs()) == grpc.StatusCode.OK
        # Trust a second CA: a bundle of both, picked up on SIGHUP.
        newcomer = Client(c.address, ca=c.certs.ca, cert=other_ca / "newcomer.crt",
                          key=other_ca / "newcomer.key", retries=0)
        async with newcomer:
            assert await _code(newcomer.list_jobs()) == grpc.StatusCode.UNAVAILABLE
        bundle = c.certs.ca.read_bytes() + (other_ca / "ca.crt").read_bytes()
        c.certs.ca.write_bytes(bundle)
        master.signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        newcomer = Client(c.address, ca=tmp_path / "certs" / "ca.crt",
                          cert=other_ca / "newcomer.crt", key=other_ca / "newcomer.key",
                          retries=0)
        async with newcomer:
            assert await _code(newcomer.list_jobs()) == grpc.StatusCode.OK
        # The worker's stream lived through both reloads.
        assert sum("connected to master" in line for line in worker.lines) == 1
        async with c.client() as admin:
            assert [n.state for n in await admin.list_nodes()] == [1]
    finally:
        c.stop()


async def test_sandbox_on_a_real_worker(tmp_path: Path) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master()
        c.start_worker("plain")
        (tmp_path / "secret.txt").write_text("keep out")
        (tmp_path / "inputs" / "escape.mp4").symlink_to(tmp_path / "secret.txt")
        async with c.client() as admin:
            # A symlink that leaves the input root: the worker refuses, permanently.
            job = (await admin.submit(common_pb2.JobSpec(scenario="test",
                                                         input="escape.mp4"))).job
            done = await wait_job(c, job.id, lambda j: j.state in TERMINAL)
            assert done.state == common_pb2.JOB_STATE_FAILED and done.attempt == 1
            assert "outside the worker's input root" in done.error
            # The master refuses the rest before anything is stored.
            for field, spec in (
                ("spec.input", common_pb2.JobSpec(input="/etc/passwd")),
                ("spec.output", common_pb2.JobSpec(output="/tmp/out.mp4")),
                ("spec.input", common_pb2.JobSpec(input="../inputs/x.mp4")),
                ("spec.input", common_pb2.JobSpec(input="file:///etc/passwd")),
                ("spec.input", common_pb2.JobSpec(input="concat:a.mp4|b.mp4")),
                ("spec.input", common_pb2.JobSpec(input="lavfi:movie=/etc/passwd")),
            ):
                with pytest.raises(aio.AioRpcError) as info:
                    await admin.submit(spec)
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert info.value.details().startswith(field)
            # Raw ffmpeg arguments wait for a worker that opted in.
            spec = common_pb2.JobSpec(scenario="test", duration_s=0.5, output="raw.mp4",
                                      raw_args=["-metadata", "title=raw-ok"])
            raw = (await admin.submit(spec)).job
            await asyncio.sleep(1.5)
            waiting = await admin.get(raw.id)
            assert waiting.state == common_pb2.JOB_STATE_QUEUED
            assert "raw-args" in waiting.pending_reason
        c.start_worker("trusting", "--allow-raw-args")
        done = await wait_job(c, raw.id, lambda j: j.state in TERMINAL)
        assert (done.state, done.node_id) == (common_pb2.JOB_STATE_SUCCEEDED, "trusting")
        import subprocess

        from tests.helpers.media import ffmpeg_under_test

        head = subprocess.run([ffmpeg_under_test(), "-hide_banner", "-i", done.output],
                              capture_output=True, text=True, check=False).stderr
        assert "raw-ok" in head
    finally:
        c.stop()


SECRET = "SECRETKEY42"


@pytest.mark.parametrize("reader", [*ROLES, "submitter-2"])
async def test_every_reader_sees_only_what_its_role_may(secure: Cluster, reader: str) -> None:
    """Logs, errors and stream URLs (keys in them) reach only the job's owner,
    operators and admins: in GetJob, ListJobs and WatchJob alike."""
    spec = common_pb2.JobSpec(scenario="test", max_retries=0,
                              input=f"http://user:{SECRET}@127.0.0.1:9/in.mp4?key={SECRET}")
    async with _client(secure, "submitter-1") as owner:
        job = (await owner.submit(spec)).job
        done = await wait_job(secure, job.id, lambda j: j.state in TERMINAL)
        assert done.state == common_pb2.JOB_STATE_FAILED and done.error and done.log_tail
    name = reader if reader == "submitter-2" else f"{reader}-1"
    async with _client(secure, name) as c:
        seen = [await c.get(job.id)]
        seen += [j for j in (await c.list_jobs()).jobs if j.id == job.id]
        seen += [j async for j in c.watch(job.id)]
    assert len(seen) == 3
    full = reader in ("admin", "operator", "submitter")  # submitter-1 owns the job
    for shown in seen:
        text = str(shown)
        assert (SECRET in text) is full, (reader, text[:2000])
        if not full:
            assert shown.log_tail == "" and "hidden" in shown.error
            assert shown.spec.input == "http://127.0.0.1:9/…"
        else:
            assert shown.log_tail and shown.spec.input == spec.input


async def test_outputs_live_in_their_owners_name_space(secure: Cluster) -> None:
    """Two users naming the same output get two files, each under its owner."""
    spec = common_pb2.JobSpec(scenario="test", duration_s=0.3, output="same.mp4")
    outputs = []
    for name in ("submitter-1", "submitter-2"):
        async with _client(secure, name) as c:
            job = (await c.submit(spec)).job
        done = await wait_job(secure, job.id, lambda j: j.state in TERMINAL)
        assert done.state == common_pb2.JOB_STATE_SUCCEEDED, done.error
        outputs.append(Path(done.output))
    root = secure.output_dir("w1")
    assert outputs == [root / "submitter-1" / "same.mp4", root / "submitter-2" / "same.mp4"]
    assert all(p.stat().st_size > 0 for p in outputs)
