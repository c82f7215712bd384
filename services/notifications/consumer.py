"""The notification service's consumer: one receipt e-mail per paid order, however redelivered."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from email.message import EmailMessage

from services.common.metrics import RECEIPTS
from services.notifications.bus import MessageBus, Outcome
from services.notifications.mail import Mailer, MailError
from services.notifications.receipt import (
    MalformedMessageError,
    PaidOrder,
    order_link,
    receipt_email,
)
from services.notifications.store import Claim, NotificationStore

log = logging.getLogger(__name__)

EMAIL = "email"


@dataclass(frozen=True)
class ReceiptPolicy:
    """How receipts are written and how hard sending them is tried."""

    public_url: str
    order_token_secret: bytes
    sender: str
    attempts: int = 5
    backoff: float = 1.0  # seconds before the second attempt; doubles after each
    busy_pause: float = 1.0  # seconds before handing back a message someone else holds


class ReceiptConsumer:
    """Claims the order's row, sends the receipt, records the result, then lets the bus ack."""

    def __init__(
        self,
        bus: MessageBus,
        store: NotificationStore,
        mailer: Mailer,
        policy: ReceiptPolicy,
        prefetch: int = 16,
    ) -> None:
        self.bus = bus
        self.store = store
        self.mailer = mailer
        self.policy = policy
        self.prefetch = prefetch
        # Duplicates handled by this process wait for each other instead of racing the claim.
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def start(self) -> None:
        """Start taking messages from the receipts queue."""
        await self.bus.start_consuming(self.handle, self.prefetch)

    async def stop(self) -> None:
        """Stop taking messages and finish the ones in hand."""
        await self.bus.stop_consuming()

    async def handle(self, body: bytes, message_id: str | None) -> Outcome:
        """Decide one message's fate; the bus acks only after this returns."""
        try:
            order = PaidOrder.from_json(body)
        except MalformedMessageError as error:
            log.warning("dead-lettering message %s: %s", message_id, error)
            RECEIPTS.labels(Outcome.DEAD.value).inc()
            return Outcome.DEAD
        lock = self.locks[order.order_id]
        try:
            async with lock:
                outcome = await self._send_once(order)
        finally:
            if not lock.locked():
                self.locks.pop(order.order_id, None)
        RECEIPTS.labels(outcome.value).inc()
        log.info(
            "receipt for order %s: %s",
            order.order_id,
            outcome.value,
            extra={"order_id": order.order_id, "message_id": message_id},
        )
        return outcome

    async def _send_once(self, order: PaidOrder) -> Outcome:
        link = order_link(self.policy.public_url, self.policy.order_token_secret, order.order_id)
        message = receipt_email(order, link, self.policy.sender)
        content = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        claim = await asyncio.to_thread(
            self.store.claim, order.order_id, EMAIL, order.email, content
        )
        if claim is Claim.DONE:
            return Outcome.ACK
        if claim is Claim.BUSY:
            await asyncio.sleep(self.policy.busy_pause)
            return Outcome.REQUEUE
        return await self._deliver(order, message)

    async def _deliver(self, order: PaidOrder, message: EmailMessage) -> Outcome:
        pause = self.policy.backoff
        for attempt in range(1, self.policy.attempts + 1):
            try:
                await self.mailer.send(message)
            except MailError as error:
                last_error = str(error)
                log.warning("receipt for order %s, attempt %d: %s", order.order_id, attempt, error)
            else:
                await asyncio.to_thread(self.store.mark_sent, order.order_id, EMAIL)
                return Outcome.ACK
            if attempt < self.policy.attempts:
                await asyncio.to_thread(self.store.mark_retrying, order.order_id, EMAIL, last_error)
                await asyncio.sleep(pause)
                pause *= 2
        await asyncio.to_thread(self.store.mark_failed, order.order_id, EMAIL, last_error)
        return Outcome.DEAD
