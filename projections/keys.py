"""The Redis key schema of the read models: a pointer names the current generation's prefix.

`<root>:current` holds the prefix `<root>:g:<id>` under which every read model lives; a rebuild
fills a fresh prefix and moves the pointer in one SET. Listing indexes are sorted sets whose
members all have score 0 and sort by `<UTC time key>|<event id>`, so ZRANGEBYLEX pages through
events by date_time with an exact, opaque cursor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

TICKETS_LOG = "tickets"
PAYMENTS_LOG = "payments"
PUBLIC_STATUSES = frozenset({"active", "cancelled"})
ALL_SCOPE = "all"
# Sorts after every character of a UUID: `[<time>|~` ends a range inclusive of that time.
MEMBER_END = "|~"


def time_key(moment: datetime) -> str:
    """A fixed-width UTC key that sorts like the moment itself."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")


def listing_member(date_time: str, event_id: str) -> str:
    """The member of a listing index for an event at date_time (ISO 8601)."""
    return f"{time_key(datetime.fromisoformat(date_time))}|{event_id}"


def event_id_of(member: bytes | str) -> str:
    """The event id inside a listing member."""
    text = member.decode() if isinstance(member, bytes) else member
    return text.rpartition("|")[2]


@dataclass(frozen=True)
class Keyspace:
    """The keys outside any generation: the pointer and the insights channel."""

    root: str = "ticketing"

    @property
    def pointer(self) -> str:
        return f"{self.root}:current"

    @property
    def insights_channel(self) -> str:
        return f"{self.root}:insights"

    def new_generation(self) -> Generation:
        """A fresh, empty prefix."""
        return Generation(f"{self.root}:g:{uuid.uuid4().hex}")

    async def current(self, redis: Redis) -> Generation | None:
        """The generation readers use now, if any."""
        prefix = await redis.get(self.pointer)
        return Generation(prefix.decode()) if prefix is not None else None

    async def ensure_current(self, redis: Redis) -> Generation:
        """The current generation, creating the first one if there is none yet."""
        await redis.set(self.pointer, self.new_generation().prefix, nx=True)
        generation = await self.current(redis)
        assert generation is not None
        return generation


@dataclass(frozen=True)
class Generation:
    """Every read-model key under one prefix."""

    prefix: str

    def position(self, log: str) -> str:
        """The last notification id of the log applied to this generation."""
        return f"{self.prefix}:position:{log}"

    # -- state the projectors render from (JSON strings) ----------------------------------------

    def concert_state(self, event_id: str) -> str:
        return f"{self.prefix}:state:concert:{event_id}"

    def ticket_state(self, ticket_id: str) -> str:
        return f"{self.prefix}:state:ticket:{ticket_id}"

    def orders_state(self, event_id: str) -> str:
        return f"{self.prefix}:state:orders:{event_id}"

    def insights_state(self, event_id: str) -> str:
        """The insights' etag and the event's contribution to its admin's totals."""
        return f"{self.prefix}:state:insights:{event_id}"

    def totals_state(self, scope: str) -> str:
        return f"{self.prefix}:state:totals:{scope}"

    # -- documents served as they are (hashes of json, etag and owner) ---------------------------

    def event_doc(self, event_id: str) -> str:
        return f"{self.prefix}:doc:event:{event_id}"

    def tickets_doc(self, event_id: str) -> str:
        return f"{self.prefix}:doc:tickets:{event_id}"

    def admin_doc(self, event_id: str) -> str:
        return f"{self.prefix}:doc:admin:{event_id}"

    def insights_doc(self, event_id: str) -> str:
        return f"{self.prefix}:doc:insights:{event_id}"

    def totals_doc(self, scope: str) -> str:
        """The rendered totals of GET /admin/insights (a JSON string)."""
        return f"{self.prefix}:doc:totals:{scope}"

    def summary(self, event_id: str) -> str:
        """One listing item (a JSON string)."""
        return f"{self.prefix}:summary:{event_id}"

    # -- indexes --------------------------------------------------------------------------------

    @property
    def facts(self) -> str:
        """Hash: event id → {"owner", "text"} for listing filters."""
        return f"{self.prefix}:facts"

    def listing(self, status: str) -> str:
        return f"{self.prefix}:listing:{status}"

    def owned(self, scope: str) -> str:
        """Every event (any status, not deleted) of one admin, or of everyone for ALL_SCOPE."""
        return f"{self.prefix}:owned:{scope}"

    @property
    def windows(self) -> str:
        """Sorted set: event id by the next moment one of its sales windows opens or closes."""
        return f"{self.prefix}:windows"


def owner_scope(admin_id: str) -> str:
    """The scope of one admin's events and totals."""
    return f"admin:{admin_id}"
