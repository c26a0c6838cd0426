"""gRPC credentials for the cluster's mutual TLS, built from PEM files on disk.

Both sides present a certificate and trust only the cluster CA: the server refuses any
peer without a certificate from that CA, so every request has an identity to authorise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc


def _read(path: Path, what: str, hint: str) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} not found; {hint}") from None
    except IsADirectoryError:
        raise FileNotFoundError(f"{what} {path} is a directory, not a PEM file") from None


def _read_all(ca: Path, cert: Path, key: Path) -> tuple[bytes, bytes, bytes]:
    # Where the files are wanted, the cluster usually exists: never suggest a second CA.
    init = (
        "copy the cluster's ca.crt there or point --ca (FFRTMP_CA) at it; "
        "`ffrtmp certs init` makes a new CA, for a new cluster only"
    )
    own = (
        "issue one where the cluster's CA is (`ffrtmp certs issue worker NAME`, "
        "`... client NAME --role ROLE` or `... master --host NAME`) and copy it here"
    )
    return (
        _read(ca, "CA certificate", init),
        _read(cert, "certificate", own),
        _read(key, "private key", own),
    )


def server_credentials(ca: Path, cert: Path, key: Path) -> grpc.ServerCredentials:
    """Server side: present `cert`, and require a client certificate signed by `ca`."""
    ca_pem, cert_pem, key_pem = _read_all(ca, cert, key)
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=True
    )


def channel_credentials(ca: Path, cert: Path, key: Path) -> grpc.ChannelCredentials:
    """Client side: trust only `ca` (not the system store) and present `cert`."""
    ca_pem, cert_pem, key_pem = _read_all(ca, cert, key)
    return grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=key_pem, certificate_chain=cert_pem
    )


class ReloadableServerCredentials:
    """Server credentials whose certificate, key and CA bundle can be replaced
    while the server runs: grpc asks the fetcher on every new handshake, and open
    connections (worker streams) keep the session they have."""

    def __init__(self, ca: Path, cert: Path, key: Path) -> None:
        self.paths = (ca, cert, key)
        self._config = self._load()
        self._fresh: grpc.ServerCertificateConfiguration | None = None

    def _load(self) -> grpc.ServerCertificateConfiguration:
        ca_pem, cert_pem, key_pem = _read_all(*self.paths)
        return grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)], ca_pem)

    def credentials(self) -> grpc.ServerCredentials:
        # grpc's fetcher may return None ("unchanged"); its stubs do not say so.
        fetch: Any = self._fetch
        return grpc.dynamic_ssl_server_credentials(
            self._config, fetch, require_client_authentication=True
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        fresh, self._fresh = self._fresh, None
        return fresh  # None: keep the current configuration

    def reload(self) -> None:
        """Read the files again; a broken set raises and the old one stays."""
        self._fresh = self._load()
