"""Authentication and authorization of every RPC, in one interceptor.

Who: the verified client certificate (mTLS), refused if its serial is on the
deny list; then an optional `authorization: Bearer <API key>` that names the
user and role on top of a shared client certificate. What: the table in
core/authz.py. How much: a token bucket per identity, a slower one for wrong
API keys (guessing), and a cap on concurrent WatchJob streams. Servicers read
the caller with `current_actor()`. Streams stay registered under their
certificate's serial while open, so a deny-list reload closes them.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
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
BEARER = "Bearer "


def current_actor() -> Actor:
    return _CURRENT.get()


@lru_cache(maxsize=4096)
def _serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number


async def _until_done(task: asyncio.Task[Any], sending: set[asyncio.Task[Any]]) -> None:
    """A cancel that lands inside grpc's own send ends the call there without a
    status (the client would wait on): a stream is cancelled only while it waits
    in our own code; one caught sending ends at its next step. Repeated until
    the stream's task has ended, in case a cancel is swallowed all the same."""
    while not task.done():
        if task not in sending:
            task.cancel()
        await asyncio.sleep(0.5)


@dataclass(slots=True)
class Caller:
    actor: Actor
    serial: int  # of the certificate; 0 when none was presented
    key_id: str = ""  # of the API key, when one named the actor

    @property
    def tags(self) -> tuple[int | str, ...]:
        """What a revocation names: the certificate's serial, the key's id."""
        return (self.serial, f"key:{self.key_id}") if self.key_id else (self.serial,)


@dataclass(slots=True)
class AuthPolicy:
    keys: ApiKeys
    require_api_key: bool = False
    deny_serials: frozenset[int] = frozenset()
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    max_watches: int = 16
    clock: Callable[[], float] = time.monotonic
    watches: dict[str, int] = field(default_factory=dict)
    # Wrong API keys per certificate: a burst for typos, then one guess a second.
    key_failures: RateLimiter = field(default_factory=lambda: RateLimiter(1.0, 10))
    # Open streams by certificate serial and by "key:<API key id>": their tasks.
    streams: dict[int | str, set[asyncio.Task[Any]]] = field(default_factory=dict)
    revoked_tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Streams whose last message is with grpc (being sent), not in our code.
    sending: set[asyncio.Task[Any]] = field(default_factory=set)
    _chasers: set[asyncio.Future[None]] = field(default_factory=set)

    def authenticate(self, context: Ctx, method: str) -> Caller:
        auth = context.auth_context()
        ident = identity_from_auth_context(auth)
        if not ident.authenticated:
            raise Unauthenticated(
                ident.problem or "a client certificate from the cluster's CA is required"
            )
        pems = list(auth.get(PEM_KEY) or [])
        serial = _serial(bytes(pems[0])) if pems else 0
        if serial in self.deny_serials:
            raise Unauthenticated(f"certificate of {ident.name!r} has been revoked")
        token = str(dict(context.invocation_metadata() or ()).get("authorization", ""))
        if ident.kind == "client" and token:
            actor, key_id = self._key_actor(ident.name, token)
            return Caller(actor, serial, key_id)
        if (
            ident.kind == "client"
            and self.require_api_key
            and not method.startswith("/grpc.health.v1.Health/")
        ):
            raise Unauthenticated(
                "this master requires an API key: "
                "send `authorization: Bearer <key>` (ffrtmp --api-key)"
            )
        return Caller(Actor(ident.name, ident.role, ident.kind), serial)

    def _key_actor(self, cert_name: str, token: str) -> tuple[Actor, str]:
        if not token.startswith(BEARER):
            raise Unauthenticated("the authorization header must be `Bearer <API key>`")
        bucket, now = f"key:{cert_name}", self.clock()
        wait = self.key_failures.wait(bucket, now)
        if wait > 0:  # checked before the key, so guessing learns nothing meanwhile
            raise ResourceExhausted(
                f"too many wrong API keys from {cert_name}: retry in {wait:.2f}s",
                retry_after_s=wait,
            )
        key = self.keys.verify(token.removeprefix(BEARER).strip())
        if key is None:
            self.key_failures.take(bucket, now)
            raise Unauthenticated("the API key is not valid (unknown, revoked or mistyped)")
        return Actor(key.user, key.role, "client"), key.id

    def admit(self, actor: Actor, method: str) -> None:
        if method.startswith(UNLIMITED):
            return
        wait = self.limiter.take(f"{actor.kind}:{actor.name}", self.clock())
        if wait > 0:
            raise ResourceExhausted(
                f"rate limit for {actor.name}: retry in {wait:.2f}s", retry_after_s=wait
            )

    def revoke(self, serials: frozenset[int]) -> int:
        """A new deny list: refuse the next calls, and end every open stream of a
        certificate on it (its Assigns and its watches stop now). Returns how
        many streams were ended."""
        self.deny_serials = serials
        return self._end(serials & self.streams.keys())

    def revoke_key(self, key_id: str) -> int:
        """An API key was revoked: end the streams opened with it."""
        return self._end({f"key:{key_id}"})

    def _end(self, tags: Iterable[int | str]) -> int:
        ended = 0
        for tag in list(tags):
            for task in self.streams.pop(tag, ()):
                self.revoked_tasks.add(task)
                chaser = asyncio.ensure_future(_until_done(task, self.sending))
                self._chasers.add(chaser)
                chaser.add_done_callback(self._chasers.discard)
                ended += 1
        return ended

    def open_stream(self, caller: Caller) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is not None:
            for tag in caller.tags:
                self.streams.setdefault(tag, set()).add(task)
        return task

    def close_stream(self, caller: Caller, task: asyncio.Task[Any] | None) -> None:
        if task is None:
            return
        for tag in caller.tags:
            tasks = self.streams.get(tag)
            if tasks is not None:
                tasks.discard(task)
                if not tasks:
                    del self.streams[tag]
        self.revoked_tasks.discard(task)
        self.sending.discard(task)

    def take_watch(self, actor: Actor) -> str:
        key = f"{actor.kind}:{actor.name}"
        if self.watches.get(key, 0) >= self.max_watches:
            raise ResourceExhausted(
                f"{actor.name} already has {self.max_watches} WatchJob streams open",
                retry_after_s=1.0,
            )
        self.watches[key] = self.watches.get(key, 0) + 1
        return key

    def give_watch(self, key: str) -> None:
        self.watches[key] -= 1
        if not self.watches[key]:
            del self.watches[key]


