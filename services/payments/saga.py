"""The order saga: hold tickets, open a payment, then confirm, release or expire.

Every step is idempotent and the order records how far it got, so any call (a retried
PlaceOrder, a webhook, the expiry sweep) can pick the saga up where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import grpc

from domain.errors import (
    HoldEndedError,
    HoldNotExpiredError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    InvalidValueError,
    NoSuchHoldError,
    NotFoundError,
    NotOnSaleError,
    SoldOutError,
    TicketingError,
)
from domain.money import Money
from domain.order import Order, OrderStatus, check_email, check_phone_number, check_quantity
from services.common import stages
from services.common.errors import ServiceError
from services.payments.application import OrderPlacement, order_id_of, payment_reference
from services.payments.order_writer import OrderView, OrderWriter
from services.payments.providers.base import (
    InvalidPaymentStateError,
    PaymentNotFoundError,
    PaymentProvider,
    ProviderError,
    ProviderPayment,
    ProviderUnavailableError,
)
from services.payments.tickets_client import TicketsClient, TicketsUnavailableError

log = logging.getLogger(__name__)

MIN_KEY_LENGTH, MAX_KEY_LENGTH = 8, 255
# A ticket type with at least this many tickets left (as read at most a second ago; a rush
# sells about a thousand a second) is not expected to refuse a hold: its orders open their
# payment while the hold is being made (OrderSaga._place_new).
SPECULATE_FROM_REMAINING = 5_000
# `_hold`'s refusal when the order id already holds another quantity: another request's.
KEY_REUSED = "idempotency_key_reused"
REJECTIONS: dict[str, type[TicketingError]] = {
    "sold_out": SoldOutError,
    "not_on_sale": NotOnSaleError,
}


class ProviderDownError(ServiceError):
    """The payment provider did not answer; the same request can be retried."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.UNAVAILABLE, "provider_unavailable", message)


