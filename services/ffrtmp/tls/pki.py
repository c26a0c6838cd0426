"""A small certificate authority for the cluster's mutual TLS.

One CA signs everything: the master's server certificate, and the client certificates of
workers and CLI users. Kind and role travel in the subject (see `ffrtmp.tls.identity`), so
the master learns who is calling from the handshake alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Final, Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ffrtmp.core.authz import ROLES
from ffrtmp.tls.identity import ROLE_PREFIX, common_name, kind_and_role, validate_name

CA_CERT: Final = "ca.crt"
CA_KEY: Final = "ca.key"
MASTER_CERT: Final = "master.crt"
MASTER_KEY: Final = "master.key"
DEFAULT_DAYS: Final = 825  # the longest leaf lifetime common TLS clients still accept
DEFAULT_ROLE: Final = "submitter"

# Names that would overwrite the CA's own files when issued into the CA directory.
_RESERVED: Final = frozenset({"ca", "master"})
_BACKDATE: Final = dt.timedelta(minutes=5)  # tolerate clock skew between machines
_CURVE: Final = ec.SECP256R1()  # P-256: small keys, fast handshakes, accepted everywhere

_SAN_LABEL: Final[dict[type, str]] = {x509.DNSName: "DNS", x509.IPAddress: "IP"}
_E = TypeVar("_E", bound=x509.ExtensionType)
CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey  # ours is EC; RSA for a CA made elsewhere


@dataclass(frozen=True, slots=True)
class CaPaths:
    ca_cert: Path
    ca_key: Path
    master_cert: Path
    master_key: Path


@dataclass(frozen=True, slots=True)
class IssuedPaths:
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class CertInfo:
    path: Path
    subject: str
    issuer: str
    common_name: str
    kind: str  # worker | client | master | ca | unknown
    role: str | None
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    sans: tuple[str, ...]

    def days_left(self, now: dt.datetime) -> int:  # negative once expired
        return (self.not_after - now).days


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Create a temp file with `mode`, then rename it over `path`: a key is never readable
    by others, not even briefly, nor does it inherit the mode of a file it replaces."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed a certificate's 0644
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_pair(cert: x509.Certificate, key: CaKey, cert_path: Path, key_path: Path) -> None:
    fmt, none = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    _write_atomic(key_path, key.private_bytes(Encoding.PEM, fmt, none), 0o600)
    _write_atomic(cert_path, cert.public_bytes(Encoding.PEM), 0o644)


def _san_for(host: str) -> x509.GeneralName:
    host = host.strip()
    if not host:
        raise ValueError("empty host name")
    with contextlib.suppress(ValueError):
        return x509.IPAddress(ipaddress.ip_address(host))
    try:
        return x509.DNSName(host)
    except ValueError as e:  # non-ASCII names must be given as punycode
        raise ValueError(f"invalid host name {host!r}: {e}") from None


def _validity(days: int, ca: x509.Certificate | None) -> tuple[dt.datetime, dt.datetime]:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    now = dt.datetime.now(dt.UTC)
    not_after = now + dt.timedelta(days=days)
    if ca is not None:  # a leaf outliving its CA would fail verification anyway
        not_after = min(not_after, ca.not_valid_after_utc)
    return now - _BACKDATE, not_after


def _name(*attrs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


def _build(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate | None,
    days: int,
    sans: Sequence[x509.GeneralName] = (),
    usages: Sequence[x509.ObjectIdentifier] = (),
) -> x509.CertificateBuilder:
    """A certificate builder; `ca=None` means self-signed, i.e. the CA itself."""
    not_before, not_after = _validity(days, ca)
    is_ca = ca is None
    # A CA only signs certificates; a leaf only signs handshakes (ECDHE does the rest).
    # fmt: off
    usage = x509.KeyUsage(
        digital_signature=not is_ca, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=is_ca, crl_sign=is_ca,
        encipher_only=False, decipher_only=False,
    )
    # fmt: on
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if ca is None else ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        # path_length=0: our CA signs leaves only, never another CA.
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if ca is not None:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        builder = builder.add_extension(aki, critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder


def init_ca(
    dir: Path, hosts: Sequence[str] = (), days: int = DEFAULT_DAYS, *, force: bool = False
) -> CaPaths:
    """Create a CA and the master's certificate (for localhost plus `hosts`) in `dir`."""
    dir = Path(dir)
    paths = CaPaths(dir / CA_CERT, dir / CA_KEY, dir / MASTER_CERT, dir / MASTER_KEY)
    existing = [p for p in astuple(paths) if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{existing[0]} already exists; refusing to replace the CA, since every "
            "certificate it issued would stop working (use --force / force=True to replace it)"
        )
    ca_key = ec.generate_private_key(_CURVE)
    ca_name = _name((NameOID.ORGANIZATION_NAME, "ffrtmp"), (NameOID.COMMON_NAME, "ffrtmp CA"))
    ca_cert = _build(ca_name, ca_key, None, days).sign(ca_key, hashes.SHA256())
    dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_master(ca_cert, ca_key, hosts, days, dir)  # first: a bad --host leaves no CA behind
    _write_pair(ca_cert, ca_key, paths.ca_cert, paths.ca_key)
    return paths


