"""A real S3-protocol server for the S3 blob backend's tests: moto in server mode,
started as a child process on a free port, with made-up credentials."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.procs import Proc

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    proc: Proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: Proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"moto_server exited:\n{''.join(proc.lines[-20:])}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("moto_server did not listen in time")


@contextmanager
def moto_server(log_dir: Path) -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1; sets the AWS variables of this process for the test
    (and puts back what was there)."""
    port = _free_port()
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    proc = Proc.python("moto.server", ["-H", "127.0.0.1", "-p", str(port)], log_dir / "moto.log")
    try:
        _wait_listening(port, proc)
        yield S3Server(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def s3_call(endpoint: str, op: str, **kw: Any) -> Any:
    """One S3 API call against the test server, as a user's own tools would make it."""
    from aiobotocore.session import get_session

    async with get_session().create_client("s3", endpoint_url=endpoint, region_name=REGION) as s3:
        return await getattr(s3, op)(**kw)
