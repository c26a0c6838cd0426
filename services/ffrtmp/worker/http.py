"""The worker's HTTP endpoint: /metrics for Prometheus, /healthz (the process
answers) and /readyz (connected to the master and not draining) for
orchestrators. prometheus_client's own server cannot route other paths, so this
is a small threaded http.server; it runs beside the asyncio loop and only reads
plain attributes, which is safe across threads. A Service like the worker's
other long-lived parts: the port is bound when it is built, served from start()
on, and stop() shuts it down in a thread of its own, bounded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from ffrtmp.lifecycle import Service, in_thread

log = logging.getLogger("ffrtmp.worker")
STOP_S = 1.0  # serve_forever notices a shutdown within its 0.5 s poll


def _handler(
    registry: CollectorRegistry, ready: Callable[[], bool]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._reply(200, b"ok\n")
            elif path == "/readyz":
                ok = ready()
                self._reply(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the worker's log

    return Handler


class WorkerHttp(Service):
    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, ready: Callable[[], bool]
    ) -> None:
        super().__init__("worker-http", log)
        self.server = ThreadingHTTPServer((host, port), _handler(registry, ready))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="worker-http", daemon=True
        )
        self._stopped = False

    async def start(self) -> None:
        self._thread.start()

    async def stop(self, within: float = STOP_S) -> None:
        if self._stopped:
            return
        self._stopped = True
        # shutdown() waits for serve_forever: called before start() it never returns.
        started = self._thread.is_alive()
        await in_thread("metrics endpoint", lambda: self._close(started), within)
        await super().stop()

    def _close(self, started: bool) -> None:
        if started:
            self.server.shutdown()
        self.server.server_close()
