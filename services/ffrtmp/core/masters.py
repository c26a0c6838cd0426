"""Following the leader among several masters, without I/O: the CLI, the typed
client and the worker all keep a `MasterList`.

A standby answers with UNAVAILABLE and the leader's address in the trailing
metadata key LEADER_KEY. With a hint the caller goes straight there; without one
(no leader yet, or the master is gone) it tries the next address, after a pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

LEADER_KEY = "ffrtmp-leader"


def parse(text: str) -> tuple[str, ...]:
    """`host:port[,host:port...]` as a tuple; ValueError if no address is given."""
    found = tuple(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if not found:
        raise ValueError("--master: give at least one HOST:PORT (several: comma-separated)")
    return found


def hint(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The leader's address a standby named in its trailing metadata, if any."""
    for key, value in metadata or ():
        if key == LEADER_KEY:
            text = value.decode() if isinstance(value, bytes) else value
            return text.strip() or None
    return None


class MasterList:
    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("no master address")
        self.addresses = list(addresses)
        self.index = 0

    @property
    def current(self) -> str:
        return self.addresses[self.index]

    def __len__(self) -> int:
        return len(self.addresses)

    def follow(self, leader: str | None) -> bool:
        """After a refused or failed call: go to the hinted leader (True: try it at
        once), or on to the next address (False: pause first). A hint naming an
        address not in the list is added to it (masters advertise the address
        clients should use; the list may name them differently)."""
        if leader and leader != self.current:
            if leader not in self.addresses:
                self.addresses.append(leader)
            self.index = self.addresses.index(leader)
            return True
        self.index = (self.index + 1) % len(self.addresses)
        return False
