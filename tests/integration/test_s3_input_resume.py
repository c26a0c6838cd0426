"""An `s3://` input's download against a real S3-protocol server (moto) behind a
relay that counts the bytes each GET is served and breaks the way stores and
links do: a cut GET resumes from the bytes already in the partial file (a Range
request, still pinned by If-Match) and fetches only the rest; an expired URL is
signed again by the master's own code; a policy's 403 fails the job naming the
bucket and the action; a 5xx is ridden out."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ffrtmp.core.errors import PermissionDenied
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.blobs.inputs import InputBuckets
from ffrtmp.worker import s3input
from ffrtmp.worker.blobcache import InputCache
from ffrtmp.worker.s3get import InputGet
from tests.helpers.s3 import REGION, moto_server
from tests.helpers.s3 import s3_call as _s3
from tests.helpers.s3relay import S3Relay

BUCKET = "ffrtmp-resume"
KEY = "clips/big.bin"
NAME = f"s3://{BUCKET}/{KEY}"
SIZE = 3 * (1 << 20) + 4321
BODY = os.urandom(SIZE)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto-resume")) as srv:
        asyncio.run(_s3(srv.endpoint, "create_bucket", Bucket=BUCKET))
        yield srv.endpoint


@dataclass
class Rig:
    relay: S3Relay
    inputs: InputBuckets
    resigns: int = 0

    async def sign(self) -> InputGet:
        u = (await self.inputs.presign_get(NAME)).urls[0]
        return InputGet(u.url, u.headers, u.size)

    async def resign(self) -> InputGet:
        self.resigns += 1
        return await self.sign()


@pytest.fixture
async def rig(moto: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    await _s3(moto, "put_object", Bucket=BUCKET, Key=KEY, Body=BODY, ChecksumAlgorithm="SHA256")
    monkeypatch.setattr(s3input, "BACKOFF_S", (0.05,) * 6)
    relay = S3Relay(moto)
    # The master's own signing code, pointed at the relay as its endpoint.
    inputs = InputBuckets(
        BlobConfig(input_buckets=(BUCKET,), s3_endpoint=relay.endpoint, s3_region=REGION))
    await inputs.open()
    try:
        yield Rig(relay, inputs)
    finally:
        await inputs.close()
        relay.close()


async def test_a_cut_download_resumes_and_fetches_only_the_rest(rig: Rig, tmp_path: Path) -> None:
    cuts = [(1 << 20) + 123, 700_000]
    rig.relay.faults.script = list(cuts)
    got = await rig.sign()
    await s3input.fetch(got, tmp_path / "in", NAME, rig.resign)
    assert hashlib.sha256((tmp_path / "in").read_bytes()).digest() == hashlib.sha256(BODY).digest()
    gets = rig.relay.gets()
    assert [g.body_bytes for g in gets] == [cuts[0], cuts[1], SIZE - sum(cuts)]
    assert sum(g.body_bytes for g in gets) == SIZE  # not a byte fetched twice
    assert [g.headers.get("Range") for g in gets] == [
        None, f"bytes={cuts[0]}-", f"bytes={sum(cuts)}-"]
    assert all(g.headers.get("If-Match") == got.etag for g in gets)  # every piece pinned
    assert rig.resigns == 0


async def test_an_object_replaced_between_pieces_is_not_stitched(
    rig: Rig, moto: str, tmp_path: Path
) -> None:
    def replace() -> None:  # between the cut and the resume
        asyncio.run(_s3(moto, "put_object", Bucket=BUCKET, Key=KEY, Body=BODY[::-1]))

    rig.relay.faults.script = [500_000, replace]
    with pytest.raises(s3input.InputChanged, match=f"{NAME} was replaced"):
        await s3input.fetch(await rig.sign(), tmp_path / "in", NAME, rig.resign)
    assert [g.status for g in rig.relay.gets()][-1] == 412


async def test_an_expired_url_is_signed_again_and_the_download_goes_on(
    rig: Rig, tmp_path: Path
) -> None:
    # The resume finds the URL expired, answered as AWS answers it.
    rig.relay.faults.script = [1 << 20, "expired"]
    got = await rig.sign()
    await s3input.fetch(got, tmp_path / "in", NAME, rig.resign)
    assert (tmp_path / "in").read_bytes() == BODY
    assert rig.resigns == 1
    gets = rig.relay.gets()
    assert [g.status for g in gets] == [200, 403, 206]
    assert gets[2].headers.get("Range") == f"bytes={1 << 20}-"
    assert sum(g.body_bytes for g in gets) == SIZE


async def test_a_policy_denial_fails_naming_the_bucket_and_the_action(
    rig: Rig, tmp_path: Path
) -> None:
    rig.relay.faults.denied = True
    with pytest.raises(PermissionDenied) as info:  # permanent: the job fails once
        await s3input.fetch(await rig.sign(), tmp_path / "in", NAME, rig.resign)
    assert isinstance(info.value, s3input.InputDenied)
    says = str(info.value)
    assert NAME in says and f"{BUCKET}'s policy" in says and "s3:GetObject" in says, says
    assert "AccessDenied" in says, says
    assert rig.resigns == 0 and len(rig.relay.gets()) == 1  # not retried


async def test_an_archived_object_fails_naming_the_restore(rig: Rig, tmp_path: Path) -> None:
    rig.relay.faults.script = [(403, "InvalidObjectState", "The operation is not valid")]
    with pytest.raises(s3input.InputDenied, match=f"{NAME} is archived .*restore"):
        await s3input.fetch(await rig.sign(), tmp_path / "in", NAME, rig.resign)
    assert rig.resigns == 0 and len(rig.relay.gets()) == 1


async def test_a_store_unavailable_for_a_while_is_ridden_out(rig: Rig, tmp_path: Path) -> None:
    rig.relay.faults.script = [200_000, "503", "503", "503"]
    await s3input.fetch(await rig.sign(), tmp_path / "in", NAME, rig.resign)
    assert (tmp_path / "in").read_bytes() == BODY
    gets = rig.relay.gets()
    assert [g.status for g in gets] == [200, 503, 503, 503, 206]
    assert sum(g.body_bytes for g in gets) == SIZE


async def test_a_store_down_for_too_long_fails_the_attempt_as_transient(
    rig: Rig, tmp_path: Path
) -> None:
    rig.relay.faults.script = ["503"] * 100
    with pytest.raises(s3input.Refused, match="503 SlowDown") as info:
        await s3input.fetch(await rig.sign(), tmp_path / "in", NAME, rig.resign)
    assert not isinstance(info.value, PermissionDenied)
    assert len(rig.relay.gets()) == 1 + len(s3input.BACKOFF_S)


async def test_the_next_attempt_on_the_worker_resumes_what_a_failed_one_fetched(
    rig: Rig, tmp_path: Path
) -> None:
    """The store stays down past what one fetch rides out: the attempt fails as
    transient, the cache keeps its partial file, and the next attempt (same
    object version, same entry) asks only for the rest."""
    cache = InputCache(tmp_path / "cache", 2 * SIZE)
    cache.sweep()
    resumes = s3input.Resumes()
    got = await rig.sign()
    key = s3input.cache_key(NAME, got)

    async def get(_: str, dest: Path) -> None:
        await s3input.fetch(got, dest, NAME, rig.resign, resumes)

    rig.relay.faults.script = [1_000_000] + ["503"] * (len(s3input.BACKOFF_S) + 1)
    with pytest.raises(s3input.Refused, match="503"):
        async with cache.use(key, SIZE, get, hashed=False):
            pass
    assert cache.used == 1_000_000  # the kept partial, counted
    async with cache.use(key, SIZE, get, hashed=False) as path:
        assert path.read_bytes() == BODY
    gets = [g for g in rig.relay.gets() if g.status in (200, 206)]
    assert [(g.headers.get("Range"), g.body_bytes) for g in gets] == [
        (None, 1_000_000), ("bytes=1000000-", SIZE - 1_000_000)]


def test_a_url_knows_when_it_expired() -> None:
    old = InputGet("http://s/b/k?X-Amz-Date=20200101T000000Z&X-Amz-Expires=300", (), 1)
    assert old.expired()
    assert not InputGet("http://s/b/k?X-Amz-Expires=300", (), 1).expired()  # unknown: not
