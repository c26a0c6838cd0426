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

A GET cut mid-way resumes: the next request asks for the rest (`Range`), still
pinned by If-Match, and the digests run on across the pieces (s3get.py says
how each answer of the store is taken).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from ffrtmp.core.model import Lease
from ffrtmp.worker.environment import Refused
from ffrtmp.worker.s3get import (
    Cut,
    Expired,
    InputChanged,
    InputDenied,
    InputGet,
    Progress,
    get_rest,
)

__all__ = ["InputChanged", "InputDenied", "InputGet", "InputUrls", "Resumes", "cache_key", "fetch"]

log = logging.getLogger("ffrtmp.worker")
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?', re.ASCII)

# Cuts in a row, without a byte of progress between them, ridden out within one
# fetch (about 30 s of backoff: a store restart, a proxy failover); past them the
# attempt fails as transient. Any progress starts the count again.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# Fresh URLs asked of the master within one fetch (an expired or refused signature).
RESIGNS = 3
KEPT = 64  # downloads remembered for a later attempt to resume (their digests so far)

Resign = Callable[[], Awaitable[InputGet]]


class InputUrls(Protocol):
    async def presign_input(self, job_id: str, lease: Lease) -> InputGet: ...


def cache_key(spec_input: str, got: InputGet) -> str:
    """The cache entry of this object version."""
    return hashlib.sha256(f"{spec_input}\0{got.etag}\0{got.size}".encode()).hexdigest()


class Resumes:
    """What a failed download had fetched, by partial file: the next attempt on
    this worker (the cache keeps the file) goes on from there, its digests too."""

    def __init__(self) -> None:
        self._by_path: dict[Path, Progress] = {}

    def take(self, dest: Path) -> Progress:
        prog = self._by_path.pop(dest, None)
        try:
            on_disk = dest.stat().st_size
        except FileNotFoundError:
            on_disk = -1
        return prog if prog is not None and on_disk >= prog.size else Progress()

    def keep(self, dest: Path, prog: Progress) -> None:
        if prog.size:
            self._by_path[dest] = prog
            while len(self._by_path) > KEPT:
                self._by_path.pop(next(iter(self._by_path)))


async def fetch(
    got: InputGet, dest: Path, name: str = "", resign: Resign | None = None,
    resumes: Resumes | None = None,
) -> None:
    """`name` (the s3:// URL) into `dest`, checked. Refused (transient) when the
    bytes could not be had or are not right; InputDenied (the job fails) when the
    bucket's policy refuses the worker; `resign` gets a fresh URL of the same
    version when this one expired; `resumes` remembers a failed download."""
    resumes = resumes or Resumes()
    prog = resumes.take(dest)
    try:
        await _fetch(got, dest, name or "the input", prog, resign)
    except InputChanged:
        await asyncio.to_thread(dest.unlink, True)  # not bytes of this version: never built on
        raise
    except Refused:
        resumes.keep(dest, prog)
        raise


async def _fetch(
    got: InputGet, dest: Path, name: str, prog: Progress, resign: Resign | None
) -> None:
    if prog.size:
        log.info("%s: resuming the download at byte %d of %d", name, prog.size, got.size)
    cuts = resigns = 0
    while True:
        before = prog.size
        try:
            if await asyncio.to_thread(get_rest, got, dest, prog, name):
                break
            raise Cut("the connection closed before the end")
        except Cut as exc:
            cuts = 0 if prog.size > before else cuts + 1
            if cuts > len(BACKOFF_S):
                raise Refused(f"{name}: download failed at byte {prog.size}: {exc}") from None
            log.info("%s: download cut at byte %d of %d (%s): resuming",
                     name, prog.size, got.size, exc)
            await asyncio.sleep(BACKOFF_S[cuts - 1] if cuts else 0.0)
        except Expired as exc:
            resigns += 1
            if resign is None or resigns > RESIGNS:
                raise Refused(f"{name}: the store refused the signed GET: {exc}") from None
            log.info("%s: %s: asking the master for a fresh URL", name, exc)
            fresh = await resign()
            if (fresh.etag, fresh.size) != (got.etag, got.size):
                raise InputChanged(f"{name} was replaced during the download") from None
            got = fresh
        except OSError as exc:  # the disk: another attempt may do
            raise Refused(f"{name}: input download failed: {exc}") from exc
    md5_hex = "" if prog.kms else prog.md5.hexdigest()
    _verify(got, prog.size, prog.etag, md5_hex, base64.b64encode(prog.sha.digest()).decode(),
            prog.checksum, name)


def _verify(
    got: InputGet, size: int, etag: str, md5: str, sha_b64: str, checksum: str,
    name: str = "the input",
) -> None:
    """`md5` empty: the ETag is not one to compare the bytes with."""
    if size != got.size:
        raise InputChanged(f"{name} arrived with {size} bytes, the object has {got.size}")
    if etag and got.etag and etag != got.etag:
        raise InputChanged(f"{name} arrived as ETag {etag}, the master signed {got.etag}")
    m = _MD5_ETAG.fullmatch(got.etag)
    if md5 and m is not None and m.group(1) != md5:  # a multipart ETag ("...-N") is no MD5
        raise InputChanged(f"{name}: the bytes do not match its ETag (MD5)")
    if checksum and "-" not in checksum and checksum != sha_b64:  # a composite has "-N"
        raise InputChanged(f"{name}: the bytes do not match its SHA-256 checksum")