class AuthInterceptor(CachingInterceptor):
    def __init__(self, policy: AuthPolicy) -> None:
        super().__init__()
        self.policy = policy

    def wrap_handler(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        streaming = bool(handler.unary_stream or handler.stream_stream)

        def behaviour(fn: Callable[..., Any]) -> Callable[..., Any]:
            if inspect.isasyncgenfunction(fn):
                return self._wrap_stream(fn, method)
            return self._wrap_call(fn, method, streaming)

        return rebuild(handler, behaviour)

    def _enter(self, context: Ctx, method: str) -> Caller:
        p = self.policy
        caller = p.authenticate(context, method)
        authorize(method, caller.actor.kind, caller.actor.role)
        p.admit(caller.actor, method)
        return caller

    def _revoked(self, task: asyncio.Task[Any] | None) -> Unauthenticated | None:
        if task is None or task not in self.policy.revoked_tasks:
            return None
        if task.cancelling():
            task.uncancel()  # the cancel was ours: end with a status instead
        return Unauthenticated("the credentials have been revoked; the stream is closed")

    def _wrap_call(
        self, fn: Callable[..., Awaitable[Any]], method: str, streaming: bool
    ) -> Callable[..., Awaitable[Any]]:
        p = self.policy

        async def call(request: Any, context: Ctx) -> Any:
            caller = self._enter(context, method)
            task = p.open_stream(caller) if streaming else None
            token = _CURRENT.set(caller.actor)
            try:
                return await fn(request, context)
            except asyncio.CancelledError:
                if (exc := self._revoked(task)) is not None:
                    raise exc from None
                raise
            finally:
                if streaming:
                    p.close_stream(caller, task)
                _CURRENT.reset(token)

        return call

    def _wrap_stream(
        self, fn: Callable[..., AsyncIterator[Any]], method: str
    ) -> Callable[..., AsyncIterator[Any]]:
        p = self.policy

        async def stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
            caller = self._enter(context, method)
            slot = p.take_watch(caller.actor) if method == WATCH else None
            task = p.open_stream(caller)
            # An async generator may be finalized from another context (a stream
            # cancelled while sending): the slot is given back whatever happens,
            # and the ContextVar is set in the generator's own frame, never reset.
            try:
                _CURRENT.set(caller.actor)
                items = fn(request, context).__aiter__()
                while True:
                    try:
                        item = await items.__anext__()
                    except StopAsyncIteration:
                        break
                    # A revocation while grpc sent the last message did not
                    # cancel (see _until_done): it is checked before each next.
                    if (exc := self._revoked(task)) is not None:
                        raise exc
                    if task is not None:
                        p.sending.add(task)
                    try:
                        yield item
                    finally:
                        if task is not None:
                            p.sending.discard(task)
                    if (exc := self._revoked(task)) is not None:
                        raise exc
            except asyncio.CancelledError:
                if (exc := self._revoked(task)) is not None:
                    raise exc from None
                raise
            finally:
                p.close_stream(caller, task)
                if slot is not None:
                    p.give_watch(slot)

        return stream
