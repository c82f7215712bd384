"""Re-render every read model of the concerts a change touches, inside one transaction.

Both projectors and the sales-window clock come here: they hand in new state (concerts, ticket
types, order changes); this reads the rest under WATCH, renders the documents, indexes,
insights and totals, and returns the writes as a Plan.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from projections.documents import etag_of, render_concert
from projections.insights import (
    OrderChange,
    add_contribution,
    apply_order_change,
    empty_counters,
    render_insights,
    render_totals,
)
from projections.keys import ALL_SCOPE, Generation, listing_member, owner_scope
from projections.state import State, dumps, empty_orders_state
from projections.store import Plan, WatchedValues

# What places an event in the listing indexes (_index).
INDEXED = ("deleted", "status", "date_time", "created_by", "id")


@dataclass
class Changes:
    """New state from the event logs; empty for a re-render on the clock."""

    concerts: dict[str, State] = field(default_factory=dict)
    tickets: dict[str, State] = field(default_factory=dict)
    orders: list[OrderChange] = field(default_factory=list)

    def event_ids(self) -> set[str]:
        return self.catalogue_event_ids() | {change.event_id for change in self.orders}

    def catalogue_event_ids(self) -> set[str]:
        """The events whose concert or ticket types changed."""
        return set(self.concerts) | {ticket["event_id"] for ticket in self.tickets.values()}


@dataclass
class Inputs:
    """Everything a refresh reads (under WATCH), with the changes laid over it."""

    before: dict[str, State | None]  # concert states as stored
    concerts: dict[str, State | None]
    tickets: dict[str, State | None]
    orders: dict[str, State]
    insights: dict[str, dict[str, Any] | None]
    totals: dict[str, dict[str, Any]]


async def refresh(
    values: WatchedValues,
    generation: Generation,
    event_ids: Iterable[str],
    changes: Changes,
    now: datetime,
    channel: str | None,
    related: RelatedKeys | None = None,
) -> Plan:
    """The writes that store changes and bring every document of event_ids up to date.

    The browsing documents depend on the concert, its ticket types and the clock only: they
    are rendered for event_ids and for the events whose catalogue changed, not for orders
    (half the batches of a rush; a sales-window boundary has its own re-render, windows.py).
    """
    ids = sorted(set(event_ids) | changes.event_ids())
    browsing = set(event_ids) | changes.catalogue_event_ids()
    inputs = await read_inputs(values, generation, ids, changes)
    if related is not None:
        related.remember(inputs.concerts)
    return plan_writes(generation, ids, changes, inputs, now, channel, browsing)


def event_keys(g: Generation, ids: Iterable[str]) -> list[str]:
    """The state a refresh of these events reads first (what the commit can prefetch)."""
    ids = sorted(ids)
    return [key(i) for key in (g.concert_state, g.orders_state, g.insights_state) for i in ids]


class RelatedKeys:
    """The ticket types and owner of each event at its last refresh: what to prefetch next time.

    A refresh reads an event's own state, then the state of the ticket types and the totals
    that state names: two round trips. Prefetching these with the event's own state (and the
    commit's guards) makes it one. Only a guess: a refresh reads what it needs all the same,
    and a wrong guess costs one more round trip or a key watched for nothing.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self.events: OrderedDict[str, tuple[list[str], str]] = OrderedDict()

    def keys(self, g: Generation, ids: Iterable[str]) -> list[str]:
        """The state the last refreshes of these events read besides their own."""
        tickets: list[str] = []
        scopes = {ALL_SCOPE}
        for event_id in ids:
            known = self.events.get(event_id)
            if known is not None:
                tickets.extend(known[0])
                scopes.add(known[1])
        return [*map(g.ticket_state, tickets), *map(g.totals_state, sorted(scopes))]

    def remember(self, concerts: dict[str, State | None]) -> None:
        for event_id, concert in concerts.items():
            if concert is not None:
                self.events[event_id] = (concert["ticket_ids"], owner_scope(concert["created_by"]))
                self.events.move_to_end(event_id)
        while len(self.events) > self.maxsize:
            self.events.popitem(last=False)


async def read_inputs(
    values: WatchedValues, g: Generation, ids: list[str], changes: Changes
) -> Inputs:
    """Watch and read the state of the events, their tickets, orders, insights and totals.

    Two round trips at most (none for what was prefetched): what is keyed by event, then the
    tickets and totals it names.
    """

    async def read(key: Any, names: list[str]) -> dict[str, Any]:
        return dict(zip(names, await values.json([key(n) for n in names]), strict=True))

    await values.read(event_keys(g, ids))
    before = await read(g.concert_state, ids)
    concerts = {i: changes.concerts.get(i, before[i]) for i in ids}
    ticket_ids = {t for concert in concerts.values() if concert for t in concert["ticket_ids"]}
    ticket_names = sorted(ticket_ids | set(changes.tickets))
    owners = {owner_scope(concert["created_by"]) for concert in concerts.values() if concert}
    scopes = sorted({ALL_SCOPE} | owners)
    await values.read([*map(g.ticket_state, ticket_names), *map(g.totals_state, scopes)])
    stored_tickets = await read(g.ticket_state, ticket_names)
    tickets = {t: changes.tickets.get(t, value) for t, value in stored_tickets.items()}
    stored_orders = await read(g.orders_state, ids)
    orders = {i: value or empty_orders_state() for i, value in stored_orders.items()}
    for change in changes.orders:
        apply_order_change(orders[change.event_id], change)
    totals = await read(g.totals_state, scopes)
    return Inputs(
        before=before,
        concerts=concerts,
        tickets=tickets,
        orders=orders,
        insights=await read(g.insights_state, ids),
        totals={scope: value or empty_counters() for scope, value in totals.items()},
    )


