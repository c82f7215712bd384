"""The gateway's request and response shapes: strict in, exactly API.md out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from domain.errors import InvalidValueError
from domain.order import check_email

AMOUNT = r"^(0|[1-9][0-9]{0,12})\.[0-9]{2}$"
CURRENCY = r"^[A-Z]{3}$"
E164 = r"^\+[1-9][0-9]{6,14}$"


def email_address(value: str) -> str:
    """A plausible email address (the domain's own rule)."""
    try:
        check_email(value)
    except InvalidValueError as error:
        raise ValueError(str(error)) from None
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(email_address)]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Amount = Annotated[str, Field(pattern=AMOUNT, examples=["25.00"])]
Currency = Annotated[str, Field(pattern=CURRENCY, examples=["USD"])]


def no_nul(value: object) -> object:
    """Refuse text with NUL characters: no store downstream can keep them."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class Strict(BaseModel):
    """Unknown fields are refused, and so is text with NUL characters."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def refuse_nul(cls, value: object) -> object:
        return no_nul(value)


# -- auth -------------------------------------------------------------------------------------


class LoginRequest(Strict):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth 2 token type)
    expires_in: int


class RegisterRequest(Strict):
    email: Email
    password: Annotated[str, Field(min_length=12, max_length=1024)]
    invite_code: Annotated[str, Field(min_length=1, max_length=200)]


class InviteRequest(Strict):
    email: Email
    role: Literal["admin", "auditor", "superadmin"]


class InvitePublic(BaseModel):
    invite_code: str
    email: str
    role: str
    expires_at: datetime


class UserPublic(BaseModel):
    id: str
    email: str
    role: str


class UserListed(UserPublic):
    created_at: datetime


class UsersPublic(BaseModel):
    items: list[UserListed]
    next_cursor: str | None


# -- events and tickets -------------------------------------------------------------------------


class EventCreate(Strict):
    title: Title
    description: Annotated[str, Field(max_length=5000)] = ""
    location: Title
    date_time: AwareDatetime


class EventUpdate(Strict):
    title: Title | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    location: Title | None = None
    date_time: AwareDatetime | None = None


class StatusChange(Strict):
    status: Literal["active", "inactive", "cancelled"]


class TicketCreate(Strict):
    category: Title
    price: Amount
    currency: Currency
    total_stock: Annotated[int, Field(ge=0, le=10_000_000, strict=True)]
    sales_start: AwareDatetime
    sales_end: AwareDatetime


class TicketUpdate(Strict):
    price: Amount | None = None
    total_stock: Annotated[int, Field(ge=0, le=10_000_000, strict=True)] | None = None
    sales_start: AwareDatetime | None = None
    sales_end: AwareDatetime | None = None


class AdminTicketPublic(BaseModel):
    id: str
    event_id: str
    category: str
    price: str
    currency: str
    total_stock: int
    sold: int
    held: int
    remaining: int
    sales_start: datetime
    sales_end: datetime
    on_sale: bool


class AdminEventPublic(BaseModel):
    id: str
    title: str
    description: str
    location: str
    date_time: datetime
    status: str
    created_by: str
    tickets: list[AdminTicketPublic]


# -- orders -------------------------------------------------------------------------------------


class OrderCreate(Strict):
    event_id: UUID
    ticket_id: UUID
    quantity: Annotated[int, Field(ge=1, le=10, strict=True)]
    email: Email
    phone_number: Annotated[str, Field(pattern=E164, examples=["+254712345678"])]


class PaymentPublic(BaseModel):
    payment_ref: str | None
    checkout_url: str | None
    expires_at: datetime | None


class OrderPublic(BaseModel):
    id: str
    event_id: str
    ticket_id: str
    quantity: int
    email: str
    phone_number: str
    total_amount: str
    currency: str
    status: str
    payment: PaymentPublic
    order_token: str


class ReceiptEvent(BaseModel):
    id: str
    title: str
    location: str
    date_time: datetime


class ReceiptTicket(BaseModel):
    id: str
    category: str


class ReceiptPublic(BaseModel):
    order_id: str
    event: ReceiptEvent
    ticket: ReceiptTicket
    quantity: int
    total_amount: str
    currency: str
    payment_ref: str
    paid_at: datetime
    email: str
