"""TLS problems as a user meets them: named by their cause, without grpc's own log
lines; hints that never invite a second CA; a master certificate re-issued for a
new name from the same CA and picked up by SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.tls import pki
from tests.helpers.cluster import Cluster, make_certs

# Another name for this machine's loopback that the master's certificate does not
# list (it has localhost, 127.0.0.1 and ::1): glibc reads "127.1" as 127.0.0.1, and
# grpc asks glibc when GRPC_DNS_RESOLVER=native (its own resolver reads only DNS
# and /etc/hosts).
OTHER_NAME = "127.1"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("clitls")
    c = Cluster(root, make_certs(root / "certs"))
    pki.init_ca(root / "other")
    pki.issue(root / "other", "client", "admin", role="admin")
    try:
        c.start_master()
        yield c
    finally:
        c.stop()


def _cli(c: Cluster, *args: str, cwd: Path | None = None,
         **files: Path) -> subprocess.CompletedProcess[str]:
    cert, key = c.certs.pair("admin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FFRTMP_", "GRPC_"))}
    env.update(FFRTMP_MASTER=c.address, FFRTMP_CA=str(files.get("ca", c.certs.ca)),
               FFRTMP_CERT=str(files.get("cert", cert)), FFRTMP_KEY=str(files.get("key", key)),
               FFRTMP_CONFIG=str(c.root / "no-config.toml"), GRPC_DNS_RESOLVER="native")
    return subprocess.run([sys.executable, "-m", "ffrtmp.cli.main", "--timeout", "5s", *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)


def _no_grpc_noise(stderr: str) -> None:
    assert ".cc:" not in stderr and "Handshake failed" not in stderr, stderr
    assert stderr.startswith("error: ") and "Traceback" not in stderr, stderr


def test_a_key_of_another_certificate_is_named(tls: Cluster) -> None:
    r = _cli(tls, "jobs", "list", key=tls.root / "other" / "admin.key")
    assert r.returncode == 2, r.stderr
    _no_grpc_noise(r.stderr)
    assert "is not the private key of --cert" in r.stderr, r.stderr


def test_a_certificate_of_another_ca_is_named(tls: Cluster) -> None:
    other = tls.root / "other"
    r = _cli(tls, "jobs", "list", cert=other / "admin.crt", key=other / "admin.key")
    assert r.returncode == 2 and "was not signed by --ca" in r.stderr, r.stderr
    _no_grpc_noise(r.stderr)
    # All three files from another CA agree with each other: the master tells.
    r = _cli(tls, "jobs", "list", ca=other / "ca.crt", cert=other / "admin.crt",
             key=other / "admin.key")
    assert r.returncode == 1, r.stderr
    _no_grpc_noise(r.stderr)
    assert "the master's certificate was not issued by --ca" in r.stderr, r.stderr


def test_missing_files_say_where_the_cli_looked_and_not_to_make_a_ca(
    tls: Cluster, tmp_path: Path
) -> None:
    r = _cli(tls, "jobs", "list", cwd=tmp_path, ca=Path("certs/ca.crt"))
    assert r.returncode == 2, r.stderr
    assert f"CA certificate certs/ca.crt not found (--ca from env FFRTMP_CA; looked in " \
           f"{tmp_path / 'certs'})" in r.stderr, r.stderr
    assert "FFRTMP_CA" in r.stderr and str(tls.root / "no-config.toml") in r.stderr
    assert "create the CA" not in r.stderr and "second CA" in r.stderr, r.stderr


def test_a_name_missing_from_the_master_certificate_then_reissued(tls: Cluster) -> None:
    away = f"{OTHER_NAME}:{tls.port}"
    r = _cli(tls, "--master", away, "nodes", "list")
    assert r.returncode == 1, r.stderr
    _no_grpc_noise(r.stderr)
    assert f"not valid for '{OTHER_NAME}'" in r.stderr, r.stderr
    assert "without --host" in r.stderr and "certs issue master --host" in r.stderr, r.stderr
    # A worker dialling that name says the same in its log, not only "UNAVAILABLE".
    worker = tls.start_worker("away", master=away)
    worker.wait_for(rf"cannot reach the master: the master's certificate is not valid for "
                    rf"'{OTHER_NAME}'.*certs issue master --host")
    worker.stop()

    # The fix the message names: the same CA, a new master certificate, SIGHUP.
    r = _cli(tls, "certs", "issue", "master", "--host", OTHER_NAME, "--force",
             "--dir", str(tls.certs.dir))
    assert r.returncode == 0, r.stderr
    assert tls.master is not None
    tls.master.signal(signal.SIGHUP)
    tls.master.wait_for("reloaded certificates")
    deadline = time.monotonic() + 20
    while (r := _cli(tls, "--master", away, "nodes", "list")).returncode != 0:
        assert time.monotonic() < deadline, r.stderr
        time.sleep(0.5)
    # Nothing else changed: the old name and every issued certificate still work.
    assert _cli(tls, "nodes", "list").returncode == 0


def test_debug_lets_grpc_speak(tls: Cluster) -> None:
    other = tls.root / "other"
    r = _cli(tls, "--debug", "jobs", "list", ca=other / "ca.crt", cert=other / "admin.crt",
             key=other / "admin.key")
    assert r.returncode == 1 and "Handshake failed" in r.stderr, r.stderr
