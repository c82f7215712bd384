"""Who is calling the gateway: bearer JWTs verified against the users service's public keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import grpc
from fastapi import Depends, Request

from protos.ticketing.v1 import users_pb2, users_pb2_grpc
from services.common.http_problems import ProblemError
from services.common.identity import Identity
from services.users.tokens import InvalidTokenError, TokenVerifier

KEYS_REFRESH_SECONDS = 300
MIN_REFRESH_SECONDS = 30
ACCOUNT_ROLES = ("superadmin", "admin", "auditor")


class TokenKeys:
    """The users service's JWKS, fetched on first use and refreshed now and then."""

    def __init__(self, fetch: Callable[[], Awaitable[str]]) -> None:
        self.fetch = fetch
        self.verifier: TokenVerifier | None = None
        self.fetched_at = 0.0
        self.lock = asyncio.Lock()

    @classmethod
    def from_users_service(cls, channel: grpc.aio.Channel) -> TokenKeys:
        stub = users_pb2_grpc.UsersServiceStub(channel)

        async def fetch() -> str:
            keys = await stub.GetPublicKeys(users_pb2.GetPublicKeysRequest(), timeout=5)
            return keys.jwks_json

        return cls(fetch)

    async def current(self, *, refresh: bool = False) -> TokenVerifier:
        """The verifier; refetched when stale, or (at most every 30 s) on an unknown key."""
        async with self.lock:
            age = time.monotonic() - self.fetched_at
            due = age > KEYS_REFRESH_SECONDS or (refresh and age > MIN_REFRESH_SECONDS)
            if self.verifier is None or due:
                try:
                    self.verifier = TokenVerifier(await self.fetch())
                    self.fetched_at = time.monotonic()
                except grpc.aio.AioRpcError:
                    if self.verifier is None:
                        raise ProblemError(503, "cannot verify tokens right now") from None
            return self.verifier

    async def verify(self, token: str) -> Identity:
        """The identity a token vouches for, or a 401 problem."""
        verifier = await self.current()
        try:
            verifier.key_for(token)
        except InvalidTokenError:
            verifier = await self.current(refresh=True)  # the key may have been rotated
        try:
            claims = verifier.verify(token)
        except InvalidTokenError as error:
            raise ProblemError(401, str(error)) from None
        return Identity(claims.subject, claims.role, "gateway")


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer …` header, or a 401 problem."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "an Authorization: Bearer token is required")
    return token.strip()


async def current_identity(request: Request) -> Identity:
    """The verified caller of this request."""
    keys: TokenKeys = request.app.state.token_keys
    identity = await keys.verify(bearer_token(request))
    if identity.role not in ACCOUNT_ROLES:
        raise ProblemError(403, f"the role {identity.role!r} may not use this")
    return identity


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency that admits only callers with one of roles (403 otherwise)."""

    async def dependency(identity: Annotated[Identity, Depends(current_identity)]) -> Identity:
        if identity.role not in roles:
            raise ProblemError(403, f"this needs the role {' or '.join(roles)}")
        return identity

    return dependency


CurrentUser = Annotated[Identity, Depends(current_identity)]
Admin = Annotated[Identity, Depends(require_roles("admin", "superadmin"))]
Superadmin = Annotated[Identity, Depends(require_roles("superadmin"))]
Auditor = Annotated[Identity, Depends(require_roles("auditor", "superadmin"))]
InsightsReader = Annotated[Identity, Depends(require_roles("admin", "superadmin", "auditor"))]
