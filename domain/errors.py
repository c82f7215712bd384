"""Domain errors: every rule the domain refuses to break raises one of these."""


class TicketingError(Exception):
    """Base class of every error the domain raises."""


class InvalidValueError(TicketingError, ValueError):
    """A value given to the domain is malformed or out of range."""


class NotFoundError(TicketingError):
    """The concert, ticket type or order does not exist (or no longer does)."""


class InvalidTransitionError(TicketingError):
    """The command is not allowed in the aggregate's current status."""


class SoldOutError(TicketingError):
    """Fewer tickets remain than the quantity asked for."""


class NotOnSaleError(TicketingError):
    """The concert is not active or now is outside the ticket type's sales window."""


class StockBelowCommittedError(TicketingError):
    """Total stock may not drop below the tickets already sold or held."""


class CurrencyMismatchError(TicketingError):
    """Amounts in different currencies were combined."""


class NoSuchHoldError(TicketingError):
    """The order holds no tickets of this ticket type."""


class HoldEndedError(TicketingError):
    """The order's hold was already released or expired."""


class HoldNotExpiredError(TicketingError):
    """The hold cannot be expired before its expiry time."""


class HasSalesError(TicketingError):
    """The concert cannot be deleted because tickets were sold or held."""


class IdempotencyKeyReusedError(TicketingError):
    """The same idempotency key was sent with a different request."""


class PaymentMismatchError(TicketingError):
    """The payment reference does not match the one attached to the order."""


class AlreadyExistsError(TicketingError):
    """Something with the same identity already exists (an email already registered)."""
