"""The in-memory payment provider that unit tests of the payments service stand on."""

from __future__ import annotations

import pytest

from domain.money import Money
from services.payments.providers import (
    InvalidPaymentStateError,
    InvalidWebhookError,
    PaymentNotFoundError,
    PaymentProvider,
    ProviderUnavailableError,
)
from services.payments.providers.fake import FakePaymentProvider
from services.payments.providers.sandbox import SandboxProvider

PRICE = Money(2500, "KES")


@pytest.fixture
def provider() -> FakePaymentProvider:
    return FakePaymentProvider()


async def test_the_fake_and_the_sandbox_adapter_both_fit_the_provider_port(provider):
    sandbox = SandboxProvider("http://127.0.0.1:9", b"s" * 32)
    assert isinstance(provider, PaymentProvider)
    assert isinstance(sandbox, PaymentProvider)
    assert not isinstance(object(), PaymentProvider)
    await sandbox.aclose()


async def test_a_payment_starts_pending_and_a_repeat_for_the_order_returns_it(provider):
    payment = await provider.create_payment("order-1", PRICE, "2 tickets", "ada@example.com")
    again = await provider.create_payment("order-1", PRICE, "2 tickets", "ada@example.com")
    assert (payment.status, payment.amount, payment.order_id) == ("pending", PRICE, "order-1")
    assert again == payment
    assert payment.checkout_url.endswith(payment.payment_ref)
    assert provider.checkout_details[payment.payment_ref] == ("2 tickets", "ada@example.com")
    with pytest.raises(InvalidPaymentStateError):
        await provider.create_payment("order-1", Money(1, "KES"), "2 tickets", "ada@example.com")


async def test_the_outcome_a_test_sets_is_what_the_provider_reports(provider):
    payment = await provider.create_payment("order-1", PRICE, "2 tickets", "ada@example.com")
    provider.set_outcome(payment.payment_ref, "succeeded")
    assert (await provider.get_payment(payment.payment_ref)).status == "succeeded"


async def test_only_a_succeeded_payment_can_be_refunded_and_a_repeat_is_harmless(provider):
    payment = await provider.create_payment("order-1", PRICE, "2 tickets", "ada@example.com")
    with pytest.raises(InvalidPaymentStateError):
        await provider.refund(payment.payment_ref)
    provider.set_outcome(payment.payment_ref, "succeeded")
    assert (await provider.refund(payment.payment_ref)).status == "refunded"
    assert (await provider.refund(payment.payment_ref)).status == "refunded"


async def test_cancelling_declines_a_pending_payment_but_not_one_that_succeeded(provider):
    pending = await provider.create_payment("order-1", PRICE, "2 tickets", "ada@example.com")
    paid = await provider.create_payment("order-2", PRICE, "2 tickets", "ada@example.com")
    provider.set_outcome(paid.payment_ref, "succeeded")
    assert (await provider.cancel_payment(pending.payment_ref)).status == "declined"
    assert (await provider.cancel_payment(paid.payment_ref)).status == "succeeded"


async def test_an_unknown_payment_is_not_found(provider):
    with pytest.raises(PaymentNotFoundError):
        await provider.get_payment("fake_nothing")


async def test_a_provider_that_is_down_says_so(provider):
    provider.unavailable = True
    with pytest.raises(ProviderUnavailableError):
        await provider.create_payment("order-1", PRICE, "2 tickets", "ada@example.com")


async def test_only_webhooks_the_fake_signed_are_accepted(provider):
    payment = await provider.create_payment("order-1", PRICE, "2 tickets", "ada@example.com")
    provider.set_outcome(payment.payment_ref, "declined")
    headers, body = provider.webhook_for(payment.payment_ref, delivery_id="d-1")
    event = provider.parse_webhook({k.upper(): v for k, v in headers.items()}, body)
    assert (event.payment_ref, event.status, event.delivery_id) == (
        payment.payment_ref,
        "declined",
        "d-1",
    )
    with pytest.raises(InvalidWebhookError):
        provider.parse_webhook(headers, body.replace(b"declined", b"succeeded"))
    with pytest.raises(InvalidWebhookError):
        provider.parse_webhook({}, body)
