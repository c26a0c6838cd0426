"""An HTTP relay in front of the test S3 server (moto) that counts the body bytes
each GET was served and can misbehave the way a real store or link does, one
scripted step per GET: close the connection after N body bytes (a download cut
mid-way), answer 503 SlowDown, answer the 403 AWS gives a presigned URL past its
expiry (moto does not enforce expiry), or run a callable first (replace the
object, say); or answer every GET with a bucket policy's 403 AccessDenied."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "host"}


@dataclass
class Served:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    body_bytes: int


# A GET's step: cut after this many body bytes, "503", "expired", "pass", an
# error to answer (status, code, message), or a callable run before the GET.
Step = int | str | tuple[int, str, str] | Callable[[], None]


@dataclass
class Faults:
    script: list[Step] = field(default_factory=list)  # one step per GET, in order
    denied: bool = False  # every GET answered a policy's 403 AccessDenied


def _error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>T</RequestId></Error>").encode()


class S3Relay:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.faults = Faults()
        self.served: list[Served] = []
        self._lock = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                relay._relay(self, "GET")

            def do_HEAD(self) -> None:
                relay._relay(self, "HEAD")

            def do_PUT(self) -> None:
                relay._relay(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def gets(self) -> list[Served]:
        with self._lock:
            return [s for s in self.served if s.method == "GET"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _step(self, method: str) -> tuple[tuple[int, bytes] | None, int | None]:
        """The answer to give instead of the store's, and where to cut the body."""
        if method != "GET":
            return None, None
        with self._lock:
            if self.faults.denied:
                return (403, _error("AccessDenied", "Access Denied")), None
            step = self.faults.script.pop(0) if self.faults.script else "pass"
        if isinstance(step, tuple):
            return (step[0], _error(step[1], step[2])), None
        if callable(step):
            step()
        elif step == "expired":
            return (403, _error("AccessDenied", "Request has expired")), None
        elif step == "503":
            return (503, _error("SlowDown", "Please reduce your request rate.")), None
        return None, step if isinstance(step, int) else None

    def _relay(self, h: BaseHTTPRequestHandler, method: str) -> None:
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        fault, cut = self._step(method)
        if fault is not None:
            status, body = fault
            # Recorded before the answer, so a client that has it finds it counted.
            self._record(Served(method, h.path, headers, status, 0))
            h.send_response(status)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        length = int(h.headers.get("Content-Length", "0") or 0)
        data = h.rfile.read(length) if length else None
        up = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            up.request(method, h.path, body=data, headers=headers)
            resp = up.getresponse()
            body = resp.read()
        finally:
            up.close()
        sent = b"" if method == "HEAD" else body if cut is None else body[:cut]
        self._record(Served(method, h.path, headers, resp.status, len(sent)))
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP:
                h.send_header(k, v)
        h.end_headers()
        if method == "HEAD":
            return
        h.wfile.write(sent)
        if cut is not None:  # closed short of its Content-Length; every byte sent arrives
            h.wfile.flush()
            h.close_connection = True

    def _record(self, s: Served) -> None:
        with self._lock:
            self.served.append(s)
