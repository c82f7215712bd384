"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.users.errors import WeakPasswordError

MIN_PASSWORD_LENGTH = 12
# Hashing cost grows with the input: a bound keeps one request from pinning a core.
MAX_PASSWORD_LENGTH = 1024


def check_password_policy(password: str) -> None:
    """Refuse a password shorter than 12 or longer than 1024 characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")


class Passwords:
    """argon2id hashes: make, check, and tell when one was made with outdated parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()  # argon2id with the library's RFC 9106 profile
        # Checked against for an unknown email, so that it costs what a wrong password costs.
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        """A new salted hash of password."""
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether password matches password_hash; never raises for a mismatch."""
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """Do the work of one verification, for an email that has no account."""
        self.verify(self.dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether password_hash was made with other parameters than today's."""
        return self.hasher.check_needs_rehash(password_hash)
