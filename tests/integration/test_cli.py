"""The CLI as a user meets it: scenarios, logs, settings, completion, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.rtmp import free_port

CATALOG = """
[scenarios.tiny-vp9]
codec = "vp9"
width = 160
height = 96
fps = 5
bitrate = "100k"
duration_s = 1
description = "a house scenario"

[scenarios.test]
description = "overridden"
"""


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cli")
    (root / "scenarios.toml").write_text(CATALOG)
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master("--scenarios", str(root / "scenarios.toml"))
        c.start_worker("w1")
        yield c
    finally:
        c.stop()


def test_scenarios_list_includes_the_file_and_the_builtins(cli_cluster: Cluster) -> None:
    r = cli_cluster.cli("-o", "json", "scenarios", "list")
    assert r.returncode == 0, r.stderr
    by_name = {s["name"]: s for s in json.loads(r.stdout)}
    assert {"live-4k", "720p30-h264", "tiny-vp9", "test"} <= by_name.keys()
    assert by_name["tiny-vp9"]["codec"] == "vp9" and by_name["tiny-vp9"]["width"] == 160
    assert by_name["test"]["description"] == "overridden" and by_name["test"]["width"] == 320
    r = cli_cluster.cli("scenarios", "list")
    assert r.returncode == 0 and "tiny-vp9" in r.stdout


def test_a_file_scenario_runs_and_its_log_can_be_read(cli_cluster: Cluster) -> None:
    r = cli_cluster.cli("-o", "json", "jobs", "submit", "--scenario", "tiny-vp9", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    job = json.loads(r.stdout)
    assert job["state"] == "SUCCEEDED" and job["codec"] == "vp9"
    r = cli_cluster.cli("jobs", "logs", job["id"])
    assert r.returncode == 0 and "libvpx-vp9" in r.stdout
    r = cli_cluster.cli("-o", "json", "jobs", "logs", job["id"])
    assert json.loads(r.stdout)["attempt"] == 1


def test_failed_job_exit_status_and_watch_lines(cli_cluster: Cluster) -> None:
    r = cli_cluster.cli("jobs", "submit", "--scenario", "test", "--input", "absent.mp4", "--wait")
    assert r.returncode == 1
    assert "FAILED" in r.stdout and "error:" in r.stderr and "No such file" in r.stderr


def test_settings_come_from_the_config_file(cli_cluster: Cluster, tmp_path: Path) -> None:
    cert, key = cli_cluster.certs.pair("admin")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'master = "{cli_cluster.address}"\nca = "{cli_cluster.certs.ca}"\n'
                   f'cert = "{cert}"\nkey = "{key}"\noutput = "json"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFRTMP_")}
    env["FFRTMP_CONFIG"] = str(cfg)
    run = [sys.executable, "-m", "ffrtmp.cli.main"]
    r = subprocess.run([*run, "nodes", "list"], env=env, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert [n["id"] for n in json.loads(r.stdout)] == ["w1"]
    r = subprocess.run([*run, "config", "show"], env=env, capture_output=True, text=True,
                       check=False)
    shown = json.loads(r.stdout)
    assert shown["master"] == {"value": cli_cluster.address, "source": f"config {cfg}"}
    assert shown["timeout"]["source"] == "default"
    env["FFRTMP_MASTER"] = "127.0.0.1:1"
    r = subprocess.run([*run, "--timeout", "3s", "config", "show"], env=env,
                       capture_output=True, text=True, check=False)
    shown = json.loads(r.stdout)
    assert shown["master"]["source"] == "env FFRTMP_MASTER"
    assert shown["timeout"] == {"value": 3.0, "source": "flag"}
    cfg.write_text("colour = 'blue'\n")
    r = subprocess.run([*run, "nodes", "list"], env=env, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2 and "unknown settings" in r.stderr


def test_helpful_errors_name_the_fix(cli_cluster: Cluster, tmp_path: Path) -> None:
    port = free_port()
    r = cli_cluster.cli("--master", f"127.0.0.1:{port}", "--timeout", "2s", "jobs", "list")
    assert r.returncode == 1 and "cannot reach the master" in r.stderr
    assert "FFRTMP_MASTER" in r.stderr and "Traceback" not in r.stderr
    r = cli_cluster.cli("--cert", str(tmp_path / "nope.crt"), "jobs", "list")
    assert r.returncode == 2 and "nope.crt" in r.stderr and "ffrtmp certs" in r.stderr


def test_completion_scripts(cli_cluster: Cluster) -> None:
    for shell in ("bash", "zsh"):
        r = cli_cluster.cli("completion", shell)
        assert r.returncode == 0 and "jobs" in r.stdout and "submit" in r.stdout
    r = cli_cluster.cli("completion", "bash")
    check = subprocess.run(["bash", "-n"], input=r.stdout, text=True, capture_output=True,
                           check=False)
    assert check.returncode == 0, check.stderr