class PaymentUnknownError(ServiceError):
    """The provider knows no such payment."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.NOT_FOUND, "not_found", message)


class OrderSaga:
    """Places orders and moves them along as payments succeed, fail or run out of time."""

    def __init__(
        self,
        writer: OrderWriter,
        tickets: TicketsClient,
        provider: PaymentProvider,
        hold: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.writer = writer
        self.tickets = tickets
        self.provider = provider
        self.hold = hold
        self.clock = clock

    # -- placing ------------------------------------------------------------------------------

    async def place_order(
        self,
        idempotency_key: str,
        event_id: UUID,
        ticket_id: UUID,
        quantity: int,
        email: str,
        phone_number: str,
    ) -> tuple[OrderView, bool]:
        """Place (or find again) the order for this key, hold its tickets and open a payment."""
        if not MIN_KEY_LENGTH <= len(idempotency_key) <= MAX_KEY_LENGTH:
            raise InvalidValueError("the Idempotency-Key must be 8 to 255 characters")
        check_quantity(quantity)
        check_email(email)
        check_phone_number(phone_number)
        ticket = await self.tickets.ticket_type(ticket_id)
        if ticket.event_id != event_id:
            raise NotFoundError(f"ticket {ticket_id} is not one of event {event_id}'s tickets")
        placement = OrderPlacement(
            idempotency_key, event_id, ticket_id, quantity, email, phone_number, ticket.price
        )
        if stages.enabled():  # the key is formatted only for a trace
            stages.mark("p_order", f"{idempotency_key}={placement.order_id}")
        if self.writer.recently_saved(placement.order_id):  # a retry: no new hold to make
            view = await self.writer.submit(placement.order_id, placement)
        else:
            speculate = ticket.remaining >= SPECULATE_FROM_REMAINING
            view = await self._place_new(placement, speculate=speculate)
        return await self.advance(view), placement.created

    async def advance(self, view: OrderView) -> OrderView:
        """Take a placed order as far as it can go: held, then with a payment to complete."""
        if view.status is OrderStatus.PLACED:
            view = await self._hold_tickets(view)
        if view.status is OrderStatus.REJECTED:
            raise REJECTIONS.get(view.failure_reason or "", NotOnSaleError)(
                "the tickets could not be held" if view.failure_reason is None else
                f"the tickets could not be held: {view.failure_reason.replace('_', ' ')}"
            )  # fmt: skip
        if view.status is OrderStatus.PENDING and view.payment_ref is None:
            view = await self._open_payment(view)
        return view

    async def _place_new(self, placement: OrderPlacement, *, speculate: bool) -> OrderView:
        """Hold the tickets, open the payment, then record the order with both in one event.

        Nothing is recorded before the hold: a new order costs three durable steps (the hold,
        the payment, the order) instead of four, and one order save instead of two; with
        `speculate` (plenty of tickets left) the payment opens while the hold is being made,
        so the order waits for two. What that leaves open, and who closes it:

        - A crash between the hold and the save leaves a hold no order knows of. The tickets
          service ends any hold still open a grace period past its expiry
          (services/tickets/holds.py). A retry with the same key meets the same hold (a
          reserve is idempotent per order id, and answers the hold's own expiry) and the
          same payment (the provider's are per order id too).
        - The order may exist after all: a retry the cache did not know, or a concurrent
          request under the same key. The save then finds it and the placement returns it
          (or refuses a different request under the key); a hold made here that is not that
          order's is given back (`_give_back_stray_hold`).
        - The tickets service's answer is lost: the order is recorded as placed, as before
          the hold, so the expiry sweep gives back whatever may be held.
        - A payment opened alongside a hold that was refused is cancelled, once the save
          shows the order is this request's (a payment found again under an existing order's
          id is that order's, and is left alone).
        - A different request under the same key (another body) holds and pays nothing of
          the recorded order's: a hold of another quantity under the order id is refused as
          a reused key (`KEY_REUSED`) and left to its owner, and payments are opened per
          request (`payment_reference`), so this request's payment is cancelled when it is
          refused.
        """
        order_id = placement.order_id
        try:
            (held_until, refusal), opened = await self._hold_and_open(placement, speculate)
        except TicketsUnavailableError:
            await self.writer.submit(order_id, placement, probably_new=True)
            raise
        payment, provider_down, payment_conflict = opened or (None, None, False)
        # Another request's hold or payment under the order id says an order may exist.
        conflict = payment_conflict or refusal == KEY_REUSED
        found: list[tuple[UUID, OrderStatus, int]] = []
        unrecorded: list[bool] = []

        def record(existing: Order | None) -> Order:
            if existing is not None:
                found[:] = [(existing.ticket_id, existing.status, existing.quantity)]
            elif not conflict and refusal is None:
                # New and held, with its payment unless the provider was down: one Placed event.
                return placement(
                    None,
                    held_until=held_until,
                    payment_ref=payment.payment_ref if payment is not None else None,
                    checkout_url=payment.checkout_url if payment is not None else None,
                )
            order = placement(existing)
            if not placement.created:
                return order
            if conflict:
                # Read from the store: no order. The hold is ours after a payment conflict;
                # a hold of another quantity is the other request's (KEY_REUSED).
                unrecorded.append(True)
                raise IdempotencyKeyReusedError(
                    "this Idempotency-Key was already used with a different request"
                )
            assert refusal is not None
            order.reject(refusal)
            return order

        try:
            # A conflict says an order may exist: read the store, so that `record` decides on
            # it instead of on "no order".
            stages.mark("p_save", order_id)
            view = await self.writer.submit(order_id, record, probably_new=not conflict)
            stages.mark("p_saved", order_id)
        except IdempotencyKeyReusedError:
            if payment is not None:  # opened under this request's own reference
                await self._cancel_unused(payment)
            raise
        finally:
            if refusal is None and found:
                await self._give_back_stray_hold(placement, *found[0])
            elif refusal is None and unrecorded:
                # Only once the store said there is no order: if the save failed before
                # that, the order may exist and this hold be its own (the sweep decides).
                await self._give_back_stray_hold(placement, None, None, None)
        if refusal is not None and payment is not None and placement.created:
            await self._cancel_unused(payment)
        if provider_down is not None and refusal is None and placement.created:
            raise provider_down
        return view

    async def _hold_and_open(
        self, placement: OrderPlacement, speculate: bool
    ) -> tuple[
        tuple[datetime, str | None],
        tuple[ProviderPayment | None, ProviderDownError | None, bool] | None,
    ]:
        """Hold the tickets and, unless the hold is refused, open the payment (at once with
        `speculate`: plenty of tickets left, one durable step less to wait for; should the
        hold be refused after all, the caller cancels the payment)."""
        if not speculate:
            held = await self._hold(placement)
            return held, (await self._payment_for(placement) if held[1] is None else None)
        # One task for the payment, the hold awaited here: gather's second task and its
        # future cost more than either step's own Python in a rush. Both always finish.
        paying = asyncio.ensure_future(self._payment_for(placement))
        try:
            holding = await self._hold(placement)
        except asyncio.CancelledError:
            paying.cancel()  # as gather would
            raise
        except BaseException:
            await asyncio.wait([paying])  # as gather would: the payment runs to its end
            raise
        return holding, await paying

    async def _hold(self, placement: OrderPlacement) -> tuple[datetime, str | None]:
        """Hold the placement's tickets: until when, or why not."""
        asked = self.clock() + self.hold
        stages.mark("p_hold", placement.order_id)
        try:
            held_until = await self.tickets.reserve(
                placement.ticket_id, placement.order_id, placement.quantity, asked
            )
            stages.mark("p_held", placement.order_id)
        except SoldOutError:
            return asked, "sold_out"
        except NotOnSaleError:
            return asked, "not_on_sale"
        except HoldEndedError:
            return asked, "hold_not_confirmed"  # this order id held before; that hold ended
        except IdempotencyKeyReusedError:
            return asked, KEY_REUSED  # the order id holds another quantity: not this request's
        return held_until, None

    async def _payment_for(
        self, placement: OrderPlacement
    ) -> tuple[ProviderPayment | None, ProviderDownError | None, bool]:
        """Open the placement's payment: the payment, or the provider being down, or a
        conflict (the order id already has a payment of another amount: a different request
        under this key came first, recorded or lost in a crash before its save)."""
        stages.mark("p_pay", placement.order_id)
        try:
            payment = await self._create_payment(
                placement.order_id, placement.fingerprint, placement.total_amount,
                placement.quantity, placement.email,
            )  # fmt: skip
            stages.mark("p_paid", placement.order_id)
        except ProviderDownError as down:
            return None, down, False
        except InvalidPaymentStateError:
            return None, None, True
        return payment, None, False

    async def _cancel_unused(self, payment: ProviderPayment) -> None:
        """Close a payment opened alongside a hold that was refused (nobody saw its link)."""
        try:
            await self.provider.cancel_payment(payment.payment_ref)
        except ProviderError:
            log.warning("could not cancel the unused payment %s", payment.payment_ref)

    async def _give_back_stray_hold(
        self,
        placement: OrderPlacement,
        their_ticket_id: UUID | None,
        their_status: OrderStatus | None,
        their_quantity: int | None,
    ) -> None:
        """The order was not this request's to create: release the hold just made, unless
        it is the existing order's own.

        The order's own hold is one on the same ticket type, of its quantity, that it holds
        or bought (the reserve was then a no-op), or one it is about to make (placed). A
        rejected order held nothing; an order of another ticket type or quantity (a different
        request under the same key, refused) holds nothing here, and neither does a request
        refused for a payment conflict with no order recorded (their_ticket_id None).
        """
        if (their_ticket_id, their_quantity) == (placement.ticket_id, placement.quantity) and (
            their_status is not OrderStatus.REJECTED
        ):
            return
        with contextlib.suppress(NoSuchHoldError, HoldEndedError):  # a concurrent retry's
            await self.tickets.release(placement.ticket_id, placement.order_id)

    async def _hold_tickets(self, view: OrderView) -> OrderView:
        """Hold a placed order's tickets and open its payment, then record both in one save.

        A placed order is one recorded before its hold: the tickets service's answer was
        lost, or an order from before holds came first. If the provider cannot be reached,
        the hold alone is recorded and the caller is told to retry.
        """
        try:
            expires_at = await self.tickets.reserve(
                view.ticket_id, view.id, view.quantity, view.placed_at + self.hold
            )
        except (SoldOutError, NotOnSaleError, HoldEndedError, IdempotencyKeyReusedError) as no:
            # The hold ended (the tickets service's sweep), or the order id holds another
            # quantity: a different request's under the same key, lost before its save.
            reason = {SoldOutError: "sold_out", NotOnSaleError: "not_on_sale"}.get(
                type(no), "hold_not_confirmed"
            )
            return await self.writer.update(view.id, lambda o: o.reject(reason))
        try:
            payment = await self._create_payment(
                view.id, view.request_fingerprint, view.total_amount, view.quantity, view.email
            )
        except ProviderDownError:
            await self.writer.update(view.id, lambda o: o.mark_held(expires_at))
            raise

        def held_with_payment(order: Order) -> None:
            order.mark_held(expires_at)
            order.attach_payment(payment.payment_ref, payment.checkout_url)

        return await self.writer.update(view.id, held_with_payment)

    async def _open_payment(self, view: OrderView) -> OrderView:
        payment = await self._create_payment(
            view.id, view.request_fingerprint, view.total_amount, view.quantity, view.email
        )
        return await self.writer.update(
            view.id, lambda o: o.attach_payment(payment.payment_ref, payment.checkout_url)
        )

    async def _create_payment(
        self, order_id: UUID, fingerprint: str, amount: Money, quantity: int, email: str
    ) -> ProviderPayment:
        """Open (or find again) the request's payment: one per order id and request."""
        try:
            return await self.provider.create_payment(
                payment_reference(order_id, fingerprint), amount, f"{quantity} ticket(s)", email
            )
        except ProviderUnavailableError as error:
            raise ProviderDownError(
                "the payment provider is unavailable; retry with the same Idempotency-Key"
            ) from error

    # -- payment outcomes ---------------------------------------------------------------------

    async def confirm_payment(self, payment_ref: str) -> OrderView:
        """A webhook said a payment moved: ask the provider, and apply what it says."""
        payment = await self._provider_payment(payment_ref)
        try:
            order_id = order_id_of(payment.order_id)
        except ValueError:
            raise PaymentUnknownError(f"payment {payment_ref} is not one of ours") from None
        return await self.apply_payment(await self.writer.get(order_id), payment)

    async def verify_payment(self, order_id: UUID) -> OrderView:
        """Ask the provider for the order's payment status now, and apply it."""
        view = await self.writer.get(order_id)
        if view.payment_ref is None:
            return view
        return await self.apply_payment(view, await self._provider_payment(view.payment_ref))

    async def apply_payment(self, view: OrderView, payment: ProviderPayment) -> OrderView:
        """Move the order to match the provider's word on its payment."""
        if payment.payment_ref != view.payment_ref:
            raise PaymentUnknownError(f"payment {payment.payment_ref} is not this order's")
        if view.status is not OrderStatus.PENDING:
            if payment.status == "succeeded" and view.status in (
                OrderStatus.EXPIRED,
                OrderStatus.FAILED,
            ):
                log.error("order %s: payment %s succeeded after its hold ended; refunding",
                          view.id, payment.payment_ref)  # fmt: skip
                await self.provider.refund(payment.payment_ref)
            return view
        if payment.status == "succeeded":
            try:
                await self.tickets.confirm(view.ticket_id, view.id)
            except (HoldEndedError, NoSuchHoldError):
                return await self._refund_after_hold_ended(view, payment)
            paid_at = self.clock()
            return await self.writer.update(
                view.id, lambda o: o.mark_paid(payment.payment_ref, paid_at)
            )
        if payment.status == "declined":
            await self._give_back(view, expired=False)
            return await self.writer.update(view.id, lambda o: o.mark_failed("declined"))
        return view

    async def _refund_after_hold_ended(
        self, view: OrderView, payment: ProviderPayment
    ) -> OrderView:
        """The tickets service ended the hold on its own, a grace period past its expiry,
        before this service closed the payment (it was down that long): the money goes back.
        """
        log.error("order %s: payment %s succeeded after its hold ended; refunding",
                  view.id, payment.payment_ref)  # fmt: skip
        await self.provider.refund(payment.payment_ref)
        now = self.clock()
        return await self.writer.update(view.id, lambda o: o.mark_expired(now))

    # -- expiry -------------------------------------------------------------------------------

    async def expire_order(self, order_id: UUID) -> OrderView:
        """End an order whose hold ran out unpaid, unless the provider says it was paid."""
        view = await self.writer.get(order_id)
        if view.status is OrderStatus.PLACED:
            # The hold was never confirmed to the order (the tickets service was down or the
            # caller gave up): make sure no hold is left behind, then end the order.
            await self._give_back(view, expired=True)
            return await self.writer.update(order_id, lambda o: o.reject("hold_not_confirmed"))
        if view.status is not OrderStatus.PENDING:
            return view
        if view.payment_ref is not None:
            # Cancelling at the provider closes the race with a customer paying right now:
            # after it, the payment can no longer succeed; if it already has, we confirm.
            payment = await self.provider.cancel_payment(view.payment_ref)
            if payment.status == "succeeded":
                return await self.apply_payment(view, payment)
        now = self.clock()
        await self._give_back(view, expired=True)
        return await self.writer.update(order_id, lambda o: o.mark_expired(now))

    async def refund_order(self, order_id: UUID, reason: str) -> OrderView:
        """Return a paid order's money and put its tickets back on sale."""
        view = await self.writer.get(order_id)
        if view.status is OrderStatus.REFUNDED:
            return view
        if view.status is not OrderStatus.PAID or view.payment_ref is None:
            raise InvalidTransitionError(f"cannot refund an order that is {view.status.value}")
        await self.provider.refund(view.payment_ref)
        await self.tickets.refund(view.ticket_id, view.id)
        return await self.writer.update(order_id, lambda o: o.mark_refunded(reason))

    # -- helpers ------------------------------------------------------------------------------

    async def _give_back(self, view: OrderView, *, expired: bool) -> None:
        try:
            if expired:
                await self.tickets.expire(view.ticket_id, view.id)
            else:
                await self.tickets.release(view.ticket_id, view.id)
        except (NoSuchHoldError, HoldEndedError):
            pass  # nothing was held for it, or the hold is already gone
        except HoldNotExpiredError:
            # The hold under the order's id runs past the order's own deadline: a different
            # request's under the same key (lost before its save), not this order's. The
            # tickets service ends it a grace period past its expiry.
            log.warning("order %s: the hold under its id is not its own; left to expire", view.id)

    async def _provider_payment(self, payment_ref: str) -> ProviderPayment:
        try:
            return await self.provider.get_payment(payment_ref)
        except PaymentNotFoundError:
            raise PaymentUnknownError(f"no payment {payment_ref}") from None
        except ProviderUnavailableError as error:
            raise ProviderDownError("the payment provider is unavailable; try again") from error