def plan_writes(
    g: Generation,
    ids: list[str],
    changes: Changes,
    inputs: Inputs,
    now: datetime,
    channel: str | None,
    browsing: set[str] | None = None,
) -> Plan:
    """Store the changed state, then render each live event's read models and the totals.

    browsing: the events whose browsing documents are rendered (None: all of ids).
    """
    plan = Plan()
    changed_orders = {c.event_id: inputs.orders[c.event_id] for c in changes.orders}
    for key, values in (
        (g.concert_state, changes.concerts),
        (g.ticket_state, changes.tickets),
        (g.orders_state, changed_orders),
    ):
        for entity_id, value in values.items():
            plan.set(key(entity_id), dumps(value))
    for event_id in ids:
        concert = inputs.concerts[event_id]
        if concert is None:
            continue  # orders of a concert the tickets log has not brought yet
        tickets = [inputs.tickets.get(t) for t in concert["ticket_ids"]]
        live = [ticket for ticket in tickets if ticket and not ticket["deleted"]]
        _index(plan, g, inputs.before[event_id], concert)
        if concert["deleted"]:
            _drop_documents(plan, g, event_id)
        elif browsing is None or event_id in browsing:
            _write_documents(plan, g, concert, live, now)
        previous = inputs.insights[event_id]
        orders = inputs.orders[event_id]
        _write_insights(plan, g, concert, live, orders, previous, inputs.totals, channel)
    for scope, counters in inputs.totals.items():
        plan.set(g.totals_state(scope), dumps(counters))
        plan.set(g.totals_doc(scope), render_totals(counters))
    return plan


def _index(plan: Plan, g: Generation, old: State | None, new: State) -> None:
    """Move the event between listing indexes as its status, date or existence changes."""
    if old is not None and all(old[name] == new[name] for name in INDEXED):
        return  # where it is already (most updates: a hold, an order)
    if old is not None and not old["deleted"]:
        member = listing_member(old["date_time"], old["id"])
        plan.call("zrem", g.listing(old["status"]), member)
        plan.call("zrem", g.owned(owner_scope(old["created_by"])), member)
        plan.call("zrem", g.owned(ALL_SCOPE), member)
    if not new["deleted"]:
        member = listing_member(new["date_time"], new["id"])
        plan.call("zadd", g.listing(new["status"]), {member: 0})
        plan.call("zadd", g.owned(owner_scope(new["created_by"])), {member: 0})
        plan.call("zadd", g.owned(ALL_SCOPE), {member: 0})


def _document(plan: Plan, key: str, body: bytes, etag: str, owner: str) -> None:
    plan.call("hset", key, mapping={"json": body, "etag": etag, "owner": owner})


def _write_documents(
    plan: Plan, g: Generation, concert: State, tickets: list[State], now: datetime
) -> None:
    event_id, owner = concert["id"], concert["created_by"]
    documents = render_concert(concert, tickets, now)
    for key, body in (
        (g.event_doc(event_id), documents.event),
        (g.tickets_doc(event_id), documents.tickets),
    ):
        if body is None:
            plan.call("delete", key)
        else:
            _document(plan, key, body, etag_of(body), owner)
    _document(plan, g.admin_doc(event_id), documents.admin, etag_of(documents.admin), owner)
    plan.set(g.summary(event_id), documents.summary)
    plan.call("hset", g.facts, event_id, documents.facts)
    if documents.boundary is None:
        plan.call("zrem", g.windows, event_id)
    else:
        plan.call("zadd", g.windows, {event_id: documents.boundary.timestamp()})


def _drop_documents(plan: Plan, g: Generation, event_id: str) -> None:
    plan.call(
        "delete",
        g.event_doc(event_id),
        g.tickets_doc(event_id),
        g.admin_doc(event_id),
        g.summary(event_id),
        g.insights_doc(event_id),
        g.insights_state(event_id),
    )
    plan.call("hdel", g.facts, event_id)
    plan.call("zrem", g.windows, event_id)


def _write_insights(
    plan: Plan,
    g: Generation,
    concert: State,
    tickets: list[State],
    orders: State,
    previous: dict[str, Any] | None,
    totals: dict[str, dict[str, Any]],
    channel: str | None,
) -> None:
    """Render the event's insights, move its share of the totals, announce a change."""
    event_id, owner = concert["id"], concert["created_by"]
    scopes = (ALL_SCOPE, owner_scope(owner))
    if previous is not None:
        for scope in scopes:
            add_contribution(totals[scope], previous["contribution"], -1)
    if concert["deleted"]:
        return
    body, contribution = render_insights(concert, tickets, orders)
    etag = etag_of(body)
    for scope in scopes:
        add_contribution(totals[scope], contribution, 1)
    _document(plan, g.insights_doc(event_id), body, etag, owner)
    state = {"etag": etag, "contribution": contribution}
    plan.set(g.insights_state(event_id), dumps(state))
    if channel is not None and (previous is None or previous["etag"] != etag):
        plan.call("publish", channel, orjson.dumps({"event_id": event_id, "admin_id": owner}))
