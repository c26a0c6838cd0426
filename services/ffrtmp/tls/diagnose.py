"""Why a connection to the master cannot work, in words that name the cause.

grpc reports every TLS problem as UNAVAILABLE ("Socket closed", "failed to connect")
and its C core prints its own lines. So the CLI checks its three files before it
dials (present, parseable, the key belongs to the certificate, the certificate
comes from the CA and is in date) and, when a call still fails with UNAVAILABLE,
the CLI and the worker make one handshake of their own with Python's ssl module to
say what went wrong.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# (setting, what it is) in the order a user fixes them.
FILES = (("ca", "CA certificate"), ("cert", "client certificate"), ("key", "private key"))
_SPKI = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


class SetupError(Exception):
    """The CLI's own files cannot work; the message says why and what to do."""


def check_files(
    paths: dict[str, Path], source: Callable[[str], str], hint: str, now: dt.datetime
) -> None:
    """SetupError unless `paths` (keys ca, cert, key) can make a TLS client; `hint`
    (how to point at the right files) ends the messages about missing or foreign ones."""
    for name, what in FILES:
        p = paths[name]
        if not p.is_file():
            raise SetupError(
                f"{what} {p} not found (--{name} from {source(name)}; looked in "
                f"{p.resolve().parent}). {hint}"
            )
    ca, cert = _load_cert(paths["ca"], "ca"), _load_cert(paths["cert"], "cert")
    key = _load_key(paths["key"])
    if key.public_key().public_bytes(*_SPKI) != cert.public_key().public_bytes(*_SPKI):
        raise SetupError(
            f"--key {paths['key']} is not the private key of --cert {paths['cert']}: "
            "use the .key file that was issued with that certificate"
        )
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise SetupError(
            f"--cert {paths['cert']} was not signed by --ca {paths['ca']}: the two come from "
            f"different CAs (each `certs init` makes a new one). {hint}"
        ) from exc
    for name, c in (("ca", ca), ("cert", cert)):
        if c.not_valid_after_utc < now:
            raise SetupError(
                f"--{name} {paths[name]} expired on {c.not_valid_after_utc:%Y-%m-%d}: "
                + ("issue it again (`ffrtmp certs issue client NAME --role ROLE --force`)"
                   if name == "cert" else "the cluster needs a new CA (docs/PRODUCTION.md)")
            )
        if c.not_valid_before_utc > now:
            raise SetupError(
                f"--{name} {paths[name]} is not valid before "
                f"{c.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: check this machine's clock"
            )


def _load_cert(path: Path, name: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        raise SetupError(f"--{name} {path} is not a PEM certificate") from None


def _load_key(path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise SetupError(f"--key {path} is not an unencrypted PEM private key") from None


def diagnose(master: str, paths: dict[str, Path], timeout: float = 5.0) -> str | None:
    """One handshake with the master as grpc would make it; what failed, or None
    when the handshake works (the problem is elsewhere)."""
    host, _, port = master.rpartition(":")
    host = host.strip("[]") or "localhost"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(paths["ca"]))
    ctx.load_cert_chain(str(paths["cert"]), str(paths["key"]))
    ctx.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            # TLS 1.3: the server judges our certificate after our side is done, so
            # read once; a gRPC server speaks first (its SETTINGS frame).
            tls.recv(1)
    except ssl.SSLCertVerificationError as exc:
        return _server_cert_problem(exc, host, int(port), paths, timeout)
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).lower()
        if "unknown_ca" in reason or "bad_certificate" in reason or "certificate" in reason:
            return (
                f"the master refused --cert {paths['cert']}: it does not trust the CA that "
                "issued it (or the certificate is revoked or expired). Use a certificate "
                "from the master's CA (`ffrtmp certs show` names the issuer)."
            )
        return f"TLS with the master at {master} failed: {exc.reason or exc}"
    except (ValueError, OSError) as exc:
        return _network_problem(exc, master)
    return None


def _network_problem(exc: Exception, master: str) -> str | None:
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"nothing listens on {master} (connection refused): is ffrtmp-master running "
            "there? Set --master or FFRTMP_MASTER."
        )
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the master's host in {master!r}: {exc.strerror}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer from {master} (a firewall, or the wrong address?)"
    return None


def _server_cert_problem(
    exc: ssl.SSLCertVerificationError, host: str, port: int, paths: dict[str, Path],
    timeout: float,
) -> str:
    if exc.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        names = _server_names(host, port, timeout)
        return (
            f"the master's certificate is not valid for {host!r}"
            + (f" (it names {', '.join(names)})" if names else "")
            + ". `ffrtmp certs init` without --host makes one for this machine only: connect "
            "by one of its names, or give the master a certificate for this name from the "
            f"same CA: `ffrtmp certs issue master --host {host} --force --dir CA_DIR`, "
            "copy it to the master and send it SIGHUP."
        )
    if exc.verify_code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
        return (
            "the master's certificate has expired: issue it again with "
            "`ffrtmp certs issue master --force` and send the master SIGHUP"
        )
    return (
        f"the master's certificate was not issued by --ca {paths['ca']} "
        f"({exc.verify_message}): the master and this CLI use different CAs; "
        f"compare `ffrtmp certs show {paths['ca']}` with the master's ca.crt."
    )


def _server_names(host: str, port: int, timeout: float) -> list[str]:
    """The names in the master's certificate, read without verifying it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
        cert = x509.load_der_x509_certificate(der or b"")
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return []
    return [str(name.value) for name in san]
