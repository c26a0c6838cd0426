"""Bytes to and from presigned URLs (S3), with the standard library's HTTP client
in a thread: the client needs no HTTP package of its own for this."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

CHUNK = 1024 * 1024


def part_md5(path: Path, offset: int, size: int) -> str:
    """Content-MD5 (base64) of a byte range: the object store checks each part by it."""
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        f.seek(offset)
        left = size
        while left > 0 and (buf := f.read(min(4 * CHUNK, left))):
            h.update(buf)
            left -= len(buf)
    return base64.b64encode(h.digest()).decode()


class HttpError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


def _connect(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.netloc, timeout=timeout)
    return conn, parts.path + (f"?{parts.query}" if parts.query else "")


class _Window:
    """A file's byte range as a readable body, reporting progress."""

    def __init__(self, f: BinaryIO, size: int, progress: Callable[[int], None]) -> None:
        self.f, self.left, self.progress = f, size, progress

    def read(self, n: int = CHUNK) -> bytes:
        buf = self.f.read(min(n if n > 0 else CHUNK, self.left))
        self.left -= len(buf)
        if buf:
            self.progress(len(buf))
        return buf


def http_put(
    url: str,
    headers: dict[str, str],
    path: Path,
    offset: int,
    size: int,
    progress: Callable[[int], None],
    timeout: float = 60.0,
) -> str:
    """PUT `size` bytes of `path` from `offset`; the ETag the store answered."""
    conn, target = _connect(url, timeout)
    try:
        with path.open("rb") as f:
            f.seek(offset)
            conn.putrequest("PUT", target, skip_accept_encoding=True)
            for k, v in {**headers, "Content-Length": str(size)}.items():
                conn.putheader(k, v)
            conn.endheaders()
            body = _Window(f, size, progress)
            while buf := body.read():
                conn.send(buf)
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        if resp.status // 100 != 2:
            raise HttpError(resp.status, text)
        return resp.getheader("ETag", "").strip()
    finally:
        conn.close()


def http_get(
    url: str,
    headers: dict[str, str],
    dest: Path,
    offset: int,
    h: Any,
    progress: Callable[[int], None],
    timeout: float = 60.0,
) -> None:
    """Append the object's bytes from `offset` to `dest` (a Range request),
    feeding them to the SHA-256 `h`."""
    conn, target = _connect(url, timeout)
    try:
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        conn.request("GET", target, headers={**headers, **extra})
        resp = conn.getresponse()
        if resp.status // 100 != 2:
            raise HttpError(resp.status, resp.read().decode(errors="replace"))
        if offset and resp.status != 206:
            raise HttpError(resp.status, "the store ignored the Range header")
        with dest.open("ab") as out:
            while buf := resp.read(CHUNK):
                out.write(buf)
                h.update(buf)
                progress(len(buf))
            out.flush()
            os.fsync(out.fileno())
    finally:
        conn.close()