def write_master(
    ca_cert: x509.Certificate, ca_key: CaKey, hosts: Sequence[str], days: int, dir: Path
) -> IssuedPaths:
    """The master's certificate for localhost plus `hosts`, signed by the CA."""
    sans = list(dict.fromkeys(_san_for(h) for h in ("localhost", "127.0.0.1", "::1", *hosts)))
    master_key = ec.generate_private_key(_CURVE)
    subject = _name((NameOID.COMMON_NAME, "master"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "master"))
    # clientAuth too: the master may dial out (e.g. to workers) with the same certificate.
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _build(subject, master_key, ca_cert, days, sans, usages).sign(ca_key, hashes.SHA256())
    _write_pair(cert, master_key, Path(dir) / MASTER_CERT, Path(dir) / MASTER_KEY)
    return IssuedPaths(Path(dir) / MASTER_CERT, Path(dir) / MASTER_KEY)


def load_ca(dir: Path) -> tuple[x509.Certificate, CaKey]:
    dir = Path(dir)
    cert_path, key_path = dir / CA_CERT, dir / CA_KEY
    for p in (cert_path, key_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"CA file {p} not found; create a CA first with `ffrtmp certs init --dir {dir}`"
            )
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{key_path}: a {type(key).__name__} CA key is not supported")
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise ValueError(f"{key_path} is not the private key of {cert_path}")
    return cert, key


def issue(
    dir: Path,
    kind: Literal["worker", "client"],
    name: str,
    role: str | None = None,
    days: int = DEFAULT_DAYS,
    *,
    out_dir: Path | None = None,
    force: bool = False,
) -> IssuedPaths:
    """Sign a client certificate for a worker node or a CLI user, writing NAME.crt/NAME.key.

    Clients get `role` (default "submitter"); workers take none, their name is the node id.
    """
    if kind not in ("worker", "client"):
        raise ValueError(f"kind must be 'worker' or 'client', got {kind!r}")
    validate_name(name)
    if name in _RESERVED:
        raise ValueError(f"certificate name {name!r} is reserved for the CA's own files")
    if kind == "worker" and role is not None:
        raise ValueError("workers have no role; only client certificates carry one")
    if kind == "client":
        role = DEFAULT_ROLE if role is None else role
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    out = Path(dir if out_dir is None else out_dir)
    paths = IssuedPaths(out / f"{name}.crt", out / f"{name}.key")
    existing = [p for p in (paths.cert, paths.key) if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists (use --force / force=True to replace it)")
    ca_cert, ca_key = load_ca(dir)

    attrs = [(NameOID.COMMON_NAME, name), (NameOID.ORGANIZATIONAL_UNIT_NAME, kind)]
    if role is not None:
        attrs.append((NameOID.ORGANIZATIONAL_UNIT_NAME, ROLE_PREFIX + role))
    key = ec.generate_private_key(_CURVE)
    # The DNS SAN repeats the name so grpc's auth_context lists it among the SANs too.
    sans, usages = [x509.DNSName(name)], [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _build(_name(*attrs), key, ca_cert, days, sans, usages).sign(ca_key, hashes.SHA256())

    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_pair(cert, key, paths.cert, paths.key)
    return paths


def _ext(cert: x509.Certificate, cls: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _readable(name: x509.Name) -> str:
    # In the order written (CN first); RFC 4514 strings run backwards.
    return ", ".join(rdn.rfc4514_string() for rdn in name.rdns)


def describe(cert_path: Path) -> CertInfo:
    """Read a certificate as `ffrtmp certs show` presents it."""
    cert_path = Path(cert_path)
    if not cert_path.is_file():
        raise FileNotFoundError(f"{cert_path}: no such file")
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        raise ValueError(f"{cert_path} is not a PEM certificate") from None
    kind, role = kind_and_role(cert)
    constraints, san = _ext(cert, x509.BasicConstraints), _ext(cert, x509.SubjectAlternativeName)
    sans = [f"{_SAN_LABEL.get(type(n), type(n).__name__)}:{n.value}" for n in san or ()]
    return CertInfo(
        path=cert_path,
        subject=_readable(cert.subject),
        issuer=_readable(cert.issuer),
        common_name=common_name(cert),
        kind="ca" if constraints is not None and constraints.ca else kind,
        role=role,
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sans=tuple(sans),
    )
