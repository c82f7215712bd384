"""The users service's own errors, each carrying its gRPC status and reason."""

from __future__ import annotations

from datetime import datetime

import grpc

from services.common.errors import ServiceError, UnauthenticatedError

INVALID_CREDENTIALS = "invalid email or password"


class InvalidCredentialsError(UnauthenticatedError):
    """The email is unknown or the password is wrong: deliberately the same error for both."""

    def __init__(self) -> None:
        super().__init__(INVALID_CREDENTIALS)


class AccountLockedError(ServiceError):
    """Too many consecutive failed logins: the account refuses logins until a set time."""

    def __init__(self, until: datetime) -> None:
        super().__init__(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "locked",
            f"too many failed logins; try again after {until.isoformat(timespec='seconds')}",
        )
        self.until = until


class BadInviteError(ServiceError):
    """The invite code is unknown, used, expired or meant for another email."""

    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.INVALID_ARGUMENT,
            "bad_invite",
            "the invite code is unknown, used, expired or for another email",
        )


class WeakPasswordError(ServiceError):
    """The password breaks the password policy."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, "weak_password", message)
