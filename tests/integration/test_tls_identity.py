"""Mutual TLS end to end: a real grpc.aio server tells each caller who it thinks they are."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from ffrtmp.tls import pki
from ffrtmp.tls.credentials import channel_credentials, server_credentials
from ffrtmp.tls.identity import identity_from_auth_context

METHOD = "/test.Who/Am"


async def _whoami(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    identity = identity_from_auth_context(context.auth_context())
    return json.dumps(dataclasses.asdict(identity)).encode()


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    d = tmp_path / "certs"
    pki.init_ca(d)
    pki.issue(d, "worker", "node-7")
    pki.issue(d, "client", "alice", role="operator")
    return d


@pytest.fixture
async def port(certs: Path) -> AsyncIterator[int]:
    handler = grpc.method_handlers_generic_handler(
        "test.Who", {"Am": grpc.unary_unary_rpc_method_handler(_whoami)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    creds = server_credentials(certs / "ca.crt", certs / "master.crt", certs / "master.key")
    bound = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    try:
        yield bound
    finally:
        await server.stop(None)


async def _call(port: int, creds: grpc.ChannelCredentials) -> dict[str, object]:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
        reply = await call(b"", timeout=10)
    result: dict[str, object] = json.loads(reply)
    return result


async def test_worker_identity(port: int, certs: Path) -> None:
    creds = channel_credentials(certs / "ca.crt", certs / "node-7.crt", certs / "node-7.key")
    assert await _call(port, creds) == {
        "name": "node-7", "kind": "worker", "role": None, "problem": ""
    }


async def test_client_identity_carries_role(port: int, certs: Path) -> None:
    creds = channel_credentials(certs / "ca.crt", certs / "alice.crt", certs / "alice.key")
    assert await _call(port, creds) == {
        "name": "alice", "kind": "client", "role": "operator", "problem": ""
    }


async def test_certificate_from_another_ca_is_refused(
    port: int, certs: Path, tmp_path: Path
) -> None:
    rogue = tmp_path / "rogue"
    pki.init_ca(rogue)
    pki.issue(rogue, "client", "mallory", role="admin")
    # Trusts the real CA (so the server checks out) but presents a rogue certificate.
    creds = channel_credentials(certs / "ca.crt", rogue / "mallory.crt", rogue / "mallory.key")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(port, creds)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_no_client_certificate_is_refused(port: int, certs: Path) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=(certs / "ca.crt").read_bytes())
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(port, creds)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_refuses_server_from_another_ca(
    port: int, certs: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    pki.init_ca(other)
    creds = channel_credentials(other / "ca.crt", certs / "alice.crt", certs / "alice.key")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await _call(port, creds)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_missing_files_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ca\.crt.*ffrtmp certs init"):
        server_credentials(tmp_path / "ca.crt", tmp_path / "m.crt", tmp_path / "m.key")
    (tmp_path / "ca.crt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"w\.key.*ffrtmp certs issue"):
        (tmp_path / "w.crt").write_text("x")
        channel_credentials(tmp_path / "ca.crt", tmp_path / "w.crt", tmp_path / "w.key")


def test_no_certificate_means_unknown() -> None:
    assert identity_from_auth_context({}).kind == "unknown"
    assert identity_from_auth_context({"x509_pem_cert": [b"garbage"]}).kind == "unknown"
