"""Access tokens: what the issuer signs, and every token the verifier must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.settings import Settings
from services.users.tokens import (
    AUDIENCE,
    ISSUER,
    REQUIRED_CLAIMS,
    InvalidTokenError,
    TokenIssuer,
    TokenVerifier,
    load_signing_key,
    pem_of,
)

# RFC 8037, appendix A: an Ed25519 key and (A.3) its RFC 7638 thumbprint.
RFC8037_PRIVATE_KEY = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value).encode())


@pytest.fixture
def issuer():
    return TokenIssuer(Ed25519PrivateKey.generate())


@pytest.fixture
def verifier(issuer):
    return TokenVerifier(issuer.jwks_json())


def good_claims(**changes):
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "3f1c2a52-9f0e-4a51-9a8e-0c8b3d1e6f70",
        "role": "admin",
        "email": "ada@example.com",
        "iat": now,
        "exp": now + 600,
    }
    return claims | changes


def signed(claims, key, kid):
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def test_a_token_from_the_issuer_verifies_with_its_claims(issuer, verifier):
    issued = issuer.issue("user-1", "auditor", "ada@example.com")

    claims = verifier.verify(issued.access_token)

    assert (claims.subject, claims.role, claims.email) == ("user-1", "auditor", "ada@example.com")
    assert claims.expires_at - claims.issued_at == 3600 == issued.expires_in


def test_an_issued_token_names_its_key_issuer_audience_and_algorithm(issuer):
    token = issuer.issue("user-1", "admin", "ada@example.com").access_token

    header = jwt.get_unverified_header(token)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": issuer.kid}
    assert (payload["iss"], payload["aud"], payload["sub"]) == (ISSUER, AUDIENCE, "user-1")


def test_the_kid_is_the_rfc_7638_thumbprint_of_the_public_key():
    raw = base64.urlsafe_b64decode(RFC8037_PRIVATE_KEY + "=")
    issuer = TokenIssuer(Ed25519PrivateKey.from_private_bytes(raw))

    assert issuer.kid == RFC8037_THUMBPRINT


def test_the_key_set_publishes_the_public_key_for_eddsa_signatures(issuer):
    (jwk,) = json.loads(issuer.jwks_json())["keys"]

    assert {k: jwk[k] for k in ("kty", "crv", "use", "alg", "kid")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "use": "sig",
        "alg": "EdDSA",
        "kid": issuer.kid,
    }
    assert "d" not in jwk


def test_a_token_signed_by_another_key_under_the_same_kid_is_refused(issuer, verifier):
    token = signed(good_claims(), Ed25519PrivateKey.generate(), issuer.kid)

    with pytest.raises(InvalidTokenError, match="signature"):
        verifier.verify(token)


def test_an_unsigned_token_with_alg_none_is_refused(issuer, verifier):
    header = b64url_json({"alg": "none", "typ": "JWT", "kid": issuer.kid})
    token = f"{header}.{b64url_json(good_claims())}."

    with pytest.raises(InvalidTokenError, match="EdDSA"):
        verifier.verify(token)


@pytest.mark.parametrize("key_form", ["raw", "pem"])
def test_an_hs256_token_keyed_with_the_public_key_is_refused(issuer, verifier, key_form):
    public_key = issuer.private_key.public_key()
    secret = (
        public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if key_form == "raw"
        else public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    signing_input = (
        f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.kid})}."
        f"{b64url_json(good_claims())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(InvalidTokenError, match="EdDSA"):
        verifier.verify(f"{signing_input}.{b64url(signature)}")


def test_an_expired_token_is_refused(issuer, verifier):
    now = int(time.time())
    token = signed(good_claims(iat=now - 4000, exp=now - 10), issuer.private_key, issuer.kid)

    with pytest.raises(InvalidTokenError, match="expired"):
        verifier.verify(token)


def test_a_token_expired_within_the_leeway_still_verifies(issuer, verifier):
    now = int(time.time())
    token = signed(good_claims(iat=now - 4000, exp=now - 2), issuer.private_key, issuer.kid)

    assert verifier.verify(token).expires_at == now - 2


def test_a_token_for_another_audience_is_refused(issuer, verifier):
    token = signed(good_claims(aud="someone-else"), issuer.private_key, issuer.kid)

    with pytest.raises(InvalidTokenError, match="audience"):
        verifier.verify(token)


def test_a_token_from_another_issuer_is_refused(issuer, verifier):
    token = signed(good_claims(iss="evil-users"), issuer.private_key, issuer.kid)

    with pytest.raises(InvalidTokenError, match="issuer"):
        verifier.verify(token)


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_a_token_missing_a_required_claim_is_refused(issuer, verifier, claim):
    claims = good_claims()
    del claims[claim]
    token = signed(claims, issuer.private_key, issuer.kid)

    with pytest.raises(InvalidTokenError, match=f"lacks the {claim} claim"):
        verifier.verify(token)


def test_a_token_naming_a_role_no_account_has_is_refused(issuer, verifier):
    token = signed(good_claims(role="service"), issuer.private_key, issuer.kid)

    with pytest.raises(InvalidTokenError, match="role"):
        verifier.verify(token)


@pytest.mark.parametrize("kid", ["someone-elses-key", None])
def test_a_token_signed_under_an_unknown_kid_is_refused(issuer, verifier, kid):
    headers = {} if kid is None else {"kid": kid}
    token = jwt.encode(good_claims(), issuer.private_key, algorithm="EdDSA", headers=headers)

    with pytest.raises(InvalidTokenError, match="unknown key"):
        verifier.verify(token)


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b.c", "...", "Bearer x.y.z", "eyJhbGciOiJFZERTQSJ9.e30", "[].{}.x"],
)
def test_garbage_is_refused_as_an_invalid_token(verifier, garbage):
    with pytest.raises(InvalidTokenError):
        verifier.verify(garbage)


def test_a_key_set_without_an_ed25519_key_is_refused():
    with pytest.raises(ValueError, match="no Ed25519"):
        TokenVerifier('{"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}]}')


@pytest.mark.parametrize("jwks", ["not json", "[]", '{"keys": [{"kty": "OKP", "crv": "Ed25519"}]}'])
def test_a_malformed_key_set_is_refused(jwks):
    with pytest.raises(ValueError, match="key set"):
        TokenVerifier(jwks)


def test_in_development_the_signing_key_is_generated_once_into_the_data_folder(tmp_path):
    settings = Settings(ticketing_data_dir=tmp_path)

    first, second = load_signing_key(settings), load_signing_key(settings)

    key_file = tmp_path / "secrets" / "jwt-ed25519.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert TokenIssuer(first).kid == TokenIssuer(second).kid


def test_the_signing_key_comes_from_the_environment_when_set(tmp_path):
    key = Ed25519PrivateKey.generate()
    settings = Settings(ticketing_data_dir=tmp_path, ticketing_jwt_private_key=pem_of(key).decode())

    assert TokenIssuer(load_signing_key(settings)).kid == TokenIssuer(key).kid
    assert not (tmp_path / "secrets").exists()


def test_outside_development_a_missing_signing_key_is_an_error(tmp_path):
    settings = Settings(ticketing_data_dir=tmp_path, ticketing_env="production")

    with pytest.raises(ValueError, match="TICKETING_JWT_PRIVATE_KEY"):
        load_signing_key(settings)


def test_a_signing_key_that_is_not_ed25519_is_refused(tmp_path):
    pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    settings = Settings(ticketing_data_dir=tmp_path, ticketing_jwt_private_key=pem.decode())

    with pytest.raises(ValueError, match="Ed25519"):
        load_signing_key(settings)
