"""The receipt e-mail of a paid order: plain text, HTML, and a PDF receipt attached."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from uuid import UUID

from fpdf import FPDF

from services.payments.order_token import order_token


class MalformedMessageError(ValueError):
    """The message is not an `order.paid` message we can read: retrying will not help."""


@dataclass(frozen=True)
class PaidOrder:
    """The `order.paid` message: what the receipt needs to say."""

    order_id: str
    email: str
    event_title: str
    event_location: str
    event_date_time: str
    ticket_category: str
    quantity: int
    total_amount: str
    currency: str
    payment_ref: str
    paid_at: str

    def to_json(self) -> bytes:
        return json.dumps({"type": "order.paid", **asdict(self)}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> PaidOrder:
        """Read a message, or MalformedMessageError."""
        try:
            data = json.loads(body)
            fields = {name: data[name] for name in cls.__dataclass_fields__}
            order = cls(**fields)
            UUID(order.order_id)
        except (ValueError, TypeError, KeyError) as error:
            raise MalformedMessageError(f"not an order.paid message: {error}") from error
        if not isinstance(order.quantity, int) or not all(
            isinstance(value, str) for name, value in fields.items() if name != "quantity"
        ):
            raise MalformedMessageError("an order.paid field has the wrong type")
        return order


def order_link(public_url: str, secret: bytes, order_id: str) -> str:
    """The customer's link to their order page on the storefront, with the token that opens it.

    The order and token ride in the URL's fragment, which a browser never sends to a server or
    in a Referer: the page reads them and asks the API with the X-Order-Token header.
    """
    token = order_token(secret, UUID(order_id))
    return f"{public_url.rstrip('/')}/#/orders/{order_id}?token={token}"


def receipt_lines(order: PaidOrder) -> list[tuple[str, str]]:
    """The receipt's facts, label and value, in the order they are shown."""
    return [
        ("Event", order.event_title),
        ("Where", order.event_location),
        ("When", order.event_date_time),
        ("Ticket", order.ticket_category),
        ("Quantity", str(order.quantity)),
        ("Amount paid", f"{order.total_amount} {order.currency}"),
        ("Payment reference", order.payment_ref),
        ("Paid at", order.paid_at),
        ("Order", order.order_id),
    ]


def receipt_email(order: PaidOrder, link: str, sender: str) -> EmailMessage:
    """The whole e-mail: text and HTML alternatives, and the PDF receipt."""
    message = EmailMessage()
    message["Subject"] = f"Your tickets for {order.event_title}"
    message["From"] = sender
    message["To"] = order.email
    message["Message-ID"] = make_msgid(idstring=f"receipt.{order.order_id}")
    lines = receipt_lines(order)
    text = "\n".join(
        [
            "Thank you for your order. Your payment was received.",
            "",
            *(f"{label}: {value}" for label, value in lines),
            "",
            f"See your order at any time: {link}",
        ]
    )
    message.set_content(text)
    message.add_alternative(receipt_html(lines, link), subtype="html")
    message.add_attachment(
        receipt_pdf(lines),
        maintype="application",
        subtype="pdf",
        filename=f"receipt-{order.order_id}.pdf",
    )
    return message


def receipt_html(lines: list[tuple[str, str]], link: str) -> str:
    """The HTML part, every value escaped."""
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in lines
    )
    return (
        "<html><body><p>Thank you for your order. Your payment was received.</p>"
        f"<table>{rows}</table>"
        f'<p><a href="{html.escape(link)}">See your order</a></p></body></html>'
    )


def receipt_pdf(lines: list[tuple[str, str]]) -> bytes:
    """A one-page PDF receipt."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(0, 12, "Receipt", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for label, value in lines:
        pdf.cell(50, 8, latin1(label))
        pdf.multi_cell(0, 8, latin1(value), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def latin1(text: str) -> str:
    # The PDF's built-in fonts only cover Latin-1; anything else shows as "?".
    return text.encode("latin-1", "replace").decode("latin-1")
