"""Who is on the other end of a connection, read from the peer's certificate.

The subject convention (written by `ffrtmp.tls.pki`) is `CN=<name>, OU=<kind>` and, for
clients, a second `OU=role:<role>`. Parsing lives here, away from file I/O, so the master
and `ffrtmp certs show` read certificates the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ffrtmp.core.authz import ROLES

KINDS: Final = ("worker", "client", "master")
ROLE_PREFIX: Final = "role:"
# Names become file names and node ids, so keep them to a portable, shell-safe alphabet.
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)

# grpc's auth_context key holding the verified peer certificate; the other x509_* keys
# are grpc's digest of it.
PEM_KEY: Final = "x509_pem_cert"


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    kind: str  # "worker" | "client" | "master" | "unknown"
    role: str | None = None
    problem: str = ""  # why an unknown identity was not accepted, for the refusal

    @property
    def authenticated(self) -> bool:
        return self.kind != "unknown"


UNKNOWN: Final = Identity(name="", kind="unknown", role=None)


def validate_name(name: str) -> str:
    if not name:
        raise ValueError("certificate name is empty")
    if len(name) > 64:
        raise ValueError(f"certificate name {name[:64]!r}... is longer than 64 characters")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"certificate name {name[:64]!r} must start with a letter or digit and contain only "
            "letters, digits, '.', '_' and '-'"
        )
    return name


def _attr_values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    # Values may be bytes for odd string types; such a certificate is not one of ours.
    return [a.value for a in name.get_attributes_for_oid(oid) if isinstance(a.value, str)]


def kind_and_role(cert: x509.Certificate) -> tuple[str, str | None]:
    """Kind and role from the subject OUs; anything ambiguous or foreign is "unknown"/None,
    so authorisation downstream fails closed rather than guessing."""
    ous = _attr_values(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    kinds = [ou for ou in ous if ou in KINDS]
    roles = [ou.removeprefix(ROLE_PREFIX) for ou in ous if ou.startswith(ROLE_PREFIX)]
    if len(kinds) != 1:
        return "unknown", None
    kind = kinds[0]
    # Only clients carry a role; one known role, or none at all.
    role = roles[0] if kind == "client" and len(roles) == 1 and roles[0] in ROLES else None
    return kind, role


def common_name(cert: x509.Certificate) -> str:
    cns = _attr_values(cert.subject, NameOID.COMMON_NAME)
    return cns[0] if len(cns) == 1 else ""


def _client_auth(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CLIENT_AUTH in eku


def identity_from_certificate(cert: x509.Certificate) -> Identity:
    """Who a peer certificate names. A name that `certs issue` would refuse (a
    newline forges log lines and owners) or a certificate not made for client
    authentication is nobody, whoever signed it."""
    name = common_name(cert)
    if not name:
        return UNKNOWN
    try:
        validate_name(name)
    except ValueError as exc:
        return Identity("", "unknown", None, f"refused: {exc}")
    if not _client_auth(cert):
        return Identity(
            "", "unknown", None,
            f"certificate of {name!r} lacks the client-authentication extended key usage",
        )
    kind, role = kind_and_role(cert)
    return Identity(name=name, kind=kind, role=role)


def _first(auth: Mapping[str, Iterable[bytes]], key: str) -> bytes | None:
    for value in auth.get(key, ()):
        return value
    return None


def identity_from_auth_context(auth: Mapping[str, Iterable[bytes]]) -> Identity:
    """Identity from grpc.aio's `context.auth_context()`.

    The TLS stack has already verified the chain against our CA (the server requires client
    auth), so here we only read the certificate. The PEM is parsed rather than grpc's
    `x509_subject` string because OU order and escaping there are grpc's choice, not ours.
    """
    pem = _first(auth, PEM_KEY)
    if pem is None:
        return UNKNOWN
    return identity_from_pem(bytes(pem))


@lru_cache(maxsize=4096)
def identity_from_pem(pem: bytes) -> Identity:
    """Parsing a certificate costs more than a whole small RPC; a cluster has few."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return UNKNOWN
    return identity_from_certificate(cert)
