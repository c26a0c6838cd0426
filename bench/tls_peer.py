"""The server end of (g)'s TLS baselines: an HTTPS server for one request, as
plain as such a server gets (one 1 MiB buffer; `recv_into` + `write` for a PUT,
`read` + `sendall` for a GET). `curl` is the client. Run as
`python -m bench.tls_peer CERT KEY put DEST` or `... get SRC`; prints its port,
serves one request and exits."""

from __future__ import annotations

import socket
import ssl
import sys

BUF = 1 << 20


def _headers(tls: ssl.SSLSocket) -> tuple[bytes, bytes]:
    head = b""
    while b"\r\n\r\n" not in head:
        more = tls.recv(65536)
        if not more:
            raise SystemExit("connection closed before the request's headers")
        head += more
    headers, _, body = head.partition(b"\r\n\r\n")
    return headers, body


def put(tls: ssl.SSLSocket, dest: str) -> None:
    headers, body = _headers(tls)
    length = next(
        int(line.split(b":", 1)[1])
        for line in headers.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    buf = memoryview(bytearray(BUF))
    with open(dest, "wb") as out:
        out.write(body)
        left = length - len(body)
        while left > 0:
            n = tls.recv_into(buf, min(BUF, left))
            if n == 0:
                raise SystemExit(f"connection closed with {left} bytes to come")
            out.write(buf[:n])
            left -= n
    tls.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def get(tls: ssl.SSLSocket, src: str) -> None:
    _headers(tls)
    with open(src, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        tls.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode()
        )
        while buf := f.read(BUF):
            tls.sendall(buf)


def main() -> None:
    cert, key, mode, path = sys.argv[1:5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(listener.getsockname()[1], flush=True)
        conn, _ = listener.accept()
        with ctx.wrap_socket(conn, server_side=True) as tls:
            (put if mode == "put" else get)(tls, path)


if __name__ == "__main__":
    main()
