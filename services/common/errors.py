"""The one table from errors to gRPC status codes (and the machine-readable reason with them)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from domain import errors
from services.common.retry import ConflictRetriesExhaustedError

# Trailing metadata key carrying a short reason code, such as "sold_out", to the gateway.
REASON_KEY = "x-ticketing-reason"


class ServiceError(Exception):
    """An error a service raises at its edge, with its status code and reason."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class UnauthenticatedError(ServiceError):
    """The caller's identity is missing, forged or expired."""

    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", message)


class PermissionDeniedError(ServiceError):
    """The caller is known but its role does not allow this."""

    def __init__(self, message: str = "not allowed for this role") -> None:
        super().__init__(grpc.StatusCode.PERMISSION_DENIED, "forbidden", message)


class BadRequestError(ServiceError):
    """A request field is missing or malformed."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument", message)


@dataclass(frozen=True)
class Mapping:
    """How one error class is reported."""

    code: grpc.StatusCode
    reason: str


ERROR_TABLE: dict[type[Exception], Mapping] = {
    errors.InvalidValueError: Mapping(grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument"),
    errors.CurrencyMismatchError: Mapping(grpc.StatusCode.INVALID_ARGUMENT, "currency_mismatch"),
    errors.IdempotencyKeyReusedError: Mapping(
        grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key_reused"
    ),
    errors.NotFoundError: Mapping(grpc.StatusCode.NOT_FOUND, "not_found"),
    errors.SoldOutError: Mapping(grpc.StatusCode.FAILED_PRECONDITION, "sold_out"),
    errors.NotOnSaleError: Mapping(grpc.StatusCode.FAILED_PRECONDITION, "not_on_sale"),
    errors.InvalidTransitionError: Mapping(
        grpc.StatusCode.FAILED_PRECONDITION, "invalid_transition"
    ),
    errors.StockBelowCommittedError: Mapping(
        grpc.StatusCode.FAILED_PRECONDITION, "stock_below_committed"
    ),
    errors.HasSalesError: Mapping(grpc.StatusCode.FAILED_PRECONDITION, "has_sales"),
    errors.NoSuchHoldError: Mapping(grpc.StatusCode.FAILED_PRECONDITION, "no_such_hold"),
    errors.HoldEndedError: Mapping(grpc.StatusCode.FAILED_PRECONDITION, "hold_ended"),
    errors.HoldNotExpiredError: Mapping(grpc.StatusCode.FAILED_PRECONDITION, "hold_not_expired"),
    errors.PaymentMismatchError: Mapping(grpc.StatusCode.FAILED_PRECONDITION, "payment_mismatch"),
    errors.AlreadyExistsError: Mapping(grpc.StatusCode.ALREADY_EXISTS, "already_exists"),
    ConflictRetriesExhaustedError: Mapping(grpc.StatusCode.ABORTED, "conflict"),
}


def status_for(error: Exception) -> Mapping | None:
    """The status an error is reported with, or None for an unexpected error (INTERNAL)."""
    if isinstance(error, ServiceError):
        return Mapping(error.code, error.reason)
    for kind in type(error).__mro__:
        if kind in ERROR_TABLE:
            return ERROR_TABLE[kind]
    return None
