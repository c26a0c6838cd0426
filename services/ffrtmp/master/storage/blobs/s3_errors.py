"""What an object store's refusal means to a caller of the blob service."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from ffrtmp.core.errors import (
    FailedPrecondition,
    FfrtmpError,
    InvalidArgument,
    NotFound,
    Unavailable,
)

MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})
BAD_BYTES = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
BUSY = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})


def domain_error(exc: ClientError | BotoCoreError, op: str, key: str) -> FfrtmpError:
    """A store that is down or slow is UNAVAILABLE (the caller retries), never an
    internal error; a missing object NOT_FOUND; refused bytes INVALID_ARGUMENT."""
    if isinstance(exc, BotoCoreError):
        return Unavailable(f"object store unreachable: {exc}")
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in MISSING:
        return NotFound(f"{key}: not in the object store")
    if code in BAD_BYTES:
        return InvalidArgument("sha256", f"the object store refused the bytes: {code}")
    if code.startswith("5") or code in BUSY:
        return Unavailable(f"object store: {code}")
    return FailedPrecondition(f"object store refused {op}: {code}")
