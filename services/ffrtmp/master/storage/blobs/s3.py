"""The S3 backend: blobs are objects in a bucket (AWS S3, MinIO, Ceph RGW, ...),
and the bytes move between clients and the store through presigned URLs.

Keys: {prefix}{resource name}, each with its SHA-256 in the metadata
(x-amz-meta-sha256). A single-PUT upload (at most `part_bytes`) goes to a staging key
({prefix}.staging/...) and becomes the blob only when the master has read it
back once, checked its size and SHA-256, and copied it in place, server side
(the signed x-amz-checksum-sha256 header also has AWS and MinIO refuse other
bytes at the PUT). A
multipart upload (over `part_bytes`) is started on the final key, where nothing
is visible until the master completes it; each part is checked by the store
against its Content-MD5, and the whole SHA-256 by every reader on download.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from ffrtmp.core import blobnames
from ffrtmp.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.blobs.protocol import (
    BlobInfo,
    Chunk,
    Declared,
    Presigned,
    Url,
    WriteResult,
)
from ffrtmp.master.storage.blobs.s3_copy import copy_object
from ffrtmp.master.storage.blobs.s3_errors import domain_error
from ffrtmp.master.storage.blobs.s3_upkeep import STAGING, S3Upkeep

MAX_PARTS = 10_000
EXPIRY_SKEW_MS = 1000  # LastModified has whole seconds


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def late(stamp: Any, expires_ms: int) -> bool:
    """The store's own time of a PUT (a datetime) is past the URL's expiry."""
    return bool(stamp.timestamp() * 1000 > expires_ms + EXPIRY_SKEW_MS)


class S3BlobStore(S3Upkeep):
    def __init__(self, config: BlobConfig) -> None:
        self.config = config
        self.bucket = config.s3_bucket
        self.prefix = config.s3_prefix
        self._stack = AsyncExitStack()
        self.s3: Any = None

    async def open(self) -> None:
        # A few quick retries here; past them the caller gets UNAVAILABLE and retries
        # itself, rather than holding a call open through a long outage.
        cfg = AioConfig(
            signature_version="s3v4",
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        self.s3 = await self._stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=self.config.s3_region or None,
                endpoint_url=self.config.s3_endpoint or None,
                config=cfg,
            )
        )

    async def close(self) -> None:
        await self._stack.aclose()

    def key(self, name: str) -> str:
        return self.prefix + str(blobnames.parse(name))

    async def _call(self, op: str, **kw: Any) -> Any:
        try:
            return await getattr(self.s3, op)(**kw)
        except (ClientError, BotoCoreError) as exc:
            raise domain_error(exc, op, str(kw.get("Key", ""))) from None

    async def stat(self, name: str) -> BlobInfo | None:
        try:
            head = await self._call("head_object", Bucket=self.bucket, Key=self.key(name))
        except NotFound:
            return None
        meta = head.get("Metadata", {})
        return BlobInfo(
            str(blobnames.parse(name)),
            meta.get("sha256", ""),
            int(head["ContentLength"]),
            meta.get("ctype", ""),
            int(head["LastModified"].timestamp() * 1000),
        )

    async def committed(self, declared: Declared) -> int:
        return 0

    async def write(self, declared: Declared, chunks: AsyncIterator[Chunk]) -> WriteResult:
        raise FailedPrecondition(
            "this master keeps blobs in object storage: ask Presign for upload URLs"
        )

    def read(self, name: str, offset: int, limit: int) -> AsyncIterator[bytes]:
        raise FailedPrecondition(
            "this master keeps blobs in object storage: ask Presign for a download URL"
        )

    def _expires_ms(self) -> int:
        return int((time.time() + self.config.presign_ttl_s) * 1000)

    async def _sign(self, op: str, params: dict[str, Any]) -> str:
        url: str = await self.s3.generate_presigned_url(
            op, Params={"Bucket": self.bucket, **params}, ExpiresIn=int(self.config.presign_ttl_s)
        )
        return url

    async def presign_get(self, name: str) -> Presigned | None:
        url = await self._sign("get_object", {"Key": self.key(name)})
        return Presigned((Url(url),), self._expires_ms())

    async def presign_put(self, declared: Declared) -> Presigned | None:
        if declared.size > self.config.part_bytes:
            return await self._presign_multipart(declared)
        # The key names the URL's expiry: the store's own timestamp of the PUT is
        # checked against it on completion (not every store enforces expiry).
        token = f"{self._expires_ms()}-{secrets.token_hex(12)}"
        params = {
            "Key": f"{self.prefix}{STAGING}{token}",
            "ChecksumSHA256": _b64(declared.sha256),
        }
        url = await self._sign("put_object", params)
        headers = (("x-amz-checksum-sha256", _b64(declared.sha256)),)
        return Presigned(
            (Url(url, headers, 0, 0, declared.size),), self._expires_ms(), f"put:{token}"
        )

    def _metadata(self, d: Declared) -> dict[str, Any]:
        extra: dict[str, Any] = {"ContentType": d.content_type} if d.content_type else {}
        return {"Metadata": {"sha256": d.sha256, "ctype": d.content_type}, **extra}

    async def _presign_multipart(self, d: Declared) -> Presigned:
        part = max(self.config.part_bytes, -(-d.size // MAX_PARTS))
        key = self.key(d.name)
        created = await self._call(
            "create_multipart_upload", Bucket=self.bucket, Key=key, **self._metadata(d)
        )
        upload_id = str(created["UploadId"])
        urls = []
        for n, offset in enumerate(range(0, d.size, part), start=1):
            params = {"Key": key, "UploadId": upload_id, "PartNumber": n}
            url = await self._sign("upload_part", params)
            urls.append(Url(url, (), n, offset, min(part, d.size - offset)))
        return Presigned(tuple(urls), self._expires_ms(), f"mpu:{self._expires_ms()}-{upload_id}")

    async def complete_presigned(
        self, declared: Declared, upload_id: str, etags: Sequence[tuple[int, str]]
    ) -> BlobInfo:
        kind, _, ident = upload_id.partition(":")
        expires, _, rest = ident.partition("-")
        if not expires.isdigit() or not rest or len(upload_id) > 1024:
            raise InvalidArgument("upload_id", "not an upload id this master handed out")
        if kind == "put" and rest.isalnum():
            await self._complete_put(declared, ident, int(expires))
        elif kind == "mpu":
            await self._complete_multipart(declared, rest, int(expires), etags)
        else:
            raise InvalidArgument("upload_id", "not an upload id this master handed out")
        info = await self.stat(declared.name)
        if info is None:
            raise Unavailable(f"{declared.name} is not visible yet; ask again")
        return info

    async def _complete_put(self, d: Declared, token: str, expires_ms: int) -> None:
        staging = f"{self.prefix}{STAGING}{token}"
        try:
            await self._within_expiry(staging, expires_ms)
            size, digest = await self._digest_of(staging)
        except NotFound:
            raise FailedPrecondition("nothing was uploaded to that URL") from None
        if size != d.size or digest != d.sha256:
            await self._call("delete_object", Bucket=self.bucket, Key=staging)
            what = f"{size} bytes" if size != d.size else f"bytes with SHA-256 {digest}"
            raise InvalidArgument("sha256", f"the object store holds {what}, not what was declared")
        await self._call(
            "copy_object",
            Bucket=self.bucket,
            Key=self.key(d.name),
            CopySource={"Bucket": self.bucket, "Key": staging},
            MetadataDirective="REPLACE",
            **self._metadata(d),
        )
        await self._call("delete_object", Bucket=self.bucket, Key=staging)

    async def _within_expiry(self, key: str, expires_ms: int) -> None:
        head = await self._call("head_object", Bucket=self.bucket, Key=key)
        if late(head["LastModified"], expires_ms):
            await self._call("delete_object", Bucket=self.bucket, Key=key)
            raise FailedPrecondition("the upload arrived after its URL expired; ask Presign again")

    async def _digest_of(self, key: str) -> tuple[int, str]:
        """Size and SHA-256 of an object, read back once: stores differ in which
        checksums they verify, so a single-PUT upload is checked here."""
        h, size = hashlib.sha256(), 0
        got = await self._call("get_object", Bucket=self.bucket, Key=key)
        async with got["Body"] as body:
            while buf := await body.read(1024 * 1024):
                h.update(buf)
                size += len(buf)
        return size, h.hexdigest()

    async def _complete_multipart(
        self, d: Declared, upload_id: str, expires_ms: int, etags: Sequence[tuple[int, str]]
    ) -> None:
        key = self.key(d.name)
        listed = await self._call("list_parts", Bucket=self.bucket, Key=key, UploadId=upload_id)
        held = {int(p["PartNumber"]): p for p in listed.get("Parts", [])}
        total = sum(int(p["Size"]) for p in held.values())
        wanted = sorted(etags)
        if any(late(p["LastModified"], expires_ms) for p in held.values()):
            await self._call(
                "abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            raise FailedPrecondition("a part arrived after its URL expired; upload again")
        if (
            total != d.size
            or [n for n, _ in wanted] != sorted(held)
            or any(held[n]["ETag"].strip('"') != e.strip('"') for n, e in wanted)
        ):
            await self._call(
                "abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            raise InvalidArgument(
                "parts",
                f"the object store holds {total} bytes in {len(held)} parts, "
                f"not the declared {d.size} in {len(wanted)}",
            )
        await self._call(
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in wanted]},
        )

    async def copy_out(self, name: str, key: str, info: BlobInfo) -> None:
        """Copy a blob, inside the store, to a key outside the prefix (an output's
        final key in the user's bucket: see outputs.py)."""
        extra = self._metadata(Declared(name, info.sha256, info.size, info.content_type))
        await copy_object(self._call, self.bucket, self.key(name), key, info.size, extra,
                          self.config.part_bytes)

    async def delete(self, name: str) -> bool:
        if await self.stat(name) is None:
            return False
        await self._call("delete_object", Bucket=self.bucket, Key=self.key(name))
        return True
