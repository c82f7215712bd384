"""One table maps every error to its gRPC status and reason."""

import grpc
import pytest

from domain import errors
from services.common.errors import ERROR_TABLE, BadRequestError, status_for
from services.common.retry import ConflictRetriesExhaustedError


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (errors.SoldOutError("x"), grpc.StatusCode.FAILED_PRECONDITION, "sold_out"),
        (errors.NotOnSaleError("x"), grpc.StatusCode.FAILED_PRECONDITION, "not_on_sale"),
        (errors.InvalidTransitionError("x"), grpc.StatusCode.FAILED_PRECONDITION,
         "invalid_transition"),
        (errors.NotFoundError("x"), grpc.StatusCode.NOT_FOUND, "not_found"),
        (errors.InvalidValueError("x"), grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument"),
        (errors.AlreadyExistsError("x"), grpc.StatusCode.ALREADY_EXISTS, "already_exists"),
        (ConflictRetriesExhaustedError("x"), grpc.StatusCode.ABORTED, "conflict"),
        (BadRequestError("x"), grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument"),
    ],
)  # fmt: skip
def test_each_error_is_reported_with_its_status_and_reason(error, code, reason):
    mapping = status_for(error)
    assert mapping is not None
    assert (mapping.code, mapping.reason) == (code, reason)


def test_every_domain_error_has_a_status():
    domain_errors = [
        kind for kind in vars(errors).values()
        if isinstance(kind, type) and issubclass(kind, errors.TicketingError)
        and kind is not errors.TicketingError
    ]  # fmt: skip
    unmapped = [kind.__name__ for kind in domain_errors if status_for(kind("x")) is None]
    assert unmapped == []
    assert len(ERROR_TABLE) >= len(domain_errors)


def test_an_unexpected_error_has_no_mapping_so_it_becomes_internal():
    assert status_for(RuntimeError("boom")) is None
