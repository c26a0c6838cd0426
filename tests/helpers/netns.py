"""Separate hosts on one machine for tests: each host is a network namespace whose
veth pair joins a bridge in the root namespace, a private /24 that exists only
while its test runs; the root namespace (the master's host) is the bridge's
first address. A host also sees the file system without the other hosts'
directories: its command runs in a mount namespace of its own (made by
`ip netns exec`) where each of them is covered by an empty read-only tmpfs, so
sharing nothing is enforced by the kernel, not only by flags.

Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2; `unavailable()` says
why not when they are missing. Names carry the pid (and a counter) so parallel
test processes never collide; interface names stay within Linux's 15 characters.
Everything is deleted on exit, even when the test failed, and what a killed run
of an earlier process left is deleted on the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PREFIX = "ffrtmp-"  # namespaces: ffrtmp-{pid}-{k}-{host}
BRIDGE = re.compile(r"^fb(\d+)x\d$")  # bridges: fb{pid}x{k}
NETNS = re.compile(rf"^{PREFIX}(\d+)-\d+-")
NET = "10.251"  # hosts live in 10.251.N.0/24, N free on this machine
LOCK = Path("/tmp/ffrtmp-netns.lock")  # one test process picks a subnet at a time
_count = itertools.count()

# Run inside the host's namespaces: cover each hidden directory, then become the command
# (exec all the way down, so the pid the test holds is the daemon's own).
_HIDE_AND_EXEC = (
    'while [ "$1" != -- ]; do mount -t tmpfs -o ro,size=4k,mode=0 elsewhere "$1" || exit 97;'
    ' shift; done; shift; exec "$@"'
)


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str  # its address on the test's LAN
    dir: Path  # its own directory; the other hosts' are hidden from it
    hidden: tuple[Path, ...]

    def link(self, up: bool) -> None:
        """Plug the host's cable in or pull it out (a network partition)."""
        _ip("-n", self.netns, "link", "set", "eth0", "up" if up else "down")

    def argv(self, cmd: Sequence[str]) -> list[str]:
        """`cmd` run on this host."""
        hide = [str(p) for p in self.hidden]
        return ["ip", "netns", "exec", self.netns, "sh", "-c", _HIDE_AND_EXEC, "host", *hide,
                "--", *cmd]


@dataclass(frozen=True)
class Lan:
    hub: str  # the root namespace's address on the bridge: where the master listens
    bridge: str
    hosts: dict[str, Host]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def unavailable() -> str | None:
    """Why test hosts cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "no `ip` command (Debian's iproute2; `make nettools` installs it)"
    probe = f"{PREFIX}{os.getpid()}-9-probe"
    r = _ip("netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"`ip netns add` failed (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN): {r.stderr}"
    _ip("netns", "del", probe, check=False)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale() -> None:
    """Namespaces and bridges of test processes that are gone (killed before teardown)."""
    for line in _ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if (m := NETNS.match(name)) and not _alive(int(m.group(1))):
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", "type", "bridge").stdout.splitlines():
        name = line.split(":")[1].strip()
        if (m := BRIDGE.match(name)) and not _alive(int(m.group(1))):
            _ip("link", "del", name, check=False)


def _free_subnet() -> str:
    used = _ip("-4", "-o", "addr").stdout + _ip("-4", "route").stdout
    start = os.getpid() % 200
    for i in range(250):
        n = (start + i) % 250 + 1
        if f" {NET}.{n}." not in used and f"{NET}.{n}.0/" not in used:
            return f"{NET}.{n}"
    raise RuntimeError(f"no free {NET}.N.0/24 for test hosts")


@contextlib.contextmanager
def lan(root: Path, names: Sequence[str], private: Sequence[str] = ()) -> Iterator[Lan]:
    """Hosts `names` (each with `root/NAME` its own), joined to the root namespace.

    `private` are further directories under `root` no host sees (the master's)."""
    pid, k = os.getpid(), next(_count)
    bridge = f"fb{pid}x{k % 10}"
    dirs = {n: root / n for n in [*names, *private]}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    try:
        with LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _sweep_stale()
            net = _free_subnet()
            _ip("link", "add", bridge, "type", "bridge")
            _ip("addr", "add", f"{net}.1/24", "dev", bridge)
            _ip("link", "set", bridge, "up")
        hosts = {}
        for i, name in enumerate(names):
            ns, veth = f"{PREFIX}{pid}-{k}-{name}", f"fv{pid}x{k % 10}{i}"
            address = f"{net}.{i + 2}"
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", bridge, "up")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")  # daemons' own endpoints bind 127.0.0.1
            others = tuple(d for n, d in dirs.items() if n != name)
            hosts[name] = Host(name, ns, address, dirs[name], others)
        yield Lan(f"{net}.1", bridge, hosts)
    finally:
        # Deleting a namespace deletes its veth pair; its processes were stopped first.
        for ns in made:
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", bridge, check=False)
