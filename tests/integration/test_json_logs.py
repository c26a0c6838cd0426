"""With --log-format json every line a daemon writes is JSON, grpc's own lines and
the ready line included, so PRODUCTION.md's jq command reads a whole log."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.tls import pki
from tests.helpers.cluster import Cluster, make_certs

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "PRODUCTION.md"


@pytest.fixture(scope="module")
def json_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("jsonlogs")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master("--log-format", "json")
        c.start_worker("w1", "--log-format", "json")
        yield c
    finally:
        c.stop()


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_every_line_is_json_and_the_guides_jq_reads_the_log(
    json_cluster: Cluster, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    pki.init_ca(other)
    # A worker that trusts another CA: grpc's C core reports each failed handshake.
    lost = json_cluster.start_worker("w2", "--log-format", "json", "--ca", str(other / "ca.crt"))
    lost.wait_for(r'"logger": "grpc.core"')
    r = json_cluster.cli("-o", "json", "jobs", "submit", "--scenario", "test", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    job_id = json.loads(r.stdout)["id"]
    json_cluster.stop()  # flushes both logs

    logs = {p: _lines(p) for p in (json_cluster.root / "master.log",
                                   json_cluster.root / "worker-w1.log",
                                   json_cluster.root / "worker-w2.log")}
    records = {p: [json.loads(line) for line in lines] for p, lines in logs.items()}
    master, worker, _ = records.values()
    assert any("ready port=" in r["message"] for r in master)
    assert any("ready metrics_port=" in r["message"] for r in worker)

    jq = next(line.split("|", 1)[1] for line in re.findall(r"^.*\| jq .*$", GUIDE.read_text(),
                                                          flags=re.M))
    outs = {}
    for path in logs:
        with path.open() as log:
            out = subprocess.run(["bash", "-c", jq], stdin=log, capture_output=True, text=True,
                                 timeout=30, check=False, env={**os.environ, "JOB_ID": job_id})
        assert out.returncode == 0, f"{path.name}: {out.stderr}"
        outs[path.name] = out.stdout
    picked = [json.loads(line) for line in outs["worker-w1.log"].splitlines()]
    assert picked and all(p["job_id"] == job_id for p in picked), outs
