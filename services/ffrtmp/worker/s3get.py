"""One GET of the rest of an `s3://` input (the bytes from what is already in
the partial file on), and how each answer of the store is taken.

- 200/206: the bytes are appended; a cut connection is a `Cut` (resumed by the
  next GET, from the new end).
- 412: the object is no longer the version the master signed: `InputChanged`
  (transient: the next attempt is signed for the new version).
- 5xx, 429, a reset or a timeout: `Cut`, resumed after a backoff.
- 403 of an expired URL (or of a signature the store no longer takes: rotated
  or temporary keys of the master): `Expired`, the master signs a fresh one.
- 403 AccessDenied of a URL still valid: the bucket's policy refuses this GET.
  The master's own HEAD of the object passed, so what denies it is a policy
  condition on the request (its source address or VPC endpoint, say) — the
  same for every attempt: `InputDenied`, the job fails once, naming the bucket,
  the key and the action to allow, instead of spending its retries.
"""

from __future__ import annotations

import calendar
import hashlib
import http.client
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ffrtmp.core.errors import PermissionDenied
from ffrtmp.worker.environment import Refused

CHUNK = 1 << 20
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_CLOCK_SLACK_S = 5  # the worker's clock against the store's


@dataclass(frozen=True, slots=True)
class InputGet:
    """A presigned GET of the input and the headers to send with it."""

    url: str
    headers: tuple[tuple[str, str], ...]
    size: int

    @property
    def etag(self) -> str:
        return dict(self.headers).get("If-Match", "")

    def expired(self) -> bool:
        """Past the X-Amz-Date + X-Amz-Expires signed into the URL."""
        q = parse_qs(urlsplit(self.url).query)
        try:
            signed = time.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
            ttl = int(q["X-Amz-Expires"][0])
        except (KeyError, ValueError):
            return False
        return time.time() > calendar.timegm(signed) + ttl - _CLOCK_SLACK_S


class InputChanged(Refused):
    """The bytes are not the version the master signed for: retried."""


class InputDenied(PermissionDenied):
    """The bucket's policy refuses the worker's GET: the job fails."""


class Cut(Exception):
    """The GET broke off or the store failed for now: resume."""


class Expired(Exception):
    """The URL's signature is no longer taken: sign again."""


@dataclass(slots=True)
class Progress:
    """What the pieces so far added up to."""

    size: int = 0
    md5: hashlib._Hash = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    sha: hashlib._Hash = field(default_factory=hashlib.sha256)
    etag: str = ""
    checksum: str = ""  # a full-object SHA-256: only a whole-object answer has it
    kms: bool = False  # with KMS or customer keys a single-part ETag is no MD5


def get_rest(got: InputGet, dest: Path, prog: Progress, name: str, timeout: float = 60.0) -> bool:
    """Append what `dest` lacks; True once the object is complete."""
    if prog.size >= got.size:
        return True
    parts = urlsplit(got.url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.netloc, timeout=timeout)
    headers = dict(got.headers)
    if prog.size:
        headers["Range"] = f"bytes={prog.size}-"
    try:
        try:
            conn.request("GET", f"{parts.path}?{parts.query}", headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise Cut(f"{type(exc).__name__}: {exc}") from None
        _take_status(resp, got, prog, name)
        _append(resp, dest, prog)
    finally:
        conn.close()
    return prog.size >= got.size


def _take_status(resp: http.client.HTTPResponse, got: InputGet, prog: Progress, name: str) -> None:
    status = resp.status
    if status in (200, 206):
        if status == 200 or prog.size == 0:
            _restart(prog)  # a whole answer: what was kept is not built on
        else:
            m = _RANGE.fullmatch(resp.getheader("Content-Range", ""))
            if m is None or int(m.group(1)) != prog.size or int(m.group(3)) != got.size:
                raise InputChanged(f"{name}: the store answered another range than asked")
        prog.etag = resp.getheader("ETag", "") or prog.etag
        if status == 200:
            prog.checksum = resp.getheader("x-amz-checksum-sha256", "")
        prog.kms = "kms" in resp.getheader("x-amz-server-side-encryption", "") or bool(
            resp.getheader("x-amz-server-side-encryption-customer-algorithm"))
        return
    body = _body(resp)
    code, message = _field(_CODE, body), _field(_MESSAGE, body)
    said = f"HTTP {status} {code}: {message}".rstrip(": ")
    if status == 412:
        raise InputChanged(f"{name} was replaced since the master looked at it")
    if status >= 500 or status in (408, 429):
        raise Cut(said)
    if status == 403 and code == "InvalidObjectState":  # HEAD passes, a GET cannot
        raise InputDenied(f"{name} is archived ({said}): restore it before transcoding it")
    if status == 403:
        if code == "AccessDenied" and "expired" not in message.lower() and not got.expired():
            bucket = urlsplit(name).netloc or "the bucket"
            raise InputDenied(
                f"{name}: the bucket refused this worker's GET ({said}); {bucket}'s policy must "
                "allow s3:GetObject on the key to the master's credentials from the workers' "
                "network (a condition on the source address or VPC endpoint applies to the "
                "workers, not the master)")
        raise Expired(said)
    raise Refused(f"{name}: the input GET answered {said or status}")


def _restart(prog: Progress) -> None:
    fresh = Progress()
    prog.size, prog.md5, prog.sha = 0, fresh.md5, fresh.sha


def _append(resp: http.client.HTTPResponse, dest: Path, prog: Progress) -> None:
    with dest.open("r+b" if prog.size else "wb") as out:
        out.truncate(prog.size)  # only bytes that were hashed are built on
        out.seek(prog.size)
        try:
            while True:
                try:  # read1: what came is kept even if the connection then breaks
                    buf = resp.read1(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise Cut(f"{type(exc).__name__} at byte {prog.size}") from None
                if not buf:
                    break
                out.write(buf)
                prog.md5.update(buf)
                prog.sha.update(buf)
                prog.size += len(buf)
        finally:
            out.flush()
            os.fsync(out.fileno())


def _body(resp: http.client.HTTPResponse) -> str:
    try:
        return resp.read(4000).decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return ""


def _field(pattern: re.Pattern[str], body: str) -> str:
    m = pattern.search(body)
    return m.group(1) if m else ""
