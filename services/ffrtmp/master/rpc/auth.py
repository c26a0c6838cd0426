"""Authentication and authorization of every RPC, in one interceptor.

Who: the verified client certificate (mTLS), refused if its serial is on the
deny list; then an optional `authorization: Bearer <API key>` that names the
user and role on top of a shared client certificate. What: the table in
core/authz.py. How much: a token bucket per identity, and a cap on concurrent
WatchJob streams. Servicers read the caller with `current_actor()`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import grpc
from cryptography import x509

from ffrtmp.core.authz import SYSTEM, Actor, authorize
from ffrtmp.core.errors import ResourceExhausted, Unauthenticated
from ffrtmp.core.ratelimit import RateLimiter
from ffrtmp.master.rpc.apikeys import ApiKeys
from ffrtmp.master.rpc.handlers import CachingInterceptor, Ctx, rebuild
from ffrtmp.tls.identity import PEM_KEY, identity_from_auth_context

_CURRENT: ContextVar[Actor] = ContextVar("ffrtmp_actor", default=SYSTEM)
WATCH = "/ffrtmp.v1.JobService/WatchJob"
UNLIMITED = ("/ffrtmp.v1.WorkerService/", "/grpc.health.v1.Health/")


def current_actor() -> Actor:
    return _CURRENT.get()


@lru_cache(maxsize=4096)
def _serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number


@dataclass(slots=True)
class AuthPolicy:
    keys: ApiKeys
    require_api_key: bool = False
    deny_serials: frozenset[int] = frozenset()
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    max_watches: int = 16
    clock: Callable[[], float] = time.monotonic
    watches: dict[str, int] = field(default_factory=dict)

    def authenticate(self, context: Ctx, method: str) -> Actor:
        auth = context.auth_context()
        ident = identity_from_auth_context(auth)
        if not ident.authenticated:
            raise Unauthenticated("a client certificate from the cluster's CA is required")
        pems = list(auth.get(PEM_KEY) or [])
        if self.deny_serials and pems and _serial(bytes(pems[0])) in self.deny_serials:
            raise Unauthenticated(f"certificate of {ident.name!r} has been revoked")
        token = dict(context.invocation_metadata() or ()).get("authorization", "")
        if ident.kind == "client" and token:
            key = self.keys.verify(str(token).removeprefix("Bearer ").strip())
            if key is None:
                raise Unauthenticated("the API key is not valid (unknown, revoked or mistyped)")
            return Actor(key.user, key.role, "client")
        if (
            ident.kind == "client"
            and self.require_api_key
            and not method.startswith("/grpc.health.v1.Health/")
        ):
            raise Unauthenticated(
                "this master requires an API key: "
                "send `authorization: Bearer <key>` (ffrtmp --api-key)"
            )
        return Actor(ident.name, ident.role, ident.kind)

    def admit(self, actor: Actor, method: str) -> None:
        if method.startswith(UNLIMITED):
            return
        wait = self.limiter.take(f"{actor.kind}:{actor.name}", self.clock())
        if wait > 0:
            raise ResourceExhausted(
                f"rate limit for {actor.name}: retry in {wait:.2f}s", retry_after_s=wait
            )


class AuthInterceptor(CachingInterceptor):
    def __init__(self, policy: AuthPolicy) -> None:
        super().__init__()
        self.policy = policy

    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        def behaviour(fn: Callable[..., Any]) -> Callable[..., Any]:
            wrap = self._wrap_stream if inspect.isasyncgenfunction(fn) else self._wrap_call
            return wrap(fn, method)

        return rebuild(handler, behaviour)

    def _enter(self, context: Ctx, method: str) -> Actor:
        p = self.policy
        actor = p.authenticate(context, method)
        authorize(method, actor.kind, actor.role)
        p.admit(actor, method)
        return actor

    def _wrap_call(
        self, fn: Callable[..., Awaitable[Any]], method: str
    ) -> Callable[..., Awaitable[Any]]:
        async def call(request: Any, context: Ctx) -> Any:
            token = _CURRENT.set(self._enter(context, method))
            try:
                return await fn(request, context)
            finally:
                _CURRENT.reset(token)

        return call

    def _wrap_stream(
        self, fn: Callable[..., AsyncIterator[Any]], method: str
    ) -> Callable[..., AsyncIterator[Any]]:
        p = self.policy

        async def stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
            actor = self._enter(context, method)
            counted = method == WATCH
            if counted:
                key = f"{actor.kind}:{actor.name}"
                if p.watches.get(key, 0) >= p.max_watches:
                    raise ResourceExhausted(
                        f"{actor.name} already has {p.max_watches} WatchJob streams open",
                        retry_after_s=1.0,
                    )
                p.watches[key] = p.watches.get(key, 0) + 1
            token = _CURRENT.set(actor)
            try:
                async for item in fn(request, context):
                    yield item
            finally:
                _CURRENT.reset(token)
                if counted:
                    p.watches[key] -= 1
                    if not p.watches[key]:
                        del p.watches[key]

        return stream
