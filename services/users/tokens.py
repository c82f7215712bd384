"""Access tokens: EdDSA (Ed25519) JWTs issued by the users service and verified by the gateway."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.errors import UnauthenticatedError
from services.common.settings import Settings, write_once

ALGORITHM = "EdDSA"
ISSUER = "ticketing-users"
AUDIENCE = "ticketing"
DEFAULT_LIFETIME_SECONDS = 3600
LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "role")
USER_ROLES = frozenset({"superadmin", "admin", "auditor"})
DEVELOPMENT_KEY_FILE = "jwt-ed25519.pem"


class InvalidTokenError(UnauthenticatedError):
    """A bearer token that is malformed, forged, expired or meant for someone else."""


@dataclass(frozen=True)
class IssuedToken:
    """A signed access token and how many seconds it lives."""

    access_token: str
    expires_in: int


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says about its bearer."""

    subject: str
    role: str
    email: str
    issued_at: int
    expires_at: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 8037), with its thumbprint as kid and its use."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    # RFC 7638: the required members only, sorted, no whitespace, SHA-256.
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    kid = _b64url(hashlib.sha256(canonical).digest())
    return members | {"kid": kid, "use": "sig", "alg": ALGORITHM}


class TokenIssuer:
    """Signs access tokens with one Ed25519 private key."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.private_key = private_key
        self.lifetime_seconds = lifetime_seconds
        self.clock = clock
        self.jwk = public_jwk(private_key.public_key())

    @property
    def kid(self) -> str:
        """The key's RFC 7638 thumbprint, sent in every token's header."""
        return self.jwk["kid"]

    def issue(self, subject: str, role: str, email: str) -> IssuedToken:
        """A token saying that subject, with role and email, is the bearer."""
        now = int(self.clock())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "role": role,
            "email": email,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        token = jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return IssuedToken(token, self.lifetime_seconds)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set that verifies this issuer's tokens."""
        return {"keys": [dict(self.jwk)]}

    def jwks_json(self) -> str:
        """jwks() as JSON text, as GetPublicKeys returns it."""
        return json.dumps(self.jwks(), separators=(",", ":"))


class TokenVerifier:
    """Verifies access tokens against a JSON Web Key Set, pinning EdDSA, issuer and audience."""

    def __init__(self, jwks_json: str, leeway_seconds: float = LEEWAY_SECONDS) -> None:
        self.keys = ed25519_keys_of(jwks_json)
        self.leeway_seconds = leeway_seconds

    def verify(self, token: str) -> TokenClaims:
        """The token's claims, or InvalidTokenError saying what is wrong with it."""
        key = self.key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(refusal_message(error)) from error
        return claims_of(claims)

    def key_for(self, token: str) -> Ed25519PublicKey:
        """The public key the token's header names; EdDSA only."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidTokenError("the token is malformed") from error
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError(f"the token is not signed with {ALGORITHM}")
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidTokenError("the token is signed with an unknown key")
        return key


def refusal_message(error: jwt.PyJWTError) -> str:
    """A clear, short reason for a refused token."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the token's signature does not verify"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token lacks the {error.claim} claim"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the token is meant for another audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the token comes from another issuer"
    return f"the token is invalid: {error}"


def claims_of(claims: Mapping[str, Any]) -> TokenClaims:
    """The typed claims of a verified token; a token naming no user role is refused."""
    subject, role, email = claims["sub"], claims["role"], claims.get("email", "")
    if not isinstance(subject, str) or not subject:
        raise InvalidTokenError("the token names no subject")
    if role not in USER_ROLES:
        raise InvalidTokenError("the token names an unknown role")
    if not isinstance(email, str):
        raise InvalidTokenError("the token's email is not a string")
    return TokenClaims(subject, role, email, int(claims["iat"]), int(claims["exp"]))


def ed25519_keys_of(jwks_json: str) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a JSON Web Key Set, by kid."""
    keys: dict[str, Ed25519PublicKey] = {}
    try:
        for jwk in json.loads(jwks_json)["keys"]:
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "kid" not in jwk:
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
                continue
            raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
            keys[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError("the key set is not a JSON Web Key Set") from error
    if not keys:
        raise ValueError("the key set holds no Ed25519 signing key")
    return keys


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The private key from TICKETING_JWT_PRIVATE_KEY, or in development from the data folder."""
    if settings.ticketing_jwt_private_key:
        # Some deployment tools cannot pass multi-line values and send "\n" instead.
        pem = settings.ticketing_jwt_private_key.replace("\\n", "\n").encode()
        return ed25519_key_from_pem(pem, "TICKETING_JWT_PRIVATE_KEY")
    if settings.ticketing_env != "development":
        raise ValueError("TICKETING_JWT_PRIVATE_KEY must be set outside development")
    return development_signing_key(settings.ticketing_data_dir / "secrets" / DEVELOPMENT_KEY_FILE)


def ed25519_key_from_pem(pem: bytes, source: str) -> Ed25519PrivateKey:
    """An unencrypted Ed25519 private key in PEM, or a ValueError naming where it came from."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{source} is not an unencrypted PEM private key") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{source} must be an Ed25519 key")  # noqa: TRY004 (a config error)
    return key


def development_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the key at path, generating it first if it is missing."""
    pem = write_once(
        path,
        pem_of(Ed25519PrivateKey.generate()),
        lambda data: data.rstrip().endswith(b"-----END PRIVATE KEY-----"),
    )
    return ed25519_key_from_pem(pem, str(path))


def pem_of(private_key: Ed25519PrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
