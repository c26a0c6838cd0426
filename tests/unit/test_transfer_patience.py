"""How long a transfer keeps retrying UNAVAILABLE: at least `retries` times and,
with `patience_s`, at least that long (the CLI rides out a master restart)."""

from __future__ import annotations

import socket

import pytest
from grpc import aio

from ffrtmp.client.transfer import Transfer


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.parametrize(("retries", "patience_s"), [(0, 0.0), (2, 0.0), (0, 1.0)])
async def test_unavailable_is_retried_by_count_and_by_patience(
    retries: int, patience_s: float
) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{_dead_port()}") as channel:
        t = Transfer(channel, retries=retries, timeout=2.0, patience_s=patience_s)
        calls = 0

        async def stat() -> object:
            nonlocal calls
            calls += 1
            return await t.stat("owners/-/blobs/" + "a" * 64)

        with pytest.raises(aio.AioRpcError):
            await t._retrying(stat)
    if patience_s:
        assert calls > 3  # backoff from 0.1 s: several tries fit in a second
    else:
        assert calls == retries + 1
