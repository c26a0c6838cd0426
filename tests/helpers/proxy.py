"""A TCP proxy between a worker and the master that tests can pause (a silent
partition: bytes are held, no connection is closed) and resume (the held bytes are
delivered), reset once, refuse until admitted (a link that drops every connection),
or throttle (a slow link)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class TcpProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._open = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self._refusing = False
        self._s_per_byte = 0.0  # throttle(): a slow link
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._open.set()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()  # a reset, not an orderly close
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self._s_per_byte:
                    await asyncio.sleep(len(data) * self._s_per_byte)
                await self._open.wait()  # paused: hold the bytes, like a dead link
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def _call(self, fn: object) -> None:
        self._loop.call_soon_threadsafe(fn)  # type: ignore[arg-type]

    def pause(self) -> None:
        self._call(self._open.clear)

    def resume(self) -> None:
        self._call(self._open.set)

    def throttle(self, bytes_per_s: float) -> None:
        """Carry at most about this many bytes a second each way (0: no limit)."""
        self._s_per_byte = 1.0 / bytes_per_s if bytes_per_s > 0 else 0.0

    def reset(self) -> None:
        """Close every proxied connection (both sides see the link drop)."""

        def close_all() -> None:
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(close_all)

    def refuse(self) -> None:
        """Reset every proxied connection, and each new one until admit()."""

        def start() -> None:
            self._refusing = True
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(start)

    def admit(self) -> None:
        def stop() -> None:
            self._refusing = False

        self._call(stop)

    def close(self) -> None:
        def stop() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._loop.stop()

        self._call(stop)
        self._thread.join(5)
