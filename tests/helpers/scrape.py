"""Reading Prometheus endpoints and HTTP probes of daemons under test."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.cluster import Cluster, Proc


def get(port: int, path: str) -> tuple[int, str]:
    """Status and body of GET http://127.0.0.1:port/path (errors included)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port: int) -> str:
    code, body = get(port, "/metrics")
    assert code == 200, body
    return body


def names(text: str) -> set[str]:
    """Every series name a scrape can show: family names and their sample names
    (`_total`, `_bucket`, `_sum`, `_count`, `_created`), even with no samples yet."""
    out: set[str] = set()
    for fam in text_string_to_metric_families(text):
        out.add(fam.name)
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("_sum", "_count", "_created"),
        }.get(fam.type, ())
        out.update(fam.name + s for s in suffixes)
        out.update(s.name for s in fam.samples)
    return out


def families(text: str) -> dict[str, str]:
    """Family name -> type, as the exposition declares them (counters without `_total`)."""
    return {fam.name: fam.type for fam in text_string_to_metric_families(text)}


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name` whose labels include `labels`; None when absent."""
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def worker_port(proc: Proc) -> int:
    return int(proc.wait_for(r"ffrtmp-worker ready metrics_port=(\d+)").group(1))


def metrics(cluster: Cluster) -> dict[str, float]:
    """The master's samples by series name with labels, e.g. `x_total{kind="a"}`."""
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
