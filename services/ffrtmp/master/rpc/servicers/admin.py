"""AdminService: API keys and the audit log."""

from __future__ import annotations

import base64

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.master.rpc.apikeys import ApiKeys
from ffrtmp.master.rpc.auth import current_actor
from ffrtmp.master.rpc.handlers import Ctx
from ffrtmp.master.scheduling.sources import wall_ms
from ffrtmp.master.storage.protocol import ApiKey, JobStore
from ffrtmp.v1 import admin_pb2, admin_pb2_grpc


def _key_pb(k: ApiKey) -> admin_pb2.ApiKey:
    return admin_pb2.ApiKey(id=k.id, user=k.user, role=k.role, created_unix_ms=k.created_ms,
                            created_by=k.created_by, revoked_unix_ms=k.revoked_ms)


def _token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{last_id}".encode()).decode()


def _before(token: str) -> int | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith("audit:"):
            raise ValueError
        return int(text[6:])
    except (ValueError, UnicodeError):
        raise InvalidArgument("page_token", "not a token from a previous call") from None


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, keys: ApiKeys, store: JobStore) -> None:
        self.keys = keys
        self.store = store

    async def _audit(self, action: str, target: str, detail: str = "") -> None:
        actor = current_actor()
        await self.store.audit(wall_ms(), actor.name, actor.role or actor.kind, action, target,
                               detail)

    async def CreateApiKey(
        self, request: admin_pb2.CreateApiKeyRequest, context: Ctx
    ) -> admin_pb2.CreateApiKeyResponse:
        key, secret = await self.keys.create(request.user, request.role, current_actor().name)
        await self._audit("apikey.create", key.id, f"user={key.user} role={key.role}")
        return admin_pb2.CreateApiKeyResponse(key=_key_pb(key), secret=secret)

    async def ListApiKeys(
        self, request: admin_pb2.ListApiKeysRequest, context: Ctx
    ) -> admin_pb2.ListApiKeysResponse:
        return admin_pb2.ListApiKeysResponse(keys=[_key_pb(k) for k in self.keys.all()])

    async def RevokeApiKey(
        self, request: admin_pb2.RevokeApiKeyRequest, context: Ctx
    ) -> admin_pb2.RevokeApiKeyResponse:
        if not request.id or len(request.id) > 64:
            raise InvalidArgument("id", "is required, at most 64 characters")
        key = await self.keys.revoke(request.id)
        await self._audit("apikey.revoke", key.id, f"user={key.user}")
        return admin_pb2.RevokeApiKeyResponse(key=_key_pb(key))

    async def ListAuditEvents(
        self, request: admin_pb2.ListAuditEventsRequest, context: Ctx
    ) -> admin_pb2.ListAuditEventsResponse:
        if request.page_size > 1000:
            raise InvalidArgument("page_size", "must be at most 1000")
        size = request.page_size or 100
        rows = await self.store.audit_events(_before(request.page_token), size + 1)
        events = [admin_pb2.AuditEvent(id=e.id, at_unix_ms=e.at_ms, actor=e.actor, role=e.role,
                                       action=e.action, target=e.target, detail=e.detail)
                  for e in rows[:size]]
        token = _token(rows[size - 1].id) if len(rows) > size else ""
        return admin_pb2.ListAuditEventsResponse(events=events, next_page_token=token)
