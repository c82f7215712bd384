"""The order.paid message and the receipt e-mail built from it."""

from __future__ import annotations

import json
import uuid

import pytest

from services.notifications.receipt import (
    MalformedMessageError,
    PaidOrder,
    order_link,
    receipt_email,
)
from services.payments.order_token import is_order_token

ORDER = PaidOrder(
    order_id=str(uuid.uuid4()),
    email="wanjiru@example.com",
    event_title="Nyashinski <Live> — Kasarani",
    event_location="Nairobi",
    event_date_time="2027-03-01T19:30:00+03:00",
    ticket_category="Regular",
    quantity=4,
    total_amount="100.00",
    currency="KES",
    payment_ref="pay_123",
    paid_at="2027-02-01T10:00:00+00:00",
)


def test_a_paid_order_message_reads_back_as_it_was_written():
    assert PaidOrder.from_json(ORDER.to_json()) == ORDER
    assert json.loads(ORDER.to_json())["type"] == "order.paid"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"type": "order.paid"}',
        json.dumps({**json.loads(ORDER.to_json()), "order_id": "not-a-uuid"}).encode(),
        json.dumps({**json.loads(ORDER.to_json()), "quantity": "4"}).encode(),
        json.dumps({**json.loads(ORDER.to_json()), "email": None}).encode(),
    ],
)
def test_anything_but_a_whole_paid_order_message_is_malformed(body):
    with pytest.raises(MalformedMessageError):
        PaidOrder.from_json(body)


def test_the_order_link_carries_a_token_that_opens_that_order():
    secret = b"s" * 40
    link = order_link("https://tickets.example/", secret, ORDER.order_id)
    prefix = f"https://tickets.example/#/orders/{ORDER.order_id}?token="
    assert link.startswith(prefix)
    assert is_order_token(secret, uuid.UUID(ORDER.order_id), link.removeprefix(prefix))


def test_the_receipt_has_text_escaped_html_and_a_pdf_even_for_text_outside_latin_1():
    message = receipt_email(ORDER, "https://t.example/orders/x?token=a&b", "shop@example.com")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Nyashinski <Live> — Kasarani" in text
    assert "Quantity: 4" in text
    assert "100.00 KES" in text
    assert "&lt;Live&gt;" in html
    assert "<Live>" not in html
    assert 'href="https://t.example/orders/x?token=a&amp;b"' in html
    [pdf] = list(message.iter_attachments())
    assert pdf.get_content().startswith(b"%PDF")
