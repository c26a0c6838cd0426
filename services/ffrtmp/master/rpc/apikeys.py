"""API keys: random secrets shown once, stored only as SHA-256 hashes, checked
in constant time. A key names a user (the owner of the jobs it submits) and a
role. Keys live in the job store; this cache answers every request without I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import replace

from ffrtmp.core.authz import ROLES
from ffrtmp.core.errors import InvalidArgument, NotFound
from ffrtmp.master.scheduling.sources import wall_ms
from ffrtmp.master.storage.protocol import ApiKey, JobStore

PREFIX = "ffk_"
_TOKEN = re.compile(r"ffk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})", re.ASCII)
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
_DUMMY = hashlib.sha256(b"no such key").digest()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class ApiKeys:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._keys: dict[str, ApiKey] = {}
        self.on_revoke: list[Callable[[str], object]] = []  # e.g. close the key's streams

    async def load(self) -> None:
        self._keys = {key.id: key for key in await self.store.api_keys()}
        for key in self._keys.values():  # revoked offline since the last load
            if key.revoked_ms:
                for hook in self.on_revoke:
                    hook(key.id)

    def verify(self, token: str) -> ApiKey | None:
        """The valid key `token` is, or None. The hash comparison runs whatever the
        key id, so timing tells nothing about which ids exist."""
        m = _TOKEN.fullmatch(token)
        key = self._keys.get(m.group(1)) if m else None
        supplied = _digest(m.group(2)) if m else _digest(token)
        ok = hmac.compare_digest(supplied, key.secret_sha256 if key else _DUMMY)
        if not ok or key is None or key.revoked_ms:
            return None
        return key

    async def create(self, user: str, role: str, created_by: str) -> tuple[ApiKey, str]:
        if not _USER.fullmatch(user):
            raise InvalidArgument("user", "1-64 letters, digits, '.', '_', '@' or '-'")
        if role not in ROLES:
            raise InvalidArgument("role", f"must be one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id, user, role, _digest(secret), wall_ms(), created_by)
        await self.store.add_api_key(key)
        self._keys[key.id] = key
        return key, f"{PREFIX}{key_id}_{secret}"

    async def revoke(self, key_id: str) -> ApiKey:
        key = self._keys.get(key_id)
        if key is None:
            raise NotFound(f"API key {key_id[:64]!r} not found")
        if not key.revoked_ms:
            at = wall_ms()
            await self.store.revoke_api_key(key_id, at)
            key = self._keys[key_id] = replace(key, revoked_ms=at)
        for hook in self.on_revoke:
            hook(key_id)
        return key

    def all(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: k.created_ms)
