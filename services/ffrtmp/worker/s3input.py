"""A job's `s3://` input, fetched into the input cache through a GET the master
presigned for this lease (the worker holds no credentials).

Why a cached copy rather than handing ffmpeg the URL: a split job's segments
each seek (`-ss`) into the same input, a retried run reads it again, and a
presigned URL expires in minutes while a transcode may run for hours. A copy is
fetched once per worker and every read after it is local; and its bytes are
checked before ffmpeg reads any of them, which a stream could not offer.

What is checked, since S3 keeps no SHA-256 unless the uploader asked for one:
- the GET is pinned to the ETag the master read (a signed If-Match): an object
  replaced since is refused by the store (412) and the attempt is retried;
- the size and the ETag of the answer equal what the master read;
- a single-part ETag is the MD5 of the bytes: it is compared;
- when the object carries a full-object SHA-256 checksum, it is compared.
The cache entry is named by bucket, key, ETag and size, so a replaced object is
a new entry, never the old bytes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ffrtmp.core.model import Lease
from ffrtmp.worker.environment import Refused

CHUNK = 1 << 20
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?', re.ASCII)


@dataclass(frozen=True, slots=True)
class InputGet:
    """A presigned GET of the input and the headers to send with it."""

    url: str
    headers: tuple[tuple[str, str], ...]
    size: int

    @property
    def etag(self) -> str:
        return dict(self.headers).get("If-Match", "")


class InputUrls(Protocol):
    async def presign_input(self, job_id: str, lease: Lease) -> InputGet: ...


def cache_key(spec_input: str, got: InputGet) -> str:
    """The cache entry of this object version."""
    return hashlib.sha256(f"{spec_input}\0{got.etag}\0{got.size}".encode()).hexdigest()


class InputChanged(Refused):
    """The bytes are not the version the master signed for: retried."""


def _get(got: InputGet, dest: Path, timeout: float = 60.0) -> None:
    parts = urlsplit(got.url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.netloc, timeout=timeout)
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    try:
        conn.request("GET", f"{parts.path}?{parts.query}", headers=dict(got.headers))
        resp = conn.getresponse()
        if resp.status == 412:
            raise InputChanged("the input object was replaced since the master looked at it")
        if resp.status != 200:
            body = resp.read(300).decode(errors="replace")
            raise Refused(f"input GET answered HTTP {resp.status}: {body}")
        with dest.open("wb") as out:
            while buf := resp.read(CHUNK):
                out.write(buf)
                md5.update(buf)
                sha.update(buf)
                size += len(buf)
            out.flush()
            os.fsync(out.fileno())
        etag, checksum = resp.getheader("ETag", ""), resp.getheader("x-amz-checksum-sha256", "")
        # With KMS or customer keys a single-part ETag is not the MD5 of the bytes.
        kms = "kms" in resp.getheader("x-amz-server-side-encryption", "") or bool(
            resp.getheader("x-amz-server-side-encryption-customer-algorithm"))
    finally:
        conn.close()
    md5_hex = "" if kms else md5.hexdigest()
    _verify(got, size, etag, md5_hex, base64.b64encode(sha.digest()).decode(), checksum)


def _verify(got: InputGet, size: int, etag: str, md5: str, sha_b64: str, checksum: str) -> None:
    """`md5` empty: the ETag is not one to compare the bytes with."""
    if size != got.size:
        raise InputChanged(f"the input arrived with {size} bytes, the object has {got.size}")
    if etag and got.etag and etag != got.etag:
        raise InputChanged(f"the input arrived as ETag {etag}, the master signed {got.etag}")
    m = _MD5_ETAG.fullmatch(got.etag)
    if md5 and m is not None and m.group(1) != md5:  # a multipart ETag ("...-N") is no MD5
        raise InputChanged("the input's bytes do not match its ETag (MD5)")
    if checksum and "-" not in checksum and checksum != sha_b64:  # a composite has "-N"
        raise InputChanged("the input's bytes do not match its SHA-256 checksum")


async def fetch(got: InputGet, dest: Path) -> None:
    """Into `dest`, checked; Refused (transient) when the bytes are not right."""
    try:
        await asyncio.to_thread(_get, got, dest)
    except OSError as exc:  # the connection or the disk: another attempt may do
        raise Refused(f"input download failed: {exc}") from exc
