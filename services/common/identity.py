"""Who is calling: a signed identity carried in gRPC metadata from service to service.

The gateway verifies the user's JWT and passes on who they are; a service calling another
passes its own name. Each identity is signed with the installation's internal secret and
lives a minute, so a service only believes identities minted by its own siblings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from services.common.errors import PermissionDeniedError, UnauthenticatedError

METADATA_KEY = "x-ticketing-identity"
IDENTITY_TTL_SECONDS = 60
ROLES = frozenset({"superadmin", "admin", "auditor", "customer", "service"})


@dataclass(frozen=True)
class Identity:
    """The caller: a user id, "anonymous" customer, or a service's name, with its role."""

    subject: str
    role: str
    service: str

    @property
    def is_superadmin(self) -> bool:
        return self.role == "superadmin"


CURRENT_IDENTITY: ContextVar[Identity | None] = ContextVar("current_identity", default=None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_identity(identity: Identity, secret: bytes, now: float | None = None) -> str:
    """The metadata value that vouches for identity for the next minute."""
    if identity.role not in ROLES:
        raise ValueError(f"unknown role {identity.role!r}")
    expires = int((now if now is not None else time.time()) + IDENTITY_TTL_SECONDS)
    claims = {"sub": identity.subject, "role": identity.role, "svc": identity.service}
    payload = _b64(json.dumps(claims | {"exp": expires}, separators=(",", ":")).encode())
    signature = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def verify_identity(value: str, secret: bytes, now: float | None = None) -> Identity:
    """The identity a metadata value vouches for, or UnauthenticatedError."""
    return _verified_claims(value, secret, now)[0]


def _verified_claims(value: str, secret: bytes, now: float | None) -> tuple[Identity, int]:
    """The identity a metadata value vouches for and when that ends, or UnauthenticatedError."""
    payload, _, signature = value.partition(".")
    expected = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    try:
        signed = hmac.compare_digest(expected, _unb64(signature))
    except ValueError:
        signed = False
    if not signed:
        raise UnauthenticatedError("the caller's identity has a bad signature")
    try:
        claims = json.loads(_unb64(payload))
        identity = Identity(str(claims["sub"]), str(claims["role"]), str(claims["svc"]))
        expires = int(claims["exp"])
    except (ValueError, KeyError, TypeError) as error:
        raise UnauthenticatedError("the caller's identity is malformed") from error
    if expires < (now if now is not None else time.time()):
        raise UnauthenticatedError("the caller's identity has expired")
    if identity.role not in ROLES:
        raise UnauthenticatedError("the caller's identity names an unknown role")
    return identity, expires


# Signed values are reused while more than this much of their minute is left, and values
# already verified are remembered until they expire: a rush makes several calls per order
# with the same few identities, and each signature costs a JSON dump, an HMAC and base64.
REUSE_WHILE_SECONDS_LEFT = IDENTITY_TTL_SECONDS / 2
MAX_REMEMBERED = 4096
_signed: dict[tuple[Identity, bytes], tuple[float, str]] = {}
_verified: dict[tuple[str, bytes], tuple[float, Identity]] = {}


def identity_metadata(identity: Identity, secret: bytes) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata carrying identity."""
    now = time.time()
    reused = _signed.get((identity, secret))
    if reused is None or reused[0] - now < REUSE_WHILE_SECONDS_LEFT:
        if len(_signed) >= MAX_REMEMBERED:
            _signed.clear()
        reused = (now + IDENTITY_TTL_SECONDS, sign_identity(identity, secret, now))
        _signed[(identity, secret)] = reused
    return ((METADATA_KEY, reused[1]),)


def verify_identity_cached(value: str, secret: bytes) -> Identity:
    """verify_identity, remembering each good value until it expires."""
    now = time.time()
    known = _verified.get((value, secret))
    if known is not None and known[0] >= now:
        return known[1]
    identity, expires = _verified_claims(value, secret, now)
    if len(_verified) >= MAX_REMEMBERED:
        _verified.clear()
    _verified[(value, secret)] = (float(expires), identity)
    return identity


def require_identity(roles: Iterable[str]) -> Identity:
    """The current call's identity if its role is one of roles; else an auth error."""
    identity = CURRENT_IDENTITY.get()
    if identity is None:
        raise UnauthenticatedError("this call needs the caller's identity")
    if identity.role not in set(roles):
        raise PermissionDeniedError(f"a {identity.role} may not do this")
    return identity
