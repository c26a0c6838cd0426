"""The operations docs stay true: alert rules pass promtool, every metric that a
rule, a dashboard panel or METRICS.md names is exported by a live master or
worker (and every exported one is documented), and every `sh` command in
PRODUCTION.md runs against a live cluster (the install and the systemd units:
test_install_guide.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.flags import env_name
from ffrtmp.master.main import parser as master_parser
from ffrtmp.v1 import common_pb2
from ffrtmp.worker.main import parser as worker_parser
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.rtmp import free_port
from tests.helpers.scrape import families, names, scrape, worker_port

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
METRIC = re.compile(r"\bffrtmp_[a-z0-9_]+")
BIN = Path(sys.executable).parent  # the console scripts and grpcurl live beside python


def _fences(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A master (health port on) and one worker, node-a, and the guide's variables."""
    root = tmp_path_factory.mktemp("ops")
    cluster = Cluster(root, make_certs(root / "certs"))
    health = free_port()
    try:
        cluster.start_master("--health-port", str(health))
        worker = cluster.start_worker("node-a")
        cert, key = cluster.certs.pair("admin")
        yield {
            "FFRTMP_MASTER": cluster.address,
            "FFRTMP_CA": str(cluster.certs.ca),
            "FFRTMP_CERT": str(cert),
            "FFRTMP_KEY": str(key),
            "CERTS": str(cluster.certs.dir),
            "MASTER_HOST": "127.0.0.1",
            "METRICS_PORT": str(cluster.metrics_port),
            "HEALTH_PORT": str(health),
            "WORKER_HOST": "127.0.0.1",
            "WORKER_METRICS_PORT": str(worker_port(worker)),
            "FFRTMP_DB": str(root / "master.db"),
            "BACKUP_DIR": str(root / "backups"),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    finally:
        cluster.stop()


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; `make opstools`)")
    r = subprocess.run(
        [promtool, "check", "rules", str(DOCS / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_fires_in_promtool_unit_tests() -> None:
    """alerts_test.yml has a firing case for every alert, and promtool passes it."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; `make opstools`)")
    rules = (DOCS / "prometheus" / "alerts.yml").read_text()
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", rules, flags=re.M))
    tests = (DOCS / "prometheus" / "alerts_test.yml").read_text()
    # A case that expects alerts (not `exp_alerts: []`).
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", tests))
    assert alerts and not alerts - firing, f"alerts never shown firing: {sorted(alerts - firing)}"
    r = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        cwd=DOCS / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _dashboard_exprs() -> list[str]:
    dash = json.loads((DOCS / "grafana" / "ffrtmp.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_every_metric_named_is_exported_and_every_exported_one_documented(
    live: dict[str, str],
) -> None:
    texts = [scrape(int(live["METRICS_PORT"])), scrape(int(live["WORKER_METRICS_PORT"]))]
    exported = set().union(*(names(t) for t in texts))
    named = {
        "alerts.yml": set(METRIC.findall((DOCS / "prometheus" / "alerts.yml").read_text())),
        "ffrtmp.json": set(METRIC.findall(" ".join(_dashboard_exprs()))),
        "METRICS.md": set(METRIC.findall((DOCS / "METRICS.md").read_text())),
    }
    for where, metrics in named.items():
        assert metrics, f"no metric found in {where}"
        assert not metrics - exported, f"{where} names metrics nobody exports"
    documented = named["METRICS.md"]
    undocumented = sorted(
        name + ("_total" if kind == "counter" else "")
        for t in texts
        for name, kind in families(t).items()
        if name.startswith("ffrtmp_")
        and not name.endswith("_created")  # a counter's creation time, parsed apart
        and not {name, name + "_total"} & documented
    )
    assert not undocumented, f"exported but not in docs/METRICS.md: {undocumented}"


def test_guide_env_files_name_real_flags() -> None:
    guide = (DOCS / "PRODUCTION.md").read_text()
    known = {
        env_name(opt)
        for p in (master_parser(), worker_parser())
        for action in p._actions
        for opt in action.option_strings
        if opt.startswith("--")
    }
    keys = {
        line.split("=", 1)[0]
        for block in _fences(guide, "ini")
        for line in block.splitlines()
        if line.startswith("FFRTMP_")
    }
    assert keys and not keys - known, sorted(keys - known)


def test_guide_host_commands_parse() -> None:
    for block in _fences((DOCS / "PRODUCTION.md").read_text(), "bash"):
        r = subprocess.run(
            ["bash", "-n"], input=block, capture_output=True, text=True, timeout=10, check=False
        )
        assert r.returncode == 0, f"{block}\n{r.stderr}"


async def test_every_sh_command_in_the_guide_runs(live: dict[str, str]) -> None:
    env = {**os.environ, **live}
    for k in [k for k in env if k.startswith("FFRTMP_") and k not in live]:
        del env[k]
    # A job to look at, as an operator would have one.
    r = subprocess.run(
        [str(BIN / "ffrtmp"), "-o", "json", "jobs", "submit", "--scenario", "test", "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    env["JOB_ID"] = json.loads(r.stdout)["id"]
    blocks = _fences((DOCS / "PRODUCTION.md").read_text(), "sh")
    assert len(blocks) >= 8
    for block in blocks:
        r = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", block],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert r.returncode == 0, f"{block}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert list(Path(live["BACKUP_DIR"]).glob("ffrtmp-*.db"))
    assert common_pb2.JOB_STATE_SUCCEEDED  # the guide's own submit --wait succeeded above
