"""The shapes of the read API's documents, for the OpenAPI description (responses are stored bytes).

Every model forbids extra fields, so a test can check a stored document against API.md exactly.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketPublic(Strict):
    """A ticket type as everyone sees it; `remaining` = total_stock - sold - held."""

    id: str
    event_id: str
    category: str
    price: str
    currency: str
    total_stock: int
    remaining: int
    sales_start: str
    sales_end: str
    on_sale: bool


class EventPublic(Strict):
    """A public (active or cancelled) event with its tickets."""

    id: str
    title: str
    description: str
    location: str
    date_time: str
    status: str
    tickets: list[TicketPublic]


class TicketList(Strict):
    items: list[TicketPublic]


class EventSummary(Strict):
    """One event of the listing; `available` is true when any of its tickets is on sale."""

    id: str
    title: str
    location: str
    date_time: str
    status: str
    min_price: str | None
    currency: str | None
    available: bool


class EventPage(Strict):
    items: list[EventSummary]
    next_cursor: str | None


class TicketAdmin(TicketPublic):
    """A ticket type with its sold and held counts."""

    sold: int
    held: int


class EventAdmin(Strict):
    """An event in any status, as its admin sees it."""

    id: str
    title: str
    description: str
    location: str
    date_time: str
    status: str
    created_by: str
    tickets: list[TicketAdmin]


class EventAdminPage(Strict):
    items: list[EventAdmin]
    next_cursor: str | None


class TicketInsights(Strict):
    ticket_id: str
    category: str
    total_stock: int
    sold: int
    held: int
    remaining: int
    revenue: str


class OrderCounts(Strict):
    paid: int
    pending: int
    failed: int
    expired: int


class MinuteSales(Strict):
    minute: str
    tickets: int
    revenue: str


class EventInsights(Strict):
    """Sales of one event; `revenue_by_currency` lists every currency its orders were paid in."""

    event_id: str
    tickets: list[TicketInsights]
    orders: OrderCounts
    revenue: str
    currency: str | None
    sales_per_minute: list[MinuteSales]
    revenue_by_currency: dict[str, str]


class InsightsTotals(Strict):
    """Totals over the caller's events; `currency` is the one most of them are priced in."""

    tickets_sold: int
    revenue: str
    currency: str | None
    orders_paid: int
    orders_pending: int
    orders_failed: int
    orders_expired: int
    revenue_by_currency: dict[str, str]


class InsightsOverview(Strict):
    events: list[EventInsights]
    totals: InsightsTotals
