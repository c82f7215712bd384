"""Payment providers behind one port: the sandbox today, a real provider beside it later."""

from services.payments.providers.base import (
    InvalidPaymentStateError,
    InvalidWebhookError,
    PaymentNotFoundError,
    PaymentProvider,
    ProviderError,
    ProviderPayment,
    ProviderUnavailableError,
    WebhookEvent,
)

__all__ = [
    "InvalidPaymentStateError",
    "InvalidWebhookError",
    "PaymentNotFoundError",
    "PaymentProvider",
    "ProviderError",
    "ProviderPayment",
    "ProviderUnavailableError",
    "WebhookEvent",
]
