"""A worker never starts with an input or output root that holds its own
private key or CA: a job's path could read (or overwrite) them."""

from __future__ import annotations

from pathlib import Path


def test_a_worker_refuses_roots_holding_its_credentials(tmp_path: Path) -> None:
    import subprocess
    import sys

    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.crt", "w3.crt", "w3.key"):
        (certs / name).write_text("x")

    def start(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ffrtmp.worker.main", "--ca", "certs/ca.crt",
             "--cert", "certs/w3.crt", "--key", "certs/w3.key", "--master", "127.0.0.1:9",
             *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False,
        )

    for args, what in (
        (("--input-root", "."), "private key"),
        (("--input-root", "certs"), "private key"),
        (("--input-root", "in", "--output-root", "."), "private key"),
    ):
        r = start(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert what in r.stderr and "w3.key" in r.stderr, r.stderr
    # The default roots hold nothing of the worker's default credentials.
    from ffrtmp.worker.main import parser
    from ffrtmp.worker.paths import check_roots

    d = parser().parse_args([])
    check_roots({"--input-root": d.input_root, "--output-root": d.output_root},
                {"private key": d.key, "CA certificate": d.ca})
