"""PRODUCTION.md's install, run as written with /opt/ffrtmp moved under a temporary
root: the wheel built from this repository installs with its `otel` extra, and the
shipped systemd units verify, unmodified, against that install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

# Building a wheel and installing it with its dependencies takes minutes on a busy host.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "PRODUCTION.md"
PREFIX = "/opt/ffrtmp"
# What a clone holds that the build needs; caches and the dev venv stay behind.
SKIP = shutil.ignore_patterns(".venv", ".git", "dist", "build", "*.egg-info", "__pycache__",
                              ".*_cache", "demo", "certs")


def _bash_block(containing: str) -> str:
    blocks = re.findall(r"^```bash\n(.*?)^```", GUIDE.read_text(), flags=re.M | re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"one bash block with {containing!r} in the guide, found {found}"
    return str(found[0])


def _run(script: str, cwd: Path) -> None:
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True,
                       text=True, timeout=900, check=False, env=dict(os.environ))
    assert r.returncode == 0, f"{script}\nstdout: {r.stdout[-3000:]}\nstderr: {r.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A root holding /opt/ffrtmp/venv installed by the guide's own commands."""
    base = tmp_path_factory.mktemp("install")
    clone, root = base / "clone", base / "root"
    shutil.copytree(ROOT, clone, ignore=SKIP)
    _run(_bash_block("pip wheel"), clone)
    # The host commands that install the package; users and /etc are the host's business.
    host = [line for line in _bash_block("-m venv").splitlines()
            if PREFIX in line or line.startswith("WHEEL=")]
    extras = [set(m.group(1).split(",")) for line in host
              if (m := re.search(r"\[([a-z,]+)\]", line))]
    assert any({"otel", "fast"} <= e for e in extras), host
    _run("\n".join(host).replace(PREFIX, str(root) + PREFIX), clone)
    yield root


def test_the_guide_installs_the_package_with_tracing(installed: Path) -> None:
    venv = installed / PREFIX.lstrip("/") / "venv" / "bin"
    code = "import opentelemetry.sdk, uvloop, ffrtmp.tracing"
    r = subprocess.run([str(venv / "python"), "-c", code],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    for script in ("ffrtmp", "ffrtmp-master", "ffrtmp-worker"):
        r = subprocess.run([str(venv / script), "--help"], capture_output=True, text=True,
                           timeout=60, check=False)
        assert r.returncode == 0 and "usage" in r.stdout, r.stderr


def _system_units() -> Path | None:
    return next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                 if (p / "sysinit.target").exists()), None)


def test_the_shipped_systemd_units_verify(installed: Path) -> None:
    analyze, units = shutil.which("systemd-analyze"), _system_units()
    if analyze is None or units is None:
        pytest.skip("systemd-analyze or systemd's own units are missing (Debian package systemd)")
    (installed / "usr" / "lib" / "systemd").mkdir(parents=True, exist_ok=True)
    shutil.copytree(units, installed / "usr" / "lib" / "systemd" / "system", symlinks=True,
                    dirs_exist_ok=True)
    etc = installed / "etc" / "systemd" / "system"
    etc.mkdir(parents=True, exist_ok=True)
    names = ["ffrtmp-master.service", "ffrtmp-worker.service"]
    for name in names:
        shutil.copy(ROOT / "docs" / "deploy" / name, etc / name)  # as shipped, not edited
    r = subprocess.run([analyze, "verify", f"--root={installed}",
                        *(f"/etc/systemd/system/{n}" for n in names)],
                       capture_output=True, text=True, timeout=120, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert not re.search(r"Unknown (key|section)|ignoring|Failed|not executable", out), out
